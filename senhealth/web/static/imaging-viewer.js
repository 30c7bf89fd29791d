/* Sen Health's small DICOM viewer (docs/web-imaging.md): frames from WADO-RS rendered resources through
 * /app/imaging/wado (the session's user, audited), window/level by drag and presets, zoom and pan, the AI's
 * overlay from its Segmentation, keyboard shortcuts. No dependencies, no build step, nothing inline (CSP).
 *
 * Fast on a slow connection: each frame is fetched once, at the size of the canvas (viewport=), as a
 * full-range 8-bit rendering; window/level is applied here on those values while the user drags (no
 * request), and once the drag stops the exact window is asked from the server for the frame on screen.
 * The neighbouring frames are fetched ahead. Rendering: PS3.18 §8.3.5.1 (window=center,width,function).
 */
(function () {
  "use strict";

  function Viewer(root) {
    this.root = root;
    this.data = JSON.parse(root.getAttribute("data-viewer"));
    this.images = [];
    var self = this;
    this.data.images.forEach(function (img) {
      for (var f = 1; f <= img.frames; f++) self.images.push({ img: img, frame: f });
    });
    this.canvas = root.querySelector("#viewer-canvas");
    this.ctx = this.canvas.getContext("2d");
    this.index = 0;
    this.zoom = 1;
    this.panX = 0;
    this.panY = 0;
    this.overlayOn = true;
    this.cache = {}; // key -> {gray: Uint8ClampedArray, w, h} (full range)
    this.exact = {}; // key -> ImageBitmap at the exact window
    this.overlay = null; // {bitmap alpha canvas}
    this.pending = {};
    this.exactTimer = null;
    // open on the image the AI's overlay lies on (the most suspicious one), else the first
    var target = this.data.overlay && this.data.overlay.target;
    for (var t = 0; target && t < this.images.length; t++) {
      if (this.images[t].img.sop === target) { this.index = t; break; }
    }
    this.setDefaultWindow();
    this.offscreen = document.createElement("canvas");
    this.bind();
    this.resize();
    this.show(this.index);
    this.loadOverlay();
  }

  Viewer.prototype.current = function () {
    return this.images[this.index];
  };

  Viewer.prototype.setDefaultWindow = function () {
    var img = this.images.length ? this.images[this.index].img : null;
    this.wc = img ? img.wc : 0;
    this.ww = img ? img.ww : 1;
  };

  Viewer.prototype.presets = function () {
    var img = this.current().img;
    var range = img.hi - img.lo;
    return {
      1: [img.wc, img.ww],
      2: [(img.lo + img.hi) / 2, range],
      3: [img.lo + range * 0.35, range * 0.3],
      4: [img.lo + range * 0.7, range * 0.35],
    };
  };

  Viewer.prototype.viewport = function () {
    var img = this.current().img;
    var side = Math.min(1024, Math.max(this.canvas.width, this.canvas.height));
    return [Math.min(img.cols || side, side), Math.min(img.rows || side, side)];
  };

  Viewer.prototype.url = function (entry, window) {
    var img = entry.img;
    var vp = this.viewport();
    var base =
      "/app/imaging/wado/studies/" + this.data.study + "/series/" + img.series + "/instances/" + img.sop +
      "/frames/" + entry.frame + "/rendered";
    // the full-range rendering and the exact one use the same function, so that they agree
    return base + "?window=" + encodeURIComponent(window[0] + "," + window[1] + ",linear-exact") +
      "&viewport=" + vp[0] + "," + vp[1];
  };

  Viewer.prototype.key = function (entry) {
    return entry.img.sop + "/" + entry.frame;
  };

  Viewer.prototype.fetchBitmap = function (url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "image/png" } }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.blob();
    }).then(function (blob) {
      return createImageBitmap(blob);
    });
  };

  Viewer.prototype.load = function (i) {
    var self = this;
    var entry = this.images[i];
    if (!entry) return Promise.resolve(null);
    var key = this.key(entry);
    if (this.cache[key]) return Promise.resolve(this.cache[key]);
    if (this.pending[key]) return this.pending[key];
    var img = entry.img;
    var full = [(img.lo + img.hi) / 2, Math.max(1, img.hi - img.lo)];
    var p = this.fetchBitmap(this.url(entry, full)).then(function (bitmap) {
      var c = document.createElement("canvas");
      c.width = bitmap.width;
      c.height = bitmap.height;
      var cx = c.getContext("2d");
      cx.drawImage(bitmap, 0, 0);
      var rgba = cx.getImageData(0, 0, c.width, c.height).data;
      var gray = new Uint8ClampedArray(c.width * c.height);
      for (var j = 0; j < gray.length; j++) gray[j] = rgba[j * 4];
      var item = { gray: gray, w: c.width, h: c.height };
      self.cache[key] = item;
      delete self.pending[key];
      return item;
    });
    this.pending[key] = p;
    return p;
  };

  Viewer.prototype.loadOverlay = function () {
    var ov = this.data.overlay;
    if (!ov) {
      this.root.setAttribute("data-overlay", "none");
      var btn = this.root.querySelector("#viewer-overlay");
      if (btn) btn.disabled = true;
      return;
    }
    var self = this;
    var url =
      "/app/imaging/wado/studies/" + this.data.study + "/series/" + ov.series + "/instances/" + ov.sop +
      "/frames/1/rendered?window=" + encodeURIComponent("127.5,255,linear-exact");
    this.fetchBitmap(url).then(function (bitmap) {
      var c = document.createElement("canvas");
      c.width = bitmap.width;
      c.height = bitmap.height;
      var cx = c.getContext("2d");
      cx.drawImage(bitmap, 0, 0);
      var data = cx.getImageData(0, 0, c.width, c.height);
      var px = data.data;
      for (var j = 0; j < px.length; j += 4) {
        var v = px[j];
        px[j] = 255; px[j + 1] = 64; px[j + 2] = 32; px[j + 3] = Math.round(v * 0.55);
      }
      cx.putImageData(data, 0, 0);
      self.overlay = c;
      self.root.setAttribute("data-overlay", self.overlayOn ? "on" : "off");
      self.draw();
    }).catch(function () {
      self.root.setAttribute("data-overlay", "error");
    });
  };

  Viewer.prototype.applyWindow = function (item) {
    var img = this.current().img;
    var lo = img.lo, span = Math.max(1, img.hi - img.lo);
    var low = this.wc - this.ww / 2, width = Math.max(1e-6, this.ww);
    var lut = new Uint8ClampedArray(256);
    for (var v = 0; v < 256; v++) {
      // the server's rendering of MONOCHROME1 is already inverted: undo it to get the value back
      var x = lo + ((img.inverted ? 255 - v : v) / 255) * span;
      var out = ((x - low) / width) * 255;
      if (img.inverted) out = 255 - out;
      lut[v] = out;
    }
    if (this.offscreen.width !== item.w || this.offscreen.height !== item.h) {
      this.offscreen.width = item.w;
      this.offscreen.height = item.h;
    }
    var octx = this.offscreen.getContext("2d");
    var out2 = octx.createImageData(item.w, item.h);
    var d = out2.data, g = item.gray;
    for (var i = 0; i < g.length; i++) {
      var o = lut[g[i]];
      d[i * 4] = o; d[i * 4 + 1] = o; d[i * 4 + 2] = o; d[i * 4 + 3] = 255;
    }
    octx.putImageData(out2, 0, 0);
  };

  Viewer.prototype.draw = function () {
    var entry = this.current();
    if (!entry) return;
    var key = this.key(entry);
    var item = this.cache[key];
    var ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (!item) return;
    var exact = this.exact[key];
    var source = exact && exact.wc === this.wc && exact.ww === this.ww ? exact.bitmap : null;
    if (!source) {
      this.applyWindow(item);
      source = this.offscreen;
    }
    var fit = Math.min(this.canvas.width / item.w, this.canvas.height / item.h) * this.zoom;
    var dw = item.w * fit, dh = item.h * fit;
    var x = (this.canvas.width - dw) / 2 + this.panX, y = (this.canvas.height - dh) / 2 + this.panY;
    ctx.imageSmoothingEnabled = fit < 1;
    ctx.drawImage(source, x, y, dw, dh);
    var ov = this.data.overlay;
    var onTarget = ov && (!ov.target || ov.target === entry.img.sop);
    if (this.overlay && this.overlayOn && onTarget) ctx.drawImage(this.overlay, x, y, dw, dh);
    this.status();
  };

  Viewer.prototype.status = function () {
    var set = function (id, text) {
      var el = document.getElementById(id);
      if (el) el.textContent = text;
    };
    set("viewer-frame", this.index + 1 + " / " + this.images.length);
    set("viewer-wl", "C " + Math.round(this.wc) + " / W " + Math.round(this.ww));
    set("viewer-zoom", Math.round(this.zoom * 100) + "%");
    var r = this.root;
    r.setAttribute("data-index", String(this.index));
    r.setAttribute("data-wc", String(Math.round(this.wc)));
    r.setAttribute("data-ww", String(Math.round(this.ww)));
    r.setAttribute("data-zoom", String(Math.round(this.zoom * 100)));
    if (this.data.overlay && this.overlay) r.setAttribute("data-overlay", this.overlayOn ? "on" : "off");
    var btn = r.querySelector("#viewer-overlay");
    if (btn) btn.setAttribute("aria-pressed", this.overlayOn ? "true" : "false");
  };

  Viewer.prototype.show = function (i) {
    if (!this.images.length) return;
    this.index = Math.max(0, Math.min(this.images.length - 1, i));
    var self = this;
    var wanted = this.index;
    this.root.setAttribute("data-ready", "0");
    this.status();
    this.load(wanted).then(function () {
      if (self.index !== wanted) return;
      self.draw();
      self.root.setAttribute("data-ready", "1");
      self.scheduleExact();
    }).catch(function () {
      self.root.setAttribute("data-ready", "error");
    });
    // read ahead: the next two and the previous frame
    [wanted + 1, wanted + 2, wanted - 1].forEach(function (j) {
      if (j >= 0 && j < self.images.length) self.load(j).catch(function () {});
    });
  };

  Viewer.prototype.scheduleExact = function () {
    var self = this;
    clearTimeout(this.exactTimer);
    this.exactTimer = setTimeout(function () {
      var entry = self.current();
      var wc = self.wc, ww = self.ww;
      var img = entry.img;
      if (Math.abs(wc - (img.lo + img.hi) / 2) < 0.5 && Math.abs(ww - (img.hi - img.lo)) < 0.5) return;
      var key = self.key(entry);
      self.fetchBitmap(self.url(entry, [wc, Math.max(1, ww)])).then(function (bitmap) {
        self.exact[key] = { bitmap: bitmap, wc: wc, ww: ww };
        if (self.key(self.current()) === key) self.draw();
      }).catch(function () {});
    }, 350);
  };

  Viewer.prototype.setWindow = function (wc, ww) {
    this.wc = wc;
    this.ww = Math.max(1, ww);
    this.draw();
    this.scheduleExact();
  };

  Viewer.prototype.setZoom = function (z) {
    this.zoom = Math.max(0.25, Math.min(8, z));
    this.draw();
  };

  Viewer.prototype.reset = function () {
    this.zoom = 1;
    this.panX = this.panY = 0;
    this.setDefaultWindow();
    this.overlayOn = true;
    this.draw();
  };

  Viewer.prototype.toggleOverlay = function () {
    this.overlayOn = !this.overlayOn;
    this.draw();
  };

  Viewer.prototype.resize = function () {
    var stage = this.canvas.parentElement;
    var w = Math.max(256, Math.min(1024, stage.clientWidth || 512));
    this.canvas.width = w;
    this.canvas.height = w;
    this.draw();
  };

  Viewer.prototype.bind = function () {
    var self = this;
    var canvas = this.canvas;
    var drag = null;
    canvas.addEventListener("contextmenu", function (e) { e.preventDefault(); });
    canvas.addEventListener("pointerdown", function (e) {
      canvas.setPointerCapture(e.pointerId);
      drag = { x: e.clientX, y: e.clientY, wc: self.wc, ww: self.ww, px: self.panX, py: self.panY,
               pan: e.button === 2 || e.shiftKey };
      self.root.focus();
    });
    canvas.addEventListener("pointermove", function (e) {
      if (!drag) return;
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (drag.pan) {
        self.panX = drag.px + dx;
        self.panY = drag.py + dy;
        self.draw();
      } else {
        var img = self.current().img;
        var scale = Math.max(1, img.hi - img.lo) / 512;
        self.wc = drag.wc + dy * scale;
        self.ww = Math.max(1, drag.ww + dx * scale);
        self.draw();
      }
    });
    var end = function () {
      if (drag && !drag.pan) self.scheduleExact();
      drag = null;
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    canvas.addEventListener("wheel", function (e) {
      e.preventDefault();
      if (e.ctrlKey) self.setZoom(self.zoom * (e.deltaY < 0 ? 1.2 : 1 / 1.2));
      else self.show(self.index + (e.deltaY > 0 ? 1 : -1));
    }, { passive: false });
    this.root.addEventListener("keydown", function (e) {
      var k = e.key;
      var handled = true;
      if (k === "ArrowDown" || k === "PageDown" || k === "ArrowRight") self.show(self.index + 1);
      else if (k === "ArrowUp" || k === "PageUp" || k === "ArrowLeft") self.show(self.index - 1);
      else if (k === "Home") self.show(0);
      else if (k === "End") self.show(self.images.length - 1);
      else if (k === "+" || k === "=") self.setZoom(self.zoom * 1.25);
      else if (k === "-") self.setZoom(self.zoom / 1.25);
      else if (k === "o" || k === "O") self.toggleOverlay();
      else if (k === "r" || k === "R") self.reset();
      else if (k >= "1" && k <= "4") { var w = self.presets()[k]; self.setWindow(w[0], w[1]); }
      else handled = false;
      if (handled) e.preventDefault();
    });
    this.root.querySelectorAll("[data-action]").forEach(function (b) {
      b.addEventListener("click", function () {
        var a = b.getAttribute("data-action");
        if (a === "prev") self.show(self.index - 1);
        else if (a === "next") self.show(self.index + 1);
        else if (a === "zoom-in") self.setZoom(self.zoom * 1.25);
        else if (a === "zoom-out") self.setZoom(self.zoom / 1.25);
        else if (a === "overlay") self.toggleOverlay();
        else if (a === "reset") self.reset();
      });
    });
    this.root.querySelectorAll("[data-preset]").forEach(function (b) {
      b.addEventListener("click", function () {
        var w = self.presets()[b.getAttribute("data-preset")];
        self.setWindow(w[0], w[1]);
      });
    });
    window.addEventListener("resize", function () { self.resize(); });
  };

  function start() {
    var root = document.getElementById("viewer");
    if (root && root.getAttribute("data-viewer")) window.senhealthViewer = new Viewer(root);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
