// Service worker: the app works offline once it has been loaded. App shell and libraries are cached when the
// worker installs; every other same-origin GET (the onnxruntime WASM, the bundle's model files) is cached on first
// use. edgekit.json and the policy are fetched network-first, so a re-exported bundle is noticed (the app then
// checks every file's sha256 against the new manifest; a file that fails is dropped from the cache and fetched again,
// js/bundle.js loadBundle).
const CACHE = 'edgekit-web-v1'; // js/bundle.js CACHE_NAME
const SHELL = [
  './', 'index.html', 'app.css', 'manifest.webmanifest', 'icons/icon.svg', 'icons/icon-192.png', 'icons/icon-512.png',
  'js/app.js', 'js/engine.js', 'js/bundle.js', 'js/chat.js', 'js/sampler.js', 'js/signals.js', 'js/answers.js',
  'js/policy.js', 'js/redaction.js', 'js/cloud.js', 'js/settings.js', 'js/grammar.js', 'js/tool_grammar.js',
  'js/tool_prompt.js', 'js/tool_stream.js', 'js/demo_tools.js',
  'node_modules/onnxruntime-web/dist/ort.wasm.min.mjs',
  // what ort.wasm.min.mjs loads from wasmPaths at session creation (the SIMD build; threads stay at 1)
  'node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.mjs',
  'node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm',
  'node_modules/@huggingface/tokenizers/dist/tokenizers.min.mjs',
  'node_modules/@huggingface/jinja/dist/index.js',
  'node_modules/@mlc-ai/web-xgrammar/lib/index.js', // its WASM is inlined in the script
];
const NETWORK_FIRST = /(?:edgekit\.json|policy\.json)$/;

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request, { cache: 'no-cache' });
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (err) {
    const cached = await cache.match(request);
    if (cached) return cached;
    throw err;
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(request, { ignoreSearch: true });
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok && response.status === 200) await cache.put(request, response.clone());
  return response;
}

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin || url.pathname.startsWith('/v1/')) return;
  event.respondWith(NETWORK_FIRST.test(url.pathname) ? networkFirst(event.request) : cacheFirst(event.request));
});
