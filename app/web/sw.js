// Quietdesk service worker: keeps the app shell (HTML, JS, WASM, CSS, icons) so the app
// starts with the network off, and every module of the app's wasm, the page modules
// included (index.html lists them in #app-modules), so every page opens offline too. It never touches /api/: data lives in IndexedDB as
// ciphertext and syncs through the app itself.
const CACHE = 'quietdesk-shell-v1';
const STATIC = ['/manifest.webmanifest', '/pinyin_table.txt', '/icons/icon-192.png', '/icons/icon-512.png', '/icons/icon.svg'];
const ASSET = /["'](\/[^"'?#]+\.(?:js|wasm|css|png|svg|webmanifest))["']/g;

async function cacheShell() {
  const cache = await caches.open(CACHE);
  const res = await fetch('/', { cache: 'no-store' });
  if (!res.ok) throw new Error(`shell fetch failed: ${res.status}`);
  const html = await res.clone().text();
  const assets = new Set(STATIC);
  for (const m of html.matchAll(ASSET)) assets.add(m[1]);
  await cache.addAll([...assets]);
  await cache.put('/', res);
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
    // the network in the background: a new release shows at the next start. Without a
    // kept shell (the first visit), the network.
    event.respondWith((async () => {
      const cache = await caches.open(CACHE);
      const cached = await cache.match('/');
      const fresh = fetch(req).then(async (res) => {
        if (res.ok && res.type === 'basic') await cache.put('/', res.clone());
        return res;
      });
      if (cached) {
        event.waitUntil(fresh.catch(() => {}));
        return cached;
      }
      return fresh.catch(() => Response.error());
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
