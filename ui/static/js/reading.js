// The reading loop's keys (shown on the study page): number keys choose a finding, A agrees
// with the AI and goes on, Enter signs and goes on, arrows open the previous/next study, ? lists
// the keys. Keys typed into a text box stay text (Esc leaves the box; Ctrl+Enter signs from it).
(function () {
  "use strict";
  const form = document.getElementById("review-form");
  const help = document.getElementById("shortcut-help");
  const errors = document.getElementById("read-errors");
  if (errors) { errors.scrollIntoView({ block: "center" }); }

  function typing(target) {
    return target.closest("textarea, select, [contenteditable]") ||
      (target.tagName === "INPUT" && !["radio", "checkbox", "button", "submit"].includes(target.type));
  }
  function press(id) { const button = document.getElementById(id); if (button) { button.click(); } }
  function go(id) { const link = document.getElementById(id); if (link) { window.location.assign(link.href); } }

  document.addEventListener("keydown", (e) => {
    if (e.defaultPrevented || e.altKey || e.metaKey) { return; }
    if (e.target.closest("#viewer")) { return; }  // the viewer's own keys (pan, zoom)
    if (typing(e.target)) {
      if (e.key === "Escape") { e.target.blur(); }
      else if (e.key === "Enter" && e.ctrlKey && form && form.contains(e.target)) { e.preventDefault(); press("sign-next"); }
      return;
    }
    if (e.ctrlKey) { return; }
    if (e.key === "?") { e.preventDefault(); if (help) { help.open ? help.close() : help.showModal(); } return; }
    if (e.key === "ArrowLeft") { e.preventDefault(); go("previous-study"); return; }
    if (e.key === "ArrowRight") { e.preventDefault(); go("next-study"); return; }
    if (!form) { return; }
    if (/^[1-9]$/.test(e.key)) {
      const choice = form.querySelector(`input[data-key="${e.key}"]`);
      if (choice) { e.preventDefault(); choice.checked = true; choice.focus(); }
    } else if (e.key === "a" || e.key === "A") {
      e.preventDefault(); press("agree-next");
    } else if (e.key === "Enter" && !(e.target.tagName === "BUTTON")) {
      e.preventDefault(); press("sign-next");
    }
  });
})();
