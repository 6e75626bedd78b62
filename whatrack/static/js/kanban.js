/* Kanban: drag and drop (SortableJS, mouse and touch), sale and lost dialogs, the ticket
   drawer, and live updates from other people through realtime.js. */
(function () {
  "use strict";
  var board = document.getElementById("kanban");
  if (!board) { return; }
  var csrf = board.dataset.csrf;
  var drawer = document.getElementById("ticket-drawer");
  var saleDialog = document.getElementById("sale-dialog");
  var lostDialog = document.getElementById("lost-dialog");
  var pending = null; // {card, from, fromIndex, to}

  // panel.js (loaded first) owns the request helpers the board and the inbox share.
  var urlFor = window.WhaTrackPanel.urlFor;
  function post(url, data) { return window.WhaTrackPanel.post(url, data, csrf); }

  function column(stageId) { return board.querySelector('.kcol-cards[data-stage-id="' + stageId + '"]'); }

  // A column shows its newest cards; its count also covers the ones not loaded yet
  // ("hidden"), and stops at the server's cap ("199+"): a capped column stays capped.
  var cap = parseInt(board.dataset.countCap, 10) || Infinity;
  board.querySelectorAll(".kcol").forEach(function (col) {
    var total = parseInt(col.querySelector(".kcol-count").dataset.total, 10) || 0;
    col.dataset.hidden = Math.max(0, total - col.querySelectorAll(".kcard").length);
    col.dataset.capped = total >= cap ? "1" : "";
  });

  function updateCounts() {
    board.querySelectorAll(".kcol").forEach(function (col) {
      var count = (parseInt(col.dataset.hidden, 10) || 0) + col.querySelectorAll(".kcard").length;
      col.querySelector(".kcol-count").textContent = col.dataset.capped ? (cap - 1) + "+" : count;
    });
  }

  // "Show more": the column's next cards, after the last one the server sent.
  board.addEventListener("click", function (evt) {
    var more = evt.target.closest("[data-more-url]");
    if (!more) { return; }
    evt.preventDefault();
    evt.stopPropagation();
    more.disabled = true;
    var col = more.closest(".kcol");
    fetch(more.dataset.moreUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r); })
      .then(function (page) {
        var list = col.querySelector(".kcol-cards");
        var tmp = document.createElement("div");
        tmp.innerHTML = page.html;
        Array.prototype.slice.call(tmp.children).forEach(function (card) {
          // A card that moved here live is already on screen: keep that one.
          if (!board.querySelector('.kcard[data-ticket-id="' + card.dataset.ticketId + '"]')) {
            list.appendChild(card);
            col.dataset.hidden = Math.max(0, (parseInt(col.dataset.hidden, 10) || 0) - 1);
          }
        });
        if (page.next_cursor) {
          var url = new URL(more.dataset.moreUrl, window.location.href);
          url.searchParams.set("after", page.next_cursor);
          more.dataset.moreUrl = url.pathname + url.search;
          more.disabled = false;
        } else {
          more.remove();
        }
        updateCounts();
      }, function () { more.disabled = false; });
  }, true);

  function placeCard(html, stageId) {
    var tmp = document.createElement("div");
    tmp.innerHTML = html.trim();
    var fresh = tmp.firstElementChild;
    var old = board.querySelector('.kcard[data-ticket-id="' + fresh.dataset.ticketId + '"]');
    var target = column(stageId || fresh.dataset.stageId);
    if (old && old.parentElement === target) { old.replaceWith(fresh); }
    else {
      if (old) { old.remove(); }
      if (target) { target.prepend(fresh); }
    }
    updateCounts();
    return fresh;
  }

  function undo() {
    if (!pending) { return; }
    var ref = pending.from.children[pending.fromIndex] || null;
    pending.from.insertBefore(pending.card, ref);
    pending = null;
    updateCounts();
  }

  function showError(el, message) { el.textContent = message; el.hidden = !message; }

  function applyResult(result, errorEl) {
    if (result.ok) {
      placeCard(result.json.card_html, result.json.ticket.stage_id);
      pending = null;
      return true;
    }
    var err = (result.json && result.json.error) || {};
    if (result.status === 409 && result.json.card_html) {
      // Someone else changed it: show their version, never overwrite it.
      pending = null;
      placeCard(result.json.card_html, result.json.ticket.stage_id);
    }
    if (errorEl) { showError(errorEl, err.message || "Erro"); }
    else { window.alert(err.message || "Erro"); }
    return false;
  }

  // "Venda de R$ 1.234,56 registrada. Desfazer": undo cancels that very sale (admins only).
  function announceSale(json) {
    if (!json || !json.sale || !window.WhaTrack) { return; }
    var cancelUrl = board.dataset.cancelUrl;
    var options = {};
    if (cancelUrl) {
      options.linkText = board.dataset.undoLabel;
      options.onLink = function (toastEl) {
        toastEl.remove();
        post(urlFor(cancelUrl, json.sale.id), { reason: board.dataset.undoReason }).then(function (r) {
          if (r.ok) {
            placeCard(r.json.card_html, r.json.ticket.stage_id);
            window.WhaTrack.toast(r.json.message);
          } else {
            window.WhaTrack.toast(((r.json && r.json.error) || {}).message || "Erro");
          }
        });
      };
    }
    window.WhaTrack.toast(json.sale.message, options);
  }

  function move(card, stageId, extra) {
    var data = Object.assign({ stage_id: stageId, version: card.dataset.version }, extra || {});
    return post(urlFor(board.dataset.moveUrl, card.dataset.ticketId), data);
  }

  function onDrop(evt) {
    var card = evt.item;
    var toCol = evt.to.closest(".kcol");
    if (evt.from === evt.to) { return; }
    pending = { card: card, from: evt.from, fromIndex: evt.oldIndex, to: evt.to };
    var kind = toCol.dataset.stageKind;
    if (kind === "won") { openSaleDialog(card); return; }
    if (kind === "lost") { lostDialog.showModal(); return; }
    move(card, toCol.dataset.stageId).then(function (r) { if (!applyResult(r)) { undo(); } });
  }

  function openSaleDialog(card) {
    showError(document.getElementById("sale-error"), "");
    document.getElementById("sale-form").reset();
    var name = card.querySelector(".kcard-name");
    document.getElementById("sale-dialog-contact").textContent = name ? name.textContent : "";
    saleDialog.showModal();
    document.getElementById("sale-value").focus();
  }

  document.getElementById("sale-form").addEventListener("submit", function (evt) {
    evt.preventDefault();
    if (!pending) { saleDialog.close(); return; }
    var form = evt.target;
    var card = pending.card;
    post(urlFor(board.dataset.saleUrl, card.dataset.ticketId), {
      value: form.value.value, currency: form.currency.value,
      description: form.description.value, version: card.dataset.version, origin: "kanban"
    }).then(function (r) {
      if (applyResult(r, document.getElementById("sale-error"))) { saleDialog.close(); announceSale(r.json); }
      else if (r.status === 409) { saleDialog.close(); }
    });
  });

  document.getElementById("lost-form").addEventListener("submit", function (evt) {
    evt.preventDefault();
    if (!pending) { lostDialog.close(); return; }
    var form = evt.target;
    var stageId = pending.to.dataset.stageId;
    move(pending.card, stageId, { lost_reason: form.lost_reason.value, lost_note: form.lost_note.value })
      .then(function (r) {
        if (applyResult(r, document.getElementById("lost-error"))) { lostDialog.close(); form.reset(); }
        else if (r.status === 409) { lostDialog.close(); }
      });
  });

  [saleDialog, lostDialog].forEach(function (dialog) {
    dialog.addEventListener("close", function () { if (pending) { undo(); } });
    dialog.querySelectorAll("[data-close-dialog]").forEach(function (btn) {
      btn.addEventListener("click", function () { dialog.close(); });
    });
  });

  // --- drawer (ticket panel, panel.js: forms, stage selector, live refresh) ----------
  var panel = window.WhaTrackPanel.mount(drawer, {
    url: board.dataset.panelUrl, csrf: csrf,
    onChange: function (json) {
      if (json.card_html) { placeCard(json.card_html, json.ticket.stage_id); }
      announceSale(json);
    },
    onClose: function () { drawer.hidden = true; }
  });

  function openPanel(ticketId) {
    // ?read=1 only on the first open: the panel's live refreshes must not mark it read.
    panel.load(ticketId, "&read=1").then(function () {
      drawer.hidden = false;
      // Opening marks it read on the server (read=1): the card drops its badge at once.
      var card = board.querySelector('.kcard[data-ticket-id="' + ticketId + '"]');
      if (card) {
        card.classList.remove("has-unread");
        var badge = card.querySelector(".kcard-unread");
        if (badge) { badge.remove(); }
      }
    });
  }

  // A click anywhere on a card opens its panel (Enter too: cards are focusable).
  board.addEventListener("click", function (evt) {
    var card = evt.target.closest(".kcard");
    if (!card || evt.ctrlKey || evt.metaKey || evt.shiftKey) { return; }
    evt.preventDefault();
    openPanel(card.dataset.ticketId);
  });
  board.addEventListener("keydown", function (evt) {
    var card = evt.target.closest(".kcard");
    if (card && evt.key === "Enter" && evt.target === card) { openPanel(card.dataset.ticketId); }
  });

  // --- live updates -----------------------------------------------------------------
  function refreshCard(ticketId) {
    fetch(urlFor(board.dataset.cardUrl, ticketId), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html) { placeCard(html); } });
  }

  document.addEventListener("whatrack:event", function (evt) {
    var frame = evt.detail || {};
    var data = frame.data || {};
    if (!data.ticket_id) { return; }
    if (["ticket.updated", "sale.approved", "message.created", "ticket.read", "sale.proposed"].indexOf(frame.type) >= 0) {
      var current = board.querySelector('.kcard[data-ticket-id="' + data.ticket_id + '"]');
      if (current && data.version && String(data.version) === current.dataset.version) { return; }
      refreshCard(data.ticket_id);
    }
  });
  document.addEventListener("whatrack:resync", function () { window.location.reload(); });

  function init() {
    if (!window.Sortable) { return; }
    board.querySelectorAll(".kcol-cards").forEach(function (list) {
      window.Sortable.create(list, {
        group: "kanban", animation: 150, delay: 120, delayOnTouchOnly: true,
        ghostClass: "kcard-ghost", onEnd: onDrop
      });
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); }
  else { init(); }
})();
