// Radiograph viewer: the film at its full bit depth, windowed here in the browser.
// Wheel to zoom, drag to pan; window and level in the film's own units (numbers beside the
// sliders), presets (the file's own windows, lung, mediastinum, bone, full range), invert,
// heatmap on/off and opacity, full screen.
// Keyboard (with the viewer focused): + / - zoom, arrows pan, 0 resets, h heatmap, i invert;
// anywhere on the page: f full screen.
(function () {
  "use strict";
  const viewer = document.getElementById("viewer");
  if (!viewer) return;
  const stage = document.getElementById("viewer-stage");
  const image = document.getElementById("viewer-image");
  const canvas = document.getElementById("viewer-canvas");
  const heatmap = document.getElementById("viewer-heatmap");
  const toggle = document.getElementById("heatmap-toggle");
  const opacity = document.getElementById("heatmap-opacity");
  const width = document.getElementById("window-width");
  const level = document.getElementById("window-level");
  const widthValue = document.getElementById("window-width-value");
  const levelValue = document.getElementById("window-level-value");
  const invert = document.getElementById("viewer-invert");
  const presets = document.getElementById("viewer-preset");
  let scale = 1, x = 0, y = 0, dragging = null;
  let film = null;  // {values: Uint16Array, meta, image: ImageData, lut: Uint32Array}
  let pending = false;
  // Read by the browser test: how many windowed frames were drawn and how long the last took.
  const stats = (window.viewerStats = { frames: 0, lastMs: 0 });

  const prior = { pane: document.getElementById("prior-viewer"), stage: document.getElementById("prior-stage"),
    image: document.getElementById("prior-image"), label: document.getElementById("prior-label"),
    sync: document.getElementById("prior-sync"), close: document.getElementById("prior-close") };

  function place() {
    stage.style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
    // An earlier film beside this one follows its zoom and pan while "together" is ticked.
    if (prior.stage) prior.stage.style.transform = prior.sync && prior.sync.checked ? stage.style.transform : "none";
    if (heatmap) heatmap.style.opacity = toggle.checked ? opacity.value / 100 : 0;
  }

  function units(code) { return film.meta.offset + code * film.meta.step; }
  function showNumbers() {
    const digits = 65535 * film.meta.step >= 100 ? 0 : 2;  // whole units unless the film spans under 100
    widthValue.textContent = (Number(width.value) * film.meta.step).toFixed(digits);
    levelValue.textContent = units(Number(level.value)).toFixed(digits);
  }

  function draw() {
    pending = false;
    if (!film) return;
    const started = performance.now();
    const w = Math.max(1, Number(width.value)), low = Number(level.value) - w / 2;
    const lut = film.lut, flip = invert.checked;
    for (let code = 0; code < 65536; code++) {
      let g = Math.round(((code - low) / w) * 255);
      g = g < 0 ? 0 : g > 255 ? 255 : g;
      if (flip) g = 255 - g;
      lut[code] = 0xff000000 | (g << 16) | (g << 8) | g;
    }
    const out = new Uint32Array(film.image.data.buffer), values = film.values;
    for (let i = 0; i < values.length; i++) out[i] = lut[values[i]];
    canvas.getContext("2d").putImageData(film.image, 0, 0);
    stats.frames += 1;
    stats.lastMs = performance.now() - started;
    showNumbers();
  }
  function redraw() { if (!pending) { pending = true; requestAnimationFrame(draw); } }

  function choose(name) {
    const preset = film.meta.presets.find((p) => p.name === name);
    if (!preset) return;
    width.value = Math.round(preset.width / film.meta.step);
    level.value = Math.round((preset.centre - film.meta.offset) / film.meta.step);
    presets.value = name;
    redraw();
  }

  async function load() {
    if (!canvas) return;
    const response = await fetch(canvas.dataset.src, { headers: { "X-CXR-Poll": "1" } });
    if (!response.ok) return;  // the 8-bit picture stays
    const meta = JSON.parse(response.headers.get("X-Viewer-Meta"));
    const values = new Uint16Array(await response.arrayBuffer());
    canvas.width = meta.width;
    canvas.height = meta.height;
    film = { values, meta, image: new ImageData(meta.width, meta.height), lut: new Uint32Array(65536) };
    width.min = 1; width.max = 65535; level.min = 0; level.max = 65535;
    width.step = level.step = 1;
    presets.replaceChildren(new Option("—", ""), ...meta.presets.map((p) => new Option(p.name, p.name)));
    invert.checked = meta.invert;
    [width, level, invert, presets].forEach((el) => { el.disabled = false; });
    choose(meta.default);
    canvas.hidden = false;
    image.hidden = true;
    viewer.dataset.windowing = "full";  // the test waits for this
  }

  function zoom(factor) { scale = Math.min(8, Math.max(1, scale * factor)); if (scale === 1) { x = 0; y = 0; } place(); }
  function reset() { scale = 1; x = 0; y = 0; place(); if (film) { invert.checked = film.meta.invert; choose(film.meta.default); } }
  function fullScreen() {
    const room = document.querySelector(".study-layout");
    if (document.fullscreenElement) document.exitFullscreen();
    else if (room && room.requestFullscreen) room.requestFullscreen().then(() => viewer.focus()).catch(() => {});
  }

  viewer.addEventListener("wheel", (e) => { e.preventDefault(); zoom(e.deltaY < 0 ? 1.15 : 1 / 1.15); }, { passive: false });
  viewer.addEventListener("pointerdown", (e) => { dragging = { sx: e.clientX - x, sy: e.clientY - y }; viewer.setPointerCapture(e.pointerId); });
  viewer.addEventListener("pointermove", (e) => { if (dragging && scale > 1) { x = e.clientX - dragging.sx; y = e.clientY - dragging.sy; place(); } });
  viewer.addEventListener("pointerup", () => { dragging = null; });
  viewer.addEventListener("keydown", (e) => {
    const step = 40;
    const actions = { "+": () => zoom(1.2), "=": () => zoom(1.2), "-": () => zoom(1 / 1.2), "0": reset,
      ArrowLeft: () => { x += step; place(); }, ArrowRight: () => { x -= step; place(); },
      ArrowUp: () => { y += step; place(); }, ArrowDown: () => { y -= step; place(); },
      h: () => { toggle.checked = !toggle.checked; place(); },
      i: () => { invert.checked = !invert.checked; redraw(); } };
    if (actions[e.key]) { e.preventDefault(); actions[e.key](); }
  });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "f" || e.ctrlKey || e.altKey || e.metaKey) return;
    if (e.target.closest("input[type=text], input:not([type]), textarea, select")) return;
    e.preventDefault();
    fullScreen();
  });
  [toggle, opacity].forEach((el) => el.addEventListener("input", place));
  [width, level, invert].forEach((el) => el.addEventListener("input", () => { presets.value = ""; redraw(); }));
  invert.addEventListener("change", redraw);
  presets.addEventListener("change", () => choose(presets.value));
  document.getElementById("viewer-reset").addEventListener("click", reset);
  document.getElementById("viewer-fullscreen").addEventListener("click", fullScreen);
  document.querySelectorAll(".prior-thumb").forEach((button) => button.addEventListener("click", () => {
    document.querySelectorAll(".prior-thumb").forEach((b) => b.classList.toggle("active", b === button));
    prior.image.src = button.dataset.src;
    prior.label.textContent = button.dataset.label;
    prior.pane.hidden = false;
    prior.close.hidden = false;
    document.getElementById("viewer-pair").classList.add("with-prior");
    place();
  }));
  if (prior.close) prior.close.addEventListener("click", () => {
    prior.pane.hidden = true;
    prior.close.hidden = true;
    document.getElementById("viewer-pair").classList.remove("with-prior");
    document.querySelectorAll(".prior-thumb").forEach((b) => b.classList.remove("active"));
  });
  if (prior.sync) prior.sync.addEventListener("change", place);
  place();
  load();
})();
