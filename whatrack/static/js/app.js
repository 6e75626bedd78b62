/* WhaTrack shared behaviour. Loaded with `defer` on every page; no inline handlers (CSP).
 *
 * - [data-nav-toggle][aria-controls=ID]  opens/closes the menu #ID (adds .is-open, keeps
 *   aria-expanded in sync, closes on Escape, on a click outside and when a link inside is used).
 * - form[data-confirm] / button[data-confirm]  asks window.confirm(message) before submitting.
 * - button[data-copy-target=SELECTOR]  copies the text (or value) of SELECTOR to the clipboard;
 *   optional data-copied-label is shown for two seconds.
 * - input[data-date-input]  a dd/mm/aaaa text field (macro ui.date_field): slashes typed for
 *   you; its [data-date-pick] button opens the browser's picker and writes the day back.
 * - window.WhaTrack.toast(text, {linkText, onLink})  a short confirmation at the bottom of the
 *   screen, with an optional action (e.g. undo) for eight seconds.
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

  /* ---------- Dates typed as dd/mm/aaaa ---------- */

  function toIso(text) {
    var m = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(text.trim());
    return m ? m[3] + "-" + m[2] + "-" + m[1] : "";
  }

  function fromIso(iso) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
    return m ? m[3] + "/" + m[2] + "/" + m[1] : "";
  }

  document.querySelectorAll("input[data-date-input]").forEach(function (input) {
    input.addEventListener("input", function (event) {
      if (event.inputType && event.inputType.indexOf("delete") === 0) return;
      var digits = input.value.replace(/\D/g, "").slice(0, 8);
      var out = digits.slice(0, 2);
      if (digits.length > 2) out += "/" + digits.slice(2, 4);
      if (digits.length > 4) out += "/" + digits.slice(4);
      if (digits.length === 2 || digits.length === 4) out += "/";
      input.value = out;
    });
    var picker = document.createElement("input");
    picker.type = "date";
    picker.tabIndex = -1;
    picker.className = "date-picker-native";
    picker.setAttribute("aria-hidden", "true");
    var button = input.parentElement.querySelector("[data-date-pick]");
    if (!button) return;
    input.after(picker);
    button.addEventListener("click", function () {
      picker.value = toIso(input.value);
      if (picker.showPicker) { try { picker.showPicker(); return; } catch (e) { /* fall through */ } }
      picker.focus();
    });
    picker.addEventListener("change", function () {
      if (picker.value) input.value = fromIso(picker.value);
    });
  });

  /* ---------- Toasts ---------- */

  function toast(text, options) {
    options = options || {};
    var box = document.getElementById("toasts");
    if (!box) {
      box = document.createElement("div");
      box.id = "toasts";
      box.className = "toasts";
      box.setAttribute("role", "status");
      box.setAttribute("aria-live", "polite");
      document.body.appendChild(box);
    }
    var item = document.createElement("div");
    item.className = "toast";
    var span = document.createElement("span");
    span.textContent = text;
    item.appendChild(span);
    if (options.linkText && options.onLink) {
      var link = document.createElement("button");
      link.type = "button";
      link.className = "toast-action";
      link.textContent = options.linkText;
      link.addEventListener("click", function () { options.onLink(item); });
      item.appendChild(link);
    }
    box.appendChild(item);
    window.setTimeout(function () { item.remove(); }, options.timeout || 8000);
    return item;
  }

  window.WhaTrack = window.WhaTrack || {};
  window.WhaTrack.toast = toast;
})();
