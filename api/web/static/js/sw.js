// The service worker: keeps the scan page and its files so the page opens and keeps scanning
// with no connection. Static files come from the cache first (they are versioned by the
// release); pages from the network first, falling back to the last copy. The API is never
// cached: reads wait in the page's IndexedDB outbox instead.
const CACHE = "rxtrace-v1";
const SHELL = [
  "/static/css/app.css",
  "/static/icon.svg",
  "/static/js/common.js",
  "/static/js/boxes.js",
  "/static/js/queue.js",
  "/static/js/scan.js",
  "/static/vendor/zxing-wasm/reader.js",
  "/static/vendor/zxing-wasm/zxing_reader.wasm",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(caches.match(event.request).then((hit) => hit || fetch(event.request).then((response) => {
      if (response.ok) {
        const copy = response.clone();
        caches.open(CACHE).then((cache) => cache.put(event.request, copy));
      }
      return response;
    })));
    return;
  }
  if (event.request.mode === "navigate" && url.pathname === "/scan") {
    event.respondWith(fetch(event.request).then((response) => {
      if (response.ok && !response.redirected) {
        const copy = response.clone();
        caches.open(CACHE).then((cache) => cache.put(event.request, copy));
      }
      return response;
    }).catch(() => caches.match(event.request, { ignoreSearch: false })
      .then((hit) => hit || caches.match(event.request, { ignoreSearch: true }))));
  }
});
