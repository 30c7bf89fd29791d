// Sen Health video room: WebRTC in a mesh of up to 4 participants, the platform as signalling server
// (docs/telehealth-video.md). Spec: https://www.w3.org/TR/webrtc/ ; messages on the WebSocket:
// {"type": "join" | "offer" | "answer" | "candidate" | "leave" | "chat", "from", "to", "sdp", "candidate", "text"}.
//
// - Audio first: the microphone always, the camera small (320x240, 15 fps) and at a low bitrate; audio only
//   on a 2G connection or without a camera. The audio sender has a high priority, the video a low one.
// - Adaptive video: every few seconds each connection's statistics (loss reported by the other side, the
//   estimated outgoing bandwidth) move the video's maxBitrate up or down a ladder
//   (RTCRtpSender.setParameters); at the bottom of the ladder the video is paused, sound goes on.
// - Mesh: whoever joins offers to everyone already there; the others answer (no glare).
// - Reconnection: when the WebSocket drops, a fresh room token is fetched and the room joined again
//   (back-off up to 10 s); the peer connections are made again. The server replaces the old connection.
// - Chat: relayed by the server (and kept in the record as Communication resources).
// - Files: uploaded to the page's files URL (kept as a Communication with the file), then announced in the
//   chat as "[file:<id>]"; the others' pages show a link.
// - Recording only with everyone's consent: "Record" asks the server for a consent round (a Consent per
//   participant present), announced in the chat as "[rec-ask:<round>]"; each page asks its user and sends
//   the answer to the server ("[rec-ok|rec-no:<round>]" in the chat); MediaRecorder starts only when the
//   server says everyone agreed, and the server refuses the upload otherwise. A newcomer stops it.
(() => {
  "use strict";
  const root = document.getElementById("room");
  if (!root) { return; }
  const T = JSON.parse(document.getElementById("room-text").textContent);
  const el = (id) => document.getElementById(id);
  const statusEl = el("room-status");
  const videos = el("room-videos");
  const chatLog = el("chat-log");
  const chatForm = el("chat-form");
  const chatInput = el("chat-text");
  const peopleEl = el("room-participants");

  // video maxBitrate ladder (bits/s); index 0 = video paused
  const LADDER = [0, 60000, 150000, 300000, 600000];
  const START = 2;
  const AUDIO_BITRATE = 32000;

  const room = {
    me: null,
    ws: null,
    peers: new Map(), // id -> {pc, offerer, level, figure}
    names: new Map(),
    stream: null,
    ice: [],
    closed: false,
    retry: 0,
    audioOnly: false,
    weak: false,
    messages: [],
  };
  window.senhealthRoom = room; // for the curious (and the tests)

  function say(key, extra) {
    statusEl.dataset.state = key;
    statusEl.textContent = (T[key] || key) + (extra ? " " + extra : "");
  }
  function nameOf(id) { return room.names.get(id) || id; }
  function notice(text) {
    const li = document.createElement("li");
    li.className = "notice";
    li.textContent = text;
    chatLog.appendChild(li);
    chatLog.scrollTop = chatLog.scrollHeight;
  }
  function chatLine(who, text, mine, link) {
    const li = document.createElement("li");
    if (mine) { li.className = "mine"; }
    const b = document.createElement("strong");
    b.textContent = who + ": ";
    li.appendChild(b);
    if (link) {
      const a = document.createElement("a");
      a.href = link.href;
      a.textContent = text;
      a.className = "room-file-link";
      a.target = "_blank";
      a.rel = "noopener";
      li.appendChild(a);
    } else {
      li.appendChild(document.createTextNode(text));
    }
    chatLog.appendChild(li);
    chatLog.scrollTop = chatLog.scrollHeight;
    room.messages.push({ who, text, mine });
  }
  function listPeople(participants) {
    room.names.clear();
    peopleEl.textContent = "";
    for (const p of participants || []) {
      room.names.set(p.id, p.name);
      const li = document.createElement("li");
      li.textContent = p.id === room.me ? p.name + " (" + T.you + ")" : p.name;
      li.dataset.participant = p.id;
      peopleEl.appendChild(li);
    }
    if (room.me) { say((participants || []).length > 1 ? "in-room" : "waiting"); }
  }

  // --- media ------------------------------------------------------------------------------------------
  async function openMedia() {
    const conn = navigator.connection;
    room.weak = !!(conn && (["slow-2g", "2g"].includes(conn.effectiveType) || conn.saveData));
    const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
    const video = { width: { ideal: 320 }, height: { ideal: 240 }, frameRate: { ideal: 15, max: 15 } };
    try {
      if (room.weak) { room.audioOnly = true; return await navigator.mediaDevices.getUserMedia({ audio }); }
      return await navigator.mediaDevices.getUserMedia({ audio, video });
    } catch (e) {
      try {
        room.audioOnly = true;
        return await navigator.mediaDevices.getUserMedia({ audio });
      } catch (e2) {
        notice(T.no_media);
        return new MediaStream(); // receive only
      }
    }
  }
  function videoTrack() { return room.stream ? room.stream.getVideoTracks()[0] || null : null; }
  function audioTrack() { return room.stream ? room.stream.getAudioTracks()[0] || null : null; }

  // --- adaptive bitrate ---------------------------------------------------------------------------------
  async function applyLevel(peer) {
    for (const sender of peer.pc.getSenders()) {
      if (!sender.track) { continue; }
      const params = sender.getParameters();
      if (!params.encodings || params.encodings.length === 0) { params.encodings = [{}]; }
      const enc = params.encodings[0];
      if (sender.track.kind === "audio") {
        enc.maxBitrate = AUDIO_BITRATE;
        enc.priority = "high";
        enc.networkPriority = "high";
      } else {
        const paused = room.audioOnly || peer.level === 0;
        enc.active = !paused;
        enc.maxBitrate = LADDER[Math.max(1, peer.level)];
        enc.scaleResolutionDownBy = peer.level <= 1 ? 2 : 1;
        enc.priority = "low";
        enc.networkPriority = "low";
      }
      try { await sender.setParameters(params); } catch (e) { /* before negotiation: applied later */ }
    }
  }
  async function adapt() {
    for (const peer of room.peers.values()) {
      if (peer.pc.connectionState !== "connected") { continue; }
      let loss = null, available = null;
      try {
        const stats = await peer.pc.getStats();
        stats.forEach((s) => {
          if (s.type === "remote-inbound-rtp" && s.kind === "video" && typeof s.fractionLost === "number") { loss = s.fractionLost; }
          if (s.type === "candidate-pair" && s.nominated && typeof s.availableOutgoingBitrate === "number") { available = s.availableOutgoingBitrate; }
        });
      } catch (e) { continue; }
      const before = peer.level;
      const current = LADDER[Math.max(1, peer.level)];
      if ((loss !== null && loss > 0.08) || (available !== null && available < current)) {
        peer.level = Math.max(0, peer.level - 1);
      } else if ((loss === null || loss < 0.02) && available !== null && peer.level < LADDER.length - 1
                 && available > LADDER[peer.level + 1] * 1.5) {
        peer.level += 1;
      }
      if (peer.level !== before) {
        if (peer.level === 0) { notice(T.weak); }
        await applyLevel(peer);
      }
    }
  }
  setInterval(adapt, 4000);

  // --- peers ----------------------------------------------------------------------------------------------
  function figureFor(id) {
    let fig = videos.querySelector('figure.remote[data-participant="' + CSS.escape(id) + '"]');
    if (!fig) {
      fig = document.createElement("figure");
      fig.className = "remote";
      fig.dataset.participant = id;
      const v = document.createElement("video");
      v.autoplay = true;
      v.playsInline = true;
      const cap = document.createElement("figcaption");
      cap.textContent = nameOf(id);
      fig.appendChild(v);
      fig.appendChild(cap);
      videos.appendChild(fig);
    }
    return fig;
  }
  function attach(id, stream) {
    const v = figureFor(id).querySelector("video");
    if (v.srcObject !== stream) { v.srcObject = stream; }
    v.play().catch(() => {
      // autoplay with sound refused until the user interacts: play muted, offer a button for the sound
      v.muted = true;
      v.play().catch(() => {});
      if (!root.querySelector(".room-unmute")) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "room-unmute";
        b.textContent = T.play;
        b.addEventListener("click", () => {
          videos.querySelectorAll("figure.remote video").forEach((x) => { x.muted = false; x.play().catch(() => {}); });
          b.remove();
        });
        statusEl.after(b);
      }
    });
  }
  function closePeer(id) {
    const peer = room.peers.get(id);
    if (peer) { peer.pc.close(); room.peers.delete(id); }
    const fig = videos.querySelector('figure.remote[data-participant="' + CSS.escape(id) + '"]');
    if (fig) { fig.remove(); }
  }
  function closeAll() { for (const id of Array.from(room.peers.keys())) { closePeer(id); } }

  function makePeer(id, offerer) {
    const pc = new RTCPeerConnection({ iceServers: room.ice });
    const peer = { id, pc, offerer, level: room.weak ? 1 : START };
    room.peers.set(id, peer);
    const a = audioTrack(), v = videoTrack();
    // audio first: its transceiver is made first and has the higher priority
    if (a) { pc.addTrack(a, room.stream); } else { pc.addTransceiver("audio", { direction: "recvonly" }); }
    if (v) { pc.addTrack(v, room.stream); } else { pc.addTransceiver("video", { direction: "recvonly" }); }
    pc.onicecandidate = (ev) => { if (ev.candidate) { send({ type: "candidate", to: id, candidate: ev.candidate.toJSON() }); } };
    pc.ontrack = (ev) => attach(id, ev.streams[0] || new MediaStream([ev.track]));
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "connected") { applyLevel(peer); }
      if (pc.connectionState === "failed" && peer.offerer && room.peers.get(id) === peer) {
        offer(peer, true); // ICE restart
      }
    };
    return peer;
  }
  async function offer(peer, restart) {
    try {
      await applyLevel(peer);
      await peer.pc.setLocalDescription(await peer.pc.createOffer(restart ? { iceRestart: true } : {}));
      send({ type: "offer", to: peer.id, sdp: peer.pc.localDescription.sdp });
    } catch (e) { console.warn("offer", e); }
  }
  async function onOffer(m) {
    let peer = room.peers.get(m.from);
    if (peer && peer.offerer) { closePeer(m.from); peer = null; }
    if (!peer) { peer = makePeer(m.from, false); }
    try {
      await peer.pc.setRemoteDescription({ type: "offer", sdp: m.sdp });
      await applyLevel(peer);
      await peer.pc.setLocalDescription(await peer.pc.createAnswer());
      send({ type: "answer", to: m.from, sdp: peer.pc.localDescription.sdp });
    } catch (e) { console.warn("answer", e); }
  }

  // --- signalling -----------------------------------------------------------------------------------------
  function send(message) {
    if (room.ws && room.ws.readyState === WebSocket.OPEN) { room.ws.send(JSON.stringify(message)); }
  }
  function onMessage(m) {
    switch (m.type) {
      case "join":
        if (m.you) { // the answer to our join: offer to everyone already there
          room.me = m.you;
          closeAll();
          listPeople(m.participants);
          chatInput.disabled = false;
          chatForm.querySelector("button").disabled = false;
          fileInput.disabled = false;
          recordBtn.disabled = false;
          for (const p of m.participants) { if (p.id !== room.me) { offer(makePeer(p.id, true), false); } }
        } else if (m.from !== room.me) {
          closePeer(m.from); // a newcomer, or one coming back: it will offer
          if (rec.recorder && rec.recorder.state === "recording") { notice(T.stopped_join); rec.recorder.stop(); }
          listPeople(m.participants);
          notice(T.joined.replace("{name}", nameOf(m.from)));
        }
        break;
      case "offer": onOffer(m); break;
      case "answer": {
        const peer = room.peers.get(m.from);
        if (peer) { peer.pc.setRemoteDescription({ type: "answer", sdp: m.sdp }).catch((e) => console.warn("answer", e)); }
        break;
      }
      case "candidate": {
        const peer = room.peers.get(m.from);
        if (peer && m.candidate) { peer.pc.addIceCandidate(m.candidate).catch(() => {}); }
        break;
      }
      case "leave": {
        const who = nameOf(m.from);
        closePeer(m.from);
        listPeople(m.participants);
        notice(T.gone.replace("{name}", who));
        break;
      }
      case "chat": onChat(m); break;
      case "error":
        if (m.code === "chat-not-kept") { notice(T.not_kept); }
        else if (m.code === "room-full") { say("full"); }
        else { console.warn("room", m); }
        break;
      default: break;
    }
  }

  async function ticket() {
    const r = await fetch(root.dataset.tokenUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": root.dataset.csrf, "Accept": "application/json" },
    });
    let body = {};
    try { body = await r.json(); } catch (e) { body = {}; }
    if (!r.ok || !body.ws_url) {
      const err = new Error(body.error || String(r.status));
      err.status = r.ok ? 500 : r.status;
      throw err;
    }
    return body;
  }
  function reconnectLater() {
    if (room.closed) { return; }
    say("reconnecting");
    const delay = Math.min(10000, 500 * 2 ** room.retry);
    room.retry += 1;
    setTimeout(connect, delay);
  }
  async function connect() {
    if (room.closed || room.ws) { return; }
    let t;
    try {
      t = await ticket();
    } catch (e) {
      if ([401, 403, 404, 409].includes(e.status)) {
        room.closed = true;
        say("refused", T["reason." + e.status] || e.message);
        return;
      }
      reconnectLater();
      return;
    }
    room.ice = t.ice_servers || [];
    const ws = new WebSocket(t.ws_url);
    room.ws = ws;
    ws.onopen = () => { room.retry = 0; ws.send(JSON.stringify({ type: "join" })); };
    ws.onmessage = (ev) => { try { onMessage(JSON.parse(ev.data)); } catch (e) { console.warn(e); } };
    ws.onclose = (ev) => {
      if (room.ws !== ws) { return; }
      room.ws = null;
      if (room.closed) { return; }
      if (ev.code === 4429) { room.closed = true; closeAll(); say("full"); return; }
      if (ev.code === 4409) { room.closed = true; closeAll(); say("replaced"); return; }
      reconnectLater();
    };
  }
  window.addEventListener("online", () => { if (!room.ws && !room.closed) { room.retry = 0; connect(); } });

  // --- files and recording with consent -------------------------------------------------------------------
  const fileInput = el("room-file");
  const recordBtn = el("record");
  const prompt = el("consent-prompt");
  const FILE_RE = /\s*\[file:([A-Za-z0-9\-.]{1,64})\]/;
  const ASK_RE = /\s*\[rec-ask:([0-9a-f]{32})\]/;
  const ANSWER_RE = /\s*\[rec-(ok|no):([0-9a-f]{32})\]/;
  const rec = { round: null, mine: false, recorder: null, chunks: [], polling: null, ctx: null };
  room.recording = rec;

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": root.dataset.csrf, "Accept": "application/json" },
      body: body || new FormData(),
    });
  }
  async function json(r) { try { return await r.json(); } catch (e) { return {}; } }
  function onChat(m) {
    const who = m.name || nameOf(m.from);
    const text = String(m.text || "");
    let found = FILE_RE.exec(text);
    if (found) {
      const id = found[1];
      chatLine(who, text.replace(FILE_RE, ""), false, { href: root.dataset.filesUrl + "/" + encodeURIComponent(id) });
      return;
    }
    found = ASK_RE.exec(text);
    if (found) {
      chatLine(who, text.replace(ASK_RE, ""), false);
      ask(found[1], who);
      return;
    }
    found = ANSWER_RE.exec(text);
    if (found) {
      chatLine(who, text.replace(ANSWER_RE, ""), false);
      if (rec.mine && rec.round === found[2]) { checkRound(); }
      return;
    }
    chatLine(who, text, false);
  }
  function ask(round, who) {
    prompt.hidden = false;
    prompt.dataset.round = round;
    el("consent-question").textContent = T.ask_consent.replace("{name}", who);
  }
  async function answer(permit) {
    const round = prompt.dataset.round;
    prompt.hidden = true;
    if (!round) { return; }
    const form = new FormData();
    form.append("decision", permit ? "permit" : "deny");
    const r = await post(root.dataset.recordingUrl + "/" + round + "/consent", form);
    const body = await json(r);
    if (!r.ok) { notice(T.not_saved + " " + (body.error || r.status)); return; }
    const text = (permit ? "✔ " + T.consented : "✖ " + T.refused_consent) + " [rec-" + (permit ? "ok" : "no") + ":" + round + "]";
    send({ type: "chat", text });
    chatLine(T.you, permit ? T.consented : T.refused_consent, true);
    root.dataset.consent = permit ? "agreed" : "refused";
  }
  el("consent-agree").addEventListener("click", () => answer(true));
  el("consent-refuse").addEventListener("click", () => answer(false));

  function stopPolling() { if (rec.polling) { clearInterval(rec.polling); rec.polling = null; } }
  function endRound(state) {
    stopPolling();
    if (rec.ctx && !rec.recorder) { rec.ctx.close().catch(() => {}); rec.ctx = null; }
    rec.round = null;
    rec.mine = false;
    root.dataset.recording = state;
    recordBtn.textContent = T.record;
    toggle(recordBtn, false);
  }
  async function checkRound() {
    if (!rec.round || rec.recorder) { return; }
    const r = await fetch(root.dataset.recordingUrl + "/" + rec.round, { credentials: "same-origin", headers: { "Accept": "application/json" } });
    if (!r.ok) { return; }
    const s = await json(r);
    if (s.refused) { notice(T.consent_refused); endRound("refused"); return; }
    if (s.all_consented && !rec.recorder) { stopPolling(); startRecording(); }
  }
  function mixedStream() {
    // every participant's sound mixed into one track; the first remote picture (else mine)
    const ctx = rec.ctx || new AudioContext(); // made on the click (a user gesture): it may play
    ctx.resume().catch(() => {});
    const dest = ctx.createMediaStreamDestination();
    const sources = [room.stream];
    videos.querySelectorAll("figure.remote video").forEach((v) => { if (v.srcObject) { sources.push(v.srcObject); } });
    for (const s of sources) {
      if (s && s.getAudioTracks().length) { ctx.createMediaStreamSource(s).connect(dest); }
    }
    rec.ctx = ctx;
    const tracks = dest.stream.getAudioTracks();
    const picture = sources.slice(1).find((s) => s.getVideoTracks().length) || room.stream;
    const video = picture ? picture.getVideoTracks()[0] : null;
    return new MediaStream(video ? [video, ...tracks] : tracks);
  }
  function startRecording() {
    const stream = mixedStream();
    const kinds = ["video/webm;codecs=vp8,opus", "video/webm", "audio/webm"];
    const type = kinds.find((k) => window.MediaRecorder && MediaRecorder.isTypeSupported(k)) || "";
    rec.recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
    rec.chunks = [];
    rec.recorder.ondataavailable = (ev) => { if (ev.data && ev.data.size) { rec.chunks.push(ev.data); } };
    rec.recorder.onstop = uploadRecording;
    rec.recorder.start(1000);
    recordBtn.textContent = T.stop;
    toggle(recordBtn, true);
    root.dataset.recording = "on";
    notice(T.recording);
  }
  async function uploadRecording() {
    const recorder = rec.recorder;
    const type = (recorder.mimeType || "video/webm").split(";")[0];
    const blob = new Blob(rec.chunks, { type });
    rec.recorder = null;
    rec.chunks = [];
    if (rec.ctx) { rec.ctx.close().catch(() => {}); rec.ctx = null; }
    const form = new FormData();
    form.append("file", blob, "ghi-hinh-" + root.dataset.appointment + (type.startsWith("audio") ? ".weba" : ".webm"));
    const r = await post(root.dataset.recordingUrl + "/" + rec.round + "/upload", form);
    const body = await json(r);
    notice(r.ok ? T.saved : T.not_saved + " " + (body.error || r.status));
    endRound(r.ok ? "saved" : "failed");
  }
  recordBtn.addEventListener("click", async () => {
    if (rec.recorder) { rec.recorder.stop(); return; }
    if (rec.round) { return; }
    if (!rec.ctx && window.AudioContext) { rec.ctx = new AudioContext(); }
    const r = await post(root.dataset.recordingUrl);
    const body = await json(r);
    if (!r.ok) { notice(T.not_saved + " " + (body.error || r.status)); return; }
    rec.round = body.recording;
    rec.mine = true;
    root.dataset.recording = "asking";
    send({ type: "chat", text: "⏺ " + T.asks + " [rec-ask:" + rec.round + "]" });
    notice(T.waiting_consent);
    if (body.all_consented) { startRecording(); return; }
    rec.polling = setInterval(checkRound, 2000);
    const round = rec.round;
    setTimeout(() => { if (rec.round === round && !rec.recorder) { notice(T.consent_refused); endRound("expired"); } }, 120000);
  });
  fileInput.addEventListener("change", async () => {
    const file = fileInput.files[0];
    if (!file) { return; }
    if (file.size > Number(root.dataset.maxFile)) { notice(T.too_large); fileInput.value = ""; return; }
    const form = new FormData();
    form.append("file", file, file.name);
    const r = await post(root.dataset.filesUrl, form);
    const body = await json(r);
    fileInput.value = "";
    if (!r.ok) { notice(body.error || String(r.status)); return; }
    send({ type: "chat", text: "📎 " + body.title + " [file:" + body.id + "]" });
    chatLine(T.you, "📎 " + body.title, true, { href: body.url });
  });

  // --- controls -------------------------------------------------------------------------------------------
  function toggle(button, on) { button.setAttribute("aria-pressed", on ? "true" : "false"); }
  el("toggle-mic").addEventListener("click", (ev) => {
    const a = audioTrack();
    if (a) { a.enabled = !a.enabled; toggle(ev.currentTarget, a.enabled); }
  });
  el("toggle-camera").addEventListener("click", (ev) => {
    const v = videoTrack();
    if (v) { v.enabled = !v.enabled; toggle(ev.currentTarget, v.enabled); }
  });
  el("toggle-audio-only").addEventListener("click", (ev) => {
    room.audioOnly = !room.audioOnly;
    toggle(ev.currentTarget, room.audioOnly);
    for (const peer of room.peers.values()) { applyLevel(peer); }
  });
  el("leave-room").addEventListener("click", () => {
    send({ type: "leave" });
    room.closed = true;
    closeAll();
    if (room.stream) { room.stream.getTracks().forEach((t) => t.stop()); }
    say("left");
  });
  chatForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = chatInput.value.trim();
    if (!text || !room.me) { return; }
    send({ type: "chat", text });
    chatLine(T.you, text, true);
    chatInput.value = "";
  });

  (async () => {
    say("connecting");
    room.stream = await openMedia();
    el("local-video").srcObject = room.stream;
    toggle(el("toggle-audio-only"), room.audioOnly);
    if (!videoTrack()) { toggle(el("toggle-camera"), false); }
    connect();
  })();
})();
