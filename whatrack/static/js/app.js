/* WhaTrack shared behaviour. Loaded with `defer` on every page; no inline handlers (CSP).
 *
 * - [data-nav-toggle][aria-controls=ID]  opens/closes the menu #ID (adds .is-open, keeps
 *   aria-expanded in sync, closes on Escape, on a click outside and when a link inside is used).
 * - form[data-confirm] / button[data-confirm]  asks window.confirm(message) before submitting.
 * - button[data-copy-target=SELECTOR]  copies the text (or value) of SELECTOR to the clipboard;
 *   optional data-copied-label is shown for two seconds.
 */
(function () {
  "use strict";

  var root = document.documentElement;
  root.classList.remove("no-js");
  root.classList.add("js");

  /* ---------- Menus (public header and dashboard sidebar on phones) ---------- */

  function targetOf(button) {
    var id = button.getAttribute("aria-controls");
    return id ? document.getElementById(id) : null;
  }

  function setOpen(button, open) {
    var menu = targetOf(button);
    if (!menu) return;
    menu.classList.toggle("is-open", open);
    button.setAttribute("aria-expanded", open ? "true" : "false");
    document.body.classList.toggle("menu-open", open);
  }

  function openToggles() {
    return Array.prototype.filter.call(
      document.querySelectorAll("[data-nav-toggle]"),
      function (b) { return b.getAttribute("aria-expanded") === "true"; }
    );
  }

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-nav-toggle]");
    if (toggle) {
      event.preventDefault();
      setOpen(toggle, toggle.getAttribute("aria-expanded") !== "true");
      return;
    }
    openToggles().forEach(function (button) {
      var menu = targetOf(button);
      if (!menu) return;
      var link = event.target.closest("a");
      if (!menu.contains(event.target) || (link && menu.contains(link))) {
        setOpen(button, false);
      }
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    openToggles().forEach(function (button) {
      setOpen(button, false);
      button.focus();
    });
  });

  // Leaving the phone layout with a menu open must not leave it stuck open.
  if (window.matchMedia) {
    var wide = window.matchMedia("(min-width: 901px)");
    var onChange = function () {
      if (wide.matches) openToggles().forEach(function (b) { setOpen(b, false); });
    };
    if (wide.addEventListener) wide.addEventListener("change", onChange);
    else if (wide.addListener) wide.addListener(onChange);
  }

  /* ---------- Confirm dialogs ---------- */

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter;
    var message =
      (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // Links can ask too (e.g. a destructive GET that leads to a confirmation page).
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-confirm]");
    if (link && !window.confirm(link.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  /* ---------- Copy to clipboard ---------- */

  function textOf(element) {
    if ("value" in element && typeof element.value === "string") return element.value;
    return element.textContent.trim();
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    event.preventDefault();
    var source = document.querySelector(button.getAttribute("data-copy-target"));
    if (!source) return;
    copy(textOf(source)).then(function () {
      var label = button.getAttribute("data-copied-label");
      if (!button.hasAttribute("data-original-label")) {
        button.setAttribute("data-original-label", button.textContent);
      }
      button.classList.add("is-copied");
      if (label) button.textContent = label;
      window.clearTimeout(button._copyTimer);
      button._copyTimer = window.setTimeout(function () {
        button.classList.remove("is-copied");
        if (label) button.textContent = button.getAttribute("data-original-label");
      }, 2000);
    }, function () {
      // Clipboard refused (old browser or permissions): select the text so the user can copy it.
      var range = document.createRange();
      range.selectNodeContents(source);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    });
  });
})();
