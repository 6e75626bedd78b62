/* The organization's live feed. One websocket per page, reconnecting with backoff.
   Every frame is re-dispatched as a "whatrack:event" DOM event; after a reconnect a
   "whatrack:resync" event tells views to refetch what they show (pub/sub is at most once). */
(function () {
  "use strict";
  var attempt = 0;
  var socket = null;
  var pingTimer = null;

  function url() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.host + "/ws";
  }

  function emit(name, detail) {
    document.dispatchEvent(new CustomEvent(name, { detail: detail }));
  }

  function connect() {
    socket = new WebSocket(url());
    socket.addEventListener("open", function () {
      if (attempt > 0) { emit("whatrack:resync", {}); }
      attempt = 0;
      document.documentElement.dataset.realtime = "connected";
      pingTimer = window.setInterval(function () {
        if (socket.readyState === WebSocket.OPEN) { socket.send("ping"); }
      }, 20000);
    });
    socket.addEventListener("message", function (message) {
      var frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      emit("whatrack:event", frame);
    });
    socket.addEventListener("close", function () {
      document.documentElement.dataset.realtime = "disconnected";
      window.clearInterval(pingTimer);
      attempt += 1;
      var delay = Math.min(30000, 500 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
      window.setTimeout(connect, delay);
    });
  }

  if ("WebSocket" in window) { connect(); }
})();
