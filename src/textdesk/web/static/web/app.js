/* TextDesk web app: live events, the conversation pane, keyboard, the segment counter. Uses htmx. */
(function () {
  "use strict";

  // ---- SMS segments (GSM 03.38 basic + extension tables; otherwise UCS-2) ----
  var GSM_BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var GSM_EXTENDED = "^{}\\[~]|€\f";

  // Mirrors textdesk.domain.segments: parts are cut greedily and never split an extension
  // character (two septets) or a surrogate pair, so a part may end one unit short.
  function countSegments(text) {
    var chars = Array.from(text), forcing = [];
    chars.forEach(function (c) {
      if (GSM_BASIC.indexOf(c) < 0 && GSM_EXTENDED.indexOf(c) < 0 && forcing.indexOf(c) < 0) forcing.push(c);
    });
    var ucs2 = forcing.length > 0;
    var single = ucs2 ? 70 : 160, multi = ucs2 ? 67 : 153;
    var costs = chars.map(function (c) {
      return ucs2 ? (c.codePointAt(0) > 0xFFFF ? 2 : 1) : (GSM_EXTENDED.indexOf(c) >= 0 ? 2 : 1);
    });
    var units = costs.reduce(function (a, b) { return a + b; }, 0);
    var segments = 0;
    if (units > 0 && units <= single) segments = 1;
    else if (units > single) {
      var used = 0; segments = 1;
      costs.forEach(function (cost) { if (used + cost > multi) { segments += 1; used = 0; } used += cost; });
    }
    return { encoding: ucs2 ? "UCS-2" : "GSM-7", units: units, chars: chars.length, segments: segments,
             offending: forcing.length ? forcing[0] : null, forcing: forcing };
  }
  window.TextDeskSegments = countSegments;

  function updateCounter(textarea) {
    var box = textarea.closest("form");
    if (!box) return;
    var counter = box.querySelector("[data-counter]");
    var warn = box.querySelector("[data-ucs2]");
    var r = countSegments(textarea.value);
    if (counter) {
      counter.textContent = document.body.dataset.i18nCount.replace("%c", r.chars).replace("%s", r.segments);
      counter.dataset.segments = r.segments;
      counter.dataset.encoding = r.encoding;
    }
    if (warn) {
      if (r.offending) {
        var named = r.forcing.slice(0, 3).map(function (c) {
          return c + " (U+" + c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0") + ")";
        }).join(", ");
        warn.textContent = document.body.dataset.i18nUcs2.replace("%s", named);
        warn.hidden = false;
      } else { warn.hidden = true; warn.textContent = ""; }
    }
  }

  // ---- the pane ----
  var pane = function () { return document.getElementById("pane"); };
  var lastFocus = null;

  function openPane(url) {
    lastFocus = document.activeElement;
    htmx.ajax("GET", url, { target: "#pane", swap: "innerHTML" });
  }

  function closePane() {
    var p = pane();
    if (!p || p.hidden) return;
    p.hidden = true;
    p.innerHTML = "";
    document.body.classList.remove("pane-open");
    if (lastFocus && document.contains(lastFocus)) lastFocus.focus();
  }

  // The newest message shows above the composer. On short screens the history is not a scroller of its own
  // (the whole pane scrolls, app.css) and the composer sticks to the pane's bottom: scrolling only the history
  // would leave the newest message under the composer, so the pane scrolls to its end too.
  function scrollHistory() {
    var h = document.getElementById("history");
    if (!h) return;
    h.scrollTop = h.scrollHeight;
    var p = pane();
    if (p && p.scrollHeight > p.clientHeight) p.scrollTop = p.scrollHeight;
  }

  // An opened "Why is this message here?" answer is brought into view, above the composer that sticks to the
  // pane's bottom (on a short screen the answer of the last message would open underneath it).
  document.addEventListener("toggle", function (e) {
    var d = e.target;
    if (!d || !d.classList || !d.classList.contains("why") || !d.open) return;
    var answer = d.querySelector("p") || d;
    answer.scrollIntoView({ block: "nearest" });
    var composer = document.querySelector("#pane .composer");
    if (!composer) return;
    var covered = answer.getBoundingClientRect().bottom - composer.getBoundingClientRect().top + 8;
    var scrollers = [pane(), document.getElementById("history")];
    for (var i = 0; i < scrollers.length && covered > 0; i++) {
      var s = scrollers[i];
      if (!s) continue;
      var before = s.scrollTop;
      s.scrollTop = before + covered;
      covered -= s.scrollTop - before;
    }
  }, true);  // toggle does not bubble: listened for on its way down

  // The open pane refreshes its messages live. A message that arrives while the page is on screen has been
  // seen (seen=1: not counted as unread); in a hidden tab it stays unread. The answer also carries the
  // opt-out banner, so a STOP shows at once.
  function refreshHistory() {
    var h = document.getElementById("history");
    if (!h || !h.dataset.historyUrl) return;
    var seen = document.visibilityState === "visible" ? "1" : "0";
    var url = h.dataset.historyUrl + (h.dataset.historyUrl.indexOf("?") < 0 ? "?" : "&") + "seen=" + seen;
    htmx.ajax("GET", url, { target: "#history", swap: "innerHTML" });
  }

  // Back on a tab whose open pane received messages while hidden: they are seen now.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "visible") return;
    var current = document.querySelector("#pane .thread.current .badge");
    if (current) refreshHistory();
  });

  function paneConversationId() {
    var inner = document.querySelector("#pane [data-pane]");
    return inner ? inner.dataset.conversationId : null;
  }

  // Another conversation changed: re-render the open pane (its list of conversations and unread
  // badges) unless the seller is writing, so a draft is never lost. Nor may it undo the seller's own step: it
  // is skipped while the seller's pane request is on its way, and its answer is dropped (htmx:beforeSwap below)
  // if the seller changed the pane (sender, recipient, conversation) meanwhile.
  var paneStep = 0;          // counts the seller's own pane requests
  var sellerPaneRequests = 0;  // of those, how many are still on their way
  function refreshIdlePane() {
    var inner = document.querySelector("#pane [data-pane]");
    if (!inner || !inner.dataset.paneUrl || sellerPaneRequests > 0) return;
    var body = inner.querySelector("[data-body]");
    if (body && (body.value || document.activeElement === body)) return;
    htmx.ajax("GET", inner.dataset.paneUrl, {
      target: "#pane", swap: "innerHTML", headers: { "X-TextDesk-Background": String(paneStep) },
    });
  }
  function backgroundStep(detail) {
    var headers = detail.requestConfig && detail.requestConfig.headers;
    return headers && headers["X-TextDesk-Background"] !== undefined ? headers["X-TextDesk-Background"] : null;
  }
  function targetsPane(detail) {
    var target = detail.target || (detail.requestConfig && detail.requestConfig.target);
    return target && target.id === "pane";
  }
  document.addEventListener("htmx:beforeRequest", function (e) {
    if (targetsPane(e.detail) && backgroundStep(e.detail) === null) { paneStep += 1; sellerPaneRequests += 1; }
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    if (targetsPane(e.detail) && backgroundStep(e.detail) === null) sellerPaneRequests = Math.max(0, sellerPaneRequests - 1);
  });

  var gridTimer = null;
  function refreshGrid() {
    var grid = document.getElementById("grid");
    if (!grid) return;
    clearTimeout(gridTimer);
    gridTimer = setTimeout(function () {
      htmx.ajax("GET", window.location.pathname + window.location.search, { target: "#grid", swap: "innerHTML" });
    }, 150);
  }

  document.addEventListener("htmx:afterSwap", function (e) {
    var target = e.detail.target;
    if (target && target.id === "pane") {
      target.hidden = false;
      document.body.classList.add("pane-open");
      scrollHistory();
      var body = target.querySelector("[data-body]");
      if (body) updateCounter(body);
      var title = target.querySelector("h2");
      var active = document.activeElement;
      var source = e.detail.requestConfig && e.detail.requestConfig.elt;
      if (backgroundStep(e.detail) !== null) {
        // a live update: leave the focus where the seller is
      } else if (source && source.matches && source.matches("[data-composer]") && body && !body.disabled) {
        body.focus();  // after sending (or a refusal), keep the seller in the composer
      } else if (!target.contains(active) && title) { title.tabIndex = -1; title.focus({ preventScroll: true }); }
    }
    if (target && target.id === "history") scrollHistory();
    if (target && target.classList.contains("move-results")) {
      var s = target.closest(".move-box").querySelector("[data-move-search]");
      if (s) s.setAttribute("aria-expanded", target.children.length ? "true" : "false");
    }
  });

  // While a message is being sent its button is disabled (hx-disabled-elt) and says so.
  document.addEventListener("htmx:beforeRequest", function (e) {
    var form = e.detail.elt;
    if (!form || !form.matches || !form.matches("[data-composer]")) return;
    var button = form.querySelector("[data-send]");
    if (button && form.dataset.sending) { button.dataset.label = button.textContent; button.textContent = form.dataset.sending; }
    form.setAttribute("aria-busy", "true");
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.detail.elt;
    if (!form || !form.matches || !form.matches("[data-composer]") || !document.contains(form)) return;
    var button = form.querySelector("[data-send]");
    if (button && button.dataset.label) button.textContent = button.dataset.label;
    form.removeAttribute("aria-busy");
  });

  // Refusals (422, 400, 403) carry a message to show in place, not an error page.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var status = e.detail.xhr.status;
    if (status === 422 || status === 400 || status === 403 || status === 503) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });
  // Registered after the handler above, so a stale live refresh stays unswapped whatever its status.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var step = backgroundStep(e.detail);
    if (step !== null && targetsPane(e.detail) && step !== String(paneStep)) e.detail.shouldSwap = false;
  });

  // ---- keyboard and clicks ----
  document.addEventListener("dblclick", function (e) {
    var row = e.target.closest("tr[data-open]");
    if (row && !e.target.closest("input, a, button")) { e.preventDefault(); openPane(row.dataset.open); }
  });

  document.addEventListener("keydown", function (e) {
    var row = e.target.closest && e.target.closest("tr[data-open]");
    if (row && e.target === row) {
      if (e.key === "Enter") { e.preventDefault(); openPane(row.dataset.open); return; }
      if (e.key === "ArrowDown" && row.nextElementSibling) { e.preventDefault(); row.nextElementSibling.focus(); return; }
      if (e.key === "ArrowUp" && row.previousElementSibling) { e.preventDefault(); row.previousElementSibling.focus(); return; }
    }
    if (e.key === "Escape") {
      var open = document.querySelector("details.menu[open]");
      if (open) { open.removeAttribute("open"); open.querySelector("summary").focus(); return; }
      closePane();
      return;
    }
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.target.matches("[data-composer] [data-body]")) {
      e.preventDefault();
      var form = e.target.closest("form");
      if (!form.querySelector("button[type=submit]").disabled) htmx.trigger(form, "submit");
    }
  });

  // On a phone a double tap zooms: there one tap on a conversation opens it.
  var narrow = window.matchMedia ? window.matchMedia("(max-width: 700px)") : null;

  document.addEventListener("click", function (e) {
    if (e.target.closest("[data-close-pane]")) { closePane(); return; }
    var tapped = narrow && narrow.matches && e.target.closest("tr[data-open]");
    if (tapped && !e.target.closest("input, a, button, label")) { openPane(tapped.dataset.open); return; }
    var note = e.target.closest("[data-open-pane]");
    if (note) { var d = note.closest("details"); if (d) d.removeAttribute("open"); lastFocus = document.querySelector("#bell summary"); }
    var moveOpen = e.target.closest("[data-move-open]");
    if (moveOpen) {
      var box = moveOpen.parentElement.querySelector(".move-box");
      box.hidden = !box.hidden;
      if (!box.hidden) box.querySelector("input[type=search]").focus();
    }
    var option = e.target.closest("[data-target-key]");
    if (option) {
      var form = option.closest("form");
      var err = form.querySelector(".move-error");
      if (!form.querySelector("input[name=conversation]:checked")) {
        var only = form.querySelectorAll("input[name=conversation]");
        if (only.length === 1) only[0].checked = true;
        else { err.textContent = form.dataset.selectFirst || "Select at least one conversation."; return; }
      }
      form.querySelector("input[name=target]").value = option.dataset.targetKey;
      htmx.trigger(form, "submit");
    }
    var insert = e.target.closest("[data-insert-placeholder]");
    if (insert) {
      var ta = document.querySelector("[data-template-body]");
      var name = document.querySelector("[data-placeholder-select]").value;
      if (ta && name) {
        var token = "{{" + name + "}}";
        var start = ta.selectionStart, end = ta.selectionEnd;
        ta.value = ta.value.slice(0, start) + token + ta.value.slice(end);
        ta.focus();
        ta.selectionStart = ta.selectionEnd = start + token.length;
        ta.dispatchEvent(new Event("input", { bubbles: true }));
      }
    }
  });

  document.addEventListener("submit", function (e) {
    var msg = e.target.dataset && e.target.dataset.confirm;
    if (msg && !window.confirm(msg)) e.preventDefault();
  });

  document.addEventListener("input", function (e) {
    if (e.target.matches("[data-body]")) updateCounter(e.target);
    if (e.target.matches("[data-template-body]")) syncPlaceholderRows(e.target);
  });

  document.addEventListener("change", function (e) {
    if (e.target.matches("[data-template-select]")) {
      var url = e.target.value;
      if (!url) return;
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          var ta = e.target.closest("form").querySelector("[data-body]");
          ta.value = data.body;
          updateCounter(ta);
          ta.focus();
        });
    }
    if (e.target.matches("[data-related]")) openPane(e.target.value);
  });

  // Template form: one options row per placeholder used in the body.
  function syncPlaceholderRows(ta) {
    var table = document.querySelector("[data-placeholder-rows] tbody");
    var tpl = document.querySelector("template[data-placeholder-row]");
    if (!table || !tpl) return;
    var used = [], re = /\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}/g, m;
    while ((m = re.exec(ta.value))) if (used.indexOf(m[1]) < 0) used.push(m[1]);
    used.forEach(function (name) {
      if (table.querySelector('tr[data-ph="' + name + '"]')) return;
      var row = tpl.content.firstElementChild.cloneNode(true);
      row.dataset.ph = name;
      row.querySelector("span").textContent = name;
      row.querySelector("input[name=ph_name]").value = name;
      table.appendChild(row);
    });
    Array.prototype.forEach.call(table.querySelectorAll("tr[data-ph]"), function (row) {
      row.hidden = used.indexOf(row.dataset.ph) < 0;
    });
  }

  // ---- live events (server-sent) ----
  // One connection per page, shared: other scripts (the sales accelerator's Up next) register their events
  // through window.tdLive instead of opening a stream of their own (browsers allow few per server).
  var liveSource = null;
  var liveHandlers = [];
  var liveStateListeners = [];

  function attachLive(name, fn) {
    liveSource.addEventListener(name, function (ev) { var data = {}; try { data = JSON.parse(ev.data); } catch (_) {} fn(data); });
  }

  function setLiveState(state) {
    document.body.dataset.liveState = state;
    liveStateListeners.forEach(function (fn) { fn(state); });
    if (state === "open") stopPolling(); else startPolling();
  }

  // While live events cannot arrive (the stream is reconnecting, or the server says it is "degraded" because its
  // message bus is unreachable, or the browser has no EventSource), the page refreshes what they would have
  // refreshed, every POLL_MS; a "td-live-poll" event on <body> lets other scripts refresh their parts too.
  var POLL_MS = 20000;
  var pollTimer = null;

  function pollOnce() {
    if (document.hidden) return;
    if (paneConversationId()) refreshHistory();
    refreshIdlePane();
    refreshGrid();
    var bell = document.getElementById("bell");
    if (bell && bell.open) htmx.trigger(document.body, "td-notifications");
    document.body.dispatchEvent(new CustomEvent("td-live-poll"));
  }

  function startPolling() {
    if (pollTimer === null) pollTimer = setInterval(pollOnce, POLL_MS);
  }

  function stopPolling() {
    if (pollTimer === null) return;
    clearInterval(pollTimer);
    pollTimer = null;
    pollOnce();  // catch up on what happened while events did not flow
  }

  window.tdLive = {
    on: function (name, fn) {
      liveHandlers.push([name, fn]);
      if (liveSource) attachLive(name, fn);
    },
    onState: function (fn) {
      liveStateListeners.push(fn);
      if (document.body && document.body.dataset.liveState) fn(document.body.dataset.liveState);
    },
  };

  function connectLive() {
    var url = document.body.dataset.live;
    if (!url) return;
    if (!window.EventSource) { setLiveState("polling"); return; }
    liveSource = new EventSource(url);
    liveHandlers.forEach(function (h) { attachLive(h[0], h[1]); });
    var on = window.tdLive.on;
    function onUnread(d) {
      var badge = document.getElementById("bell-count");
      if (badge && typeof d.unread === "number") {
        badge.textContent = d.unread > 99 ? "99+" : d.unread;  // counts stop at 100 (see messaging/unread.py)
        badge.dataset.count = d.unread;
        badge.hidden = d.unread === 0;
      }
      var bell = document.getElementById("bell");
      if (bell && bell.open) htmx.trigger(document.body, "td-notifications");
    }
    on("notification.new", onUnread);
    on("notification.read", onUnread);
    on("message.new", function (d) {
      if (String(d.conversation_id) === paneConversationId()) refreshHistory();
      else refreshIdlePane();
      refreshGrid();
    });
    on("message.status", function (d) {
      if (String(d.conversation_id) === paneConversationId()) refreshHistory();
      refreshGrid();
    });
    on("conversation.moved", function () {
      refreshIdlePane();
      refreshGrid();
    });
    on("live.state", function (d) { setLiveState(d.state === "ok" ? "open" : "degraded"); });
    liveSource.addEventListener("open", function () { setLiveState("open"); });
    liveSource.addEventListener("error", function () { setLiveState("reconnecting"); });
  }

  // ---- the top bar's height, which wraps on phones: the pane opens below it (app.css, --topbar-h) ----
  function trackTopbarHeight() {
    var bar = document.querySelector(".topbar");
    if (!bar) return;
    var set = function () { document.documentElement.style.setProperty("--topbar-h", bar.offsetHeight + "px"); };
    set();
    if ("ResizeObserver" in window) new ResizeObserver(set).observe(bar);
    else window.addEventListener("resize", set);
  }

  document.addEventListener("DOMContentLoaded", function () {
    trackTopbarHeight();
    connectLive();
    Array.prototype.forEach.call(document.querySelectorAll("[data-body]"), updateCounter);
  });
  // ---- a select that applies at once (the sign-in page's language): no inline handler, the CSP allows none ----
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target && target.matches && target.matches("select[data-submit-on-change]") && target.form) target.form.submit();
  });
})();
