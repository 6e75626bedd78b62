/* The ticket panel (tickets/_panel.html), wherever it is shown: the Kanban's drawer and the
   inbox beside the thread. It loads the server-rendered partial, submits its forms as JSON,
   and re-renders itself when a realtime frame names its ticket, so it never goes stale.

   WhaTrackPanel.mount(container, options) -> {load(ticketId), close(), ticketId()}
     options.url        panel URL with a 0 placeholder for the id
     options.csrf       CSRF token
     options.onChange   called with the JSON answer of every successful form (fresh card)
     options.onClose    called when the close button is used
     options.query      extra query string for the partial ("&in=inbox")
*/
(function () {
  "use strict";

  function urlFor(template, id) { return template.replace(/\/0(\/|$)/, "/" + id + "$1"); }

  function post(url, data, csrf) {
    var body = new URLSearchParams();
    Object.keys(data).forEach(function (k) { if (data[k] != null) { body.append(k, data[k]); } });
    return fetch(url, {
      method: "POST", credentials: "same-origin", body: body,
      headers: { "X-CSRFToken": csrf, "Accept": "application/json" }
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (json) {
        return { ok: resp.ok, status: resp.status, json: json };
      });
    });
  }

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  /* "3 h 12 min" / "12 min": the countdowns of the window clocks ([data-countdown]). */
  function remaining(ms) {
    var minutes = Math.max(0, Math.floor(ms / 60000));
    var h = Math.floor(minutes / 60);
    return h > 0 ? h + " h " + pad(minutes % 60) + " min" : minutes + " min";
  }

  function tickCountdowns(root) {
    root.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = Date.parse(el.dataset.countdown) - Date.now();
      var out = el.querySelector("[data-countdown-text]") || el;
      if (left > 0) {
        out.textContent = remaining(left);
        el.classList.toggle("is-soon", left < 3600 * 1000);
        el.classList.remove("is-over");
      } else {
        out.textContent = el.dataset.overText || "—";
        el.classList.add("is-over");
      }
    });
  }

  function busy(container) {
    // Someone is typing in the panel: a refresh would throw their text away.
    var active = document.activeElement;
    if (!active || !container.contains(active)) { return false; }
    return (active.tagName === "INPUT" || active.tagName === "TEXTAREA") && active.value !== "";
  }

  function mount(container, options) {
    var current = null;
    var stale = false;
    var loading = null;

    function load(ticketId, extra) {
      current = ticketId;
      stale = false;
      var url = urlFor(options.url, ticketId) + "?partial=1" + (options.query || "") + (extra || "");
      var request = fetch(url, { credentials: "same-origin" }).then(function (r) {
        return r.ok ? r.text() : null;
      }).then(function (html) {
        if (request !== loading || html === null || current !== ticketId) { return; }
        container.innerHTML = html;
        tickCountdowns(container);
      });
      loading = request;
      return request;
    }

    var timer = null;
    function refresh() {
      // A burst of frames (a message and its statuses) costs one reload.
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        if (current === null) { return; }
        if (busy(container)) { stale = true; return; }
        load(current);
      }, 150);
    }

    container.addEventListener("focusout", function () {
      window.setTimeout(function () { if (stale) { refresh(); } }, 0);
    });

    container.addEventListener("click", function (evt) {
      if (evt.target.closest("[data-close-drawer]")) {
        evt.preventDefault();
        current = null;
        container.innerHTML = "";
        if (options.onClose) { options.onClose(); }
      }
    });

    container.addEventListener("change", function (evt) {
      // The stage selector shows the lost-reason fields only for a lost stage.
      var select = evt.target.closest("[data-stage-select]");
      if (!select) { return; }
      var option = select.options[select.selectedIndex];
      var lost = select.form.querySelector("[data-lost-fields]");
      if (lost) { lost.hidden = !(option && option.dataset.kind === "lost"); }
    });

    container.addEventListener("submit", function (evt) {
      var form = evt.target.closest("[data-panel-form]");
      if (!form) { return; }
      evt.preventDefault();
      var data = {};
      new FormData(form).forEach(function (v, k) { data[k] = v; });
      if (evt.submitter && evt.submitter.name) { data[evt.submitter.name] = evt.submitter.value; }
      var buttons = form.querySelectorAll("button");
      buttons.forEach(function (b) { b.disabled = true; });
      post(form.action, data, options.csrf).then(function (r) {
        buttons.forEach(function (b) { b.disabled = false; });
        if (r.ok) {
          if (options.onChange) { options.onChange(r.json); }
          load(current);
          return;
        }
        var err = (r.json && r.json.error) || {};
        var box = form.querySelector(".flash-error") || document.createElement("p");
        box.className = "flash flash-error";
        box.setAttribute("role", "alert");
        box.textContent = err.message || form.dataset.errorText || "Erro";
        form.prepend(box);
        if (r.status === 409) { load(current); }
      });
    });

    document.addEventListener("whatrack:event", function (evt) {
      var data = (evt.detail || {}).data || {};
      if (current !== null && String(data.ticket_id) === String(current)) { refresh(); }
    });
    document.addEventListener("whatrack:resync", refresh);
    window.setInterval(function () { tickCountdowns(container); }, 15000);

    return {
      load: load,
      refresh: refresh,
      ticketId: function () { return current; },
      close: function () { current = null; container.innerHTML = ""; }
    };
  }

  window.WhaTrackPanel = { mount: mount, post: post, urlFor: urlFor, remaining: remaining,
                           tickCountdowns: tickCountdowns };
})();
