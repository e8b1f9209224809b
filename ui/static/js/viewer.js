// Radiograph viewer: wheel to zoom, drag to pan, heatmap on/off and opacity, window/level.
// Keyboard: + / - zoom, arrows pan, 0 resets, h toggles the heatmap.
(function () {
  "use strict";
  const viewer = document.getElementById("viewer");
  if (!viewer) return;
  const stage = document.getElementById("viewer-stage");
  const image = document.getElementById("viewer-image");
  const heatmap = document.getElementById("viewer-heatmap");
  const toggle = document.getElementById("heatmap-toggle");
  const opacity = document.getElementById("heatmap-opacity");
  const width = document.getElementById("window-width");
  const level = document.getElementById("window-level");
  let scale = 1, x = 0, y = 0, dragging = null;

  function apply() {
    stage.style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
    heatmap.style.opacity = toggle.checked ? opacity.value / 100 : 0;
    // Window/level on an 8-bit display image: contrast for the window, brightness for the level.
    image.style.filter = `contrast(${100 / width.value * 100}%) brightness(${level.value}%)`;
  }
  function zoom(factor) { scale = Math.min(8, Math.max(1, scale * factor)); if (scale === 1) { x = 0; y = 0; } apply(); }
  function reset() { scale = 1; x = 0; y = 0; width.value = 100; level.value = 100; apply(); }

  viewer.addEventListener("wheel", (e) => { e.preventDefault(); zoom(e.deltaY < 0 ? 1.15 : 1 / 1.15); }, { passive: false });
  viewer.addEventListener("pointerdown", (e) => { dragging = { sx: e.clientX - x, sy: e.clientY - y }; viewer.setPointerCapture(e.pointerId); });
  viewer.addEventListener("pointermove", (e) => { if (dragging && scale > 1) { x = e.clientX - dragging.sx; y = e.clientY - dragging.sy; apply(); } });
  viewer.addEventListener("pointerup", () => { dragging = null; });
  viewer.addEventListener("keydown", (e) => {
    const step = 40;
    const actions = { "+": () => zoom(1.2), "=": () => zoom(1.2), "-": () => zoom(1 / 1.2), "0": reset,
      ArrowLeft: () => { x += step; apply(); }, ArrowRight: () => { x -= step; apply(); },
      ArrowUp: () => { y += step; apply(); }, ArrowDown: () => { y -= step; apply(); },
      h: () => { toggle.checked = !toggle.checked; apply(); } };
    if (actions[e.key]) { e.preventDefault(); actions[e.key](); }
  });
  [toggle, opacity, width, level].forEach((el) => el.addEventListener("input", apply));
  document.getElementById("viewer-reset").addEventListener("click", reset);
  apply();
})();
