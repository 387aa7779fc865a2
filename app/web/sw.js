// Quietdesk service worker: keeps one release of the app (the page, its start script,
// every module of the app's wasm, the style, icons) so the app starts with the network
// off and every page opens offline. It never touches /api/: data lives in IndexedDB as
// ciphertext and syncs through the app itself.
//
// It keeps only the files of the release it was built with, each checked against the
// SHA-256 the build wrote into RELEASE below (xtask/src/dist.rs): a file whose bytes do
// not match is never kept, and a kept copy that no longer matches (a script of the
// origin can write into the Cache Storage) is dropped and fetched again. A new release
// comes with a new copy of this file, which the browser installs: it fills a cache of
// its own, then replaces the old one.
const RELEASE = {}; // path → SHA-256 (hex); written by the build
const RELEASE_ID = 'dev'; // written by the build
const CACHE = `quietdesk-${RELEASE_ID}`;
const STATIC = ['/manifest.webmanifest', '/pinyin_table.txt', '/i18n/en.json', '/i18n/zh-CN.json', '/i18n/en.start.json', '/i18n/zh-CN.start.json', '/icons/icon-192.png', '/icons/icon-512.png', '/icons/icon.svg'];
const ASSET = /["'](\/[^"'?#]+\.(?:js|wasm|css|png|svg|webmanifest))["']/g;
// A build without RELEASE (a development server) keeps nothing.
const KEEPS = Object.keys(RELEASE).length > 0;

const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
// The page itself is kept as '/': it is the release's index.html.
const fileOf = (path) => (path === '/' ? '/index.html' : path);

// `res` if its body is exactly the released file at `path`, else null.
async function released(path, res) {
  const want = RELEASE[fileOf(path)];
  if (!want || !res || !res.ok) return null;
  const body = await res.clone().arrayBuffer();
  return hex(await crypto.subtle.digest('SHA-256', body)) === want ? res : null;
}

// Keep the whole release: the page and every file it names, each checked. A copy an
// earlier release kept is reused when it is still the same file.
async function keepRelease() {
  const cache = await caches.open(CACHE);
  const page = await released('/', await fetch('/', { cache: 'no-store' }));
  if (!page) throw new Error('the page served is not the release this service worker belongs to');
  const paths = new Set(STATIC);
  for (const m of (await page.clone().text()).matchAll(ASSET)) paths.add(m[1]);
  for (const path of paths) {
    if (!RELEASE[path]) continue; // not a file of this release: never kept
    const res = (await released(path, await caches.match(path))) ?? (await released(path, await fetch(path, { cache: 'no-cache' })));
    if (!res) throw new Error(`${path} is not the released file`);
    await cache.put(path, res);
  }
  await cache.put('/', page);
}

self.addEventListener('install', (event) => {
  event.waitUntil((KEEPS ? keepRelease() : Promise.resolve()).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

// The kept copy of `path` if it is still the released file; an altered copy is dropped.
async function kept(path) {
  const cache = await caches.open(CACHE);
  const res = await cache.match(path);
  if (!res) return null;
  if (await released(path, res)) return res;
  await cache.delete(path);
  return null;
}

// From the network; kept when it is the released file.
async function fetched(path, req) {
  const res = await fetch(req);
  const ok = await released(path, res);
  if (ok) await (await caches.open(CACHE)).put(path, ok.clone());
  return res;
}

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (!KEEPS || req.method !== 'GET' || url.origin !== self.location.origin || url.pathname.startsWith('/api/')) return;
  // Every route of the app is the page; other files are kept only if released.
  const path = req.mode === 'navigate' ? '/' : url.pathname;
  if (path !== '/' && !RELEASE[path]) return;
  event.respondWith((async () => {
    const copy = await kept(path);
    return copy ?? fetched(path, req).catch(() => Response.error());
  })());
});
