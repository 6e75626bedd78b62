/* The board's layout helpers, apart from its behaviour (kanban.js):
   - collapsible columns (remembered per browser),
   - on wide screens, scroll buttons and edge shadows when columns go past the right edge,
   - on phones, one column at a time chosen with a select that shows each column's count. */
(function () {
  "use strict";
  var board = document.getElementById("kanban");
  if (!board) { return; }
  var wrap = board.parentElement;
  var switcher = document.querySelector("[data-column-switcher]");
  var phone = window.matchMedia("(max-width: 640px)");
  var STORE = "whatrack.collapsedColumns";

  function collapsedIds() {
    try { return JSON.parse(window.localStorage.getItem(STORE) || "[]"); } catch (e) { return []; }
  }

  function saveCollapsed() {
    var ids = Array.prototype.map.call(board.querySelectorAll(".kcol.is-collapsed"),
      function (col) { return col.dataset.stageId; });
    try { window.localStorage.setItem(STORE, JSON.stringify(ids)); } catch (e) { /* private mode */ }
  }

  function setCollapsed(col, collapsed) {
    col.classList.toggle("is-collapsed", collapsed);
    col.querySelector("[data-collapse-column]").setAttribute("aria-expanded", collapsed ? "false" : "true");
  }

  collapsedIds().forEach(function (id) {
    var col = board.querySelector('.kcol[data-stage-id="' + id + '"]');
    if (col) { setCollapsed(col, true); }
  });

  board.addEventListener("click", function (evt) {
    var toggle = evt.target.closest("[data-collapse-column]");
    if (!toggle) { return; }
    evt.stopPropagation();
    var col = toggle.closest(".kcol");
    setCollapsed(col, !col.classList.contains("is-collapsed"));
    saveCollapsed();
    updateScroll();
  });

  // A collapsed column still takes a dropped card; it opens when a drag hovers it.
  board.addEventListener("dragenter", function (evt) {
    var col = evt.target.closest && evt.target.closest(".kcol.is-collapsed");
    if (col) { setCollapsed(col, false); }
  });

  /* Horizontal scroll affordance. */
  var prev = wrap.querySelector('[data-board-scroll="-1"]');
  var next = wrap.querySelector('[data-board-scroll="1"]');

  function updateScroll() {
    var max = board.scrollWidth - board.clientWidth;
    var left = board.scrollLeft > 2;
    var right = max - board.scrollLeft > 2;
    wrap.classList.toggle("can-scroll-left", left && !phone.matches);
    wrap.classList.toggle("can-scroll-right", right && !phone.matches);
    if (prev) { prev.hidden = !left || phone.matches; }
    if (next) { next.hidden = !right || phone.matches; }
  }

  wrap.addEventListener("click", function (evt) {
    var button = evt.target.closest("[data-board-scroll]");
    if (!button) { return; }
    board.scrollBy({ left: Number(button.dataset.boardScroll) * board.clientWidth * 0.8, behavior: "smooth" });
  });
  board.addEventListener("scroll", updateScroll, { passive: true });
  window.addEventListener("resize", updateScroll);

  /* Phone: one column at a time. */
  function showColumn(stageId) {
    board.querySelectorAll(".kcol").forEach(function (col) {
      col.classList.toggle("is-current", col.dataset.stageId === String(stageId));
    });
  }

  function refreshCounts() {
    if (!switcher) { return; }
    Array.prototype.forEach.call(switcher.options, function (option) {
      var col = board.querySelector('.kcol[data-stage-id="' + option.value + '"]');
      var count = col ? col.querySelectorAll(".kcard").length : 0;
      option.textContent = option.dataset.name + " (" + count + ")";
    });
  }

  if (switcher) {
    switcher.addEventListener("change", function () { showColumn(switcher.value); });
    showColumn(switcher.value);
  }
  phone.addEventListener("change", updateScroll);

  // Cards come and go (drag, realtime, filters): keep the counts in the switcher true.
  new MutationObserver(refreshCounts).observe(board, { childList: true, subtree: true });
  refreshCounts();
  updateScroll();
})();
