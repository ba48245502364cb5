// Grammar-constrained decoding in the browser: XGrammar's view of the bundle's vocabulary, built once per model, and
// one matcher per answer. The sampler only draws tokens the grammar allows; the numbers it reports are those of the
// raw logits renormalised over the allowed tokens, as runtime/edgekit/runtime/sampler.py does.
import '@mlc-ai/web-xgrammar'; // a UMD build: it defines globalThis.xgrammar

const xgr = () => globalThis.xgrammar;

/** How XGrammar must read the vocabulary's strings: from the tokenizer's decoder (byte-level BPE, byte fallback). */
export function vocabType(tokenizerJson) {
  const decoder = tokenizerJson.decoder || {};
  const kinds = [decoder.type, ...(decoder.decoders || []).map((d) => d.type)];
  if (kinds.includes('ByteLevel')) return 'byte_level';
  if (kinds.includes('ByteFallback')) return 'byte_fallback';
  return 'raw';
}

/** Every token's string by id (the model's vocabulary plus added tokens), `width` entries (padding ids: ""). */
export function encodedVocab(tokenizerJson, width) {
  const vocab = new Array(width).fill('');
  const model = tokenizerJson.model || {};
  const entries = Array.isArray(model.vocab) ? model.vocab.map(([piece], id) => [piece, id]) : Object.entries(model.vocab || {});
  for (const [piece, id] of entries) if (id < width) vocab[id] = piece;
  for (const t of tokenizerJson.added_tokens || []) if (t.id < width) vocab[t.id] = t.content;
  return vocab;
}

/**
 * Token ids no grammar may produce: the added tokens marked special, except the stop tokens. llguidance (the Python
 * runtime's engine) never matches them as text; XGrammar would, so the page removes them to draw the same tokens.
 */
export function specialIds(tokenizerJson, eosIds) {
  const eos = new Set(eosIds);
  return (tokenizerJson.added_tokens || []).filter((t) => t.special && !eos.has(t.id)).map((t) => t.id);
}

export class GrammarVocabulary {
  /** text: {encode(text) -> ids, decode(ids) -> text}, the page's tokenizer (for forced text, below). */
  constructor(tokenizerJson, eosIds, text) {
    this.tokenizerJson = tokenizerJson;
    this.text = text;
    this.eos = new Set(eosIds);
    this.special = specialIds(tokenizerJson, eosIds);
    this.width = 0;
    this.compiler = null;
    this.compiled = new Map(); // grammar text -> compiled grammar: the page asks with the same tools again and again
    this.buildMs = 0;
  }

  async ensure(width) {
    if (this.compiler && this.width === width) return this.compiler;
    const t0 = performance.now();
    const info = await xgr().TokenizerInfo.createTokenizerInfo(
      encodedVocab(this.tokenizerJson, width), vocabType(this.tokenizerJson), false, width, [...this.eos],
    );
    this.compiler = await xgr().GrammarCompiler.createGrammarCompiler(info);
    for (const grammar of this.compiled.values()) grammar.dispose();
    this.compiled.clear();
    this.width = width;
    this.buildMs = performance.now() - t0;
    return this.compiler;
  }

  /** A fresh matcher for one answer, from an EBNF grammar whose root rule is `root`. */
  async matcher(ebnf, width, root) {
    const compiler = await this.ensure(width);
    const key = `${root}\n${ebnf}`;
    if (!this.compiled.has(key)) this.compiled.set(key, await compiler.compileGrammar(ebnf, root));
    const matcher = await xgr().GrammarMatcher.createGrammarMatcher(this.compiled.get(key));
    return new GrammarMatcher(matcher, width, this.eos, this.special, this.text);
  }
}

export class GrammarMatcher {
  constructor(matcher, width, eos, special, text) {
    this.matcher = matcher;
    this.width = width;
    this.eos = eos;
    this.special = special;
    this.text = text;
    this.mask = null; // the mask of the current state: finished() and the next step's allowed() share it
  }

  /**
   * Allowed next tokens as a Uint8Array mask of `width` entries.
   *
   * Where the grammar forces text (a call's "<tool_call>\n{"name":" and its keys), XGrammar allows every token that
   * spells a prefix of it, while llguidance allows only the first token of the text's own tokenization (its
   * fast-forward tokens, guidance-ai/llguidance docs/fast_forward.md). A small model forced onto odd tokenizations
   * drifts, and the page must draw the Python runtime's tokens, so the page keeps llguidance's rule: the forced text's
   * first token only, unless a longer allowed token also continues past the forced text (then the grammar is free).
   */
  async allowed() {
    if (!this.mask) this.mask = await this.computeMask();
    return this.mask;
  }

  async computeMask() {
    const bits = await this.matcher.getNextTokenBitmask();
    const mask = new Uint8Array(this.width);
    for (let i = 0; i < this.width; i++) mask[i] = (bits[i >>> 5] >>> (i & 31)) & 1;
    for (const id of this.special) if (id < this.width) mask[id] = 0;
    const forced = this.matcher.findJumpForwardString();
    if (!forced) return mask;
    const ids = this.text.encode(forced);
    if (!ids.length || !mask[ids[0]]) return mask;
    if (ids.length === 1) {
      for (let i = 0; i < this.width; i++) {
        if (mask[i] && i !== ids[0]) {
          const piece = this.text.decode([i]);
          if (piece.length > forced.length && piece.startsWith(forced)) return mask;
        }
      }
    }
    mask.fill(0);
    mask[ids[0]] = 1;
    return mask;
  }

  /** Feed the chosen token; a token the grammar refuses is a bug in the sampler, not the model. */
  consume(token) {
    this.mask = null;
    if (!this.matcher.acceptToken(token)) throw new Error(`the grammar refused token ${token} that its own mask allowed`);
  }

  /** True when nothing but a stop token could follow (the grammar is complete). */
  async finished() {
    if (this.matcher.isTerminated()) return true;
    const mask = await this.allowed();
    for (let i = 0; i < mask.length; i++) if (mask[i] && !this.eos.has(i)) return false;
    return true;
  }

  dispose() {
    this.matcher.dispose();
  }
}
