// Polyline correction page (biomedai): draw, select, delete and save vessel polylines over an image.
// Plain JavaScript served from this server (no CDN, no build step). The page's #config holds the items.
"use strict";
(function () {
  const config = JSON.parse(document.getElementById("config").textContent);
  const canvas = document.getElementById("canvas");
  const ctx = canvas.getContext("2d");
  const select = document.getElementById("item");
  const classSelect = document.getElementById("cls");
  const status = document.getElementById("status");
  const COLOURS = { vessel: "#ffd000", out_of_plane: "#00c0ff", debris: "#ff00c0" };
  let image = null, doc = null, current = [], selected = -1, deleted = [], item = null;

  function scale() {  // image pixels per canvas pixel
    return { x: doc.image_size[1] / canvas.width, y: doc.image_size[0] / canvas.height };
  }
  function toImage(evt) {
    const r = canvas.getBoundingClientRect(), s = scale();
    const cx = (evt.clientX - r.left) * canvas.width / r.width, cy = (evt.clientY - r.top) * canvas.height / r.height;
    return [cx * s.x, cy * s.y];
  }
  function toCanvas(p) { const s = scale(); return [p[0] / s.x, p[1] / s.y]; }

  function drawLine(points, colour, width) {
    if (points.length === 0) return;
    ctx.strokeStyle = colour; ctx.lineWidth = width; ctx.beginPath();
    points.forEach(function (p, i) { const c = toCanvas(p); if (i === 0) ctx.moveTo(c[0], c[1]); else ctx.lineTo(c[0], c[1]); });
    if (points.length === 1) { const c = toCanvas(points[0]); ctx.arc(c[0], c[1], 2, 0, 2 * Math.PI); }
    ctx.stroke();
  }
  function redraw() {
    if (!image || !doc) return;
    ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
    doc.polylines.forEach(function (line, i) {
      drawLine(line.points, i === selected ? "#ff2020" : (COLOURS[line["class"]] || "#ffd000"), i === selected ? 3 : 1.5);
    });
    drawLine(current, "#00ff80", 2);
    status.textContent = doc.polylines.length + " polylines" + (selected >= 0 ? ", #" + selected + " selected" : "");
  }

  function distanceToSegment(p, a, b) {
    const dx = b[0] - a[0], dy = b[1] - a[1], len2 = dx * dx + dy * dy;
    let t = len2 > 0 ? ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2 : 0;
    t = Math.max(0, Math.min(1, t));
    return Math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy);
  }
  function hit(p) {
    const tolerance = 6 * scale().x;
    let best = -1, bestDistance = tolerance;
    doc.polylines.forEach(function (line, i) {
      for (let k = 0; k + 1 < line.points.length; k++) {
        const d = distanceToSegment(p, line.points[k], line.points[k + 1]);
        if (d < bestDistance) { bestDistance = d; best = i; }
      }
    });
    return best;
  }

  function finish() {
    if (current.length >= 2) {
      doc.polylines.push({ "class": classSelect.value, points: current.map(function (p) { return [Math.round(p[0] * 100) / 100, Math.round(p[1] * 100) / 100]; }) });
    }
    current = []; redraw();
  }
  function removeSelected() {
    if (selected < 0) return;
    deleted.push({ index: selected, line: doc.polylines.splice(selected, 1)[0] });
    selected = -1; redraw();
  }
  function undo() {
    if (current.length) current.pop();
    else if (deleted.length) { const d = deleted.pop(); doc.polylines.splice(d.index, 0, d.line); }
    redraw();
  }

  canvas.addEventListener("click", function (evt) {
    const p = toImage(evt);
    if (current.length === 0) {
      const i = hit(p);
      if (i >= 0) { selected = (selected === i ? -1 : i); redraw(); return; }
    }
    selected = -1; current.push(p); redraw();
  });
  canvas.addEventListener("dblclick", function (evt) { evt.preventDefault(); finish(); });
  document.addEventListener("keydown", function (evt) {
    if (evt.key === "Enter") finish();
    else if (evt.key === "Delete" || evt.key === "Backspace") { if (current.length === 0) { evt.preventDefault(); removeSelected(); } }
    else if (evt.key === "Escape") { current = []; selected = -1; redraw(); }
  });
  document.getElementById("finish").addEventListener("click", finish);
  document.getElementById("delete").addEventListener("click", removeSelected);
  document.getElementById("undo").addEventListener("click", undo);
  document.getElementById("save").addEventListener("click", function () {
    finish();
    status.textContent = "saving...";
    fetch(item.save_url, { method: "PUT", credentials: "same-origin", headers: { "Content-Type": "application/json" },
                           body: JSON.stringify(doc) })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        status.textContent = res.ok ? "saved " + res.body.saved + " (" + doc.polylines.length + " polylines)"
                                    : "not saved: " + (res.body.detail || "error");
        status.dataset.saved = res.ok ? "1" : "0";
      })
      .catch(function (err) { status.textContent = "not saved: " + err; });
  });

  function load(index) {
    item = config.items[index]; current = []; selected = -1; deleted = [];
    const img = new Image();
    Promise.all([
      new Promise(function (resolve, reject) { img.onload = resolve; img.onerror = reject; img.src = item.image_url; }),
      fetch(item.annotation_url, { credentials: "same-origin" }).then(function (r) { return r.json(); }),
    ]).then(function (values) {
      image = img; doc = values[1];
      const maxWidth = Math.min(1200, window.innerWidth - 40);
      const factor = Math.min(1, maxWidth / img.naturalWidth);
      canvas.width = Math.round(img.naturalWidth * factor); canvas.height = Math.round(img.naturalHeight * factor);
      redraw();
    }).catch(function (err) { status.textContent = "could not load " + item.name + ": " + err; });
  }
  config.items.forEach(function (it, i) {
    const option = document.createElement("option"); option.value = String(i); option.textContent = it.name; select.appendChild(option);
  });
  select.addEventListener("change", function () { load(Number(select.value)); });
  if (config.items.length) load(0);
  window.polylineEditor = { get doc() { return doc; }, finish: finish, removeSelected: removeSelected };
})();
