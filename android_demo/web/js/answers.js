// Where the answer is in a generated text, by expected kind: a port of sdk/edgekit/sdk/policy/answer_span.py (its
// docstring writes the rules down so the demos can reproduce them). Offsets are JavaScript string indices; the
// token ranges in signals.js use the same unit, so spans and tokens line up as they do in Python.

const NUMBER = /(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)|(?<![\w.])-?\d+(?:\.\d+)?(?!\d)/gu;
const SENTENCE_END = /[.!?\n](?=\s|$)/u;
const MARKERS = [' is ', ' are ', ' equals ', ' was ', ' be ', ':'];
const YESNO = /\b(yes|no)\b/iu;
const ALNUM = /[\p{L}\p{N}]/u;
const ALPHA = /\p{L}/u;

export function region(text) {
  const cut = text.indexOf('\n\n');
  return (cut === -1 ? text : text.slice(0, cut)).slice(0, 400);
}

export function firstSentence(text) {
  const r = region(text);
  const m = SENTENCE_END.exec(r);
  return m ? r.slice(0, m.index) : r;
}

// Python's finditer(text, pos): the search starts at pos, and lookbehind still sees the characters before it;
// a global RegExp with lastIndex = pos behaves the same way.
function numbers(text, start = 0) {
  const re = new RegExp(NUMBER.source, 'gu');
  re.lastIndex = start;
  const out = [];
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m);
  return out;
}
function findNumber(text) {
  const r = region(text);
  if (r.includes('=')) {
    let pos = r.indexOf('=');
    while (pos !== -1) {
      const after = numbers(r, pos + 1);
      if (after.length) return span(after[0]);
      pos = r.indexOf('=', pos + 1);
    }
  }
  const sentence = firstSentence(text);
  for (const marker of MARKERS) {
    const pos = sentence.indexOf(marker);
    if (pos !== -1) {
      const after = numbers(sentence, pos + marker.length);
      if (after.length) return span(after[0]);
    }
  }
  const inSentence = numbers(sentence);
  if (inSentence.length) return span(inSentence[inSentence.length - 1]);
  const inRegion = numbers(r);
  if (inRegion.length) return span(inRegion[0]);
  return null;
}

function span(m) {
  return { start: m.index, end: m.index + m[0].length, value: m[0] };
}

function findEntity(text) {
  const sentence = firstSentence(text);
  let start = 0;
  for (const marker of MARKERS) {
    const pos = sentence.indexOf(marker);
    if (pos !== -1) { start = pos + marker.length; break; }
  }
  let end = sentence.length;
  while (start < end && !ALNUM.test(sentence[start])) start++;
  while (end > start && !ALNUM.test(sentence[end - 1])) end--;
  if (end <= start || !ALPHA.test(sentence.slice(start, end))) return null;
  return { start, end, value: sentence.slice(start, end) };
}

function findYesNo(text) {
  const m = YESNO.exec(region(text));
  return m ? { start: m.index, end: m.index + m[0].length, value: m[1].toLowerCase() } : null;
}

export const ANSWER_KINDS = { number: findNumber, entity: findEntity, yesno: findYesNo };

export function findAnswer(kind, text) {
  const finder = ANSWER_KINDS[kind];
  if (!finder) throw new Error(`unknown answer kind "${kind}"; known answer kinds: ${Object.keys(ANSWER_KINDS).sort().join(', ')}`);
  return finder(text);
}
