// A desktop notification when the number of urgent findings waiting grows (where the window and
// the system allow notifications); the banner itself is refreshed by htmx every 30 s.
(function () {
  "use strict";
  const KEY = "cxr-urgent-count";
  function check() {
    const banner = document.getElementById("urgent-banner");
    if (!banner) { return; }
    const count = parseInt(banner.dataset.count || "0", 10);
    const before = parseInt(sessionStorage.getItem(KEY) || "0", 10);
    sessionStorage.setItem(KEY, String(count));
    if (count > before && "Notification" in window) {
      const text = banner.textContent.trim();
      if (Notification.permission === "granted") { new Notification("CXR Workstation", { body: text }); }
      else if (Notification.permission === "default") { Notification.requestPermission(); }
    }
  }
  document.addEventListener("htmx:afterSwap", check);
  document.addEventListener("DOMContentLoaded", check);
})();
