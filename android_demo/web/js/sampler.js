// Next-token choice and confidence, as the Python runtime computes them
// (runtime/edgekit/runtime/sampler.py and confidence.py): repetition penalty -> temperature -> top-k -> top-p ->
// min-p -> draw; temperature 0 is greedy (first maximum on ties, like numpy's argmax). logprob and entropy are
// always those of the raw logits at temperature 1, so the policy reads the same numbers as on the device SDK.

export const DEFAULT_WINDOW = 8; // tokens (confidence.py DEFAULT_WINDOW)

export class SamplingOptions {
  constructor({ temperature = 0, top_k = 0, top_p = 1, min_p = 0, repetition_penalty = 1, seed = null } = {}) {
    const bad = (name, value, rule) => new Error(`${name}=${value} is invalid: ${rule}`);
    if (!(temperature >= 0)) throw bad('temperature', temperature, 'use 0 for greedy or a positive number');
    if (!Number.isInteger(top_k) || top_k < 0) throw bad('top_k', top_k, 'use 0 (off) or a positive integer');
    if (!(top_p > 0 && top_p <= 1)) throw bad('top_p', top_p, 'use a number in (0, 1]; 1 turns it off');
    if (!(min_p >= 0 && min_p < 1)) throw bad('min_p', min_p, 'use a number in [0, 1); 0 turns it off');
    if (!(repetition_penalty > 0)) throw bad('repetition_penalty', repetition_penalty, 'use a positive number; 1 turns it off');
    Object.assign(this, { temperature, top_k, top_p, min_p, repetition_penalty, seed });
  }
  get greedy() { return this.temperature === 0; }
}

// mulberry32: a small seeded generator (seeded draws are reproducible in the browser, not equal to numpy's)
function rng(seed) {
  let a = (seed ?? Math.floor(Math.random() * 2 ** 32)) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function argmax(x) {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** [logprob of token, entropy] of softmax(logits) in nats, in float64 (confidence.py token_stats uses float32 passes; they agree to ~1e-7). */
export function tokenStats(logits, token) {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const logZ = Math.log(sum);
  let entropy = 0;
  for (let i = 0; i < logits.length; i++) {
    const lp = logits[i] - max - logZ;
    entropy -= Math.exp(lp) * lp;
  }
  return [logits[token] - max - logZ, Math.max(entropy, 0)];
}

export class Sampler {
  constructor(options) {
    this.options = options;
    this.random = rng(options.seed);
  }

  /**
   * Returns {token, logprob, entropy} for one row of logits; history = ids seen so far (prompt + output). allowed: a
   * grammar's mask (grammar.js), or null. Under a mask the other tokens get -inf after the penalty, the numbers are
   * those of the raw logits renormalised over the allowed tokens, and {best_id, best_logprob} is the raw logits' own
   * best token (where the grammar overrode the model), as sampler.py's constrained draw.
   */
  sample(logits, history, allowed = null) {
    const o = this.options;
    let x = logits;
    if (o.repetition_penalty !== 1 && history && history.size) {
      x = Float32Array.from(logits);
      for (const id of history) {
        // CTRL (Keskar et al. 2019): divide positive logits, multiply negative ones
        x[id] = x[id] > 0 ? x[id] / o.repetition_penalty : x[id] * o.repetition_penalty;
      }
    }
    if (allowed) {
      x = Float32Array.from(x);
      for (let i = 0; i < x.length; i++) if (!allowed[i]) x[i] = -Infinity;
    }
    const token = o.greedy ? argmax(x) : this.draw(x);
    if (!allowed) {
      const [logprob, entropy] = tokenStats(logits, token);
      return { token, logprob, entropy };
    }
    const ids = [];
    for (let i = 0; i < logits.length; i++) if (allowed[i]) ids.push(i);
    const sub = Float32Array.from(ids, (i) => logits[i]);
    const [logprob, entropy] = tokenStats(sub, ids.indexOf(token));
    const best = argmax(logits);
    return { token, logprob, entropy, best_id: best, best_logprob: tokenStats(logits, best)[0] };
  }

  draw(logits) {
    const o = this.options;
    const n = logits.length;
    let x = Float64Array.from(logits, (v) => v / o.temperature);
    if (o.top_k > 0 && o.top_k < n) {
      const kth = Float64Array.from(x).sort()[n - o.top_k];
      x = x.map((v) => (v < kth ? -Infinity : v));
    }
    const idx = [];
    for (let i = 0; i < n; i++) if (Number.isFinite(x[i])) idx.push(i);
    idx.sort((a, b) => x[b] - x[a] || a - b);
    const p = idx.map((i) => Math.exp(x[i] - x[idx[0]]));
    const total = p.reduce((s, v) => s + v, 0);
    for (let i = 0; i < p.length; i++) p[i] /= total;
    let keep = p.length;
    if (o.top_p < 1) {
      let cum = 0;
      for (let i = 0; i < p.length; i++) {
        cum += p[i];
        if (cum >= o.top_p) { keep = Math.min(keep, i + 1); break; }
      }
    }
    if (o.min_p > 0) keep = Math.min(keep, Math.max(1, p.filter((v) => v >= o.min_p * p[0]).length));
    let r = this.random() * p.slice(0, keep).reduce((s, v) => s + v, 0);
    for (let i = 0; i < keep; i++) {
      r -= p[i];
      if (r < 0) return idx[i];
    }
    return idx[keep - 1];
  }
}

/** The Confidence summary of confidence.py summarize(). */
export function summarize(tokens, window = DEFAULT_WINDOW) {
  const n = tokens.length;
  if (!n) return { n_tokens: 0, mean_logprob: 0, min_logprob: 0, mean_entropy: 0, max_entropy: 0, max_window_entropy: 0, window, perplexity: 1 };
  const lps = tokens.map((t) => t.logprob);
  const ents = tokens.map((t) => t.entropy);
  const w = Math.min(window, n);
  let best = -Infinity;
  for (let s = 0; s + w <= n; s++) {
    let sum = 0;
    for (let i = s; i < s + w; i++) sum += ents[i];
    best = Math.max(best, sum / w);
  }
  const mean = lps.reduce((s, v) => s + v, 0) / n;
  return {
    n_tokens: n,
    mean_logprob: mean,
    min_logprob: Math.min(...lps),
    mean_entropy: ents.reduce((s, v) => s + v, 0) / n,
    max_entropy: Math.max(...ents),
    max_window_entropy: best,
    window,
    perplexity: Math.exp(-mean),
  };
}
