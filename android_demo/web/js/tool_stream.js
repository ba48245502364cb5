// A generation stream with tools (runtime/edgekit/runtime/tool_stream.py): plain answers stream as text, a call comes
// back as result.tool_calls. While the text could still open a call (a prefix of "<tool_call>") it is held back; once
// it cannot, it is a plain answer. A call's text never reaches the stream: its pieces carry their tokens with empty
// text, and the result has tool_calls, text "" and finish_reason "tool_calls". A call cut short (max_new_tokens) is
// not a call: its raw text is flushed and the result keeps its own finish reason.
import { CALL_OPEN, ToolError, parseCalls } from './tool_grammar.js';

const opening = CALL_OPEN.trim();
const couldBeCall = (text) => opening.startsWith(text) || text.startsWith(opening);

export async function* toolPieces(pieces, tools) {
  let held = '';
  let plain = false;
  for await (const piece of pieces) {
    if (piece.result) {
      const result = piece.result;
      if (!plain && result.text.startsWith(opening)) {
        let calls = null;
        try { calls = parseCalls(result.text, tools); } catch (err) { if (!(err instanceof ToolError)) throw err; }
        if (calls) {
          yield { result: { ...result, text: '', tool_calls: calls, finish_reason: 'tool_calls' } };
          return;
        }
      }
      if (held) yield { text: held, token: null };
      yield piece;
      return;
    }
    if (plain) { yield piece; continue; }
    held += piece.text;
    if (couldBeCall(held)) yield { text: '', token: piece.token };
    else { plain = true; yield { text: held, token: piece.token }; held = ''; }
  }
}
