// The phone demo: load the bundle, answer locally with streaming, and hand a question to the cloud when the policy
// says so, the way sdk/edgekit/sdk/hybrid.py HybridClient.ask does: route before generation (pre signals), generate
// locally, decide after generation (post signals), escalate with redaction, fall back to the local answer if the
// cloud fails.
import { WebModel } from './engine.js';
import { Policy, PolicyError, prefixSignals } from './policy.js';
import { preSignals, postSignals, questionOf } from './signals.js';
import { Redactor, StreamRestorer } from './redaction.js';
import { CloudClient } from './cloud.js';
import { loadSettings, saveSettings, serverHeaders, DEFAULTS } from './settings.js';
import { keepOffline } from './bundle.js';
import { DEMO_TOOLS, runTool } from './demo_tools.js';
import { checkedCall, parseTools } from './tool_grammar.js';

const $ = (id) => document.getElementById(id);
const app = { model: null, policy: null, settings: loadSettings(), ready: null, turns: 0 };
window.edgekitApp = app; // for the browser test and for debugging from DevTools

function status(text, { error = false, progress = null } = {}) {
  $('status-text').textContent = text;
  $('status').classList.toggle('error', error);
  const bar = $('progress');
  bar.hidden = progress === null;
  if (progress !== null) bar.value = progress;
}

async function loadPolicy(url, key) {
  if (!url) return null;
  const href = new URL(url, location.href).href;
  const response = await fetch(href, { cache: 'no-cache', headers: serverHeaders(href, key) }).catch(() => null);
  if (!response || !response.ok) return null;
  const data = await response.json();
  const policy = new Policy(data, url);
  await keepOffline(href, new TextEncoder().encode(JSON.stringify(data)), 'application/json');
  return policy;
}

async function start() {
  const s = app.settings;
  status('Loading the model…', { progress: 0 });
  const mb = (n) => (n / 1048576).toFixed(1);
  app.model = await WebModel.load(s.bundle, {
    headers: serverHeaders(new URL(s.bundle, location.href).href, s.serverKey),
    onProgress: (e) => {
      if (e.stage === 'download') status(`Loading ${e.file}: ${mb(e.done)} / ${mb(e.total)} MB`, { progress: e.total ? e.done / e.total : 0 });
      else if (e.stage === 'verify') status(`Checking ${e.file}…`, { progress: null });
      else if (e.stage === 'session') status('Starting onnxruntime…');
    },
  });
  try {
    app.policy = await loadPolicy(s.policy, s.serverKey);
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    status(err.message, { error: true });
  }
  if (s.tools) {
    status('Preparing the tool grammar…');
    await app.model.prepareTools(DEMO_TOOLS, s.toolChoice);
  }
  $('model-name').textContent = `${app.model.name} · ${app.policy ? 'policy loaded' : 'no policy: local only'}`;
  const verified = app.model.verified ? 'checksums verified' : 'sizes checked (sha256 needs https or localhost)';
  status(`Ready: ${app.model.name} loaded in ${(app.model.loadMs / 1000).toFixed(1)} s, ${verified}.`);
  $('question').disabled = false;
  $('send').disabled = false;
  $('question').focus();
}

function newTurn(question) {
  const node = $('turn-template').content.firstElementChild.cloneNode(true);
  node.dataset.turn = String(app.turns++);
  node.querySelector('.question').textContent = question;
  $('chat').append(node);
  node.scrollIntoView({ block: 'end' });
  return node;
}

function show(turn, fields) {
  const meta = (cls, text) => { turn.querySelector(cls).textContent = text; };
  if (fields.route) {
    const el = turn.querySelector('.route');
    el.textContent = fields.route;
    el.className = `route ${fields.route}`;
    turn.dataset.route = fields.route;
  }
  if (fields.decision) {
    const d = fields.decision;
    turn.dataset.rule = d.rule;
    if (d.probability != null) turn.dataset.probability = String(d.probability);
    if (d.probe != null) turn.dataset.probe = String(d.probe); // the hidden-state probe's p (kept past the post stage)
    if (d.answerProbe != null) turn.dataset.answerProbe = `${d.answerProbe} ${d.answerProbeMissing}`; // its score, and 1 when unread
    const p = d.probability == null ? '' : ` p=${d.probability.toFixed(2)}≥${d.threshold.toFixed(2)}?`;
    meta('.reason', `${d.rule}${p}`);
  }
  if (fields.result) {
    const r = fields.result;
    turn.dataset.tokenIds = JSON.stringify(r.token_ids);
    turn.dataset.promptIds = JSON.stringify(r.prompt_ids);
    turn.dataset.localText = r.text;
    turn.dataset.finish = r.finish_reason;
    turn.dataset.meanLogprob = String(r.confidence.mean_logprob);
    const c = r.confidence;
    meta('.confidence', c.n_tokens ? `confidence ${(100 * Math.exp(c.mean_logprob)).toFixed(0)}% (mean logprob ${c.mean_logprob.toFixed(2)}, min ${c.min_logprob.toFixed(2)})` : '');
    meta('.speed', r.timings.decode_tok_s ? `${r.token_ids.length} tokens, ${r.timings.decode_tok_s.toFixed(1)} tok/s` : '');
  }
}

// The demo tools, when Settings offer them: the same tools and tool_choice go to the local model and, on escalation,
// to the cloud (as HybridClient passes a request's tools through).
function toolFields() {
  return app.settings.tools ? { tools: DEMO_TOOLS, tool_choice: app.settings.toolChoice || 'auto' } : {};
}

/** Shows each call on the turn's card and runs it in the page; source: "local" or "cloud". Returns each call's
 * output (the tool message's content, parsed). */
function showCalls(turn, calls, source) {
  const panel = turn.querySelector('.calls');
  panel.textContent = '';
  const outputs = calls.map((call) => {
    const row = document.createElement('div');
    row.className = 'call';
    const head = document.createElement('code');
    head.textContent = `${call.function.name}(${call.function.arguments})`;
    row.append(head);
    panel.append(row);
    const { output, summary } = runTool(call, row);
    row.title = summary;
    return JSON.parse(output);
  });
  turn.dataset.toolCalls = JSON.stringify(calls.map((c) => ({ name: c.function.name, arguments: c.function.arguments })));
  turn.dataset.toolOutputs = JSON.stringify(outputs);
  turn.dataset.toolSource = source;
  turn.dataset.ranBy = [turn.dataset.ranBy, source].filter(Boolean).join(' '); // every side whose calls ran
  return outputs;
}

function showLocal(turn, result) {
  turn.querySelector('.answer').textContent = result.text;
}

/**
 * The local answer is kept: run its calls in the page, then send their results back to the model for its reply, as
 * an OpenAI client does (the assistant turn with its tool_calls, one role "tool" message per call with the output
 * and its tool_call_id), the tools kept out of the prompt (tool_choice "none"), so the reply is words, not another
 * call. The calls run only once the policy has kept the answer: an escalated answer's calls never run.
 */
async function keepLocal(turn, messages, result) {
  showLocal(turn, result);
  if (!result.tool_calls?.length) return;
  const outputs = showCalls(turn, result.tool_calls, 'local');
  const turns = [
    ...messages,
    { role: 'assistant', content: null, tool_calls: result.tool_calls },
    ...result.tool_calls.map((call, i) => ({ role: 'tool', tool_call_id: call.id, content: JSON.stringify(outputs[i]) })),
  ];
  const el = turn.querySelector('.followup');
  const options = { ...generationOptions(), tools: DEMO_TOOLS, tool_choice: 'none' };
  let reply = null;
  for await (const piece of app.model.stream(turns, options)) {
    if (piece.result) reply = piece.result;
    else if (piece.text) el.textContent += piece.text;
  }
  el.textContent = reply.text;
  turn.dataset.followUp = reply.text;
  turn.dataset.followUpPromptIds = JSON.stringify(reply.prompt_ids);
  turn.dataset.followUpTokenIds = JSON.stringify(reply.token_ids);
}

// the hybrid client's local defaults (sdk/edgekit/sdk/hybrid.py: 128 tokens, then the policy's generation options)
function generationOptions() {
  const options = { max_new_tokens: 128, ...(app.policy?.generation || {}) };
  if (app.settings.maxNewTokens) options.max_new_tokens = Number(app.settings.maxNewTokens);
  return options;
}

// early: {family, pre} to let the policy's early model stop after one of the first tokens (returns {stopped}), or null
async function localAnswer(turn, messages, signal, early = null) {
  const answer = turn.querySelector('.answer');
  answer.textContent = '';
  const options = { ...generationOptions(), ...toolFields(), signal };
  let result = null;
  const tokens = [];
  const watch = early && app.policy?.early;
  for await (const piece of app.model.stream(messages, options)) {
    if (piece.result) result = piece.result;
    else if (piece.text) answer.textContent += piece.text;
    if (watch && piece.token && tokens.length < app.policy.early.maxTokens) {
      tokens.push(piece.token);
      const d = app.policy.earlyDecision(early.family, { ...early.pre, ...prefixSignals(tokens) });
      if (d.escalate) return { stopped: d, tokens: tokens.length }; // leaving the loop ends the generator
    }
  }
  return result;
}

async function cloudAnswer(turn, messages, signal) {
  const s = app.settings;
  const client = new CloudClient({ baseUrl: s.cloud, model: s.cloudModel, apiKey: s.cloudKey });
  let outgoing = messages;
  let restorer = null;
  if (s.redact) {
    const [redacted, redaction] = new Redactor().redactMessages(messages);
    outgoing = redacted;
    restorer = new StreamRestorer(redaction);
    if (redaction.count) turn.dataset.redacted = JSON.stringify(redaction.kinds());
  }
  const answer = turn.querySelector('.answer');
  answer.textContent = '';
  const fields = toolFields();
  const stream = client.stream(outgoing, signal, fields);
  let done = null;
  for (;;) {
    const step = await stream.next();
    if (step.done) { done = step.value; break; }
    answer.textContent += restorer ? restorer.feed(step.value) : step.value;
  }
  if (restorer) answer.textContent += restorer.flush();
  if (done.toolCalls.length) {
    // the cloud's calls, placeholders restored, each checked against the schema of a tool it was offered; a call
    // that fails is refused (the local answer is kept, as HybridClient does), never run
    const offered = parseTools(fields.tools);
    const calls = [];
    for (const [i, raw] of done.toolCalls.entries()) {
      const restored = restorer ? { ...raw, function: { ...raw.function, arguments: restorer.redaction.restore(raw.function.arguments) } } : raw;
      try {
        calls.push(await checkedCall(restored, offered, `tool_calls[${i}]`));
      } catch (err) {
        throw new Error(`the cloud's tool call is refused: ${err.message}`);
      }
    }
    showCalls(turn, calls, 'cloud');
  }
  return answer.textContent;
}

async function ask(question) {
  const turn = newTurn(question);
  const messages = [{ role: 'user', content: question }];
  const cloudAllowed = app.settings.allowCloud && Boolean(app.settings.cloud);
  const q = questionOf(messages);
  const pre = preSignals(q);
  let decision = app.policy ? app.policy.route(q, pre) : { escalate: false, stage: 'router', rule: 'no-policy', family: 'general' };
  let result = null;
  try {
    if (app.policy?.needsProbe(decision)) {
      // the policy's hidden-state probe reads the prompt's state after prefill, before any token is generated
      const probed = await app.model.promptHidden(messages, toolFields());
      if (!probed.overflow) decision = app.policy.probeDecision(decision, probed.hidden); // overflow: the post stage escalates
    }
    if (!(decision.escalate && cloudAllowed)) {
      show(turn, { route: 'local', decision });
      const local = await localAnswer(turn, messages, undefined, cloudAllowed ? { family: decision.family, pre } : null);
      if (local?.stopped) {
        // the early model stopped the local answer after its first tokens: escalate, and pay for no more of it
        decision = local.stopped;
        turn.dataset.earlyTokens = String(local.tokens);
      } else {
        result = local;
        showLocal(turn, result);
        show(turn, { result });
        if (app.policy) {
          const post = { ...pre, ...postSignals(result, app.policy.answerKind(decision.family)) };
          // the answer probe reads plain answers only (answer_probe.py probe_state): not a request that offered tools
          const state = app.settings.tools || result.tool_calls?.length ? null : result.answer_hidden_mean;
          decision = app.policy.decide(decision.family, post, state);
        } else if (result.context_overflow) {
          decision = { escalate: true, stage: 'post', rule: 'post:context_overflow', family: 'general' };
        } else {
          decision = { ...decision, escalate: false };
        }
      }
      show(turn, { decision });
      if (result && !(decision.escalate && cloudAllowed)) await keepLocal(turn, messages, result);
    }
    if (decision.escalate && cloudAllowed) {
      show(turn, { route: 'cloud', decision });
      try {
        await cloudAnswer(turn, messages);
      } catch (err) {
        // offline or cloud down: keep (or produce) the local answer, say why
        turn.dataset.cloudError = err.message;
        if (!result) result = await localAnswer(turn, messages);
        show(turn, { route: 'fallback', result });
        await keepLocal(turn, messages, result);
        turn.querySelector('.reason').textContent += ` · cloud failed: ${err.message}`;
      }
    }
  } catch (err) {
    turn.querySelector('.answer').textContent = `Error: ${err.message}`;
    turn.dataset.error = err.message;
  } finally {
    turn.dataset.done = '1';
  }
}

function wireUi() {
  const s = app.settings;
  for (const [key, id] of [['bundle', 'set-bundle'], ['policy', 'set-policy'], ['cloud', 'set-cloud'], ['cloudModel', 'set-cloud-model'], ['cloudKey', 'set-cloud-key']]) {
    $(id).value = s[key] ?? DEFAULTS[key];
  }
  $('set-redact').checked = s.redact;
  $('set-tools').checked = s.tools;
  $('set-tool-choice').value = s.toolChoice;
  $('set-allow-cloud').checked = s.allowCloud;
  $('settings-toggle').addEventListener('click', () => {
    const form = $('settings');
    form.hidden = !form.hidden;
    $('settings-toggle').setAttribute('aria-expanded', String(!form.hidden));
  });
  $('settings').addEventListener('submit', (e) => {
    e.preventDefault();
    saveSettings({
      bundle: $('set-bundle').value || DEFAULTS.bundle, policy: $('set-policy').value, cloud: $('set-cloud').value,
      cloudModel: $('set-cloud-model').value, cloudKey: $('set-cloud-key').value, redact: $('set-redact').checked,
      allowCloud: $('set-allow-cloud').checked, tools: $('set-tools').checked, toolChoice: $('set-tool-choice').value,
      serverKey: s.serverKey, // kept: the page was opened with it
    });
    location.search = '';
  });
  $('ask').addEventListener('submit', async (e) => {
    e.preventDefault();
    const question = $('question').value.trim();
    if (!question || app.model?.busy) return;
    $('question').value = '';
    $('send').disabled = true;
    try { await ask(question); } finally { $('send').disabled = false; }
  });
  $('question').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); $('ask').requestSubmit(); }
  });
}

if ('serviceWorker' in navigator && window.isSecureContext) {
  // offline once loaded: the worker keeps the app, the libraries and the bundle in Cache Storage
  navigator.serviceWorker.register('sw.js').catch((err) => console.warn('service worker not registered:', err.message));
}
wireUi();
app.ready = start().catch((err) => {
  status(`Could not load the model: ${err.message}`, { error: true });
  throw err;
});
app.ask = ask;
app.tools = DEMO_TOOLS;
