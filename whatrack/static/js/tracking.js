// Tracking links page: "Copy" puts the short URL on the clipboard (select-and-copy fallback).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-link]");
    if (!button) return;
    var url = button.getAttribute("data-copy-link");
    var done = function () {
      var label = button.textContent;
      button.textContent = button.getAttribute("data-copied-label") || "✓";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(url).then(done, function () { fallback(button, done); });
    } else {
      fallback(button, done);
    }
  });
  function fallback(button, done) {
    var input = button.parentElement.querySelector("[data-link-url]");
    if (!input) return;
    input.select();
    try { document.execCommand("copy"); done(); } catch (e) { /* the URL stays selected */ }
  }
})();
