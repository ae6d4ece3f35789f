// Live updates without inline script: poll a cheap JSON endpoint once a second and,
// when its answer changes, fetch this page again and swap the [data-live] sections.
(function () {
  "use strict";
  var body = document.body;
  var liveUrl = body.getAttribute("data-live-url");
  if (!liveUrl) { return; }
  var last = null;
  var busy = false;

  function openDetails(root) {
    var open = {};
    root.querySelectorAll("details[id]").forEach(function (d) { if (d.open) { open[d.id] = true; } });
    return open;
  }

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    var open = openDetails(document);
    document.querySelectorAll("[data-live]").forEach(function (old) {
      var name = old.getAttribute("data-live");
      var next = fresh.querySelector('[data-live="' + CSS.escape(name) + '"]');
      if (next) { old.replaceWith(document.importNode(next, true)); }
    });
    document.querySelectorAll("details[id]").forEach(function (d) { if (open[d.id]) { d.open = true; } });
    body.setAttribute("data-refreshed", String(Date.now()));
  }

  function reload() {
    return fetch(window.location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html) { swap(html); } });
  }

  function tick() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(liveUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (text === null) { return null; }
        // The first answer reloads too: a change between the render and this poll
        // (a short bulk job ending) would otherwise never show.
        var changed = text !== last;
        last = text;
        return changed ? reload() : null;
      })
      .catch(function () { /* the next tick tries again */ })
      .then(function () { busy = false; });
  }

  // A query error: put the cursor where reading stopped.
  var problem = document.getElementById("query-error");
  var box = document.getElementById("q");
  if (problem && box && problem.getAttribute("data-position") !== "") {
    var at = parseInt(problem.getAttribute("data-position"), 10);
    box.focus();
    box.setSelectionRange(at, at + 1);
  }

  tick();
  window.setInterval(tick, 1000);
})();
