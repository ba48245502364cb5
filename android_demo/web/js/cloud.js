// The cloud side: an OpenAI-compatible chat-completions client with SSE streaming (the wire format
// sdk/edgekit/sdk/cloud/sse.py reads: "data: <json>" events, a final "data: [DONE]"). Same request body as the
// Python CloudClient: model, messages, stream, stream_options.include_usage, optional max_tokens.

export class CloudError extends Error {
  constructor(message, kind, status = null) { super(message); this.kind = kind; this.status = status; }
}

/** Yields the data payloads of an SSE byte stream. */
export async function* sseData(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let data = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (value) buffer += value;
    let nl;
    while ((nl = buffer.indexOf('\n')) !== -1) {
      const line = buffer.slice(0, nl).replace(/\r$/, '');
      buffer = buffer.slice(nl + 1);
      if (line === '') { if (data.length) { yield data.join('\n'); data = []; } continue; }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let val = colon === -1 ? '' : line.slice(colon + 1);
      if (val.startsWith(' ')) val = val.slice(1);
      if (field === 'data') data.push(val);
    }
    if (done) break;
  }
  if (data.length) yield data.join('\n');
}

export class CloudClient {
  constructor({ baseUrl, model, apiKey = '', maxTokens = null, timeoutMs = 60000, retries = 1 }) {
    if (!baseUrl) throw new CloudError('no cloud URL configured (Settings > Cloud base URL)', 'config');
    this.url = new URL('v1/chat/completions', baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`).href;
    Object.assign(this, { model, apiKey, maxTokens, timeoutMs, retries });
  }

  /** extra: request fields passed unchanged (tools, tool_choice), as the Python client's escalation does. */
  async open(messages, signal, extra = {}) {
    const body = { model: this.model || 'default', messages, stream: true, stream_options: { include_usage: true }, ...extra };
    if (this.maxTokens != null) body.max_tokens = this.maxTokens;
    const headers = { 'Content-Type': 'application/json', Accept: 'text/event-stream' };
    if (this.apiKey) headers.Authorization = `Bearer ${this.apiKey}`;
    let lastError = null;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), this.timeoutMs);
      signal?.addEventListener('abort', () => controller.abort(), { once: true });
      try {
        const response = await fetch(this.url, { method: 'POST', headers, body: JSON.stringify(body), signal: controller.signal });
        if (response.ok) return { response, timer, controller };
        clearTimeout(timer);
        // 401/403 bodies may echo credentials: never quote them (as the Python client)
        const detail = [401, 403].includes(response.status) ? 'check the API key' : (await response.text()).slice(0, 200);
        lastError = new CloudError(`the cloud answered HTTP ${response.status} (${detail})`, 'http', response.status);
        if (response.status < 500 && response.status !== 429) break; // a client error does not get better by retrying
      } catch (err) {
        clearTimeout(timer);
        lastError = controller.signal.aborted && !signal?.aborted
          ? new CloudError(`the cloud did not answer within ${this.timeoutMs / 1000} s`, 'timeout')
          : new CloudError(`cannot reach the cloud at ${this.url} (${err.message})`, 'network');
      }
    }
    throw lastError;
  }

  /**
   * Streams the answer: yields text deltas; the generator's return value is {text, usage, toolCalls}. Tool calls
   * arrive as OpenAI's streamed deltas (choices[0].delta.tool_calls: an index, then the id, the name and pieces of the
   * arguments) and are put together here; they are not checked (tool_grammar.js checkedCall does that).
   */
  async *stream(messages, signal, extra = {}) {
    const { response, timer } = await this.open(messages, signal, extra);
    let text = '';
    let usage = null;
    const calls = [];
    let finished = false;
    try {
      for await (const data of sseData(response.body)) {
        if (data === '[DONE]') { finished = true; break; }
        let event;
        try { event = JSON.parse(data); } catch { throw new CloudError(`the cloud sent malformed JSON in its stream: ${data.slice(0, 80)}`, 'protocol'); }
        if (event.error) throw new CloudError(`the cloud reported an error: ${event.error.message || JSON.stringify(event.error)}`, 'protocol');
        if (event.usage) usage = event.usage;
        const delta = event.choices?.[0]?.delta?.content;
        if (delta) { text += delta; yield delta; }
        for (const part of event.choices?.[0]?.delta?.tool_calls || []) {
          const index = Number.isInteger(part.index) ? part.index : calls.length;
          const call = calls[index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } };
          if (part.id) call.id = part.id;
          if (part.function?.name) call.function.name += part.function.name;
          if (part.function?.arguments) call.function.arguments += part.function.arguments;
        }
      }
    } finally {
      clearTimeout(timer);
    }
    if (!finished) throw new CloudError('the cloud stream ended before [DONE] (connection cut)', 'protocol');
    return { text, usage, toolCalls: calls.filter(Boolean) };
  }
}
