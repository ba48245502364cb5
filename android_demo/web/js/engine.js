// The on-device model in the browser: an edgekit ONNX bundle run by onnxruntime-web (WASM), with the generation
// loop of runtime/edgekit/runtime/generation.py: prefill, then sample -> detokenize -> stop checks -> forward one
// token, until eos, a stop string, max_new_tokens or the end of the context.
//
// KV cache: the graph's cache inputs have a symbolic length, and GroupQueryAttention also runs with past and present
// as separate buffers (present = past + new tokens). In WASM every input and output is copied into and out of the
// module's heap on each run, so the app grows the cache with the conversation instead of binding one
// max_context-long buffer (the Python runtime's shared-buffer mode): per-token copies stay proportional to the tokens
// actually used. Same attention, same logits (the browser test checks the greedy ids against the Python runtime).
import * as ort from 'onnxruntime-web';
import { Tokenizer } from '@huggingface/tokenizers';
import { loadBundle } from './bundle.js';
import { ChatFormat } from './chat.js';
import { Sampler, SamplingOptions, summarize } from './sampler.js';
import { GrammarVocabulary } from './grammar.js';
import { parseToolChoice, parseTools, toOpenAI, toolGrammar } from './tool_grammar.js';
import { hasToolTurns, prepareMessages } from './tool_prompt.js';
import { toolPieces } from './tool_stream.js';

export class GenerationError extends Error {}

const decoder = new TextDecoder();

export function configureOrt() {
  // One thread: no SharedArrayBuffer, so no cross-origin isolation headers are needed.
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = new URL('../node_modules/onnxruntime-web/dist/', import.meta.url).href;
  ort.env.logLevel = 'error';
}

function stopHoldback(text, stops) {
  let best = 0;
  for (const stop of stops) {
    for (let n = Math.min(stop.length - 1, text.length); n > best; n--) {
      if (text.endsWith(stop.slice(0, n))) { best = n; break; }
    }
  }
  return best;
}

function findStop(text, stops, start) {
  let best = -1;
  for (const s of stops) {
    const i = text.indexOf(s, start);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

export class WebModel {
  static async load(bundleUrl, { onProgress = () => {}, verify = true, headers = {} } = {}) {
    configureOrt();
    const t0 = performance.now();
    const bundle = await loadBundle(bundleUrl, { onProgress, verify, headers });
    const { manifest, files } = bundle;
    const tokenizerJson = JSON.parse(decoder.decode(files.get(manifest.tokenizer.file || 'tokenizer.json')));
    const graph = manifest.backend_config;
    onProgress({ stage: 'session' });
    const externalData = manifest.files
      .filter((f) => f.role === 'weights')
      .map((f) => ({ path: f.path, data: files.get(f.path) }));
    const session = await ort.InferenceSession.create(files.get(graph.model_file), {
      executionProviders: ['wasm'],
      graphOptimizationLevel: 'all',
      externalData,
    });
    files.clear(); // the session holds its own copy of the weights
    const model = new WebModel(manifest, tokenizerJson, session);
    model.verified = bundle.verified;
    model.loadMs = performance.now() - t0;
    return model;
  }

  constructor(manifest, tokenizerJson, session) {
    this.manifest = manifest;
    this.graph = manifest.backend_config;
    this.cache = this.graph.cache;
    this.tokenizer = new Tokenizer(tokenizerJson, {});
    this.chat = new ChatFormat(manifest, tokenizerJson);
    this.session = session;
    this.maxContext = manifest.context.max_context;
    this.eos = new Set(manifest.tokenizer.eos_ids || []);
    // XGrammar's view of the vocabulary, built on the first answer with tools
    this.grammar = new GrammarVocabulary(tokenizerJson, this.eos, {
      encode: (text) => this.tokenizer.encode(text, { add_special_tokens: false }).ids,
      decode: (ids) => this.tokenizer.decode(ids, { skip_special_tokens: false }),
    });
    this.busy = false;
  }

  get name() {
    return this.manifest.model?.name || 'model';
  }

  /** Token ids of text; BOS by the manifest's rule (not doubled), as the runtime's Tokenizer.encode. */
  encode(text) {
    const ids = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    const { add_bos: addBos, bos_id: bos } = this.manifest.tokenizer;
    if (addBos && bos != null && ids[0] !== bos) ids.unshift(bos);
    return ids;
  }

  decode(ids, skipSpecial = true) {
    return ids.length ? this.tokenizer.decode(ids, { skip_special_tokens: skipSpecial }) : '';
  }

  /** The prompt string for a question or a message list (chat template when the bundle has one). */
  prompt(input, templateTools = null) {
    const messages = typeof input === 'string' ? [{ role: 'user', content: input }] : input;
    return this.chat.render(messages, true, templateTools);
  }

  /**
   * What tools change in an answer (model.py stream): the turns to render, the tools the template reads itself,
   * and the call grammar (null: free text). tool_choice "none" keeps the tools out of the prompt.
   */
  async toolPlan(input, options) {
    const tools = parseTools(options.tools);
    const choice = parseToolChoice(options.tool_choice, tools);
    const shown = choice.mode === 'none' ? [] : tools;
    const messages = typeof input === 'string' ? [{ role: 'user', content: input }] : input;
    if (!shown.length && !hasToolTurns(messages)) return { tools, input, templateTools: null, grammar: null };
    if (shown.length && !this.chat.template) throw new GenerationError('tools need the bundle\'s chat template');
    const takes = this.chat.takesTools;
    return {
      tools,
      input: prepareMessages(messages, shown, takes),
      templateTools: takes && shown.length ? shown.map(toOpenAI) : null,
      grammar: await toolGrammar(tools, choice),
    };
  }

  emptyCache() {
    const past = {};
    const { num_layers: layers, num_kv_heads: heads, head_dim: dim } = this.cache;
    for (let i = 0; i < layers; i++) {
      for (const name of [this.cache.past_key, this.cache.past_value]) {
        past[name.replace('{layer}', i)] = new ort.Tensor('float32', new Float32Array(0), [1, heads, 0, dim]);
      }
    }
    return { past, length: 0 };
  }

  /** The logits of the last position; kv.hidden is then its final hidden state (null: no last_hidden output). */
  async forward(ids, kv) {
    const out = await this.runGraph(ids, kv);
    const h = this.graph.last_hidden ? out[this.graph.last_hidden] : null;
    kv.hidden = h ? h.data.subarray(h.data.length - h.dims[h.dims.length - 1]) : null;
    const logits = out[this.graph.logits];
    const vocab = logits.dims[logits.dims.length - 1];
    return logits.data.subarray(logits.data.length - vocab);
  }

  /** One graph run over `ids` after the cache `kv` (which it advances); returns every output. */
  async runGraph(ids, kv) {
    const g = this.graph;
    const total = kv.length + ids.length;
    const feeds = {
      [g.input_ids]: new ort.Tensor('int64', BigInt64Array.from(ids, (v) => BigInt(v)), [1, ids.length]),
      [g.attention_mask]: new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
      [g.logits_to_keep]: new ort.Tensor('int64', BigInt64Array.of(1n), [1]),
      ...kv.past,
    };
    const out = await this.session.run(feeds);
    const next = {};
    for (let i = 0; i < this.cache.num_layers; i++) {
      next[this.cache.past_key.replace('{layer}', i)] = out[this.cache.present_key.replace('{layer}', i)];
      next[this.cache.past_value.replace('{layer}', i)] = out[this.cache.present_value.replace('{layer}', i)];
      for (const old of [this.cache.past_key, this.cache.past_value]) kv.past[old.replace('{layer}', i)].dispose?.();
    }
    kv.past = next;
    kv.length = total;
    return out;
  }

  /**
   * The prompt's final hidden state after prefill, what a policy's probe reads before generation (the Python
   * runtime's Result.prompt_hidden; HybridClient prefills for it the same way): {hidden, overflow}. hidden is null
   * when the bundle's graph has no last_hidden output; overflow is true when the prompt does not fit the context
   * (nothing is run). Same prompt as stream() builds from the same input and options (tools included).
   */
  async promptHidden(input, options = {}) {
    const name = this.graph.last_hidden;
    const plan = await this.toolPlan(input, options);
    const prompt = this.encode(this.prompt(plan.input, plan.templateTools));
    if (prompt.length + 1 > this.maxContext) return { hidden: null, overflow: true };
    if (!name) return { hidden: null, overflow: false };
    const kv = this.emptyCache();
    try {
      const h = (await this.runGraph(prompt, kv))[name];
      const dim = h.dims[h.dims.length - 1];
      return { hidden: Float32Array.from(h.data.subarray(h.data.length - dim)), overflow: false };
    } finally {
      for (const t of Object.values(kv.past)) t.dispose?.();
    }
  }

  /** Compiles the call grammar before the first answer needs it (XGrammar: about a second for the default model). */
  async prepareTools(tools, toolChoice) {
    const plan = await this.toolPlan('', { tools, tool_choice: toolChoice });
    if (plan.grammar) (await this.grammar.matcher(plan.grammar, this.manifest.architecture.vocab_size, 'edgekit_root')).dispose();
  }

  /**
   * Streams an answer: yields {text, token} pieces (text may be "" while a character or a possible stop string is
   * held back), then a last {result}. Options: max_new_tokens, temperature, top_k, top_p, min_p,
   * repetition_penalty, seed, stop (string or list), signal (AbortSignal).
   */
  async *stream(input, options = {}) {
    if (this.busy) throw new GenerationError('the model is already answering; wait for that answer to finish');
    this.busy = true;
    try {
      const plan = await this.toolPlan(input, options);
      const pieces = this.run(plan.input, options, plan);
      yield* (plan.grammar ? toolPieces(pieces, plan.tools) : pieces);
    } finally {
      this.busy = false;
    }
  }

  async *run(input, options, plan = { templateTools: null, grammar: null }) {
    const defaults = this.manifest.generation_defaults || {};
    const pick = (k) => (options[k] ?? defaults[k]);
    const sampling = new SamplingOptions({
      temperature: pick('temperature') ?? 0,
      top_k: pick('top_k') ?? 0,
      top_p: pick('top_p') ?? 1,
      min_p: pick('min_p') ?? 0,
      repetition_penalty: pick('repetition_penalty') ?? 1,
      seed: options.seed ?? null,
    });
    const maxNew = pick('max_new_tokens') ?? 256;
    const stops = [].concat(options.stop ?? []).filter(Boolean);
    const maxStop = Math.max(0, ...stops.map((s) => s.length));
    const promptText = typeof input === 'string' && options.chat === false ? input : this.prompt(input, plan.templateTools);
    const prompt = this.encode(promptText);
    if (!prompt.length) throw new GenerationError('the prompt is empty; type a question');
    const contextOverflow = prompt.length + 1 > this.maxContext;
    if (contextOverflow) {
      // nothing generated; the policy escalates on context_overflow (runtime context_policy="signal")
      yield { result: this.makeResult({ prompt, ids: [], tokens: [], text: '', finish: 'context', contextOverflow, prefillMs: 0, decodeMs: 0 }) };
      return;
    }
    const sampler = new Sampler(sampling);
    const kv = this.emptyCache();
    const t0 = performance.now();
    let logits = await this.forward(prompt, kv);
    const prefillMs = performance.now() - t0;
    const matcher = plan.grammar ? await this.grammar.matcher(plan.grammar, logits.length, 'edgekit_root') : null;
    try {
      yield* this.decodeLoop(prompt, logits, kv, sampler, { maxNew, stops, maxStop, options, matcher, prefillMs });
    } finally {
      matcher?.dispose();
      for (const t of Object.values(kv.past)) t.dispose?.();
    }
  }

  async *decodeLoop(prompt, logits, kv, sampler, { maxNew, stops, maxStop, options, matcher, prefillMs }) {
    const history = new Set(prompt);
    const ids = [];
    const tokens = [];
    // the states that drew each generated token, summed: their mean is what a policy's answer probe reads
    // (Result.answer_hidden_mean in the Python runtime; one vector add per token)
    let hiddenSum = null;
    let text = '';
    let decodedLen = 0; // characters of decode(ids) already turned into text
    let emitted = 0;
    let finish = 'length';
    let cut = false; // a stop string ended the text (held-back text is then dropped, not flushed)
    const t1 = performance.now();
    for (;;) {
      const choice = sampler.sample(logits, history, matcher ? await matcher.allowed() : null);
      if (this.eos.has(choice.token)) { finish = 'eos'; break; }
      ids.push(choice.token);
      history.add(choice.token);
      if (kv.hidden) {
        hiddenSum ??= new Float64Array(kv.hidden.length);
        for (let i = 0; i < hiddenSum.length; i++) hiddenSum[i] += kv.hidden[i];
      }
      // incremental detokenization: decode everything, hold back a trailing incomplete UTF-8 character (U+FFFD)
      const full = this.decode(ids);
      let piece = '';
      if (!full.endsWith('\uFFFD')) { piece = full.slice(decodedLen); decodedLen = full.length; }
      const info = { id: choice.token, text: piece, logprob: choice.logprob, entropy: choice.entropy };
      if (choice.best_id !== undefined) Object.assign(info, { best_id: choice.best_id, best_logprob: choice.best_logprob });
      matcher?.consume(choice.token);
      tokens.push(info);
      const before = text.length;
      text += piece;
      let safe = text.length;
      if (stops.length) {
        const hit = piece ? findStop(text, stops, Math.max(0, before - maxStop + 1)) : -1;
        if (hit >= 0) {
          text = text.slice(0, hit);
          yield { text: text.slice(emitted), token: info };
          emitted = text.length;
          finish = 'stop';
          cut = true;
          break;
        }
        safe -= stopHoldback(text, stops);
      }
      if (safe > emitted) { yield { text: text.slice(emitted, safe), token: info }; emitted = safe; }
      else yield { text: '', token: info };
      if (matcher && await matcher.finished()) { finish = 'stop'; break; } // the grammar is complete
      if (ids.length >= maxNew) { finish = 'length'; break; }
      if (options.signal?.aborted) { finish = 'stop'; break; }
      if (kv.length + 1 > this.maxContext) { finish = 'context'; break; }
      logits = await this.forward([choice.token], kv);
    }
    if (!cut) {
      const full = this.decode(ids);
      if (full.length > decodedLen) text += full.slice(decodedLen);
      if (text.length > emitted) yield { text: text.slice(emitted), token: null };
    }
    const decodeMs = ids.length ? performance.now() - t1 : 0;
    // nothing generated: the state that drew eos, as the Python runtime keeps it
    const answerHiddenMean = hiddenSum ? Float32Array.from(hiddenSum, (v) => v / ids.length) : kv.hidden ? Float32Array.from(kv.hidden) : null;
    yield { result: this.makeResult({ prompt, ids, tokens, text, finish, contextOverflow: false, prefillMs, decodeMs, answerHiddenMean }) };
  }

  makeResult({ prompt, ids, tokens, text, finish, contextOverflow, prefillMs, decodeMs, answerHiddenMean = null }) {
    return {
      answer_hidden_mean: answerHiddenMean,
      text,
      token_ids: ids,
      prompt_ids: prompt,
      finish_reason: finish,
      prompt_tokens: prompt.length,
      tokens,
      confidence: summarize(tokens),
      context_overflow: contextOverflow,
      timings: { prefill_ms: prefillMs, decode_ms: decodeMs, decode_tok_s: decodeMs > 0 ? (ids.length * 1000) / decodeMs : 0 },
    };
  }

  async generate(input, options = {}) {
    let result = null;
    for await (const piece of this.stream(input, options)) if (piece.result) result = piece.result;
    return result;
  }
}
