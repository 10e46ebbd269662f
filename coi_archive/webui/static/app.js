/* coi-archive web UI: small progressive enhancements.  Every page works
   without this file; it adds
   - instant filtering of lists (chat list, contacts) while typing,
   - endless scrolling in the chat view (older/newer pages are fetched as
     HTML fragments from the same server and inserted),
   - opening a chat at its newest message, or centred on a search hit.
   No inline script anywhere (the Content-Security-Policy forbids it). */
(function () {
  "use strict";

  function instantFilter(input) {
    var selector = input.getAttribute("data-filter");
    var rows = Array.prototype.slice.call(document.querySelectorAll(selector));
    var empty = document.querySelector(".filtered-empty");
    input.addEventListener("input", function () {
      var needle = input.value.trim().toLowerCase();
      var shown = 0;
      rows.forEach(function (row) {
        var hay = (row.getAttribute("data-haystack") || "").toLowerCase();
        var ok = !needle || hay.indexOf(needle) !== -1;
        row.hidden = !ok;
        if (ok) shown++;
      });
      document.querySelectorAll("section").forEach(function (section) {
        var inSection = section.querySelectorAll(selector);
        if (!inSection.length) return;
        var any = Array.prototype.some.call(inSection, function (r) { return !r.hidden; });
        section.hidden = !any;
      });
      if (empty) empty.hidden = shown !== 0;
    });
  }

  function pager(chat) {
    var loading = false;

    function load(link, older) {
      var url = link.getAttribute("data-fragment");
      if (!url || loading) return;
      loading = true;
      link.classList.add("loading");
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var frag = doc.querySelector(".page-fragment");
          if (!frag) return;
          var nodes = Array.prototype.slice.call(frag.childNodes);
          if (older) {
            var root = document.scrollingElement || document.documentElement;
            var before = root.scrollHeight, y = window.scrollY;
            var first = chat.firstChild;
            nodes.forEach(function (n) { chat.insertBefore(document.adoptNode(n), first); });
            window.scrollTo(0, y + (root.scrollHeight - before));
          } else {
            nodes.forEach(function (n) { chat.appendChild(document.adoptNode(n)); });
          }
          var range = document.querySelector(".head-sub .range");
          if (range) {
            var m = /(\d+)\D+(\d+)/.exec(range.textContent);
            if (m) {
              var first = older ? frag.getAttribute("data-first") : m[1];
              var last = older ? m[2] : frag.getAttribute("data-last");
              range.textContent = "showing " + first + "\u2013" + last;
            }
          }
          var next = frag.getAttribute(older ? "data-older" : "data-newer");
          if (next) {
            link.setAttribute("data-fragment", next);
          } else {
            var done = document.createElement("span");
            done.className = "muted";
            done.textContent = older ? "Beginning of the chat" : "End of the chat";
            link.parentNode.replaceChild(done, link);
            var jump = done.parentNode.querySelector(".jump");
            if (jump) jump.remove();
          }
        })
        .catch(function () { link.setAttribute("data-failed", "1"); /* the plain link still works */ })
        .then(function () {
          loading = false;
          link.classList.remove("loading");
          chat.dispatchEvent(new CustomEvent("coi:loaded"));
        });
    }

    function near(link) {
      if (!link.isConnected) return false;
      var r = link.getBoundingClientRect();
      return r.bottom > -400 && r.top < window.innerHeight + 400;
    }
    function maybeLoad() {
      if (document.body.getAttribute("data-ready") !== "1") return;
      document.querySelectorAll(".load-older, .load-newer").forEach(function (a) {
        if (!a.getAttribute("data-failed") && near(a)) load(a, a.classList.contains("load-older"));
      });
    }
    chat.addEventListener("coi:loaded", function () { setTimeout(maybeLoad, 50); });
    document.addEventListener("coi:ready", maybeLoad);
    if ("IntersectionObserver" in window) {
      var observer = new IntersectionObserver(maybeLoad, { rootMargin: "400px 0px" });
      document.querySelectorAll(".load-older, .load-newer").forEach(function (a) { observer.observe(a); });
    } else {
      window.addEventListener("scroll", maybeLoad, { passive: true });
    }
  }

  function position() {
    var hit = document.querySelector(".chat .hit");
    if (hit) {
      hit.scrollIntoView({ block: "center" });
    } else if (!location.hash && document.getElementById("end") && !/[?&]offset=/.test(location.search)) {
      window.scrollTo(0, (document.scrollingElement || document.documentElement).scrollHeight);
    }
  }

  function initialScroll() {
    position();
    // the browser may scroll to the #fragment after this; position again once loaded
    window.addEventListener("load", function () {
      if (document.body.getAttribute("data-ready") !== "1" || document.querySelector(".chat .hit")) position();
    });
    // let the observer load more pages only after the first positioning
    setTimeout(function () {
      document.body.setAttribute("data-ready", "1");
      document.dispatchEvent(new CustomEvent("coi:ready"));
    }, 300);
  }

  // an "image" the server will not show inline (its bytes are not an image):
  // replace the broken picture by its file name
  document.addEventListener("error", function (e) {
    var img = e.target;
    if (!img || img.tagName !== "IMG" || !img.closest(".thumb")) return;
    var note = document.createElement("span");
    note.className = "file-name broken-image";
    note.textContent = "\uD83D\uDDBC " + (img.getAttribute("alt") || "image") + " (cannot be shown)";
    img.replaceWith(note);
  }, true);

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-filter]").forEach(instantFilter);
    var chat = document.getElementById("chat");
    if (chat) {
      pager(chat);
      initialScroll();
    }
  });
})();
