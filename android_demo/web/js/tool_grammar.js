// The grammar that holds the page's answer to its tools, and the parser of what the model produced: the format and
// the rules of runtime/edgekit/runtime/tool_grammar.py, enforced in the browser by XGrammar (@mlc-ai/web-xgrammar,
// the grammar engine WebLLM uses; llguidance, the Python runtime's engine, has no browser build). A call is
//
//   <tool_call>
//   {"name":"set_timer","arguments":{"minutes":5}}
//   </tool_call>
//
// compact JSON (no free whitespace) whose arguments follow the tool's JSON Schema while decoding. tool_choice:
// "auto" = a plain answer (any text not opening a call) or one call; "required" = one call to any tool; a named
// choice = one call to that tool; "none" = no grammar (and no tools in the prompt). One call per answer, the Python
// runtime's default (parallel_tool_calls=false).
import '@mlc-ai/web-xgrammar'; // a UMD build: it defines globalThis.xgrammar

export const CALL_OPEN = '<tool_call>\n';
export const CALL_CLOSE = '\n</tool_call>';

export class ToolError extends Error {
  /** where: the field at fault; value: what it held; rule: the fix (runtime/edgekit/runtime/errors.py ToolError) */
  constructor(where, value, rule) {
    const shown = typeof value === 'string' ? value : JSON.stringify(value);
    super(`${where}=${shown?.length > 80 ? `${shown.slice(0, 77)}...` : shown} is invalid: ${rule}`);
    this.where = where;
  }
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/; // OpenAI's rule for function names (runtime/edgekit/runtime/tools.py)

/** OpenAI's tools array checked and normalised to {name, description, parameters} (tools.py parse_tools). */
export function parseTools(tools) {
  if (tools == null) return [];
  if (!Array.isArray(tools)) throw new ToolError('tools', tools, "use an array of {'type': 'function', 'function': {...}} objects");
  const seen = new Set();
  return tools.map((tool, i) => {
    const fn = tool?.function;
    if (tool?.type !== 'function' || !fn || typeof fn !== 'object') throw new ToolError(`tools[${i}]`, tool, "use {'type': 'function', 'function': {'name': ...}}");
    if (typeof fn.name !== 'string' || !NAME.test(fn.name)) throw new ToolError(`tools[${i}].function.name`, fn.name, "use 1 to 64 of a-z, A-Z, 0-9, '_' and '-'");
    if (seen.has(fn.name)) throw new ToolError(`tools[${i}].function.name`, fn.name, 'each tool needs its own name');
    seen.add(fn.name);
    const parameters = fn.parameters ?? { type: 'object', properties: {}, additionalProperties: false };
    if (typeof parameters !== 'object' || Array.isArray(parameters) || (parameters.type ?? 'object') !== 'object') {
      throw new ToolError(`tools[${i}].function.parameters`, parameters, 'use a JSON Schema of type object');
    }
    return { name: fn.name, description: fn.description || '', parameters };
  });
}

/** tool_choice -> {mode: auto|none|required|named, name} (tools.py parse_tool_choice). */
export function parseToolChoice(choice, tools) {
  if (choice == null) return { mode: tools.length ? 'auto' : 'none', name: null };
  if (choice === 'auto' || choice === 'none' || choice === 'required') return { mode: choice, name: null };
  const name = choice?.type === 'function' ? choice.function?.name : undefined;
  if (typeof name !== 'string') throw new ToolError('tool_choice', choice, "use 'auto', 'none', 'required' or {'type': 'function', 'function': {'name': ...}}");
  if (!tools.some((t) => t.name === name)) throw new ToolError('tool_choice.function.name', name, `name one of the tools: ${tools.map((t) => t.name).join(', ')}`);
  return { mode: 'named', name };
}

/** A tool in OpenAI's shape, keys in tools.py Tool.to_openai's order (the prompt shows it as JSON). */
export function toOpenAI(tool) {
  const fn = { name: tool.name };
  if (tool.description) fn.description = tool.description;
  fn.parameters = tool.parameters;
  return { type: 'function', function: fn };
}

function callSchema(tool) {
  // a call to `tool`: its name, then arguments that follow its parameters (tool_grammar.py _call_schema)
  return {
    type: 'object',
    properties: { name: { const: tool.name }, arguments: tool.parameters },
    required: ['name', 'arguments'],
    additionalProperties: false,
  };
}

const ebnfString = (text) => JSON.stringify(text); // a JSON string literal is an XGrammar EBNF string literal

// "any text that does not start with <tool_call>" (the Python grammar's `/(?s:.*)/ & ~/<tool_call>(?s:.*)/`),
// spelled out without negation, which EBNF lacks: a proper prefix of the opening, or the opening's first i characters
// then any other character, then anything.
function plainTextRules(opening) {
  const alternatives = ['""'];
  for (let i = 0; i < opening.length; i++) {
    const head = opening.slice(0, i);
    const ch = opening[i];
    if (i) alternatives.push(ebnfString(head));
    alternatives.push(`${head ? `${ebnfString(head)} ` : ''}[^${ch === ']' || ch === '\\' || ch === '^' || ch === '-' ? `\\${ch}` : ch}] edgekit_any`);
  }
  return [`edgekit_text ::= ${alternatives.join(' | ')}`, 'edgekit_any ::= [\\0-\\U0010FFFF]*'];
}

/** The EBNF grammar (root rule "edgekit_root") for `choice` over `tools`; null when the output is free. */
export async function toolGrammar(tools, choice) {
  if (choice.mode === 'none' || !tools.length) return null;
  const wanted = tools.filter((t) => choice.mode !== 'named' || t.name === choice.name);
  const schema = wanted.length === 1 ? callSchema(wanted[0]) : { anyOf: wanted.map(callSchema) };
  // compact JSON in the schema's property order: indent -1 (one line), separators "," and ":", strict (no extra keys)
  const json = await globalThis.xgrammar.Grammar.fromJSONSchema(JSON.stringify(schema), false, -1, [',', ':'], true);
  const jsonRules = json.toString();
  json.dispose();
  const lines = [
    jsonRules,
    `edgekit_call ::= ${ebnfString(CALL_OPEN)} root ${ebnfString(CALL_CLOSE)}`,
  ];
  if (choice.mode === 'auto') lines.push('edgekit_root ::= edgekit_text | edgekit_call', ...plainTextRules(CALL_OPEN.trim()));
  else lines.push('edgekit_root ::= edgekit_call');
  return lines.join('\n');
}

/** The calls in `text`, or null for a plain answer (tool_grammar.py parse_calls); a broken call is a ToolError. */
export function parseCalls(text, tools) {
  if (!text.startsWith(CALL_OPEN.trim())) return null;
  const broken = (rule) => new ToolError('tool call output', text.slice(0, 80), `${rule}; the model's output is not a valid call`);
  if (!text.startsWith(CALL_OPEN) || !text.endsWith(CALL_CLOSE)) throw broken(`expected ${JSON.stringify(CALL_OPEN)} ... ${JSON.stringify(CALL_CLOSE)}`);
  let payload;
  try {
    payload = JSON.parse(text.slice(CALL_OPEN.length, text.length - CALL_CLOSE.length));
  } catch (err) {
    throw broken(`the call is not JSON (${err.message})`);
  }
  const keys = payload && typeof payload === 'object' ? Object.keys(payload).sort().join(',') : '';
  if (keys !== 'arguments,name') throw broken("a call is an object with exactly 'name' and 'arguments'");
  const { name, arguments: args } = payload;
  if (!tools.some((t) => t.name === name) || !args || typeof args !== 'object' || Array.isArray(args)) {
    throw broken(`${JSON.stringify(name)} is not one of the tools, or its arguments are not an object`);
  }
  return [{ id: newCallId(), type: 'function', function: { name, arguments: JSON.stringify(args) } }];
}

export function newCallId() {
  // the runtime's ids look like OpenAI's: "call_" and 24 hex digits (tools.py new_call_id)
  const hex = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('');
  return `call_${hex}`;
}

/** A call's arguments in the schema's property order, recursively (how the grammar would have written them). */
function ordered(value, schema) {
  if (Array.isArray(value)) return value.map((v) => ordered(v, schema?.items));
  if (!value || typeof value !== 'object') return value;
  const props = schema?.properties || {};
  const out = {};
  for (const key of Object.keys(props)) if (key in value) out[key] = ordered(value[key], props[key]);
  for (const key of Object.keys(value)) if (!(key in out)) out[key] = value[key];
  return out;
}

/**
 * A cloud's call checked against the tools it was offered (runtime/edgekit/runtime/tool_check.py): the tool must be
 * one of them, and its arguments must be a text the local call grammar accepts (after putting the keys in the
 * schema's order), so a call the page runs has passed the same schema check as a local one. Returns the call with
 * its arguments as compact JSON; throws ToolError naming what is wrong.
 */
export async function checkedCall(call, tools, where) {
  const name = call?.function?.name;
  const tool = tools.find((t) => t.name === name);
  if (!tool) throw new ToolError(`${where}.function.name`, name, `the cloud called a tool it was not offered (offered: ${tools.map((t) => t.name).join(', ')})`);
  let args;
  try {
    args = JSON.parse(call.function.arguments || '{}');
  } catch {
    throw new ToolError(`${where}.function.arguments`, call.function.arguments, 'the arguments are not JSON');
  }
  if (!args || typeof args !== 'object' || Array.isArray(args)) throw new ToolError(`${where}.function.arguments`, call.function.arguments, 'the arguments are not a JSON object');
  const compact = JSON.stringify(ordered(args, tool.parameters));
  const grammar = await globalThis.xgrammar.Grammar.fromJSONSchema(JSON.stringify(tool.parameters), false, -1, [',', ':'], true);
  try {
    if (!(await globalThis.xgrammar.Testings.isGrammarAcceptString(grammar, compact))) {
      throw new ToolError(`${where}.function.arguments`, compact, `the arguments do not follow the schema of ${name}`);
    }
  } finally {
    grammar.dispose();
  }
  return { id: call.id || newCallId(), type: 'function', function: { name, arguments: compact } };
}
