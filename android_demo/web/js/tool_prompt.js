// Tools, earlier calls and tool results in the prompt (runtime/edgekit/runtime/tool_prompt.py, the same text): a chat
// template that reads `tools` gets them in OpenAI's shape; one that does not (SmolLM2's, the default model's) gets the
// generic format of docs/runtime.md, the wording of Qwen2.5-Instruct's template: the tools described in the system turn,
// calls as <tool_call> blocks, results as <tool_response> blocks in a user turn.
import { CALL_CLOSE, CALL_OPEN, ToolError, toOpenAI } from './tool_grammar.js';

/** Python's json.dumps(value, ensure_ascii=False) (separators ", " and ": "), so the prompt is byte-identical. */
export function pythonJson(value) {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ToolError('tools', String(value), 'JSON has no NaN or Infinity');
    return String(value); // integers print alike; a float such as 1.0 prints as "1" here and "1.0" in Python
  }
  if (typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${pythonJson(v)}`).join(', ')}}`;
}

export function toolsSection(tools) {
  const listed = tools.map((t) => pythonJson(toOpenAI(t))).join('\n');
  return (
    '# Tools\n\nYou may call one or more functions to assist with the user query.\n\n'
    + 'You are provided with function signatures within <tools></tools> XML tags:\n'
    + `<tools>\n${listed}\n</tools>\n\n`
    + 'For each function call, return a json object with function name and arguments within '
    + '<tool_call></tool_call> XML tags:\n'
    + '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
  );
}

/** A call as the model writes it (tool_grammar.py call_text): compact JSON between the tags. */
export function callText(name, args) {
  return `${CALL_OPEN}${JSON.stringify({ name, arguments: args })}${CALL_CLOSE}`;
}

export function hasToolTurns(messages) {
  return messages.some((m) => m.role === 'tool' || m.tool_calls?.length);
}

const text = (m) => (typeof m.content === 'string' ? m.content : '');

function calls(message, where) {
  return (message.tool_calls || []).map((call, j) => {
    const fn = call?.function;
    if (!fn || typeof fn.name !== 'string' || !fn.name) throw new ToolError(`${where}.tool_calls[${j}]`, call, "use {'function': {'name': ..., 'arguments': '{...}'}}");
    let args = fn.arguments ?? '{}';
    if (typeof args === 'string') {
      try { args = JSON.parse(args || '{}'); } catch { args = null; }
    }
    if (!args || typeof args !== 'object' || Array.isArray(args)) throw new ToolError(`${where}.tool_calls[${j}].function.arguments`, fn.arguments, 'use a JSON object (as text)');
    return { name: fn.name, id: typeof call.id === 'string' ? call.id : null, args };
  });
}

function templateTurn(message, where) {
  const turn = { ...message, content: text(message) };
  if (message.tool_calls?.length) {
    turn.tool_calls = calls(message, where).map(({ name, id, args }) => (
      id ? { id, type: 'function', function: { name, arguments: args } } : { type: 'function', function: { name, arguments: args } }
    ));
  }
  return turn;
}

function genericTurns(messages) {
  const out = [];
  let resultsTurn = null; // consecutive results share one user turn (as Qwen's template)
  messages.forEach((message, i) => {
    if (message.role === 'tool') {
      const response = `<tool_response>\n${text(message)}\n</tool_response>`;
      if (resultsTurn) resultsTurn.content += `\n${response}`;
      else out.push(resultsTurn = { role: 'user', content: response });
      return;
    }
    resultsTurn = null;
    if (message.tool_calls?.length) {
      const shown = calls(message, `messages[${i}]`).map(({ name, args }) => callText(name, args));
      out.push({ role: message.role, content: (text(message) ? [text(message), ...shown] : shown).join('\n') });
    } else {
      const { tool_calls: _, ...rest } = message;
      out.push(rest);
    }
  });
  return out;
}

function withToolsInSystem(messages, tools) {
  const section = toolsSection(tools);
  if (messages.length && messages[0].role === 'system') {
    const first = { ...messages[0] };
    first.content = text(first) ? `${text(first)}\n\n${section}` : section;
    return [first, ...messages.slice(1)];
  }
  return [{ role: 'system', content: section }, ...messages];
}

/** The turns to render (tool_prompt.py prepare_messages). */
export function prepareMessages(messages, tools, templateTakesTools) {
  if (templateTakesTools) return messages.map((m, i) => templateTurn(m, `messages[${i}]`));
  const turns = hasToolTurns(messages) ? genericTurns(messages) : messages.map((m) => ({ ...m }));
  return tools.length ? withToolsInSystem(turns, tools) : turns;
}
