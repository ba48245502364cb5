// Personal data is replaced by placeholders before a prompt leaves the phone: a port of sdk/edgekit/sdk/redaction.py
// (same patterns in the same order, same checks, same placeholder numbering); the cloud's answer gets the values back.

const EMAIL = /(?<![\w.+-])[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![\w-])/gu;
const CARD = /(?<![\w.])\d(?:[ -]?\d){12,18}(?![\w.]|[ -]\d)/gu;
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(`(?<![\\w.])${OCTET}(?:\\.${OCTET}){3}(?![\\w]|\\.\\d)`, 'gu');
const H = '[0-9A-Fa-f]{1,4}';
const IPV6 = new RegExp(`(?<![\\w:])(?:(?:${H}:){7}${H}|(?:${H}:){1,7}:(?:${H}(?::${H}){0,6})?|::(?:${H}(?::${H}){0,6}))(?![\\w:])`, 'gu');
const PHONE = /(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{1,4}){1,4}|\(\d{2,4}\)[ .-]?\d{2,4}(?:[ .-]\d{2,4}){1,3}|\d{2,4}(?:[ .-]\d{2,4}){2,4})(?![\w])/gu;
const DATE = /^(?:\d{4}([./-])\d{1,2}\1\d{1,2}|\d{1,2}([./-])\d{1,2}\2\d{4})$/u;
const PLACEHOLDER = /\[(EMAIL|CARD|IP|PHONE)_(\d+)\]/g;

export const KINDS = ['email', 'card', 'ip', 'phone'];

export function luhnValid(digits) {
  let total = 0;
  [...digits].reverse().forEach((ch, i) => {
    let d = ch.charCodeAt(0) - 48;
    if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
    total += d;
  });
  return total % 10 === 0;
}

const digitsOf = (s) => s.replace(/\D/g, '');
const cardOk = (m) => { const d = digitsOf(m); return d.length >= 13 && d.length <= 19 && luhnValid(d); };
function phoneOk(m) {
  if (DATE.test(m)) return false; // 2024-05-01, 01.05.2024: dates, not phones
  const d = digitsOf(m);
  if (d.length < 7 || d.length > 15) return false; // ITU-T E.164: at most 15 digits
  if (m.includes('.') && m.split('.').every((g) => g.length <= 3) && !m.startsWith('+')) return false;
  return true;
}
const ipv6Ok = (m) => (m.match(/:/g) || []).length >= 3 || (m.includes('::') && m.length > 2);

const PATTERNS = [
  ['email', EMAIL, null, 'EMAIL'],
  ['card', CARD, cardOk, 'CARD'],
  ['ip', IPV4, null, 'IP'],
  ['ip', IPV6, ipv6Ok, 'IP'],
  ['phone', PHONE, phoneOk, 'PHONE'],
];

export class Redaction {
  constructor() { this.mapping = new Map(); }
  get count() { return this.mapping.size; }
  kinds() {
    const out = {};
    for (const p of this.mapping.keys()) { const k = p.slice(1).split('_')[0].toLowerCase(); out[k] = (out[k] || 0) + 1; }
    return out;
  }
  restore(text) {
    if (!this.mapping.size) return text;
    return text.replace(PLACEHOLDER, (m) => this.mapping.get(m) ?? m);
  }
}

/** Restores placeholders in a stream whose chunks may split one: holds back a trailing "[..." until it closes. */
export class StreamRestorer {
  constructor(redaction) { this.redaction = redaction; this.pending = ''; }
  feed(chunk) {
    let text = this.pending + chunk;
    this.pending = '';
    if (this.redaction.mapping.size) {
      const cut = text.lastIndexOf('[');
      if (cut !== -1 && !text.slice(cut).includes(']') && text.length - cut < 16) {
        this.pending = text.slice(cut);
        text = text.slice(0, cut);
      }
    }
    return this.redaction.restore(text);
  }
  flush() { const t = this.pending; this.pending = ''; return this.redaction.restore(t); }
}

export class Redactor {
  constructor(kinds = KINDS) {
    const unknown = kinds.filter((k) => !KINDS.includes(k));
    if (unknown.length) throw new Error(`unknown redaction kind "${unknown[0]}"; known redaction kinds: ${KINDS.join(', ')}`);
    this.kinds = kinds;
  }

  find(text) {
    const spans = [];
    for (const [kind, pattern, check, label] of PATTERNS) {
      if (!this.kinds.includes(kind)) continue;
      for (const m of text.matchAll(pattern)) {
        if (check && !check(m[0])) continue;
        const start = m.index;
        const end = start + m[0].length;
        if (spans.some(([s, e]) => start < e && s < end)) continue;
        spans.push([start, end, kind, label]);
      }
    }
    return spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  }

  redact(text, redaction = new Redaction()) {
    const reverse = new Map([...redaction.mapping].map(([k, v]) => [v, k]));
    let out = '';
    let pos = 0;
    for (const [start, end, , label] of this.find(text)) {
      const value = text.slice(start, end);
      let placeholder = reverse.get(value);
      if (!placeholder) {
        const n = [...redaction.mapping.keys()].filter((k) => k.startsWith(`[${label}_`)).length + 1;
        placeholder = `[${label}_${n}]`;
        redaction.mapping.set(placeholder, value);
        reverse.set(value, placeholder);
      }
      out += text.slice(pos, start) + placeholder;
      pos = end;
    }
    return [out + text.slice(pos), redaction];
  }

  redactMessages(messages) {
    const redaction = new Redaction();
    const out = messages.map((m) => (typeof m.content === 'string' ? { ...m, content: this.redact(m.content, redaction)[0] } : m));
    return [out, redaction];
  }
}
