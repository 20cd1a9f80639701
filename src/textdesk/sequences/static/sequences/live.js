// Sales accelerator pages: forms inside "Up next" answer with the refreshed widget, and
// "sequence.changed" events from the live stream refresh the widget and the work list.
(function () {
  "use strict";

  function replaceWith(el, html) {
    const tpl = document.createElement("template");
    tpl.innerHTML = html.trim();
    const fresh = tpl.content.firstElementChild;
    if (fresh) { el.replaceWith(fresh); }
    return fresh;
  }

  async function refresh(el) {
    const url = el.dataset.refreshUrl;
    if (!url) { return; }
    const resp = await fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" });
    if (resp.ok) { replaceWith(el, await resp.text()); }
  }

  function openComposer(button) {
    const composer = document.getElementById(button.getAttribute("aria-controls"));
    if (!composer) { return; }
    composer.hidden = !composer.hidden;
    button.setAttribute("aria-expanded", String(!composer.hidden));
    if (!composer.hidden) { composer.querySelector("textarea")?.focus(); }
  }

  // With the web app's conversation pane on the page, the step opens there, its template filled in; the
  // pane's composer then sends through the step (message and completion in one transaction).
  async function openInPane(button) {
    const pane = document.getElementById("pane");
    if (!pane || !window.htmx || !button.dataset.paneUrl) { return false; }
    const resp = await fetch(button.dataset.draftUrl, { credentials: "same-origin" });
    if (!resp.ok) { return false; }
    const draft = await resp.json();
    const query = new URLSearchParams();
    if (draft.to_number) { query.set("to", draft.to_number); }
    if (draft.sender_number_id) { query.set("from", draft.sender_number_id); }
    activeDraft = draft;
    await htmx.ajax("GET", draft.pane_url + "?" + query.toString(), { target: "#pane", swap: "innerHTML" });
    const body = pane.querySelector("form[data-composer] textarea[name=body]");
    if (body) {
      body.value = draft.body;
      body.dispatchEvent(new Event("input", { bubbles: true }));
      body.focus();
    }
    return true;
  }

  // The step's draft stays attached to the pane's composer (also when the pane re-renders, e.g. after
  // choosing another number) until the step is done or another record's pane opens.
  let activeDraft = null;

  function attachDraft(pane) {
    const form = pane.querySelector("form[data-composer]");
    if (!activeDraft || !form) { return; }
    if (!(form.getAttribute("hx-post") || "").startsWith(activeDraft.pane_url.replace(/pane\/$/, ""))
        && form.dataset.sequenceStep !== String(activeDraft.step_id)) {
      activeDraft = null;  // a different record's pane
      return;
    }
    if (form.dataset.sequenceStep === String(activeDraft.step_id)) { return; }
    const step = document.createElement("input");
    Object.assign(step, { type: "hidden", name: "step_id", value: activeDraft.step_id });
    form.appendChild(step);
    form.setAttribute("hx-post", activeDraft.pane_send_url);
    form.dataset.sequenceStep = activeDraft.step_id;
    htmx.process(form);
  }

  document.addEventListener("htmx:afterSwap", function (ev) {
    if (ev.detail.target && ev.detail.target.id === "pane") { attachDraft(ev.detail.target); }
  });

  document.addEventListener("click", async function (ev) {
    const button = ev.target.closest("[data-open-composer]");
    if (!button) { return; }
    ev.preventDefault();
    if (!(await openInPane(button))) { openComposer(button); }
  });

  // The pane answered a step's send: refresh "Up next" and the work list.
  document.addEventListener("sequence-changed", function () {
    activeDraft = null;
    for (const el of document.querySelectorAll("[data-up-next]")) { refresh(el); }
    refreshWorkList();
  });

  document.addEventListener("submit", async function (ev) {
    const form = ev.target;
    const widget = form.closest("[data-up-next]");
    if (!widget) { return; }
    ev.preventDefault();
    for (const b of form.querySelectorAll("button")) { b.disabled = true; }
    const resp = await fetch(form.action, {
      method: "POST", body: new FormData(form), headers: { "HX-Request": "true" }, credentials: "same-origin",
    });
    replaceWith(widget, await resp.text());
    refreshWorkList();
  });

  function refreshWorkList() {
    const list = document.getElementById("work-list-items");
    if (list) { refresh(list); }
  }

  function onChange(data) {
    if (!data || data.event !== "sequence.changed") { return; }
    for (const el of document.querySelectorAll("[data-up-next]")) {
      if (el.dataset.upNext === data.record_key) { refresh(el); }
    }
    refreshWorkList();
  }

  function connectLive() {
    const mark = function (state) { document.documentElement.dataset.sequencesLive = state; };
    if (window.tdLive) {  // the web app's own stream: one connection per page
      window.tdLive.on("sequence.changed", onChange);
      window.tdLive.onState(mark);
      return;
    }
    if (!window.EventSource) { return; }
    const source = new EventSource("/live/events");
    const handle = function (ev) {
      try { onChange(JSON.parse(ev.data)); } catch (e) { /* not ours */ }
    };
    source.addEventListener("message", handle);
    source.addEventListener("sequence.changed", handle);
    source.addEventListener("open", function () { document.documentElement.dataset.sequencesLive = "open"; });
    source.addEventListener("error", function () { document.documentElement.dataset.sequencesLive = "reconnecting"; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    connectLive();
    if (location.hash === "#compose") {
      const button = document.querySelector("[data-open-composer]");
      if (button) { button.click(); }
    }
  });
})();
