/* coi-archive web UI: small progressive enhancements.  Every page works
   without this file; it adds
   - instant filtering of lists (chat list, contacts) while typing,
   - endless scrolling in the chat view (older/newer pages are fetched as
     HTML fragments from the same server and inserted),
   - opening a chat at its newest message, or centred on a search hit,
   - every <time> in the reader's own zone (the page is rendered in UTC and
     says so), day separators regrouped by the reader's days, and the zone
     sent with every search (so that date: means the reader's days),
   - moving through a chat's messages with the keyboard (j/k, arrows).
   No inline script anywhere (the Content-Security-Policy forbids it). */
(function () {
  "use strict";

  var ZONE = (function () {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return ""; }
  })();

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function fmtClock(d) { return pad(d.getHours()) + ":" + pad(d.getMinutes()); }
  function fmtDate(d) { return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()); }
  function fmtDay(d) {
    return d.toLocaleDateString(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
  }
  function parseTime(t) {
    var d = new Date(t.getAttribute("datetime") || "");
    return isNaN(d.getTime()) ? null : d;
  }

  function localizeTimes(root) {
    root.querySelectorAll("time[data-style]").forEach(function (t) {
      var d = parseTime(t);
      if (!d) return;
      var style = t.getAttribute("data-style");
      t.textContent = style === "time" ? fmtClock(d) : style === "day" ? fmtDay(d) : fmtDate(d) + " " + fmtClock(d);
      t.title = fmtDate(d) + " " + fmtClock(d) + (ZONE ? " (" + ZONE + ")" : "");
      t.setAttribute("data-local", "1");
    });
  }

  function ownTime(el) {
    return el.querySelector(el.classList.contains("sys") ? ":scope > span > time" : ":scope > .bubble > .meta > time");
  }

  // the server grouped messages by UTC days; group them by the reader's days
  function regroupDays(chat) {
    var last = null;
    Array.prototype.slice.call(chat.children).forEach(function (el) {
      if (el.classList.contains("day")) {
        if (el.querySelector("time")) el.remove(); else last = "undated";
        return;
      }
      if (!el.classList.contains("msg") && !el.classList.contains("sys")) return;
      var t = ownTime(el), d = t && parseTime(t);
      if (!d) return;
      var key = fmtDate(d);
      if (key === last) return;
      last = key;
      var sep = document.createElement("div");
      sep.className = "day";
      sep.setAttribute("role", "separator");
      var span = document.createElement("span");
      var time = document.createElement("time");
      time.setAttribute("datetime", t.getAttribute("datetime"));
      time.setAttribute("data-style", "day");
      time.textContent = fmtDay(d);
      span.appendChild(time);
      sep.appendChild(span);
      chat.insertBefore(sep, el);
    });
  }

  function announceZone() {
    document.querySelectorAll("[data-zone-name]").forEach(function (el) { el.textContent = ZONE || "UTC"; });
    if (!ZONE) return;
    document.querySelectorAll("form[data-zone]").forEach(function (form) {
      var input = form.querySelector("input[name=tz]");
      if (!input) {
        input = document.createElement("input");
        input.type = "hidden";
        input.name = "tz";
        form.appendChild(input);
      }
      input.value = ZONE;
    });
    // links the server made without the zone (facets, more results) carry it too
    document.querySelectorAll("a[data-zone-link]").forEach(function (a) {
      var url = new URL(a.href, location.href);
      if (!url.searchParams.get("tz")) { url.searchParams.set("tz", ZONE); a.href = url.pathname + url.search + url.hash; }
    });
  }

  // sticky day separators sit just below the chat's own sticky header, however tall it wraps
  function stickyOffset() {
    var head = document.querySelector(".chat-head");
    if (!head) return;
    var set = function () { document.documentElement.style.setProperty("--chat-head", head.offsetHeight + "px"); };
    set();
    window.addEventListener("resize", set);
  }

  // j / k / arrow keys move between messages once one has focus
  function keyboard(chat) {
    chat.addEventListener("keydown", function (e) {
      var el = e.target;
      if (!el.matches || !el.matches(".msg, .sys") || e.altKey || e.ctrlKey || e.metaKey) return;
      var step = { j: 1, ArrowDown: 1, k: -1, ArrowUp: -1 }[e.key];
      if (!step) return;
      var all = Array.prototype.slice.call(chat.querySelectorAll(".msg, .sys"));
      var next = all[all.indexOf(el) + step];
      if (next) { e.preventDefault(); next.focus(); }
    });
  }

  // a media player shows its length once the browser has read it
  function durations(root) {
    root.querySelectorAll("audio[data-duration-for], video[data-duration-for]").forEach(function (m) {
      m.addEventListener("loadedmetadata", function () {
        var out = document.getElementById(m.getAttribute("data-duration-for"));
        if (!out || !isFinite(m.duration)) return;
        var s = Math.round(m.duration), h = Math.floor(s / 3600), mm = Math.floor(s % 3600 / 60);
        out.textContent = (h ? h + ":" + pad(mm) : mm) + ":" + pad(s % 60);
      });
    });
  }

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
        section.hidden = !any || (section.hasAttribute("data-while-typing") && !needle);
      });
      var total = document.querySelector("[data-filter-count]");
      if (total) total.textContent = needle ? shown + " match" + (shown === 1 ? "" : "es") : "";
      if (empty) empty.hidden = shown !== 0;
    });
  }

  // contacts whose name holds the typed text, asked from the server (the
  // landing page does not carry every contact of a large archive)
  function nameSearch(input) {
    var section = document.querySelector("section[data-names]");
    if (!section) return;
    var list = section.querySelector("ul");
    var empty = document.querySelector(".filtered-empty");
    var timer = null, asked = "";
    function el(tag, cls, text) {
      var e = document.createElement(tag);
      if (cls) e.className = cls;
      if (text) e.textContent = text;
      return e;
    }
    function show(data, q) {
      if (!data || asked !== q) return;
      list.textContent = "";
      data.contacts.forEach(function (c) {
        var li = el("li", "chat-row contact-row"), a = el("a");
        a.href = c.url;
        var avatar = el("span", "avatar h" + c.hue, c.initial);
        avatar.setAttribute("aria-hidden", "true");
        var main = el("span", "row-main");
        main.appendChild(el("span", "chat-name", c.name));
        if (c.name !== c.address) main.appendChild(el("span", "row-people", c.address));
        a.appendChild(avatar);
        a.appendChild(main);
        li.appendChild(a);
        list.appendChild(li);
      });
      section.hidden = !data.contacts.length;
      if (data.contacts.length && empty) empty.hidden = true;
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var q = input.value.trim();
        asked = q;
        if (!q) { section.hidden = true; list.textContent = ""; return; }
        fetch(section.getAttribute("data-names") + "?q=" + encodeURIComponent(q), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (data) { show(data, q); })
          .catch(function () { /* Enter still searches everything */ });
      }, 120);
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
            localizeTimes(chat);
            regroupDays(chat);
            window.scrollTo(0, y + (root.scrollHeight - before));
          } else {
            nodes.forEach(function (n) { chat.appendChild(document.adoptNode(n)); });
            localizeTimes(chat);
            regroupDays(chat);
          }
          durations(chat);
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
      // a link to this very message (first unread, a reply, a search hit) lands on it for the keyboard too
      if (location.hash === "#" + hit.id && document.activeElement !== hit) hit.focus({ preventScroll: true });
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
    announceZone();
    localizeTimes(document);
    durations(document);
    document.querySelectorAll("input[data-filter]").forEach(function (input) {
      instantFilter(input);
      nameSearch(input);
    });
    var chat = document.getElementById("chat");
    if (chat) {
      regroupDays(chat);
      stickyOffset();
      keyboard(chat);
      pager(chat);
      initialScroll();
    }
  });
})();
