/* Reply composer of the ticket panel (and, later, the inbox): sends text, files and
   templates with fetch, shows the server's error next to the form, and refreshes the
   thread when a status of one of its messages arrives through realtime.js.
   Works on composers inserted later (the Kanban drawer): everything is delegated. */
(function () {
  "use strict";

  function composerOf(el) { return el.closest("[data-composer]"); }

  function notice(composer, text, isError) {
    var box = composer.querySelector("[data-composer-notice]");
    if (!box) { return; }
    box.textContent = text || "";
    box.className = "composer-notice" + (isError ? " flash flash-error" : (text ? " flash flash-success" : ""));
  }

  function replaceThread(composer, html) {
    var current = composer.querySelector("[data-thread]");
    if (!current || !html) { return; }
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var fresh = holder.querySelector("[data-thread]");
    if (fresh) { current.replaceWith(fresh); }
  }

  function refreshThread(composer) {
    fetch(composer.dataset.threadUrl, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { replaceThread(composer, html); });
  }

  function renderParameters(form) {
    var select = form.querySelector("[data-template-select]");
    var box = form.querySelector("[data-template-parameters]");
    var body = form.querySelector("[data-template-body]");
    if (!select || !box) { return; }
    var option = select.options[select.selectedIndex];
    var names = [];
    try { names = JSON.parse(option.dataset.parameters || "[]"); } catch (e) { names = []; }
    if (body) { body.textContent = option.dataset.body || ""; }
    box.innerHTML = "";
    names.forEach(function (name, i) {
      var id = select.id + "-p" + i;
      var label = document.createElement("label");
      label.setAttribute("for", id);
      label.textContent = "{{" + name + "}}";
      var input = document.createElement("input");
      input.type = "text"; input.name = "parameters"; input.id = id; input.required = true;
      input.maxLength = 1024;
      box.appendChild(label); box.appendChild(input);
    });
  }

  document.addEventListener("change", function (evt) {
    if (evt.target.matches("[data-template-select]")) { renderParameters(evt.target.form); }
  });
  document.addEventListener("toggle", function (evt) {
    var form = evt.target.querySelector && evt.target.querySelector("[data-template-form]");
    if (form) { renderParameters(form); }
  }, true);

  document.addEventListener("submit", function (evt) {
    var form = evt.target.closest("[data-composer-form]");
    if (!form) { return; }
    var composer = composerOf(form);
    if (!composer) { return; }
    evt.preventDefault();
    var button = form.querySelector("[type=submit]");
    if (button) { button.disabled = true; }
    fetch(form.action, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": (form.querySelector("[name=csrf_token]") || {}).value || "" }
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (json) { return { ok: r.ok, json: json }; });
    }).then(function (res) {
      if (button) { button.disabled = false; }
      if (!res.ok) {
        notice(composer, ((res.json && res.json.error) || {}).message || "Erro", true);
        return;
      }
      notice(composer, res.json.notice, false);
      if (form.hasAttribute("data-sync-form")) { return; }
      replaceThread(composer, res.json.thread_html);
      if (form.querySelector("textarea")) { form.querySelector("textarea").value = ""; }
      if (form.querySelector("[type=file]")) { form.reset(); }
    }).catch(function () {
      if (button) { button.disabled = false; }
      notice(composer, "Sem conexão. Tente novamente.", true);
    });
  });

  document.addEventListener("whatrack:event", function (evt) {
    var frame = evt.detail || {};
    var data = frame.data || {};
    if (["message.status", "message.created"].indexOf(frame.type) < 0 || !data.ticket_id) { return; }
    document.querySelectorAll('[data-composer][data-ticket-id="' + data.ticket_id + '"]').forEach(refreshThread);
  });

  function init() {
    document.querySelectorAll("[data-template-form]").forEach(renderParameters);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); }
  else { init(); }
})();
