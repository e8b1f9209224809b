// Print: the study's PDF report, printed by the browser from a hidden frame (or opened in a new
// window where the frame cannot print).
(function () {
  "use strict";
  const button = document.getElementById("print-report");
  if (!button) return;
  button.addEventListener("click", () => {
    let frame = document.getElementById("print-frame");
    if (frame) frame.remove();
    frame = document.createElement("iframe");
    frame.id = "print-frame";
    frame.hidden = true;
    frame.src = button.dataset.src;
    frame.addEventListener("load", () => {
      try { frame.contentWindow.focus(); frame.contentWindow.print(); }
      catch (error) { window.open(button.dataset.src, "_blank"); }
    });
    document.body.appendChild(frame);
  });
})();
