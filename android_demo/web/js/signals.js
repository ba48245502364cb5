// The signals the policy reads: a port of sdk/edgekit/sdk/policy/signals.py (names and formulas are the contract
// with the policy file). Pre-generation signals come from the question, post-generation ones from the local result.
import { findAnswer } from './answers.js';

const NUM = /\d+(?:[.,]\d+)*/gu;
const ARITH = /\d\s*[-+*/x×÷^]\s*\d/u;
const DIGIT = /\p{Nd}/u;

export const PRE_SIGNALS = ['question_chars', 'n_digits', 'n_numbers', 'max_number_len', 'has_arith_op'];

/** The text the router looks at: the last user message (or the string itself). */
export function questionOf(messages) {
  if (typeof messages === 'string') return messages;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role === 'user' && typeof messages[i].content === 'string') return messages[i].content;
  }
  return '';
}

const countDigits = (s) => [...s].filter((ch) => DIGIT.test(ch)).length;

export function preSignals(question) {
  const nums = question.match(NUM) || [];
  return {
    question_chars: [...question].length, // code points, as Python's len()
    n_digits: countDigits(question),
    n_numbers: nums.length,
    max_number_len: nums.reduce((m, n) => Math.max(m, countDigits(n)), 0),
    has_arith_op: ARITH.test(question) ? 1 : 0,
  };
}

/** Indices [i, j) of the tokens whose text overlaps characters [start, end) of the joined text. */
export function answerTokenRange(tokens, start, end) {
  let pos = 0;
  let first = -1;
  let last = -1;
  tokens.forEach((token, i) => {
    const tStart = pos;
    pos += token.text.length;
    if (pos > start && tStart < end && token.text) {
      if (first === -1) first = i;
      last = i;
    }
  });
  return first !== -1 ? [first, last + 1] : [0, 0];
}

/** Signals of one local result; answerKind: "number", "entity", "yesno" or null. */
export function postSignals(result, answerKind) {
  const conf = result.confidence;
  const tokens = result.tokens;
  const text = tokens.map((t) => t.text).join('') || result.text;
  const found = answerKind ? findAnswer(answerKind, text) : null;
  let answerLp = conf.min_logprob;
  let firstLp = conf.min_logprob;
  if (found) {
    const [i, j] = answerTokenRange(tokens, found.start, found.end);
    if (j > i) {
      const lps = tokens.slice(i, j).map((t) => t.logprob);
      answerLp = lps.reduce((s, v) => s + v, 0) / lps.length;
      firstLp = lps[0];
    }
  }
  const values = {
    mean_logprob: conf.mean_logprob,
    min_logprob: conf.min_logprob,
    mean_entropy: conf.mean_entropy,
    max_window_entropy: conf.max_window_entropy,
    answer_logprob: answerLp,
    answer_first_logprob: firstLp,
    gen_tokens: tokens.length,
    truncated: result.finish_reason === 'length' ? 1 : 0,
    has_answer: found ? 1 : 0,
    context_overflow: result.context_overflow ? 1 : 0,
  };
  // -inf logprobs (a token drawn at probability 0) would break standardisation (signals.py does the same)
  for (const k of Object.keys(values)) if (!Number.isFinite(values[k])) values[k] = -50;
  return values;
}
