/* The live inbox: conversation list, thread, window clocks, composer and ticket panel.

   Everything a customer wrote reaches the page as data and is put in with textContent, never
   as HTML. Realtime frames (realtime.js) only say "something changed"; the page then asks
   /sync for what it misses after the last message id it saw, so a dropped socket, a frame
   lost by pub/sub or a frame arriving twice all end with each message shown exactly once. */
(function () {
  "use strict";
  var root = document.getElementById("inbox");
  if (!root) { return; }

  var boot = JSON.parse(document.getElementById("inbox-boot").textContent);
  var T = JSON.parse(document.getElementById("inbox-strings").textContent);
  var csrf = root.dataset.csrf;
  var listEl = document.getElementById("inbox-list");
  var endEl = document.getElementById("inbox-list-end");
  var threadEl = document.getElementById("inbox-thread");
  var headEl = document.getElementById("inbox-thread-head");
  var filtersForm = document.getElementById("inbox-filters");
  var panelEl = document.getElementById("inbox-panel");
  var composerSlot = document.getElementById("inbox-composer");
  var clockEl = document.getElementById("inbox-clock");
  var baseTitle = document.title;

  var state = {
    rows: [],               // conversation rows, newest activity first
    nextCursor: null,
    loadingList: false,
    open: null,             // the open conversation's row
    messages: {},           // id -> message of the open thread
    hasOlder: false,
    loadingOlder: false,
    lastMessageId: 0,       // the highest message id this page has seen (org-wide)
    windowExpiresAt: null,
    fepExpiresAt: null,
    unread: boot.unread || 0
  };

  function fmt(text, vars) {
    return String(text).replace(/%\((\w+)\)s/g, function (_, key) {
      return vars && vars[key] != null ? vars[key] : "";
    });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text != null) { node.textContent = text; }
    return node;
  }

  function urlFor(template, id) { return template.replace(/\/0(\/|$)/, "/" + id + "$1"); }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); });
  }

  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function timeOf(iso) { var d = new Date(iso); return pad(d.getHours()) + ":" + pad(d.getMinutes()); }
  function dayKey(d) { return d.getFullYear() + "-" + d.getMonth() + "-" + d.getDate(); }

  function dayLabel(iso) {
    var d = new Date(iso);
    var today = new Date();
    var yesterday = new Date(today.getTime() - 86400000);
    if (dayKey(d) === dayKey(today)) { return T.today; }
    if (dayKey(d) === dayKey(yesterday)) { return T.yesterday; }
    return d.toLocaleDateString(document.documentElement.lang || "pt-BR",
                                { day: "2-digit", month: "2-digit", year: "numeric" });
  }

  function listTime(iso) {
    if (!iso) { return ""; }
    var d = new Date(iso);
    return dayKey(d) === dayKey(new Date()) ? timeOf(iso) : dayLabel(iso);
  }

  function rememberId(id) { if (id > state.lastMessageId) { state.lastMessageId = id; } }

  /* ---------------- conversation list ---------------- */

  function filterParams() {
    var params = new URLSearchParams();
    new FormData(filtersForm).forEach(function (v, k) {
      if (k !== "csrf_token" && v !== "") { params.set(k, v); }
    });
    return params;
  }

  function filtering() {
    var params = filterParams();
    params.delete("t");
    return params.toString() !== "";
  }

  function sortRows() {
    state.rows.sort(function (a, b) {
      if (a.last_message_at === b.last_message_at) { return b.id - a.id; }
      return a.last_message_at < b.last_message_at ? 1 : -1;
    });
  }

  function sourceBadge(row) {
    var names = { ad: "badge-blue", ad_no_click: "badge-gray", link: "badge-yellow", organic: "badge-gray" };
    var badge = el("span", "badge " + (names[row.source] || "badge-gray"), T["source_" + row.source] || row.source);
    if (row.source === "ad" && row.ad_headline) { badge.title = row.ad_headline; }
    return badge;
  }

  function windowOpen(row) { return row.window_expires_at && Date.parse(row.window_expires_at) > Date.now(); }

  function previewText(row) {
    if (row.preview) { return row.preview; }
    return T[row.last_type] || "";
  }

  function renderRow(row) {
    var li = el("li", "conv" + (row.unread_count ? " has-unread" : "") +
                (state.open && state.open.id === row.id ? " is-active" : ""));
    li.dataset.ticketId = row.id;
    li.dataset.contactId = row.contact.id;
    var link = el("a", "conv-link");
    link.href = root.dataset.inboxUrl + "?t=" + row.id;
    var top = el("div", "conv-top");
    top.appendChild(el("strong", "conv-name", row.contact.name));
    top.appendChild(el("time", "conv-time", listTime(row.last_message_at)));
    link.appendChild(top);
    var mid = el("div", "conv-mid");
    var preview = el("span", "conv-preview");
    if (row.last_direction === "outbound") {
      preview.appendChild(el("span", "conv-you", T.you + ": "));
      if (row.last_status) { preview.appendChild(tick(row.last_status)); }
    }
    preview.appendChild(document.createTextNode(previewText(row)));
    mid.appendChild(preview);
    if (row.unread_count) {
      var count = el("span", "conv-unread", String(row.unread_count));
      count.setAttribute("aria-label", fmt(T.unread_title, { num: row.unread_count }));
      mid.appendChild(count);
    }
    link.appendChild(mid);
    var meta = el("div", "conv-meta");
    meta.appendChild(sourceBadge(row));
    if (row.stage) { meta.appendChild(el("span", "badge badge-gray conv-stage", row.stage.name)); }
    var win = el("span", "conv-window " + (windowOpen(row) ? "is-open" : "is-closed"),
                 windowOpen(row) ? T.window_badge_open : T.window_badge_closed);
    meta.appendChild(win);
    if (row.assignee) {
      var who = el("span", "conv-assignee", (row.assignee.name || "?").slice(0, 1).toUpperCase());
      who.title = fmt(T.assigned_to, { name: row.assignee.name });
      meta.appendChild(who);
    }
    link.appendChild(meta);
    li.appendChild(link);
    return li;
  }

  function renderList() {
    sortRows();
    var fragment = document.createDocumentFragment();
    state.rows.forEach(function (row) { fragment.appendChild(renderRow(row)); });
    listEl.replaceChildren(fragment);
    if (!state.rows.length) { listEl.appendChild(el("li", "conv-empty muted", T.no_conversations)); }
  }

  function upsertRow(row, allowNew) {
    var index = -1;
    state.rows.forEach(function (r, i) {
      if (r.id === row.id || r.contact.id === row.contact.id) { index = i; }
    });
    if (index >= 0) { state.rows[index] = row; }
    else if (allowNew) { state.rows.push(row); }
    if (state.open && state.open.contact.id === row.contact.id) {
      state.open = row;
      renderHead();
    }
  }

  function loadList(reset) {
    if (state.loadingList || (!reset && !state.nextCursor)) { return Promise.resolve(); }
    state.loadingList = true;
    var params = filterParams();
    if (!reset) { params.set("cursor", state.nextCursor); }
    return getJSON(root.dataset.listUrl + "?" + params.toString()).then(function (page) {
      if (reset) { state.rows = []; }
      page.data.forEach(function (row) { upsertRow(row, true); });
      state.nextCursor = page.next_cursor;
      renderList();
    }).finally(function () { state.loadingList = false; });
  }

  var filterTimer = null;
  function onFilter() {
    window.clearTimeout(filterTimer);
    filterTimer = window.setTimeout(function () {
      var params = filterParams();
      if (state.open) { params.set("t", state.open.id); }
      window.history.replaceState(window.history.state, "", "?" + params.toString());
      loadList(true);
    }, 250);
  }
  filtersForm.addEventListener("input", onFilter);
  filtersForm.addEventListener("change", onFilter);
  filtersForm.addEventListener("submit", function (evt) { evt.preventDefault(); onFilter(); });

  if ("IntersectionObserver" in window) {
    new IntersectionObserver(function (entries) {
      if (entries.some(function (e) { return e.isIntersecting; })) { loadList(false); }
    }, { root: listEl.parentElement, rootMargin: "200px" }).observe(endEl);
  }

  listEl.addEventListener("click", function (evt) {
    var link = evt.target.closest(".conv-link");
    if (!link || evt.ctrlKey || evt.metaKey || evt.shiftKey) { return; }
    evt.preventDefault();
    openConversation(Number(link.parentElement.dataset.ticketId), true);
  });

  /* ---------------- thread ---------------- */

  function tick(status) {
    var marks = { pending: "…", sent: "✓", delivered: "✓✓", read: "✓✓", played: "✓✓", failed: "!" };
    var span = el("span", "tick tick-" + status, marks[status] || "");
    span.title = T["status_" + status] || status;
    span.setAttribute("aria-label", span.title);
    span.dataset.status = status;
    return span;
  }

  function mediaNode(message) {
    var media = message.media;
    var box = el("div", "msg-media");
    if (!media || media.state === "failed" || media.state === "too_large") {
      box.appendChild(el("p", "muted", T.media_failed));
      return box;
    }
    var type = message.type;
    if (type === "image" || type === "sticker") {
      var img = el("img", type === "sticker" ? "msg-sticker" : "msg-image");
      img.src = media.url;
      img.alt = media.caption || T[type];
      img.loading = "lazy";
      box.appendChild(img);
    } else if (type === "video") {
      var video = el("video", "msg-video");
      video.controls = true;
      video.preload = "metadata";
      video.src = media.url;
      box.appendChild(video);
    } else if (type === "audio") {
      var audio = el("audio", "msg-audio");
      audio.controls = true;
      audio.preload = "none";
      audio.src = media.url;
      box.appendChild(audio);
    } else {
      var link = el("a", "msg-doc", "📄 " + (media.filename || T.document));
      link.href = media.url;
      link.setAttribute("download", media.filename || "");
      box.appendChild(link);
    }
    return box;
  }

  function adCard(ad) {
    var card = el("div", "msg-ad");
    card.appendChild(el("span", "msg-ad-label", T.ad_card));
    if (ad.thumbnail_url || ad.image_url) {
      var img = el("img", "msg-ad-thumb");
      img.src = ad.thumbnail_url || ad.image_url;
      img.alt = "";
      img.referrerPolicy = "no-referrer";
      img.loading = "lazy";
      card.appendChild(img);
    }
    if (ad.headline) { card.appendChild(el("strong", "msg-ad-headline", ad.headline)); }
    if (ad.body) { card.appendChild(el("p", "msg-ad-body", ad.body)); }
    if (ad.source_url && /^https?:\/\//i.test(ad.source_url)) {
      var link = el("a", "msg-ad-link", ad.source_url);
      link.href = ad.source_url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      card.appendChild(link);
    }
    return card;
  }

  function locationNode(location) {
    var box = el("div", "msg-location");
    box.appendChild(el("strong", null, "📍 " + (location.name || T.location)));
    if (location.address) { box.appendChild(el("p", null, location.address)); }
    var lat = Number(location.latitude), lng = Number(location.longitude);
    if (isFinite(lat) && isFinite(lng)) {
      var link = el("a", null, T.open_map);
      link.href = "https://www.google.com/maps?q=" + lat + "," + lng;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      box.appendChild(link);
    }
    return box;
  }

  function contactsNode(contacts) {
    var box = el("div", "msg-contacts");
    (Array.isArray(contacts) ? contacts : []).forEach(function (c) {
      var item = el("div", "msg-contact");
      var name = (c.name && (c.name.formatted_name || c.name.first_name)) || T.shared_contact;
      item.appendChild(el("strong", null, "👤 " + name));
      (c.phones || []).forEach(function (p) { item.appendChild(el("p", null, p.phone || p.wa_id || "")); });
      box.appendChild(item);
    });
    return box;
  }

  function reactionsFor(message) {
    return Object.keys(state.messages).map(function (k) { return state.messages[k]; })
      .filter(function (m) {
        return m.type === "reaction" && m.details && m.details.reaction &&
          m.details.reaction.message_id === message.wamid && m.text;
      });
  }

  function bodyOf(message) {
    var body = el("div", "msg-body");
    var details = message.details || {};
    if (message.reply_to) {
      var quote = el("div", "msg-quote");
      quote.appendChild(el("span", "msg-quote-label", T.reply_to));
      quote.appendChild(el("span", null, message.reply_to.text || T[message.reply_to.type] || T.quoted_missing));
      body.appendChild(quote);
    }
    if (message.forwarded) { body.appendChild(el("span", "msg-forwarded", T.forwarded)); }
    if (message.ad) { body.appendChild(adCard(message.ad)); }
    if (message.media) { body.appendChild(mediaNode(message)); }
    if (message.type === "location" && details.location) { body.appendChild(locationNode(details.location)); }
    else if (message.type === "contacts" && details.contacts) { body.appendChild(contactsNode(details.contacts)); }
    else if (message.type === "unsupported" && !message.text) { body.appendChild(el("p", "muted", T.unsupported)); }
    var text = message.media ? (message.media.caption || null) : message.text;
    if (text) { body.appendChild(el("p", "msg-text", text)); }
    return body;
  }

  function renderMessage(message) {
    if (message.type === "reaction") {
      var target = Object.keys(state.messages).some(function (k) {
        var m = state.messages[k];
        return message.details && message.details.reaction && m.wamid === message.details.reaction.message_id;
      });
      if (target || !message.text) { return null; }  // shown on the message it reacts to
      var lone = el("div", "msg-system", message.text + " " + T.reacted);
      lone.dataset.messageId = message.id;
      return lone;
    }
    if (message.type === "system") {
      var sys = el("div", "msg-system", message.text || T.system);
      sys.dataset.messageId = message.id;
      return sys;
    }
    var out = message.direction === "outbound";
    var bubble = el("div", "msg " + (out ? "msg-out" : "msg-in") + (message.status === "failed" ? " msg-failed" : ""));
    bubble.dataset.messageId = message.id;
    bubble.appendChild(bodyOf(message));
    var foot = el("div", "msg-foot");
    if (out) {
      var origin = message.is_history ? "history" : message.origin;
      if (T["origin_" + origin]) { foot.appendChild(el("span", "msg-origin", T["origin_" + origin])); }
    }
    foot.appendChild(el("time", "msg-time", timeOf(message.timestamp)));
    if (out) { foot.appendChild(tick(message.status)); }
    bubble.appendChild(foot);
    var reactions = reactionsFor(message);
    if (reactions.length) {
      bubble.appendChild(el("span", "msg-reactions", reactions.map(function (r) { return r.text; }).join(" ")));
    }
    if (message.status === "failed") {
      var fail = el("div", "msg-error");
      var reason = message.error ? [message.error.code, message.error.title, message.error.message, message.error.details]
        .filter(function (x) { return x != null && x !== ""; }).join(" · ") : "";
      fail.appendChild(el("span", null, T.failed_reason + " " + (reason || T.status_failed)));
      if (!message.is_history && message.origin !== "business_app_echo") {
        var again = el("button", "btn btn-secondary btn-sm msg-resend", T.resend);
        again.type = "button";
        again.dataset.resend = message.id;
        fail.appendChild(again);
      }
      bubble.appendChild(fail);
    }
    return bubble;
  }

  // As the customer wrote them: Meta's timestamp, then id (workers store bursts in any order).
  function orderedMessages() {
    return Object.keys(state.messages).map(function (k) { return state.messages[k]; })
      .sort(function (a, b) {
        if (a.timestamp === b.timestamp) { return a.id - b.id; }
        return a.timestamp < b.timestamp ? -1 : 1;
      });
  }

  function renderThread(keepBottom) {
    var atBottom = threadEl.scrollHeight - threadEl.scrollTop - threadEl.clientHeight < 80;
    var ordered = orderedMessages();
    var fragment = document.createDocumentFragment();
    if (state.hasOlder) { fragment.appendChild(el("p", "inbox-older muted", T.load_older)); }
    var lastDay = null;
    ordered.forEach(function (message) {
      var day = dayKey(new Date(message.timestamp));
      if (day !== lastDay) {
        fragment.appendChild(el("div", "msg-day", dayLabel(message.timestamp)));
        lastDay = day;
      }
      var node = renderMessage(message);
      if (node) { fragment.appendChild(node); }
    });
    if (!ordered.length) { fragment.appendChild(el("p", "inbox-empty muted", T.no_messages)); }
    var previousHeight = threadEl.scrollHeight;
    var previousTop = threadEl.scrollTop;
    threadEl.replaceChildren(fragment);
    if (keepBottom === "older") {
      threadEl.scrollTop = threadEl.scrollHeight - previousHeight + previousTop;
    } else if (keepBottom || atBottom) {
      threadEl.scrollTop = threadEl.scrollHeight;
    }
  }

  // Not rememberId: only /sync moves the cursor, or opening a thread would skip messages of
  // other conversations stored meanwhile.
  function addMessages(messages) {
    messages.forEach(function (m) { state.messages[m.id] = m; });
  }

  function renderHead() {
    var row = state.open;
    if (!row) { headEl.hidden = true; return; }
    headEl.hidden = false;
    document.getElementById("inbox-thread-name").textContent = row.contact.name;
    document.getElementById("inbox-thread-phone").textContent = row.contact.phone;
    state.windowExpiresAt = row.window_expires_at;
    updateClocks();
  }

  function openConversation(ticketId, push) {
    var known = state.rows.filter(function (r) { return r.id === ticketId; })[0];
    state.messages = {};
    state.hasOlder = false;
    state.fepExpiresAt = null;
    root.classList.add("is-thread");
    if (push) { window.history.pushState({ t: ticketId }, "", "?" + withTicket(ticketId)); }
    var url = urlFor(root.dataset.threadUrl, ticketId) + "?read=1";
    return getJSON(url).then(function (data) {
      state.open = data.ticket || known || null;
      if (data.ticket) { upsertRow(data.ticket, !filtering()); renderList(); }
      state.hasOlder = data.has_older;
      state.fepExpiresAt = data.fep_expires_at;
      addMessages(data.messages);
      renderHead();
      renderThread(true);
      composerSlot.hidden = false;
      composer.load(state.open ? state.open.id : ticketId);
      document.getElementById("inbox-pick") && document.getElementById("inbox-pick").remove();
      panel.load(ticketId);
      setUnreadTitle();
    }).catch(function () {
      threadEl.replaceChildren(el("p", "inbox-empty muted", T.error));
    });
  }

  function withTicket(ticketId) {
    var params = filterParams();
    params.set("t", ticketId);
    return params.toString();
  }

  function closeConversation() {
    root.classList.remove("is-thread");
    root.classList.remove("is-panel");
  }

  document.getElementById("inbox-back").addEventListener("click", function () {
    if (window.history.state && window.history.state.t) { window.history.back(); }
    else { closeConversation(); }
  });
  window.addEventListener("popstate", function (evt) {
    var t = evt.state && evt.state.t;
    if (t) { openConversation(t, false); } else { closeConversation(); }
  });

  threadEl.addEventListener("scroll", function () {
    if (threadEl.scrollTop > 80 || !state.hasOlder || state.loadingOlder || !state.open) { return; }
    var oldest = orderedMessages()[0];
    if (!oldest) { return; }
    state.loadingOlder = true;
    var url = urlFor(root.dataset.threadUrl, state.open.id) + "?before=" + oldest.id;
    getJSON(url).then(function (data) {
      data.messages.forEach(function (m) { state.messages[m.id] = m; });
      state.hasOlder = data.has_older;
      renderThread("older");
    }).finally(function () { state.loadingOlder = false; });
  });

  threadEl.addEventListener("click", function (evt) {
    var button = evt.target.closest("[data-resend]");
    if (!button) { return; }
    button.disabled = true;
    resend(button.dataset.resend);
  });

  document.getElementById("inbox-unread-btn").addEventListener("click", function () {
    if (!state.open) { return; }
    window.WhaTrackPanel.post(urlFor(root.dataset.unreadUrl, state.open.id), {}, csrf).then(function (r) {
      if (r.ok) { queueSync([], [state.open.id]); closeConversation(); }
    });
  });

  /* ---------------- window clocks and composer mode ---------------- */

  function remaining(ms) { return window.WhaTrackPanel.remaining(ms); }

  function updateClocks() {
    if (!state.open) { clockEl.hidden = true; return; }
    clockEl.hidden = false;
    var now = Date.now();
    var windowLeft = state.windowExpiresAt ? Date.parse(state.windowExpiresAt) - now : -1;
    var windowText = document.getElementById("inbox-window-clock");
    var badge = document.getElementById("inbox-thread-window");
    var open = windowLeft > 0;
    if (open) {
      var soon = windowLeft < 3600 * 1000;
      windowText.textContent = fmt(soon ? T.window_soon : T.window_open, { time: remaining(windowLeft) });
      clockEl.classList.toggle("is-soon", soon);
    } else {
      windowText.textContent = state.windowExpiresAt ? T.window_closed : T.window_none;
      clockEl.classList.remove("is-soon");
    }
    clockEl.classList.toggle("is-closed", !open);
    badge.textContent = open ? T.window_badge_open : T.window_badge_closed;
    badge.className = "badge " + (open ? "badge-green" : "badge-gray");
    var fep = document.getElementById("inbox-fep-clock");
    var fepLeft = state.fepExpiresAt ? Date.parse(state.fepExpiresAt) - now : -1;
    fep.hidden = !(fepLeft > 0);
    if (fepLeft > 0) {
      fep.textContent = fmt(fepLeft < 3 * 3600 * 1000 ? T.fep_soon : T.fep_open, { time: remaining(fepLeft) });
    }
    composer.setTemplateMode(!open);
  }
  window.setInterval(updateClocks, 1000);

  /* ---------------- composer ---------------- */
  // The sending work's composer (tickets/_composer.html + composer.js: text, file, template)
  // is loaded per conversation; this adds Enter to send, "/" quick replies, and a reload
  // when the 24h window closes under the secretary's eyes (template mode).

  var composer = (function () {
    var body = document.getElementById("inbox-composer-body");
    var quick = document.getElementById("composer-quick");
    var replies = null;  // fetched on the first "/" (the page itself stays at its queries)
    var choice = 0;
    var loadedFor = null;
    var loading = null;
    var lastReload = 0;

    function textarea() { return body.querySelector("[data-composer-form] textarea[name=text]"); }

    function matches(text) {
      var value = text.value;
      if (value.charAt(0) !== "/" || value.indexOf("\n") >= 0) { return []; }
      if (replies === null) {
        replies = [];
        getJSON(root.dataset.quickRepliesUrl).then(function (data) {
          replies = data.data;
          showQuick(text);
        }, function () { replies = null; });
      }
      var typed = value.slice(1).toLowerCase();
      return replies.filter(function (r) { return r.name.indexOf(typed) === 0; }).slice(0, 8);
    }

    function showQuick(text) {
      var found = matches(text);
      quick.hidden = !found.length;
      choice = Math.min(choice, Math.max(0, found.length - 1));
      quick.replaceChildren();
      found.forEach(function (r, i) {
        var li = el("li", "composer-quick-item" + (i === choice ? " is-active" : ""));
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", i === choice ? "true" : "false");
        li.appendChild(el("strong", null, "/" + r.name));
        li.appendChild(el("span", "muted", " " + r.body.slice(0, 80)));
        li.addEventListener("mousedown", function (evt) { evt.preventDefault(); insert(text, r); });
        quick.appendChild(li);
      });
      return found;
    }

    function insert(text, reply) {
      text.value = reply.body;
      quick.hidden = true;
      text.focus();
    }

    body.addEventListener("input", function (evt) {
      if (evt.target === textarea()) { choice = 0; showQuick(evt.target); }
    });
    body.addEventListener("keydown", function (evt) {
      var text = textarea();
      if (evt.target !== text) { return; }
      var found = quick.hidden ? [] : matches(text);
      if (found.length && (evt.key === "ArrowDown" || evt.key === "ArrowUp")) {
        evt.preventDefault();
        choice = (choice + (evt.key === "ArrowDown" ? 1 : found.length - 1)) % found.length;
        showQuick(text);
        return;
      }
      if (found.length && (evt.key === "Tab" || evt.key === "Enter")) {
        evt.preventDefault();
        insert(text, found[choice]);
        return;
      }
      if (evt.key === "Escape") { quick.hidden = true; return; }
      if (evt.key === "Enter" && !evt.shiftKey && !evt.isComposing) {
        evt.preventDefault();
        if (text.value.trim()) { text.form.requestSubmit(); }
      }
    });
    // composer.js sends; the new message reaches the thread through /sync (its realtime
    // frame, or this fallback), keyed by id, so it shows exactly once.
    body.addEventListener("submit", function () {
      quick.hidden = true;
      window.setTimeout(function () { if (state.open) { queueSync([], [state.open.id]); } }, 1500);
    });

    function load(ticketId) {
      loadedFor = ticketId;
      var request = fetch(urlFor(root.dataset.composerUrl, ticketId), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : ""; })
        .then(function (html) {
          if (request !== loading || loadedFor !== ticketId) { return; }
          body.innerHTML = html;
        });
      loading = request;
      return request;
    }

    return {
      load: load,
      // The partial knows whether the window was open when it was drawn; reload it when
      // the countdown says otherwise (template mode, or free text again after an answer).
      setTemplateMode: function (closed) {
        var drawn = body.querySelector("[data-composer]");
        if (!drawn || loadedFor === null) { return; }
        var drawnOpen = drawn.dataset.windowOpen === "true";
        // At most once a minute: a clock that disagrees with the server must not loop.
        if (drawnOpen === closed && Date.now() - lastReload > 60000) {
          lastReload = Date.now();
          load(loadedFor);
        }
      }
    };
  })();

  function resend(messageId) {
    window.WhaTrackPanel.post(urlFor(root.dataset.resendUrl, messageId), {}, csrf).then(function (r) {
      if (r.ok) { queueSync(r.json.message ? [r.json.message.id] : [], state.open ? [state.open.id] : []); }
      else { window.alert(((r.json && r.json.error) || {}).message || T.error); }
    });
  }

  /* ---------------- realtime ---------------- */

  var pending = { messages: {}, tickets: {} };
  var syncTimer = null;
  var syncing = false;
  // Message ids are handed out when a message is written and become visible when its
  // transaction commits, so a message can appear below the cursor after the cursor passed
  // it. Its own frame names it; if that frame was lost, these catch it: every SETTLE_MS
  // (and after a reconnect) one sync starts again from the cursor held SETTLE_MS ago.
  var SETTLE_MS = 15000;
  var cursors = [];        // [time, cursor] snapshots of the last minute, oldest first
  var rewindTo = null;     // a sync asked to start below the cursor

  function queueSync(messageIds, ticketIds) {
    messageIds.forEach(function (id) { if (id) { pending.messages[id] = true; } });
    ticketIds.forEach(function (id) { if (id) { pending.tickets[id] = true; } });
    window.clearTimeout(syncTimer);
    syncTimer = window.setTimeout(runSync, 30);
  }

  function runSync() {
    if (syncing) { syncTimer = window.setTimeout(runSync, 50); return; }
    var messages = Object.keys(pending.messages);
    var tickets = Object.keys(pending.tickets);
    pending = { messages: {}, tickets: {} };
    syncing = true;
    var after = rewindTo === null ? state.lastMessageId : Math.min(rewindTo, state.lastMessageId);
    rewindTo = null;
    var params = new URLSearchParams({ after: String(after) });
    if (messages.length) { params.set("messages", messages.join(",")); }
    if (tickets.length) { params.set("tickets", tickets.join(",")); }
    getJSON(root.dataset.syncUrl + "?" + params.toString()).then(applySync, function () {
      // Try again with the same ids: nothing is dropped because a request failed.
      messages.forEach(function (id) { pending.messages[id] = true; });
      tickets.forEach(function (id) { pending.tickets[id] = true; });
      window.setTimeout(runSync, 2000);
    }).finally(function () { syncing = false; });
  }

  function applySync(data) {
    var threadChanged = false;
    var fresh = [];
    data.messages.forEach(function (m) {
      var seen = m.id <= state.lastMessageId;
      rememberId(m.id);
      if (state.open && m.contact_id === state.open.contact.id) {
        state.messages[m.id] = m;
        threadChanged = true;
      }
      if (!seen && m.direction === "inbound" && !m.is_history) { fresh.push(m); }
    });
    data.conversations.forEach(function (row) { upsertRow(row, !filtering()); });
    renderList();
    if (threadChanged) {
      renderThread(false);
      var inbound = fresh.some(function (m) { return state.open && m.contact_id === state.open.contact.id; });
      if (inbound && document.visibilityState === "visible") {
        window.WhaTrackPanel.post(urlFor(root.dataset.threadUrl, state.open.id) + "/read", {}, csrf);
      }
    }
    state.unread = data.unread;
    setUnreadTitle();
    alertFor(fresh);
    if (data.more && data.messages.length) {
      // A long gap comes in pages, each after the last message of the one before.
      rewindTo = data.messages[data.messages.length - 1].id;
      queueSync([], []);
    }
  }

  document.addEventListener("whatrack:event", function (evt) {
    var frame = evt.detail || {};
    var data = frame.data || {};
    if (!frame.type || frame.type === "hello" || frame.type === "pong") { return; }
    if (data.message_id || data.ticket_id) {
      queueSync(data.message_id ? [data.message_id] : [], data.ticket_id ? [data.ticket_id] : []);
    }
  });

  function snapshotCursor() {
    var now = Date.now();
    cursors.push([now, state.lastMessageId]);
    while (cursors.length > 1 && now - cursors[0][0] > 60000) { cursors.shift(); }
  }

  function settleSweep() {
    snapshotCursor();
    var settled = cursors.filter(function (c) { return Date.now() - c[0] >= SETTLE_MS; }).pop();
    if (settled && settled[1] < state.lastMessageId) {  // quiet organizations send nothing
      rewindTo = settled[1];
      queueSync([], []);
    }
  }

  document.addEventListener("whatrack:resync", function () {
    // Back after a gap: everything after the oldest cursor of the last minute (see
    // SETTLE_MS), the statuses of the messages still moving, and the rows on screen
    // (stage, assignee, unread).
    if (cursors.length) { rewindTo = cursors[0][1]; }
    var moving = Object.keys(state.messages).map(function (k) { return state.messages[k]; })
      .filter(function (m) { return m.direction === "outbound" && m.status !== "read" && m.status !== "failed"; })
      .map(function (m) { return m.id; });
    queueSync(moving.slice(-100), state.rows.slice(0, 100).map(function (r) { return r.id; }));
  });

  new MutationObserver(function () {
    var stateName = document.documentElement.dataset.realtime;
    document.getElementById("inbox-conn").hidden = stateName !== "disconnected";
  }).observe(document.documentElement, { attributes: true, attributeFilter: ["data-realtime"] });

  /* ---------------- title, notifications, sound ---------------- */

  function setUnreadTitle() {
    // The server stops counting at boot.unread_cap: from there on the title says "99+".
    var shown = state.unread >= (boot.unread_cap || Infinity) ? (boot.unread_cap - 1) + "+" : state.unread;
    document.title = state.unread > 0 ? "(" + shown + ") " + baseTitle : baseTitle;
  }

  var prefKey = "whatrack:alerts:" + boot.me;
  var prefs = {};
  try { prefs = JSON.parse(window.localStorage.getItem(prefKey) || "{}"); } catch (e) { prefs = {}; }
  var notifyBox = document.getElementById("inbox-notify");
  var soundBox = document.getElementById("inbox-sound");
  notifyBox.checked = !!prefs.notify && "Notification" in window && Notification.permission === "granted";
  soundBox.checked = !!prefs.sound;

  function savePrefs() {
    prefs = { notify: notifyBox.checked, sound: soundBox.checked };
    try { window.localStorage.setItem(prefKey, JSON.stringify(prefs)); } catch (e) { /* private mode */ }
  }
  notifyBox.addEventListener("change", function () {
    if (notifyBox.checked && "Notification" in window && Notification.permission !== "granted") {
      Notification.requestPermission().then(function (p) { notifyBox.checked = p === "granted"; savePrefs(); });
      return;
    }
    savePrefs();
  });
  soundBox.addEventListener("change", savePrefs);

  var audioContext = null;
  function beep() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) { return; }
    audioContext = audioContext || new Context();
    var osc = audioContext.createOscillator();
    var gain = audioContext.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, audioContext.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audioContext.currentTime + 0.3);
    osc.connect(gain).connect(audioContext.destination);
    osc.start();
    osc.stop(audioContext.currentTime + 0.3);
  }

  function alertFor(messages) {
    if (!messages.length) { return; }
    var quiet = document.visibilityState === "visible" && state.open &&
      messages.every(function (m) { return m.contact_id === state.open.contact.id; });
    if (quiet) { return; }
    if (prefs.sound) { beep(); }
    if (prefs.notify && "Notification" in window && Notification.permission === "granted") {
      var m = messages[messages.length - 1];
      var row = state.rows.filter(function (r) { return r.contact.id === m.contact_id; })[0];
      var name = row ? row.contact.name : "";
      new Notification(fmt(T.new_message_from, { name: name }), { body: (m.text || "").slice(0, 120), tag: "whatrack-" + m.ticket_id });
    }
  }

  /* ---------------- ticket panel ---------------- */

  var panel = window.WhaTrackPanel.mount(panelEl, {
    url: root.dataset.panelUrl, csrf: csrf, query: "&in=inbox",
    onChange: function (json) { if (json.ticket) { queueSync([], [json.ticket.id]); } },
    onClose: function () { root.classList.remove("is-panel"); }
  });
  panelEl.hidden = false;
  document.getElementById("inbox-panel-btn").addEventListener("click", function () {
    root.classList.toggle("is-panel");
  });

  /* ---------------- start ---------------- */

  boot.conversations.data.forEach(function (row) { upsertRow(row, true); });
  state.nextCursor = boot.conversations.next_cursor;
  renderList();
  setUnreadTitle();
  // Start the message cursor at the page's moment: frames after it trigger /sync.
  state.lastMessageId = boot.last_message_id || 0;
  snapshotCursor();
  window.setInterval(settleSweep, SETTLE_MS);
  if (boot.open_ticket) { openConversation(boot.open_ticket, false); }
  window.history.replaceState(boot.open_ticket ? { t: boot.open_ticket } : null, "", window.location.href);
})();
