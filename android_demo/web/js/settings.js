// Settings: saved in localStorage; URL query parameters override them for one page load
// (?bundle=…&policy=…&cloud=…&cloudModel=…&cloudKey=…&serverKey=…&redact=0|1&allowCloud=0|1&tools=0|1&toolChoice=auto|required&maxNewTokens=N), which is how a
// QR code or the browser test points the app at a bundle and a cloud. serverKey is the key of `edgekit serve --api-key-env`:
// with one, the server hands out the bundle and the policy only to requests that carry it.

const KEY = 'edgekit.settings.v1';
export const DEFAULTS = {
  bundle: 'bundle/', policy: 'policy.json', cloud: '', cloudModel: '', cloudKey: '', serverKey: '', redact: true, allowCloud: true, tools: false, toolChoice: 'auto', maxNewTokens: '',
};
const BOOLEAN = new Set(['redact', 'allowCloud', 'tools']);

export function loadSettings() {
  let saved = {};
  try { saved = JSON.parse(localStorage.getItem(KEY) || '{}'); } catch { saved = {}; }
  const settings = { ...DEFAULTS, ...saved };
  const params = new URLSearchParams(location.search);
  for (const key of Object.keys(DEFAULTS)) {
    if (params.has(key)) settings[key] = BOOLEAN.has(key) ? params.get(key) !== '0' : params.get(key);
  }
  return settings;
}

/** Authorization header for a request to the page's own server (never sent to another origin). */
export function serverHeaders(url, key) {
  if (!key || new URL(url, location.href).origin !== location.origin) return {};
  return { Authorization: `Bearer ${key}` };
}

export function saveSettings(settings) {
  localStorage.setItem(KEY, JSON.stringify(settings));
}
