// Quietdesk service worker: keeps the app shell (HTML, JS, WASM, CSS, icons) so the app
// starts with the network off, and every module of the app's wasm, the page modules
// included (index.html lists them in #app-modules), so every page opens offline too. It never touches /api/: data lives in IndexedDB as
// ciphertext and syncs through the app itself.
const CACHE = 'quietdesk-shell-v1';
const STATIC = ['/manifest.webmanifest', '/pinyin_table.txt', '/icons/icon-192.png', '/icons/icon-512.png', '/icons/icon.svg'];
const ASSET = /["'](\/[^"'?#]+\.(?:js|wasm|css|png|svg|webmanifest))["']/g;

// Keep `html` as the shell with every asset it names (the app's modules included), and
// drop what an earlier release kept: a new release is cached whole before it is used
// offline, and old releases do not pile up.
async function keepRelease(cache, html, res) {
  const assets = new Set(STATIC);
  for (const m of html.matchAll(ASSET)) assets.add(m[1]);
  await cache.addAll([...assets]);
  await cache.put('/', res);
  for (const req of await cache.keys()) {
    const path = new URL(req.url).pathname;
    if (path !== '/' && !assets.has(path)) await cache.delete(req);
  }
}

async function cacheShell() {
  const cache = await caches.open(CACHE);
  const res = await fetch('/', { cache: 'no-store' });
  if (!res.ok) throw new Error(`shell fetch failed: ${res.status}`);
  await keepRelease(cache, await res.clone().text(), res);
}

self.addEventListener('install', (event) => {
  event.waitUntil(cacheShell().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin || url.pathname.startsWith('/api/')) return;

  if (req.mode === 'navigate') {
    // The kept shell at once (a repeat visit waits for no round trip), refreshed from
    // the network in the background: a new release is kept whole (its HTML only once
    // every module it names is cached) and shows at the next start. Without a kept
    // shell, the network.
    const fresh = fetch(req);
    const copy = fresh.then((res) => res.clone()); // before the page reads the body
    event.waitUntil((async () => {
      const res = await copy;
      if (!res.ok || res.type !== 'basic') return;
      const cache = await caches.open(CACHE);
      const kept = await cache.match('/');
      const html = await res.clone().text();
      if (!kept || html !== (await kept.text())) await keepRelease(cache, html, res);
    })().catch(() => {}));
    event.respondWith((async () => {
      const cached = await caches.match('/');
      return cached ?? fresh.catch(() => Response.error());
    })());
    return;
  }

  // Hashed assets never change: cache first, fill the cache on a miss.
  event.respondWith((async () => {
    const cached = await caches.match(req);
    if (cached) return cached;
    const res = await fetch(req);
    if (res.ok) (await caches.open(CACHE)).put(req, res.clone());
    return res;
  })());
});
