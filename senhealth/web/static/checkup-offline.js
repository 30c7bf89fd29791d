// Sen Health: the commune station's check-ups while the connection is down (docs/web-checkup.md,
// "Offline"). No build step, no dependency. Without this file the pages work as plain forms.
//
// - The check-up form: saving it sends the form as usual (fetch); when the device is offline, the
//   request fails, or the session ended, the answers go to the outbox (IndexedDB) with the version the
//   form started from (base), the time and the submission id, and the worker is told so.
// - Every station page sends the outbox when it loads and when the connection returns
//   (POST /app/station/sync, as the signed-in user; only the items this user kept).
// - The station page shows the outbox: the count waiting, the conflicts (the worker's values beside the
//   server's, with "keep both" or "discard mine") and the refusals (open the form with the values again).
(() => {
  "use strict";

  const DB = "senhealth-station";
  const STORE = "outbox";
  const SYNC = "/app/station/sync";
  const lang = document.documentElement.lang === "en" ? "en" : "vi";
  const TEXT = {
    vi: {
      savedHere: "Chưa có kết nối: lần khám đã được lưu trên máy này và sẽ được gửi khi có kết nối lại.",
      savedSignIn: "Phiên làm việc đã hết: lần khám được lưu trên máy này. Hãy đăng nhập lại để gửi.",
      savedServer: "Máy chủ chưa lưu được: lần khám được lưu trên máy này và sẽ được gửi lại sau.",
      back: "Về ngày làm việc của trạm",
      title: "Lần khám lưu trên máy này",
      waiting: "Đang chờ gửi",
      sendNow: "Gửi ngay",
      offline: "Đang mất kết nối: các lần khám được lưu trên máy và gửi khi có kết nối lại.",
      otherUser: "lần khám của người dùng khác đang chờ (người đó đăng nhập để gửi)",
      sent: "Đã gửi",
      already: "đã được lưu trước đó",
      seeResult: "Xem kết quả",
      conflicts: "Cần bạn quyết định",
      conflictCheckup: "Trong lúc mất kết nối, một lần khám khác của bệnh nhân này đã được lưu",
      conflictPatient: "Ngày sinh hoặc giới tính của bệnh nhân đã thay đổi. Hãy mở lại phiếu khám.",
      by: "bởi",
      nothingOverwritten: "Không có gì bị ghi đè. So sánh rồi chọn:",
      item: "Mục",
      mine: "Của bạn",
      theirs: "Trên máy chủ",
      keepBoth: "Giữ cả hai: lưu của tôi thành một lần khám mới",
      discard: "Bỏ của tôi",
      openForm: "Mở phiếu khám với các giá trị của tôi",
      refused: "Chưa lưu được, cần sửa",
      checkItem: "Kiểm tra mục",
      signedOut: "Phiên làm việc đã hết: hãy đăng nhập lại để gửi các lần khám đang chờ.",
      serverBusy: "Máy chủ chưa lưu được, sẽ thử lại sau.",
      recorded: "khám lúc",
    },
    en: {
      savedHere: "No connection: the check-up is saved on this device and will be sent when the connection returns.",
      savedSignIn: "Your session ended: the check-up is saved on this device. Sign in again to send it.",
      savedServer: "The server could not save it now: the check-up is saved on this device and will be sent again later.",
      back: "Back to the station's day",
      title: "Check-ups kept on this device",
      waiting: "Waiting to be sent",
      sendNow: "Send now",
      offline: "The connection is down: check-ups are kept on this device and sent when it returns.",
      otherUser: "check-ups of another user are waiting (they sign in to send them)",
      sent: "Sent",
      already: "had already been saved",
      seeResult: "See the result",
      conflicts: "Your decision is needed",
      conflictCheckup: "While the connection was down, another check-up of this patient was saved",
      conflictPatient: "The patient's birth date or sex changed. Open the form again.",
      by: "by",
      nothingOverwritten: "Nothing was overwritten. Compare, then choose:",
      item: "Item",
      mine: "Yours",
      theirs: "On the server",
      keepBoth: "Keep both: save mine as a new check-up",
      discard: "Discard mine",
      openForm: "Open the form with my values",
      refused: "Not saved, needs a correction",
      checkItem: "Check the item",
      signedOut: "Your session ended: sign in again to send the check-ups waiting.",
      serverBusy: "The server could not save them now; they will be sent again later.",
      recorded: "done at",
    },
  }[lang];

  // --- the outbox (IndexedDB) ---
  function openDb() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "submission" });
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  async function withStore(mode, action) {
    const db = await openDb();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = action(tx.objectStore(STORE));
      tx.oncomplete = () => { db.close(); resolve(request.result); };
      tx.onerror = () => { db.close(); reject(tx.error); };
      tx.onabort = () => { db.close(); reject(tx.error); };
    });
  }
  const allItems = () => withStore("readonly", (s) => s.getAll());
  const getItem = (key) => withStore("readonly", (s) => s.get(key));
  const putItem = (item) => withStore("readwrite", (s) => s.put(item));
  const dropItem = (key) => withStore("readwrite", (s) => s.delete(key));

  // --- small helpers ---
  const user = () => { const el = document.querySelector("[data-user]"); return el ? el.dataset.user : ""; };
  const csrfToken = () => { const i = document.querySelector('input[name="csrf_token"]'); return i ? i.value : ""; };
  const newId = () => (self.crypto && crypto.randomUUID ? crypto.randomUUID()
    : "x" + Date.now().toString(16) + "-" + Math.random().toString(16).slice(2, 14));
  const when = (iso) => { const d = new Date(iso); return isNaN(d) ? String(iso || "") : d.toLocaleString(lang === "vi" ? "vi-VN" : "en-GB"); };
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") { node.className = v; } else if (k === "text") { node.textContent = v; } else { node.setAttribute(k, v); }
    }
    for (const child of children) { if (child !== null && child !== undefined) { node.append(child); } }
    return node;
  }
  let message = "";
  const sent = [];

  // --- the service worker and what it keeps for offline use ---
  function precacheList() {
    const urls = [location.pathname + location.search];
    document.querySelectorAll("script[src], link[rel=stylesheet]").forEach((n) => urls.push(n.getAttribute("src") || n.getAttribute("href")));
    document.querySelectorAll("#todays a.start-checkup").forEach((a) => urls.push(a.getAttribute("href")));
    return urls;
  }
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/app/station/sw.js", { scope: "/app/station" })
      .then(() => navigator.serviceWorker.ready)
      .then((reg) => {
        if (!reg.active) { return; }
        // the pages kept are one user's: another user signed in, or signing out, forgets them
        const last = localStorage.getItem("senhealth-station-user");
        if (last !== null && last !== user()) { reg.active.postMessage({ type: "forget" }); }
        localStorage.setItem("senhealth-station-user", user());
        document.querySelectorAll('form[action="/app/logout"]').forEach((f) => f.addEventListener("submit", () => {
          reg.active.postMessage({ type: "forget" });
          localStorage.removeItem("senhealth-station-user");
        }));
        if (navigator.onLine) { reg.active.postMessage({ type: "precache", urls: precacheList() }); }
      })
      .catch(() => {});
  }

  // --- the form ---
  function itemOf(form, data) {
    const answers = {};
    for (const [name, value] of data.entries()) {
      if (name.startsWith("q:") && typeof value === "string" && value.trim() !== "") { answers[name.slice(2)] = value; }
    }
    return {
      submission: String(data.get("submission") || newId()),
      user: form.dataset.user || "",
      patient: form.dataset.patient,
      name: form.dataset.patientName || form.dataset.patient,
      form: location.pathname,
      base: String(data.get("base") || ""),
      answers,
      recorded: new Date().toISOString(),
      resolution: data.get("resolution") || null,
      status: "pending",
    };
  }

  async function keep(form, item, why) {
    const earlier = await getItem(item.submission).catch(() => undefined);
    if (earlier && earlier.recorded) { item.recorded = earlier.recorded; } // a second click: the same check-up
    await putItem(item);
    const notice = document.getElementById("offline-notice");
    if (notice) {
      const text = why === "signed-out" ? TEXT.savedSignIn : why === "server" ? TEXT.savedServer : TEXT.savedHere;
      notice.replaceChildren(el("strong", { text }), " ", el("a", { href: "/app/station", id: "offline-back", text: TEXT.back }));
      notice.hidden = false;
      notice.scrollIntoView({ block: "center" });
    }
    const button = document.getElementById("checkup-submit");
    if (button) { button.disabled = true; }
  }

  async function submitForm(event, form) {
    if (form.dataset.native === "1") { return; } // the server's own page says why it was refused
    event.preventDefault();
    const submitter = event.submitter || null;
    const data = submitter ? new FormData(form, submitter) : new FormData(form);
    const item = itemOf(form, data);
    if (!navigator.onLine) { await keep(form, item, "offline"); return; }
    let response;
    try {
      response = await fetch(location.pathname, { method: "POST", body: new URLSearchParams(data), credentials: "same-origin" });
    } catch (error) {
      await keep(form, item, "offline");
      return;
    }
    const path = new URL(response.url, location.href).pathname;
    if (response.ok && path.endsWith("/result")) {
      await dropItem(item.submission).catch(() => {});
      location.assign(response.url);
      return;
    }
    if (path.startsWith("/app/login") || response.status === 401 || response.status === 403) { await keep(form, item, "signed-out"); return; }
    if (response.status >= 500) { await keep(form, item, "server"); return; }
    // refused (422) or a conflict (409): nothing was written; the same request as a plain form shows why
    form.dataset.native = "1";
    if (submitter) { form.requestSubmit(submitter); } else { form.requestSubmit(); }
  }

  async function setUpForm(form) {
    // each opening of the form is one submission (a page from the cache too); a second click is the same
    form.elements.submission.value = newId();
    form.addEventListener("submit", (event) => { submitForm(event, form); });
    const draft = new URLSearchParams(location.search).get("draft");
    if (!draft) { return; }
    const item = await getItem(draft).catch(() => undefined);
    if (!item || item.user !== form.dataset.user || item.patient !== form.dataset.patient) { return; }
    for (const [linkId, value] of Object.entries(item.answers || {})) {
      const field = form.elements["q:" + linkId];
      if (field && !field.readOnly) { field.value = value; }
    }
    form.elements.submission.value = item.submission;
    const patientChanged = item.status === "conflict" && item.conflict && item.conflict.kind === "patient";
    if (!patientChanged) { form.elements.base.value = item.base; } // the values started from that version
  }

  // --- the sync ---
  let syncing = false;
  async function syncOne(item) {
    const body = { submission: item.submission, patient: item.patient, base: item.base, answers: item.answers, recorded: item.recorded };
    if (item.resolution) { body.resolution = item.resolution; }
    let response;
    try {
      response = await fetch(SYNC, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
        body: JSON.stringify(body),
      });
    } catch (error) {
      return "offline";
    }
    let answer = {};
    try { answer = await response.json(); } catch (error) { answer = {}; }
    if (response.status === 200) {
      await dropItem(item.submission);
      sent.push({ name: item.name, result: answer.result, already: Boolean(answer.already) });
      return "saved";
    }
    if (response.status === 409) {
      await putItem({ ...item, status: "conflict", conflict: answer, resolution: null });
      return "conflict";
    }
    if (response.status === 401 || response.status === 403) { message = TEXT.signedOut; return "stop"; }
    if (response.status >= 500) { message = TEXT.serverBusy; return "stop"; }
    await putItem({ ...item, status: "refused", error: answer });
    return "refused";
  }

  async function syncAll() {
    if (syncing) { return; }
    syncing = true;
    try {
      if (navigator.onLine) {
        message = "";
        const mine = (await allItems()).filter((i) => i.user === user() && i.status === "pending");
        for (const item of mine) {
          const outcome = await syncOne(item);
          if (outcome === "offline" || outcome === "stop") { break; }
        }
      }
    } catch (error) {
      message = String(error);
    } finally {
      syncing = false;
    }
    await render();
  }

  async function resolve(item, choice) {
    if (choice === "discard") {
      await dropItem(item.submission);
    } else {
      // save mine as one more check-up, against the version now on the server: a choice, recorded
      await putItem({ ...item, base: item.conflict.base, resolution: "keep-both", status: "pending", conflict: null });
    }
    await syncAll();
  }

  // --- the station page's outbox ---
  function conflictView(item) {
    const c = item.conflict || {};
    const current = c.current || {};
    const head = c.kind === "patient" ? TEXT.conflictPatient
      : TEXT.conflictCheckup + (current.who ? " " + TEXT.by + " " + current.who : "") + (current.when ? ", " + when(current.when) : "") + ".";
    const rows = (c.rows || []).map((r) => el("tr", { "data-item": r.linkId, class: r.mine !== r.theirs ? "differs" : "" },
      el("td", { text: r.label }), el("td", { class: "mine", text: r.mine }), el("td", { class: "theirs", text: r.theirs })));
    const table = el("table", { class: "checkup-list conflict-rows" },
      el("thead", {}, el("tr", {}, el("th", { text: TEXT.item }), el("th", { text: TEXT.mine }), el("th", { text: TEXT.theirs }))),
      el("tbody", {}, ...rows));
    const choices = el("p", { class: "conflict-choices" });
    if (c.kind === "patient") {
      choices.append(el("a", { class: "button", href: item.form + "?draft=" + encodeURIComponent(item.submission), text: TEXT.openForm }));
    } else {
      const keepBoth = el("button", { type: "button", class: "keep-both", text: TEXT.keepBoth });
      keepBoth.addEventListener("click", () => resolve(item, "keep-both"));
      choices.append(keepBoth);
    }
    const discard = el("button", { type: "button", class: "secondary discard-mine", text: TEXT.discard });
    discard.addEventListener("click", () => resolve(item, "discard"));
    choices.append(" ", discard);
    return el("article", { class: "conflict", "data-submission": item.submission, "data-patient": item.patient, "data-kind": c.kind || "" },
      el("h3", { text: item.name + " · " + TEXT.recorded + " " + when(item.recorded) }),
      el("p", {}, head, " ", TEXT.nothingOverwritten), table, choices);
  }

  function refusedView(item) {
    const e = item.error || {};
    const discard = el("button", { type: "button", class: "secondary discard-mine", text: TEXT.discard });
    discard.addEventListener("click", () => resolve(item, "discard"));
    return el("article", { class: "refused", "data-submission": item.submission, "data-patient": item.patient },
      el("h3", { text: item.name + " · " + TEXT.recorded + " " + when(item.recorded) }),
      el("p", {}, TEXT.refused + ": ", e.item ? TEXT.checkItem + " " : "", e.item ? el("code", { text: e.item }) : null, e.item ? ": " : "", String(e.message || e.status || "")),
      el("p", { class: "conflict-choices" },
        el("a", { class: "button", href: item.form + "?draft=" + encodeURIComponent(item.submission), text: TEXT.openForm }), " ", discard));
  }

  async function render() {
    const box = document.getElementById("outbox");
    if (!box) { return; }
    const items = await allItems().catch(() => []);
    const mine = items.filter((i) => i.user === box.dataset.user);
    const others = items.length - mine.length;
    const pending = mine.filter((i) => i.status === "pending");
    const conflicts = mine.filter((i) => i.status === "conflict");
    const refused = mine.filter((i) => i.status === "refused");
    const sendNow = el("button", { type: "button", id: "sync-now", class: "secondary", text: TEXT.sendNow });
    sendNow.addEventListener("click", () => syncAll());
    const parts = [
      el("h2", { text: TEXT.title }),
      navigator.onLine ? null : el("p", { class: "offline-banner", id: "offline-banner", text: TEXT.offline }),
      el("p", {}, TEXT.waiting + ": ", el("strong", { id: "outbox-count", text: String(pending.length) }), " ", pending.length ? sendNow : null),
      pending.length ? el("ul", { id: "outbox-pending" }, ...pending.map((i) => el("li", { "data-submission": i.submission, text: i.name + " · " + TEXT.recorded + " " + when(i.recorded) }))) : null,
      others ? el("p", { class: "muted", text: others + " " + TEXT.otherUser }) : null,
      message ? el("p", { class: "form-error", id: "outbox-message", role: "alert", text: message }) : null,
    ];
    if (conflicts.length || refused.length) {
      parts.push(el("div", { id: "outbox-conflicts" }, el("h3", { text: TEXT.conflicts }), ...conflicts.map(conflictView), ...refused.map(refusedView)));
    }
    if (sent.length) {
      parts.push(el("ul", { id: "outbox-sent" }, ...sent.map((s) => el("li", {}, TEXT.sent + ": " + s.name + (s.already ? " (" + TEXT.already + ") " : " "),
        s.result ? el("a", { href: s.result, class: "sent-result", text: TEXT.seeResult }) : null))));
    }
    box.replaceChildren(...parts.filter((p) => p !== null));
    box.hidden = false;
  }

  // --- start ---
  const form = document.getElementById("checkup-form");
  if (form) { setUpForm(form); }
  window.addEventListener("online", () => { syncAll(); });
  window.addEventListener("offline", () => { render(); });
  syncAll();
})();
