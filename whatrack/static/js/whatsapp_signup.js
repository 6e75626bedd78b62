/* Embedded Signup on /dashboard/settings/whatsapp (meta-platform.md 1.2, 1.3).
 *
 * Loads the Facebook SDK from the configured URL, opens the signup window on a click, and
 * collects the two things Meta sends back in either order: the code (FB.login callback,
 * valid ~30 s) and the WA_EMBEDDED_SIGNUP session message (ids, or why it stopped). Both
 * go to the back end in one CSRF-protected JSON POST; its answer lists the steps.
 */
(function () {
  "use strict";

  var root = document.querySelector("[data-wa-signup]");
  if (!root) return;
  var cfg = JSON.parse(root.getAttribute("data-wa-signup"));
  var texts = JSON.parse(root.getAttribute("data-wa-texts"));
  var csrf = root.getAttribute("data-csrf");
  var origins = cfg.origins;
  var buttons = document.querySelectorAll("[data-wa-start]");
  var progress = document.querySelector("[data-wa-progress]");
  var title = progress.querySelector("[data-wa-title]");
  var stepList = progress.querySelector("[data-wa-steps]");
  var errorBox = progress.querySelector("[data-wa-error]");
  var errorText = progress.querySelector("[data-wa-error-text]");
  var tech = progress.querySelector("[data-wa-tech]");
  var techText = progress.querySelector("[data-wa-tech-text]");
  var retryButton = progress.querySelector("[data-wa-retry]");
  var connected = progress.querySelector("[data-wa-connected]");
  var loading = document.querySelector("[data-wa-loading]");

  var session = null;   // {mode, code, info, sent}
  var current = null;   // the last onboarding state from the back end

  function fill(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_, key) { return values[key] || ""; });
  }

  function setBusy(busy) {
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = busy || !window.FB; });
  }

  function showMessage(text) {
    progress.hidden = false;
    title.textContent = "";
    stepList.innerHTML = "";
    connected.hidden = true;
    errorBox.hidden = false;
    errorText.textContent = text;
    tech.hidden = true;
    retryButton.hidden = true;
    setBusy(false);
  }

  function render(state) {
    current = state;
    progress.hidden = false;
    stepList.innerHTML = "";
    state.steps.forEach(function (step) {
      var li = document.createElement("li");
      li.className = "wa-step wa-step-" + step.state;
      li.setAttribute("data-step", step.name);
      li.setAttribute("data-state", step.state);
      var label = { done: texts.done, failed: texts.failedStep, pending: texts.pending };
      li.textContent = step.label + " · " + (label[step.state] || step.state);
      stepList.appendChild(li);
    });
    connected.hidden = state.status !== "connected";
    errorBox.hidden = state.status !== "failed";
    if (state.status === "connected") {
      title.textContent = texts.connected;
      connected.querySelector("[data-wa-number]").textContent = state.display_phone_number || "";
    } else if (state.status === "failed" && state.error) {
      title.textContent = fill(texts.failed, { step: state.error.step_label });
      errorText.textContent = state.error.message;
      var details = [];
      if (state.error.meta_message) details.push(state.error.meta_message);
      if (state.error.code !== null) {
        details.push("code " + state.error.code +
                     (state.error.subcode !== null ? " / " + state.error.subcode : ""));
      }
      if (state.error.fbtrace_id) details.push("fbtrace_id " + state.error.fbtrace_id);
      tech.hidden = details.length === 0;
      techText.textContent = details.join("\n");
      retryButton.hidden = false;
    } else {
      title.textContent = texts.connecting;
    }
    setBusy(false);
  }

  function showWorking() {
    progress.hidden = false;
    errorBox.hidden = true;
    connected.hidden = true;
    title.textContent = texts.connecting;
    stepList.innerHTML = "";
    setBusy(true);
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json",
                 "X-CSRFToken": csrf },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error((data.error && data.error.message) || texts.network);
        return data;
      });
    });
  }

  function report(event, data) {
    var body = { event: event };
    ["current_step", "error_message", "session_id", "timestamp"].forEach(function (key) {
      if (data && data[key] != null) body[key] = String(data[key]);
    });
    if (data && (data.error_code || data.error_id)) body.error_code = String(data.error_code || data.error_id);
    post(cfg.eventUrl, body).catch(function () { /* logging only */ });
  }

  function maybeSubmit() {
    if (!session || session.sent || !session.code || !session.info) return;
    session.sent = true;
    showWorking();
    var info = session.info;
    post(cfg.startUrl, {
      code: session.code, event: info.event, waba_id: info.data.waba_id,
      phone_number_id: info.data.phone_number_id, business_id: info.data.business_id
    }).then(finish, function (err) { showMessage(err.message || texts.network); });
  }

  function finish(state) {
    if (state.status === "connected") {
      // Reload so the numbers table lists it; the page shows this outcome again.
      window.location.replace(cfg.pageUrl + "?connected=" + state.id);
      return;
    }
    render(state);
  }

  function launch(mode) {
    session = { mode: mode, code: null, info: null, sent: false };
    errorBox.hidden = true;
    window.FB.login(function (response) {
      if (!session) return;
      if (response && response.authResponse && response.authResponse.code) {
        session.code = response.authResponse.code;
        maybeSubmit();
      } else if (!session.info) {
        // Closed without finishing: the CANCEL message (if any) says more; give it a moment.
        var pending = session;
        window.setTimeout(function () {
          if (session === pending && !pending.info) showMessage(texts.cancelledNoStep);
        }, 1500);
      }
    }, {
      config_id: cfg.configId,
      response_type: "code",
      override_default_response_type: true,
      extras: {
        setup: {},
        featureType: mode === "coexistence" ? "whatsapp_business_app_onboarding" : "",
        sessionInfoVersion: "3"
      }
    });
  }

  window.addEventListener("message", function (event) {
    if (origins.indexOf(event.origin) === -1) return;
    var message;
    try {
      message = typeof event.data === "string" ? JSON.parse(event.data) : event.data;
    } catch (e) {
      return;  // the SDK posts other, non-JSON messages too
    }
    if (!message || message.type !== "WA_EMBEDDED_SIGNUP" || !session) return;
    var data = message.data || {};
    if (message.event === "FINISH" || message.event === "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING") {
      session.info = { event: message.event, data: data };
      maybeSubmit();
    } else if (message.event === "FINISH_ONLY_WABA") {
      session.info = { event: message.event, data: data };
      showMessage(texts.onlyWaba);
    } else if (message.event === "CANCEL" || message.event === "ERROR") {
      session.info = { event: message.event, data: data };
      report(message.event, data);
      if (data.error_message) {
        showMessage(fill(texts.reported, { message: data.error_message }));
      } else if (data.current_step) {
        showMessage(fill(texts.cancelled, { step: data.current_step }));
      } else {
        showMessage(texts.cancelledNoStep);
      }
    }
  });

  retryButton.addEventListener("click", function () {
    if (!current || !current.error || current.error.restart_required) {
      launch(current && current.coexistence ? "coexistence" : (session ? session.mode : "standard"));
      return;
    }
    showWorking();
    post(cfg.retryUrl.replace(/\/0\/retry$/, "/" + current.id + "/retry"), {})
      .then(finish, function (err) { showMessage(err.message || texts.network); });
  });

  Array.prototype.forEach.call(buttons, function (button) {
    button.addEventListener("click", function () { launch(button.getAttribute("data-wa-start")); });
  });

  window.fbAsyncInit = function () {
    window.FB.init({ appId: cfg.appId, autoLogAppEvents: true, xfbml: false,
                     version: cfg.graphVersion });
    if (loading) loading.hidden = true;
    setBusy(false);
  };
  var script = document.createElement("script");
  script.src = cfg.sdkUrl;
  script.async = true;
  script.defer = true;
  script.onerror = function () {
    if (loading) loading.hidden = true;
    showMessage(texts.sdkFailed);
  };
  document.head.appendChild(script);

  if (cfg.latest) render(cfg.latest);
})();
