// The page's demo tools: OpenAI-shaped definitions the model (or the cloud) may call, and the code that really runs
// them in the page. A call's arguments have passed the tool's schema before they get here (the grammar for a local
// call, tool_grammar.js checkedCall for a cloud's), so the code reads them without re-checking types.
const UNITS = ['km', 'mi', 'kg', 'lb', 'c', 'f'];

export const DEMO_TOOLS = [
  {
    type: 'function',
    function: {
      name: 'set_timer',
      description: 'Start a countdown timer on the phone',
      parameters: {
        type: 'object',
        properties: {
          minutes: { type: 'integer', minimum: 0, maximum: 1440 },
          seconds: { type: 'integer', minimum: 0, maximum: 59 },
          label: { type: 'string', maxLength: 40 },
        },
        required: ['minutes'],
        additionalProperties: false,
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'convert_units',
      description: 'Convert a distance, weight or temperature between units',
      parameters: {
        type: 'object',
        properties: {
          value: { type: 'number' },
          from_unit: { type: 'string', enum: UNITS },
          to_unit: { type: 'string', enum: UNITS },
        },
        required: ['value', 'from_unit', 'to_unit'],
        additionalProperties: false,
      },
    },
  },
];

const LINEAR = { 'km>mi': 1 / 1.609344, 'mi>km': 1.609344, 'kg>lb': 1 / 0.45359237, 'lb>kg': 0.45359237 }; // exact SI definitions

export function convert({ value, from_unit: from, to_unit: to }) {
  if (from === to) return { value, unit: to };
  if (from === 'c' && to === 'f') return { value: (value * 9) / 5 + 32, unit: to };
  if (from === 'f' && to === 'c') return { value: ((value - 32) * 5) / 9, unit: to };
  const factor = LINEAR[`${from}>${to}`];
  if (factor === undefined) return { error: `cannot convert ${from} to ${to}` };
  return { value: value * factor, unit: to };
}

const clock = (s) => `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;

/**
 * Runs a call in the page: returns {output (the tool message's content, JSON text), summary (one line for the card)}
 * and draws what the tool shows into `panel` (a running countdown for a timer).
 */
export function runTool(call, panel) {
  const args = JSON.parse(call.function.arguments);
  if (call.function.name === 'set_timer') {
    const total = args.minutes * 60 + (args.seconds || 0);
    const label = args.label || 'Timer';
    const ends = Date.now() + total * 1000;
    const face = document.createElement('span');
    face.className = 'timer';
    panel.append(face);
    const tick = () => {
      const left = Math.max(0, Math.round((ends - Date.now()) / 1000));
      face.textContent = left ? `${label}: ${clock(left)} left` : `${label}: done`;
      face.dataset.left = String(left);
      if (!left) clearInterval(timer);
    };
    const timer = setInterval(tick, 1000);
    tick();
    return { output: JSON.stringify({ status: 'started', seconds: total, label }), summary: `timer ${clock(total)} (${label})` };
  }
  if (call.function.name === 'convert_units') {
    const result = convert(args);
    const line = result.error ?? `${args.value} ${args.from_unit} = ${Number(result.value.toFixed(4))} ${result.unit}`;
    const out = document.createElement('span');
    out.className = 'conversion';
    out.textContent = line;
    panel.append(out);
    return { output: JSON.stringify(result), summary: line };
  }
  return { output: JSON.stringify({ error: `no such tool: ${call.function.name}` }), summary: 'unknown tool' };
}
