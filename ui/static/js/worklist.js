// The whole worklist row opens the study (the patient cell's link stays the keyboard's way in).
(function () {
  "use strict";
  document.addEventListener("click", (e) => {
    const row = e.target.closest("tr.row-link");
    if (!row || e.target.closest("a, button, input, select")) { return; }
    window.location.assign(row.dataset.href);
  });
})();
