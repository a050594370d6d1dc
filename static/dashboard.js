// The dashboard's only script. htmx does the rest (swaps, websocket, reconnects).
// 1. Acknowledge every frame, so the server never sends a slow browser more than a few.
// 2. Keep the event log bounded: newest rows come first, the oldest fall off.
// 3. Tick uptimes locally, so the server resends a row only when something in it changed.
// 4. Reconnect when the server asks (4011 the node stopped, 4013 try again later): daphne
//    lets it send only 4000-codes, and htmx reconnects by itself only after the 1000-ones.
(function () {
  var LOG_ROWS = 200;
  var skew = 0;  // the server's clock minus ours: uptimes are differences of server times
  function readClock() {
    var status = document.getElementById("node-status");
    if (status && status.dataset.now) skew = parseFloat(status.dataset.now) - Date.now() / 1000;
  }
  document.addEventListener("DOMContentLoaded", readClock);
  document.addEventListener("htmx:wsAfterMessage", function (evt) {
    evt.detail.socketWrapper.send('{"ack": 1}');
    readClock();
    var log = document.getElementById("event-log");
    while (log && log.children.length > LOG_ROWS) log.lastElementChild.remove();
  });
  var RECONNECT = [4011, 4013];
  var retries = 0;
  document.addEventListener("htmx:wsOpen", function () { retries = 0; });
  document.addEventListener("htmx:wsClose", function (evt) {
    if (RECONNECT.indexOf(evt.detail.event.code) < 0) return;
    var wrapper = evt.detail.socketWrapper;
    var delay = Math.random() * 1000 * Math.pow(2, Math.min(retries, 5));  // full jitter, up to 32 s
    retries += 1;
    setTimeout(function () { wrapper.reconnect(); }, delay);
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
