// Tracking links page: "Copy" puts the short URL on the clipboard (a hidden textarea and
// execCommand where the Clipboard API is missing, e.g. plain http behind a proxy).
(function () {
  "use strict";
  function copied(button) {
    var label = button.textContent;
    button.textContent = button.getAttribute("data-copied-label") || label;
    setTimeout(function () { button.textContent = label; }, 1500);
  }
  function fallback(text, button) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    try { if (document.execCommand("copy")) copied(button); } catch (e) { /* nothing to do */ }
    document.body.removeChild(area);
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-link]");
    if (!button) return;
    var url = button.getAttribute("data-copy-link");
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(url).then(function () { copied(button); },
                                              function () { fallback(url, button); });
    } else {
      fallback(url, button);
    }
  });
})();
