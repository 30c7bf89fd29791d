// Sen Health: the commune station's service worker (docs/web-checkup.md, "Offline"), served as
// /app/station/sw.js with the scope /app/station. Network first, the cache when the network fails:
// the station's pages and the check-up forms visited (and today's forms, when the station page asks),
// and the static files. It keeps no answers: the check-ups kept offline are checkup-offline.js's outbox.
// Pages hold patients' names: the page cache is emptied when the server asks for a sign-in.
"use strict";

const VERSION = "v1";
const PREFIX = "senhealth-station-";
const PAGES = PREFIX + "pages-" + VERSION;
const ASSETS = PREFIX + "assets-" + VERSION;
const MAX_PRECACHE = 60;
const REFRESH_MS = 60 * 60 * 1000; // a precached form older than this is fetched again

self.addEventListener("install", () => self.skipWaiting());

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== PAGES && name !== ASSETS) { await caches.delete(name); }
    }
    await self.clients.claim();
  })());
});

// Which cache a GET of this URL goes to (null: not cached, left to the network).
function cacheFor(url) {
  if (url.origin !== self.location.origin) { return null; }
  if (url.pathname.startsWith("/static/web/")) { return ASSETS; }
  const station = url.pathname === "/app/station" || url.pathname.startsWith("/app/station/");
  if (!station || url.pathname === "/app/station/sw.js" || url.pathname === "/app/station/sync") { return null; }
  return PAGES;
}

function offlinePage() {
  const html = "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\">" +
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Sen Health</title></head>" +
    "<body><h1>Không có kết nối</h1><p id=\"offline-page\">Trang này chưa được lưu trên máy. " +
    "<a href=\"/app/station\">Về ngày làm việc của trạm</a></p>" +
    "<p lang=\"en\">No connection, and this page was not saved on this device. " +
    "<a href=\"/app/station?lang=en\">Back to the station's day</a></p></body></html>";
  return new Response(html, { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } });
}

async function networkFirst(request, name) {
  try {
    const response = await fetch(request);
    if (response.type === "opaqueredirect" || response.redirected) {
      // a station page redirected: the session ended (sign-in asked); forget the pages of patients
      if (name === PAGES) { await caches.delete(PAGES); }
      return response;
    }
    if (response.ok && response.type === "basic") {
      const cache = await caches.open(name);
      await cache.put(request, response.clone());
    }
    return response;
  } catch (error) {
    const cache = await caches.open(name);
    const hit = (await cache.match(request)) || (await cache.match(request, { ignoreSearch: true }));
    if (hit) { return hit; }
    if (request.mode === "navigate") { return offlinePage(); }
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") { return; }
  const name = cacheFor(new URL(request.url));
  if (name === null) { return; }
  event.respondWith(networkFirst(request, name));
});

// The page asks for what it needs offline: its own files and the forms of today's check-ups.
async function precache(urls) {
  for (const raw of urls.slice(0, MAX_PRECACHE)) {
    let url;
    try { url = new URL(raw, self.location.origin); } catch (error) { continue; }
    const name = cacheFor(url);
    if (name === null) { continue; }
    const cache = await caches.open(name);
    const hit = await cache.match(url.href);
    const age = hit ? Date.now() - Date.parse(hit.headers.get("date") || "") : Infinity;
    if (hit && (name === ASSETS || age < REFRESH_MS)) { continue; }
    try {
      const response = await fetch(url.href, { credentials: "same-origin", redirect: "manual" });
      if (response.ok && response.type === "basic") { await cache.put(url.href, response); }
    } catch (error) {
      return; // offline again: the rest another time
    }
  }
}

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type === "precache" && Array.isArray(data.urls)) { event.waitUntil(precache(data.urls)); }
  if (data.type === "forget") { event.waitUntil(caches.delete(PAGES)); }
});
