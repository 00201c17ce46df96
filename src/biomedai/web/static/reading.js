// Live worklist: the server sends "worklist" events when a row changes; the table is fetched again
// (a server-rendered fragment) and swapped in, without reloading the page. No external scripts.
(function () {
  "use strict";
  var box = document.getElementById("rows");
  if (!box || !window.EventSource) { return; }
  var query = box.getAttribute("data-query") || "";
  var seen = null;
  function refresh() {
    fetch("/reading/rows" + query, {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html !== null) {
          box.innerHTML = html;
          box.setAttribute("data-updated", String(Date.now()));
        }
      });
  }
  var events = new EventSource("/api/reading/events");
  events.addEventListener("worklist", function (event) {
    if (seen !== null && event.data !== seen) { refresh(); }
    seen = event.data;
  });
}());
