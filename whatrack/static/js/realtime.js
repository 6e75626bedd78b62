/* The organization's live feed. One websocket per page, reconnecting with backoff and jitter.
   Every frame is re-dispatched as a "whatrack:event" DOM event; after a reconnect a
   "whatrack:resync" event tells views to fetch what they missed (pub/sub is at most once).

   Heartbeats both ways: the server pings the socket (SOCK_SERVER_OPTIONS) and the page sends
   "ping" every 20 s; a socket that brought nothing, not even the "pong", for 45 s is dead
   (a laptop that slept, a proxy that dropped it silently) and is replaced.
   <html data-realtime="connected|disconnected"> lets the page show "reconectando…".
   window.WhaTrackRealtime.disconnect()/connect(): the browser going offline and online. */
(function () {
  "use strict";
  var PING_MS = 20000;
  var SILENCE_MS = 45000;
  var attempt = 0;
  var socket = null;
  var pingTimer = null;
  var retryTimer = null;
  var lastFrame = 0;
  var wanted = true;
  var everConnected = false;

  function url() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.host + "/ws";
  }

  function emit(name, detail) {
    document.dispatchEvent(new CustomEvent(name, { detail: detail }));
  }

  function setState(value) { document.documentElement.dataset.realtime = value; }

  function scheduleRetry() {
    window.clearTimeout(retryTimer);
    if (!wanted) { return; }
    attempt += 1;
    // Exponential backoff with jitter, so a restarted server is not hit by every tab at once.
    var delay = Math.min(30000, 500 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
    retryTimer = window.setTimeout(open, delay);
  }

  function open() {
    window.clearTimeout(retryTimer);
    if (!wanted || (socket && socket.readyState <= WebSocket.OPEN)) { return; }
    var ws = new WebSocket(url());
    socket = ws;
    ws.addEventListener("open", function () {
      if (ws !== socket) { return; }
      lastFrame = Date.now();
      if (everConnected) { emit("whatrack:resync", {}); }
      everConnected = true;
      attempt = 0;
      setState("connected");
      window.clearInterval(pingTimer);
      pingTimer = window.setInterval(function () {
        if (ws.readyState !== WebSocket.OPEN) { return; }
        if (Date.now() - lastFrame > SILENCE_MS) { ws.close(); return; }
        ws.send("ping");
      }, PING_MS);
    });
    ws.addEventListener("message", function (message) {
      if (ws !== socket) { return; }
      lastFrame = Date.now();
      var frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      emit("whatrack:event", frame);
    });
    ws.addEventListener("close", function () {
      if (ws !== socket) { return; }
      socket = null;
      setState("disconnected");
      window.clearInterval(pingTimer);
      scheduleRetry();
    });
  }

  function disconnect() {
    wanted = false;
    window.clearTimeout(retryTimer);
    window.clearInterval(pingTimer);
    if (socket) { var ws = socket; socket = null; ws.close(); }
    setState("disconnected");
  }

  function connect() {
    wanted = true;
    attempt = 0;
    open();
  }

  if ("WebSocket" in window) {
    window.WhaTrackRealtime = { connect: connect, disconnect: disconnect };
    window.addEventListener("offline", disconnect);
    window.addEventListener("online", connect);
    open();
  }
})();
