// The dashboard's only script. htmx does the rest (swaps, websocket, reconnects).
// 1. Acknowledge every frame, so the server never sends a slow browser more than a few.
// 2. Keep the event log bounded: newest rows come first, the oldest fall off.
(function () {
  var LOG_ROWS = 200;
  document.addEventListener("htmx:wsAfterMessage", function (evt) {
    evt.detail.socketWrapper.send('{"ack": 1}');
    var log = document.getElementById("event-log");
    while (log && log.children.length > LOG_ROWS) log.lastElementChild.remove();
  });
})();
