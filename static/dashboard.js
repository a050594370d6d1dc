// The dashboard's only script. htmx does the rest (swaps, websocket, reconnects).
// 1. Acknowledge every frame, so the server never sends a slow browser more than a few.
// 2. Keep the event log bounded: newest rows come first, the oldest fall off.
// 3. Tick uptimes locally, so the server resends a row only when something in it changed.
// 4. Reconnect when the server asks (4011 the node stopped, 4013 try again later): daphne
//    lets it send only 4000-codes, and htmx reconnects by itself only after the 1000-ones.
//    4012: the socket's session is gone; if the browser is still logged in (a password change
//    gives it a new session) reconnect, else say "logged out".
(function () {
  var LOG_ROWS = 200;
  var RECONNECT = [4011, 4013];
  var SESSION_CHANGED = 4012;
  var retries = 0;  // reset by a full frame, not by an open: a node-down socket opens, then closes
  var skew = 0;  // the server's clock minus ours: uptimes are differences of server times
  function readClock() {
    var status = document.getElementById("node-status");
    if (status && status.dataset.now) skew = parseFloat(status.dataset.now) - Date.now() / 1000;
  }
  document.addEventListener("DOMContentLoaded", readClock);
  document.addEventListener("htmx:wsAfterMessage", function (evt) {
    evt.detail.socketWrapper.send('{"ack": 1}');
    if (evt.detail.message.indexOf('id="tree"') >= 0) retries = 0;  // a full frame: the socket works
    readClock();
    var log = document.getElementById("event-log");
    while (log && log.children.length > LOG_ROWS) log.lastElementChild.remove();
  });
  function reconnectLater(wrapper) {
    var delay = Math.random() * 1000 * Math.pow(2, Math.min(retries, 5));  // full jitter, up to 32 s
    retries += 1;
    setTimeout(function () { wrapper.reconnect(); }, delay);
  }
  function say(text) {
    var status = document.getElementById("node-status");
    if (!status) return;
    var b = document.createElement("b");
    b.className = "bad";
    b.textContent = text;
    status.replaceChildren(b);
  }
  document.addEventListener("htmx:wsClose", function (evt) {
    var code = evt.detail.event.code, wrapper = evt.detail.socketWrapper;
    if (RECONNECT.indexOf(code) >= 0) {
      reconnectLater(wrapper);
    } else if (code === SESSION_CHANGED) {
      fetch("/api/tree?page=1", {credentials: "same-origin"}).then(function (r) {
        if (r.status === 401 || r.status === 403) say("logged out: reload the page");
        else reconnectLater(wrapper);
      }, function () { reconnectLater(wrapper); });
    }
  });
  function duration(s) {  // as the server's `duration` filter: 42s, 3m 7s, 2h 5m, 1d 3h
    s = Math.max(0, Math.floor(s));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
    return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
  }
  setInterval(function () {
    var now = Date.now() / 1000 + skew;
    document.querySelectorAll("[data-started]").forEach(function (el) {
      el.textContent = duration(now - parseFloat(el.dataset.started));
    });
  }, 1000);
})();
