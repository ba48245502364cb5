// The escalation policy, read from the same policy file as the Python SDK: a port of
// sdk/edgekit/sdk/policy/policy.py, whose docstring specifies the two-stage decision (router before generation,
// post-generation model after), the early hand-off while generating (sdk/edgekit/sdk/policy/early.py) and the
// standardised logistic models. Checked against tests/vectors/policy_vectors.json in the browser test.

export const POLICY_FORMAT = 'edgekit-policy';
// 2 adds the optional hidden-state probe, 3 the optional answer probe (policy.py POLICY_VERSION)
export const POLICY_VERSIONS = [1, 2, 3];
const GENERAL = 'general';

export class PolicyError extends Error {}

class LogisticModel {
  constructor(d, where) {
    for (const k of ['features', 'mean', 'std', 'weights', 'bias', 'threshold']) {
      if (!(k in d)) throw new PolicyError(`${where}: policy model is malformed (missing "${k}"); re-run \`edgekit calibrate\``);
    }
    Object.assign(this, { features: d.features, mean: d.mean, std: d.std, weights: d.weights, bias: d.bias, threshold: d.threshold });
    const n = this.features.length;
    if (![this.mean, this.std, this.weights].every((a) => a.length === n)) {
      throw new PolicyError(`${where}: features, mean, std and weights must have the same length; re-run \`edgekit calibrate\``);
    }
  }

  probability(signals) {
    let s = this.bias;
    this.features.forEach((name, i) => {
      if (!(name in signals)) throw new PolicyError(`policy needs signal "${name}", which was not computed`);
      s += (this.weights[i] * (signals[name] - this.mean[i])) / this.std[i];
    });
    if (s >= 0) return 1 / (1 + Math.exp(-s));
    const e = Math.exp(s);
    return e / (1 + e);
  }
}

/**
 * A folded probe section's weights and bias (sdk/edgekit/sdk/policy/folded.py) set on `probe`, checked: the state it
 * reads, one finite weight per hidden dimension, a finite bias, hidden_size equal to the weights. Returns the
 * section's error maker for the caller's own checks.
 */
function foldedWeights(probe, d, where, section, state) {
  const bad = (why) => new PolicyError(`${where}: ${section} ${why}; re-run \`edgekit calibrate\``);
  if (!d || typeof d !== 'object') throw bad('must be an object');
  if ((d.state ?? state) !== state) throw bad(`state "${d.state}" is unknown (known: ${state})`);
  if (!Array.isArray(d.weights) || !d.weights.length) throw bad('weights is empty or not a list');
  if (![...d.weights, d.bias].every((v) => typeof v === 'number' && Number.isFinite(v))) throw bad('weights and bias must be finite numbers');
  if ((d.hidden_size ?? d.weights.length) !== d.weights.length) throw bad(`hidden_size ${d.hidden_size} but ${d.weights.length} weights`);
  Object.assign(probe, { weights: Float64Array.from(d.weights), bias: d.bias });
  return bad;
}

/**
 * The hidden-state probe (sdk/edgekit/sdk/policy/prompt_probe.py): p = 1 / (1 + exp(-(bias + weights . h))) on the
 * prompt's final hidden state h, known after prefill; p >= threshold escalates before any token is generated.
 */
class PromptProbe {
  constructor(d, where) {
    const bad = foldedWeights(this, d, where, 'probe', 'prompt');
    if (!(typeof d.threshold === 'number' && d.threshold >= 0 && d.threshold <= 1)) throw bad(`threshold ${d.threshold} must be a probability in [0, 1]`);
    this.threshold = d.threshold;
  }

  probability(hidden) {
    if (hidden.length !== this.weights.length) {
      throw new PolicyError(`policy probe reads a hidden state of ${this.weights.length} values, the bundle gave ${hidden.length}; the policy was calibrated for another model: re-run \`edgekit calibrate\` on this bundle`);
    }
    let s = this.bias;
    for (let i = 0; i < hidden.length; i++) s += this.weights[i] * hidden[i];
    if (s >= 0) return 1 / (1 + Math.exp(-s));
    const e = Math.exp(s);
    return e / (1 + e);
  }
}

/**
 * The answer probe (sdk/edgekit/sdk/policy/answer_probe.py): answer_probe = bias + weights . m on the mean m of the
 * final hidden states that drew a plain answer's tokens, read by its own post models (`models`). Without that
 * state (a request that offered tools, a bundle without last_hidden, another width) the score is 0,
 * answer_probe_missing is 1, and the policy's signal models decide.
 */
class AnswerProbe {
  constructor(d, where) {
    foldedWeights(this, d, where, 'answer_probe', 'answer_mean');
    this.models = Object.fromEntries(Object.entries(d.models || {}).map(([k, v]) => [k, new LogisticModel(v, `${where} answer_probe.models.${k}`)]));
    const blind = Object.keys(this.models).filter((k) => !this.models[k].features.includes('answer_probe')).sort();
    if (blind.length) throw new PolicyError(`${where}: answer_probe models ${blind.join(', ')} do not read "answer_probe"; re-run \`edgekit calibrate\``);
  }

  signals(hidden) {
    if (!hidden || hidden.length !== this.weights.length) return { answer_probe: 0, answer_probe_missing: 1 };
    let s = this.bias;
    for (let i = 0; i < hidden.length; i++) {
      if (!Number.isFinite(hidden[i])) return { answer_probe: 0, answer_probe_missing: 1 };
      s += this.weights[i] * hidden[i];
    }
    return { answer_probe: s, answer_probe_missing: 0 };
  }
}

const RULE_KINDS = {
  regex: (r, q) => new RegExp(r.pattern, 'iu').test(q),
  keywords: (r, q) => (r.words || []).some((w) => new RegExp(`\\b${w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`, 'iu').test(q)),
  min_chars: (r, q) => [...q].length >= (r.value ?? 0),
  min_digits: (r, q) => [...q].filter((ch) => /\p{Nd}/u.test(ch)).length >= (r.value ?? 0),
  family: (r, q, f) => (r.families || []).includes(f),
};

export class Policy {
  constructor(data, where = 'policy') {
    if (!data || data.format !== POLICY_FORMAT) throw new PolicyError(`${where}: not an edgekit policy file (no "format": "${POLICY_FORMAT}")`);
    if (!POLICY_VERSIONS.includes(data.version)) {
      throw new PolicyError(`${where}: policy version ${data.version} is not supported (this app reads ${POLICY_VERSIONS.join(' and ')}); re-run \`edgekit calibrate\``);
    }
    if (data.probe != null && data.version < 2) throw new PolicyError(`${where}: a "probe" needs policy version 2, the file says ${data.version}`);
    this.probe = data.probe != null ? new PromptProbe(data.probe, where) : null;
    if (data.answer_probe != null && data.version < 3) throw new PolicyError(`${where}: an "answer_probe" needs policy version 3, the file says ${data.version}`);
    this.answerProbe = data.answer_probe != null ? new AnswerProbe(data.answer_probe, where) : null;
    this.privacy = data.privacy || 'allow';
    this.families = (data.families || []).map((f) => ({ ...f, re: new RegExp(f.pattern, 'iu') }));
    this.rules = (data.router?.rules || []).map((r) => {
      if (!RULE_KINDS[r.kind]) throw new PolicyError(`unknown router rule kind "${r.kind}"; known router rule kinds: ${Object.keys(RULE_KINDS).sort().join(', ')}`);
      return r;
    });
    const models = (obj, w) => Object.fromEntries(Object.entries(obj || {}).map(([k, v]) => [k, new LogisticModel(v, `${where} ${w}.${k}`)]));
    this.routerModels = models(data.router?.models, 'router.models');
    this.postModels = models(data.post?.models, 'post.models');
    const reading = Object.keys(this.postModels).filter((k) => this.postModels[k].features.includes('answer_probe')).sort();
    if (reading.length) {
      throw new PolicyError(`policy post models ${reading.join(', ')} read the answer probe's score, which only the models of "answer_probe" read; re-run \`edgekit calibrate\``);
    }
    this.generation = data.generation || {};
    this.early = null;
    if (data.early) {
      const maxTokens = data.early.max_tokens;
      if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new PolicyError(`${where}: early.max_tokens must be an integer >= 1; re-run \`edgekit calibrate\``);
      this.early = { maxTokens, model: new LogisticModel(data.early.model || {}, `${where} early.model`) };
    }
    this.data = data;
  }

  withPrivacy(privacy) {
    return new Policy({ ...this.data, privacy }, 'policy');
  }

  classify(question) {
    for (const f of this.families) if (f.re.test(question)) return f.name;
    return GENERAL;
  }

  answerKind(family) {
    return this.families.find((f) => f.name === family)?.answer_kind ?? null;
  }

  model(models, family) {
    return models[family] || models.default || null;
  }

  /** Stage 1: escalate before generation? */
  route(question, pre) {
    const family = this.classify(question);
    if (this.privacy === 'local-only') return decision(false, 'privacy', 'privacy:local-only', family);
    for (const rule of this.rules) {
      if (RULE_KINDS[rule.kind](rule, question, family)) return decision(true, 'router', `router:rule:${rule.name}`, family);
    }
    const m = this.model(this.routerModels, family);
    if (m) {
      const p = m.probability(pre);
      if (p >= m.threshold) return decision(true, 'router', `router:model:${family}`, family, p, m.threshold);
      return decision(false, 'router', 'router:local', family, p, m.threshold);
    }
    return decision(false, 'router', 'router:local', family);
  }

  /**
   * Stage 1, last step (policy.py route): the probe on the prompt's hidden state, for a question the rules and the
   * router model kept local. Callers compute the state only when `needsProbe(decision)`, so a question a rule
   * escalates is never prefilled for it.
   */
  needsProbe(routed) {
    return Boolean(this.probe) && !routed.escalate && routed.stage === 'router';
  }

  probeDecision(routed, hidden) {
    if (!hidden) {
      throw new PolicyError('the policy has a hidden-state probe but the local model gave no prompt hidden state (a bundle exported without the last_hidden output); re-export the bundle with this edgekit or use a policy without a probe');
    }
    const p = this.probe.probability(hidden);
    if (p >= this.probe.threshold) return { ...decision(true, 'router', 'router:probe', routed.family, p, this.probe.threshold), probe: p };
    return { ...routed, probe: p }; // as policy.py keeps p in the decision's signals
  }

  /** While generating, after token signals.prefix_tokens: stop and escalate now? (pre + prefix signals) */
  earlyDecision(family, signals) {
    if (!this.early || this.privacy === 'local-only' || signals.prefix_tokens > this.early.maxTokens) {
      return decision(false, 'early', 'early:continue', family);
    }
    const m = this.early.model;
    const p = m.probability(signals);
    if (p >= m.threshold) return decision(true, 'early', `early:model:${family}`, family, p, m.threshold);
    return decision(false, 'early', 'early:continue', family, p, m.threshold);
  }

  /** Stage 2: escalate after the local answer's signals (pre + post)? answerHidden: the mean of the final hidden
   * states that drew the answer's tokens (engine result.answer_hidden_mean), for a policy with an answer probe. */
  decide(family, signals, answerHidden = null) {
    if (!this.answerProbe) return this.decideOn(family, signals, this.postModels);
    const read = this.answerProbe.signals(answerHidden);
    const models = read.answer_probe_missing ? this.postModels : this.answerProbe.models;
    // as policy.py keeps them in the decision's signals
    return { ...this.decideOn(family, { ...signals, ...read }, models), answerProbe: read.answer_probe, answerProbeMissing: read.answer_probe_missing };
  }

  decideOn(family, signals, models) {
    if (this.privacy === 'local-only') return decision(false, 'privacy', 'privacy:local-only', family);
    if ((signals.context_overflow ?? 0) >= 1) return decision(true, 'post', 'post:context_overflow', family);
    const m = this.model(models, family);
    if (!m) return decision(false, 'post', 'post:accept', family);
    const p = m.probability(signals);
    if (p >= m.threshold) return decision(true, 'post', `post:model:${family}`, family, p, m.threshold);
    return decision(false, 'post', 'post:accept', family, p, m.threshold);
  }
}

function decision(escalate, stage, rule, family, probability = null, threshold = null) {
  return { escalate, stage, rule, family, probability, threshold };
}

/** The whole two-stage flow on recorded signals (sdk/edgekit/sdk/policy/vectors.py decide_vector); hidden: the
 * prompt's hidden state for a policy with a probe; answerHidden: the answer's mean state for an answer probe. */
export function decideVector(policy, question, signals, privacy = 'allow', hidden = null, answerHidden = null) {
  const p = policy.withPrivacy(privacy);
  let routed = p.route(question, signals);
  if (p.needsProbe(routed)) routed = p.probeDecision(routed, hidden);
  return routed.escalate || routed.stage === 'privacy' ? routed : p.decide(routed.family, signals, answerHidden);
}

/** The answer prefix's signals (sdk/edgekit/sdk/policy/early.py prefix_signals): tokens with logprob, entropy. */
export function prefixSignals(tokens) {
  const lps = tokens.map((t) => Math.max(t.logprob, -50));
  const ents = tokens.map((t) => t.entropy);
  return {
    prefix_tokens: tokens.length,
    prefix_mean_logprob: lps.reduce((a, b) => a + b, 0) / lps.length,
    prefix_min_logprob: Math.min(...lps),
    prefix_mean_entropy: ents.reduce((a, b) => a + b, 0) / ents.length,
    prefix_max_entropy: Math.max(...ents),
  };
}
