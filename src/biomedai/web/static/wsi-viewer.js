/* biomedai pan/zoom viewer for whole-slide images: Deep Zoom tiles from /api/files/ID/tiles.json,
   with GeoJSON or picture overlays from the method's results. No dependencies, works offline.
   Mouse/touch drag pans, the wheel or double click zooms at the pointer, Home fits the slide.
   State for tests: data-level, data-tiles-drawn, data-overlay-drawn, data-view (x0,y0,scale). */
(function () {
  "use strict";
  var MAX_CACHE = 600;

  function el(tag, attrs, parent) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function colorOf(props) {
    props = props || {};
    var c = (props.classification && props.classification.color) || props.color;
    if (Array.isArray(c) && c.length >= 3) return "rgb(" + c.slice(0, 3).join(",") + ")";
    if (typeof c === "string" && /^#?[0-9a-fA-F]{3,8}$|^rgb/.test(c)) return c.charAt(0) === "#" || c.indexOf("rgb") === 0 ? c : "#" + c;
    return "#ffeb3b";
  }

  function Viewer(root) {
    this.root = root;
    this.cache = new Map();
    this.overlay = null;
    this.opacity = 0.5;
    this.pending = false;
    var self = this;
    fetch(root.getAttribute("data-descriptor"), {credentials: "same-origin"}).then(function (r) {
      if (!r.ok) throw new Error("descriptor: HTTP " + r.status);
      return r.json();
    }).then(function (d) { self.start(d); }).catch(function (e) {
      root.textContent = "Cannot show this slide: " + e.message;
      root.setAttribute("data-error", e.message);
    });
  }

  Viewer.prototype.start = function (d) {
    var self = this, root = this.root;
    this.d = d;
    this.canvas = el("canvas", {"aria-label": "slide " + d.name}, root);
    this.ctx = this.canvas.getContext("2d");
    var bar = el("div", {"class": "wsi-bar"}, root);
    [["-", function () { self.zoomBy(0.5); }], ["+", function () { self.zoomBy(2); }],
     ["Home", function () { self.fit(); }]].forEach(function (b) {
      var button = el("button", {type: "button", title: b[0] === "Home" ? "fit the slide" : "zoom"}, bar);
      button.textContent = b[0];
      button.addEventListener("click", b[1]);
    });
    if (d.overlays && d.overlays.length) {
      var select = el("select", {"aria-label": "overlay"}, bar);
      el("option", {value: ""}, select).textContent = "no overlay";
      d.overlays.forEach(function (o, i) { el("option", {value: String(i)}, select).textContent = o.name; });
      select.addEventListener("change", function () { self.setOverlay(select.value === "" ? null : d.overlays[+select.value]); });
      var range = el("input", {type: "range", min: "0", max: "1", step: "0.05", value: String(this.opacity),
                               "aria-label": "overlay opacity"}, bar);
      range.addEventListener("input", function () { self.opacity = +range.value; self.draw(); });
      this.select = select;
      select.value = "0";
      this.setOverlay(d.overlays[0]);
    }
    this.status = el("div", {"class": "wsi-status"}, root);
    this.bind();
    this.resize();
    this.fit();
    if (window.ResizeObserver) new ResizeObserver(function () { self.resize(); self.draw(); }).observe(root);
  };

  Viewer.prototype.resize = function () {
    var dpr = window.devicePixelRatio || 1;
    this.dpr = dpr;
    this.canvas.width = Math.max(1, Math.round(this.root.clientWidth * dpr));
    this.canvas.height = Math.max(1, Math.round(this.root.clientHeight * dpr));
  };

  Viewer.prototype.fit = function () {
    var d = this.d, w = this.canvas.width / this.dpr, h = this.canvas.height / this.dpr;
    this.scale = Math.min(w / d.width, h / d.height);  // screen px (CSS) per level-0 px
    this.x0 = (d.width - w / this.scale) / 2;
    this.y0 = (d.height - h / this.scale) / 2;
    this.minScale = this.scale / 4;
    this.draw();
  };

  Viewer.prototype.zoomBy = function (factor, sx, sy) {
    var w = this.canvas.width / this.dpr, h = this.canvas.height / this.dpr;
    if (sx === undefined) { sx = w / 2; sy = h / 2; }
    var next = Math.min(8, Math.max(this.minScale, this.scale * factor));
    var px = this.x0 + sx / this.scale, py = this.y0 + sy / this.scale;
    this.scale = next;
    this.x0 = px - sx / next;
    this.y0 = py - sy / next;
    this.draw();
  };

  Viewer.prototype.bind = function () {
    var self = this, c = this.canvas, drag = null;
    c.addEventListener("pointerdown", function (e) {
      drag = {x: e.clientX, y: e.clientY};
      c.setPointerCapture(e.pointerId);
      c.style.cursor = "grabbing";
    });
    c.addEventListener("pointermove", function (e) {
      if (!drag) return;
      self.x0 -= (e.clientX - drag.x) / self.scale;
      self.y0 -= (e.clientY - drag.y) / self.scale;
      drag = {x: e.clientX, y: e.clientY};
      self.draw();
    });
    function end() { drag = null; c.style.cursor = "grab"; }
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", end);
    c.addEventListener("wheel", function (e) {
      e.preventDefault();
      var r = c.getBoundingClientRect();
      self.zoomBy(Math.pow(1.0015, -e.deltaY), e.clientX - r.left, e.clientY - r.top);
    }, {passive: false});
    c.addEventListener("dblclick", function (e) {
      var r = c.getBoundingClientRect();
      self.zoomBy(e.shiftKey ? 0.5 : 2, e.clientX - r.left, e.clientY - r.top);
    });
  };

  Viewer.prototype.tile = function (level, col, row) {
    var url = this.d.tiles.replace("{level}", level).replace("{col}", col).replace("{row}", row);
    var hit = this.cache.get(url), self = this;
    if (hit) { this.cache.delete(url); this.cache.set(url, hit); return hit; }
    var img = new Image();
    img.onload = function () { self.draw(); };
    img.src = url;
    this.cache.set(url, img);
    if (this.cache.size > MAX_CACHE) this.cache.delete(this.cache.keys().next().value);
    return img;
  };

  Viewer.prototype.drawLevel = function (level) {
    var d = this.d, T = d.tile_size, ds = Math.pow(2, d.max_level - level), drawn = 0;
    var lw = Math.ceil(d.width / ds), lh = Math.ceil(d.height / ds);
    var w = this.canvas.width / this.dpr, h = this.canvas.height / this.dpr;
    var c0 = Math.max(0, Math.floor(this.x0 / ds / T)), r0 = Math.max(0, Math.floor(this.y0 / ds / T));
    var c1 = Math.min(Math.ceil(lw / T) - 1, Math.floor((this.x0 + w / this.scale) / ds / T));
    var r1 = Math.min(Math.ceil(lh / T) - 1, Math.floor((this.y0 + h / this.scale) / ds / T));
    var k = this.scale * this.dpr;
    for (var r = r0; r <= r1; r++) {
      for (var col = c0; col <= c1; col++) {
        var img = this.tile(level, col, r);
        if (!img.complete || !img.naturalWidth) continue;
        var x = col * T * ds, y = r * T * ds;
        this.ctx.drawImage(img, (x - this.x0) * k, (y - this.y0) * k, img.naturalWidth * ds * k, img.naturalHeight * ds * k);
        drawn++;
      }
    }
    return drawn;
  };

  Viewer.prototype.setOverlay = function (o) {
    var self = this;
    this.overlay = o ? {spec: o, features: null, image: null} : null;
    if (!o) { this.draw(); return; }
    var current = this.overlay;
    if (o.type === "image") {
      var img = new Image();
      img.onload = function () { self.draw(); };
      img.src = o.url;
      current.image = img;
    } else {
      fetch(o.url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (g) {
        current.features = parseGeoJSON(g);
        self.draw();
      }).catch(function (e) { self.root.setAttribute("data-error", "overlay: " + e.message); });
    }
    this.draw();
  };

  function parseGeoJSON(g) {
    var out = [], list = g.type === "FeatureCollection" ? g.features : (Array.isArray(g) ? g : [g]);
    (list || []).forEach(function (f) {
      var geom = f && (f.geometry || (f.type && f.coordinates ? f : null));
      if (!geom) return;
      var polys = geom.type === "Polygon" ? [geom.coordinates] : geom.type === "MultiPolygon" ? geom.coordinates :
                  geom.type === "LineString" ? [[geom.coordinates]] : geom.type === "MultiLineString" ? [geom.coordinates] : null;
      var points = geom.type === "Point" ? [geom.coordinates] : geom.type === "MultiPoint" ? geom.coordinates : null;
      var xs = [], ys = [];
      (polys || []).forEach(function (p) { p.forEach(function (ring) { ring.forEach(function (q) { xs.push(q[0]); ys.push(q[1]); }); }); });
      (points || []).forEach(function (q) { xs.push(q[0]); ys.push(q[1]); });
      if (!xs.length) return;
      out.push({polys: polys, points: points, color: colorOf(f.properties), closed: geom.type.indexOf("Polygon") >= 0,
                box: [Math.min.apply(null, xs), Math.min.apply(null, ys), Math.max.apply(null, xs), Math.max.apply(null, ys)]});
    });
    return out;
  }

  Viewer.prototype.drawOverlay = function () {
    var o = this.overlay, ctx = this.ctx, k = this.scale * this.dpr, x0 = this.x0, y0 = this.y0, drawn = 0;
    if (!o) return 0;
    ctx.save();
    ctx.globalAlpha = this.opacity;
    if (o.image && o.image.complete && o.image.naturalWidth) {
      ctx.drawImage(o.image, -x0 * k, -y0 * k, this.d.width * k, this.d.height * k);
      drawn = 1;
    }
    if (o.features) {
      var w = this.canvas.width / k, h = this.canvas.height / k;
      ctx.lineWidth = Math.max(1, this.dpr);
      o.features.forEach(function (f) {
        var b = f.box;
        if (b[2] < x0 || b[3] < y0 || b[0] > x0 + w || b[1] > y0 + h) return;
        ctx.strokeStyle = ctx.fillStyle = f.color;
        ctx.beginPath();
        (f.polys || []).forEach(function (p) {
          p.forEach(function (ring) {
            ring.forEach(function (q, i) {
              var sx = (q[0] - x0) * k, sy = (q[1] - y0) * k;
              if (i) ctx.lineTo(sx, sy); else ctx.moveTo(sx, sy);
            });
            if (f.closed) ctx.closePath();
          });
        });
        ctx.stroke();
        (f.points || []).forEach(function (q) {
          ctx.beginPath();
          ctx.arc((q[0] - x0) * k, (q[1] - y0) * k, 3 * ctx.lineWidth, 0, 2 * Math.PI);
          ctx.fill();
        });
        drawn++;
      });
    }
    ctx.restore();
    return drawn;
  };

  Viewer.prototype.draw = function () {
    var self = this;
    if (this.pending || !this.d) return;
    this.pending = true;
    window.requestAnimationFrame(function () { self.pending = false; self.render(); });
  };

  Viewer.prototype.render = function () {
    var d = this.d, ctx = this.ctx;
    ctx.fillStyle = "#222";
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    var k = this.scale * this.dpr;
    var level = Math.max(d.min_level, Math.min(d.max_level, d.max_level - Math.floor(Math.log2(1 / k))));
    var base = Math.max(d.min_level, Math.min(level, d.max_level - Math.max(0, Math.ceil(Math.log2(Math.max(d.width, d.height) / 1024)))));
    if (base < level) this.drawLevel(base);  // a coarse picture under the tiles still loading
    var drawn = this.drawLevel(level);
    var overlayDrawn = this.drawOverlay();
    this.root.setAttribute("data-level", String(level));
    this.root.setAttribute("data-tiles-drawn", String(drawn));
    this.root.setAttribute("data-overlay-drawn", String(overlayDrawn));
    this.root.setAttribute("data-view", [this.x0, this.y0, this.scale].map(function (v) { return v.toFixed(3); }).join(","));
    var text = "level " + level + "/" + d.max_level + ", " + (this.scale >= 1 ? this.scale.toFixed(1) + "x" : "1:" + (1 / this.scale).toFixed(1));
    if (d.mpp) {
      var um = 100 / this.scale * d.mpp[0], nice = Math.pow(10, Math.floor(Math.log10(um)));
      nice = um / nice >= 5 ? 5 * nice : um / nice >= 2 ? 2 * nice : nice;
      text += ", bar " + (nice >= 1000 ? nice / 1000 + " mm" : nice + " \u00b5m");
      var px = nice / d.mpp[0] * k;
      ctx.fillStyle = "#fff";
      ctx.fillRect(10 * this.dpr, this.canvas.height - 16 * this.dpr, px, 4 * this.dpr);
    }
    this.status.textContent = text;
  };

  function init() {
    document.querySelectorAll(".wsi-viewer[data-descriptor]").forEach(function (node) {
      if (!node._wsiViewer) node._wsiViewer = new Viewer(node);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
