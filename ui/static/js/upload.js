// Drag and drop onto the whole drop zone (not just the small file button), listing the files.
(function () {
  "use strict";
  const zone = document.querySelector(".dropzone");
  if (!zone) return;
  const input = zone.querySelector("input[type=file]");
  const list = document.createElement("ul");
  list.className = "dropped-files";
  zone.after(list);
  function show() {
    list.replaceChildren(...Array.from(input.files).map((f) => {
      const li = document.createElement("li");
      li.textContent = `${f.name} (${Math.max(1, Math.round(f.size / 1024))} KB)`;
      return li;
    }));
  }
  ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (e) => { e.preventDefault(); input.files = e.dataTransfer.files; show(); });
  input.addEventListener("change", show);
})();
