// Reading an edgekit bundle over HTTP: edgekit.json (schema 1, runtime/edgekit/runtime/manifest.py), then every file
// it lists, each checked for size and sha256 before any compute, like the Python runtime's verify_files.

export const MANIFEST_NAME = 'edgekit.json';
export const FORMAT_NAME = 'edgekit-bundle';
export const SCHEMA_VERSION = 1;

export class BundleError extends Error {}

// The service worker's cache (sw.js CACHE). Files fetched before the worker controlled the page (the very first
// visit) are put there by the page itself, so the app works offline from the second visit on.
export const CACHE_NAME = 'edgekit-web-v1';

export async function keepOffline(url, bytes, type = 'application/octet-stream') {
  if (!globalThis.caches) return; // not a secure context: no Cache Storage, no offline mode
  try {
    const cache = await caches.open(CACHE_NAME);
    await cache.put(url, new Response(bytes, { headers: { 'Content-Type': type, 'Content-Length': String(bytes.length) } }));
  } catch (err) {
    console.warn(`could not keep ${url} for offline use: ${err.message}`);
  }
}

export function parseManifest(data, where) {
  if (!data || typeof data !== 'object' || data.format !== FORMAT_NAME) {
    throw new BundleError(`${where}: not an edgekit bundle manifest (no "format": "${FORMAT_NAME}")`);
  }
  if (data.schema_version !== SCHEMA_VERSION) {
    throw new BundleError(`${where}: schema_version ${data.schema_version} is not supported by this app (it reads ${SCHEMA_VERSION}); ` +
      're-export the bundle with a matching edgekit or reload the app');
  }
  for (const key of ['backend', 'files', 'backend_config', 'context', 'tokenizer', 'architecture']) {
    if (!(key in data)) throw new BundleError(`${where}: malformed manifest (missing "${key}"); re-export the bundle`);
  }
  if (data.backend !== 'onnx') {
    throw new BundleError(`${where}: backend "${data.backend}" cannot run in the browser (it runs "onnx" bundles); ` +
      'export with `edgekit export MODEL --target onnx`');
  }
  return data;
}

async function sha256Hex(bytes) {
  if (!globalThis.crypto?.subtle) return null; // not a secure context (plain http on a LAN address): size check only
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Fetches one file with progress; resolves to its bytes. */
async function fetchBytes(url, onBytes, headers = {}) {
  const response = await fetch(url, { headers });
  if (!response.ok) throw new BundleError(`${url}: HTTP ${response.status}; is the bundle served there?`);
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    onBytes(value.length);
  }
  const out = new Uint8Array(received);
  let offset = 0;
  for (const c of chunks) { out.set(c, offset); offset += c.length; }
  return out;
}

/**
 * Loads the manifest and all files of the bundle at baseUrl (ending in "/").
 * Returns {manifest, files: Map(path -> Uint8Array), verified: bool}.
 */
export async function loadBundle(baseUrl, { onProgress = () => {}, verify = true, headers = {} } = {}) {
  const base = new URL(baseUrl, location.href);
  const manifestUrl = new URL(MANIFEST_NAME, base).href;
  const response = await fetch(manifestUrl, { cache: 'no-cache', headers });
  if (!response.ok) {
    throw new BundleError(`${manifestUrl}: HTTP ${response.status}; point the app at a bundle folder served by ` +
      '`edgekit serve BUNDLE --web` (Settings > Bundle URL)');
  }
  let data;
  try {
    data = await response.json();
  } catch (err) {
    throw new BundleError(`${manifestUrl}: not valid JSON (${err.message}); the bundle is damaged, re-export it`);
  }
  const manifest = parseManifest(data, manifestUrl);
  await keepOffline(manifestUrl, new TextEncoder().encode(JSON.stringify(data)), 'application/json');
  const total = manifest.files.reduce((s, f) => s + f.size, 0);
  let done = 0;
  const files = new Map();
  let hashed = true;
  for (const entry of manifest.files) {
    const url = new URL(entry.path, base).href;
    let bytes = null;
    // a second try after dropping the offline copy: a re-exported bundle has a new manifest but old cached files
    for (let attempt = 0; attempt < 2; attempt++) {
      const before = done;
      onProgress({ stage: 'download', file: entry.path, done, total });
      bytes = await fetchBytes(url, (n) => { done += n; onProgress({ stage: 'download', file: entry.path, done, total }); }, headers);
      let problem = null;
      if (bytes.length !== entry.size) {
        problem = `bundle file "${entry.path}" is ${bytes.length} bytes, the manifest says ${entry.size} ` +
          '(truncated or replaced); copy the bundle again or re-export';
      } else if (verify) {
        onProgress({ stage: 'verify', file: entry.path, done, total });
        const hex = await sha256Hex(bytes);
        if (hex === null) hashed = false;
        else if (hex !== entry.sha256) {
          problem = `bundle file "${entry.path}" fails its sha256 check (modified or corrupted); copy the bundle again or re-export`;
        }
      }
      if (!problem) break;
      if (attempt === 1 || !globalThis.caches || !(await (await caches.open(CACHE_NAME)).delete(url))) throw new BundleError(problem);
      done = before;
    }
    await keepOffline(url, bytes);
    files.set(entry.path, bytes);
  }
  return { manifest, files, verified: verify && hashed, baseUrl: base.href };
}
