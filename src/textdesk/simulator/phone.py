"""The "customer phone": a page where a person plays a customer, reads what sellers sent and replies."""

from __future__ import annotations

import json

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext


def gettext_noop(message: str) -> str:
    """Marks a string for extraction (makemessages) without needing Django settings at import time."""
    return message


# Marked for translation; translated at render time when Django is set up (it always is under ``textdesk``).
WORDS = {
    "title": gettext_noop("Customer phone (SMS simulator)"),
    "customer": gettext_noop("Customer number"),
    "our_number": gettext_noop("Business number"),
    "empty": gettext_noop("No messages yet. Messages the seller sends to this customer appear here."),
    "placeholder": gettext_noop("Type a reply as the customer…"),
    "send": gettext_noop("Send"),
    "sent_by_seller": gettext_noop("from the business"),
    "sent_by_customer": gettext_noop("you"),
    "error": gettext_noop("Could not send"),
    "reads_as": gettext_noop("Sends as"),
    "not_a_number": gettext_noop("Not a phone number: write it with its country code, e.g. +1 415 555 0134."),
}


def _labels() -> dict[str, str]:
    if not settings.configured:
        return dict(WORDS)
    return {key: gettext(text) for key, text in WORDS.items()}


def language_for(accept_language: str) -> str:
    """The first language of the browser's Accept-Language that TextDesk speaks; else the server's default."""
    from django.utils.translation import get_supported_language_variant
    from django.utils.translation.trans_real import parse_accept_lang_header

    for code, _quality in parse_accept_lang_header(accept_language or ""):
        if code == "*":
            break
        try:
            return get_supported_language_variant(code)
        except LookupError:
            continue
    return settings.LANGUAGE_CODE


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
 body{font-family:system-ui,sans-serif;background:#eef1f5;margin:0;display:flex;justify-content:center}
 .phone{width:380px;max-width:100%;background:#fff;min-height:100vh;display:flex;flex-direction:column;
        box-shadow:0 0 12px rgba(0,0,0,.1)}
 header{padding:12px;background:#1f3b57;color:#fff} header h1{font-size:16px;margin:0 0 8px}
 label{display:block;font-size:12px;margin-top:6px} select,input{width:100%;box-sizing:border-box;padding:6px}
 .hint{font-size:11px;opacity:.85;margin:3px 0 0;min-height:1em}
 #thread{flex:1;padding:12px;overflow-y:auto;display:flex;flex-direction:column;gap:6px}
 .msg{max-width:80%;padding:8px 10px;border-radius:14px;white-space:pre-wrap;word-wrap:break-word}
 .in{align-self:flex-start;background:#e4e6eb} .out{align-self:flex-end;background:#0b84ff;color:#fff}
 .meta{font-size:10px;opacity:.7;margin-top:2px} .empty{color:#666;font-size:13px}
 form{display:flex;gap:6px;padding:10px;border-top:1px solid #ddd} form input{flex:1}
 button{padding:6px 14px} #error{color:#b00020;font-size:12px;padding:0 10px}
</style></head>
<body><div class="phone">
<header><h1>__TITLE__</h1>
 <label for="customer">__CUSTOMER__</label>
 <input id="customer" list="customers" inputmode="tel" autocomplete="off" placeholder="+1 415 555 0134"
        aria-describedby="customer-hint">
 <datalist id="customers"></datalist>
 <p class="hint" id="customer-hint" aria-live="polite"></p>
 <label for="ours">__OUR__</label><select id="ours"></select>
</header>
<div id="thread" aria-live="polite"></div>
<div id="error" role="alert"></div>
<form id="reply"><input id="body" name="body" autocomplete="off" placeholder="__PLACEHOLDER__" aria-label="__PLACEHOLDER__">
<button type="submit">__SEND__</button></form>
</div>
<script>
const L = __LABELS__;
const $ = (id) => document.getElementById(id);
let shown = "", messages = [], customers = [], oursChosen = false;

// A number as people write it ("+1 415 555 0134", "(415) 555-0134", "0039 …") in E.164. Without a
// country code: the known customer whose number ends with these digits, else a 10-digit North American one.
function toE164(typed) {
  let t = (typed || "").trim().replace(/[\\s().\\-\\u00a0\\/]/g, "");
  if (t.startsWith("00")) t = "+" + t.slice(2);
  if (t.startsWith("+")) return /^\\+[1-9][0-9]{6,14}$/.test(t) ? t : null;
  if (!/^[0-9]{6,15}$/.test(t)) return null;
  const national = t.replace(/^0+/, "");
  const known = customers.filter(c => c.endsWith(national));
  if (known.length === 1) return known[0];
  if (t.length === 10) return "+1" + t;
  if (t.length === 11 && t.startsWith("1")) return "+" + t;
  return null;
}
function customer() { return toE164($("customer").value) || ""; }

async function loadNumbers() {
  const numbers = await (await fetch("/_sim/numbers")).json();
  const select = $("ours"); const current = select.value;
  select.innerHTML = "";
  for (const n of numbers) { const o = document.createElement("option"); o.value = n.number;
    o.textContent = n.label ? n.label + " · " + n.number : n.number; select.appendChild(o); }
  if (current && numbers.some(n => n.number === current)) select.value = current;
}
// The business number that last wrote to (or heard from) this customer: a reply goes back where it came from.
function followConversation() {
  const c = customer(), ourNumbers = new Set([...$("ours").options].map(o => o.value));
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m.to === c && ourNumbers.has(m.from)) { $("ours").value = m.from; return; }
    if (m.from === c && ourNumbers.has(m.to)) { $("ours").value = m.to; return; }
  }
}
function showCustomerHint() {
  const typed = $("customer").value.trim(), c = customer();
  $("customer-hint").textContent = !typed ? "" : (c ? (c === typed ? "" : L.reads_as + " " + c) : L.not_a_number);
}
async function refresh() {
  messages = await (await fetch("/_sim/messages")).json();
  const ourNumbers = new Set([...$("ours").options].map(o => o.value));
  const seen = new Set();
  for (const m of messages) { if (ourNumbers.has(m.from)) seen.add(m.to); if (ourNumbers.has(m.to)) seen.add(m.from); }
  customers = [...seen];
  $("customers").innerHTML = customers.map(c => `<option value="${c}">`).join("");
  if (!$("customer").value && messages.length) {
    const last = [...messages].reverse().find(m => ourNumbers.has(m.from) || ourNumbers.has(m.to));
    if (last) { $("customer").value = ourNumbers.has(last.from) ? last.to : last.from; showCustomerHint(); }
  }
  if (!oursChosen) followConversation();
  const c = customer(), ours = $("ours").value;
  const thread = messages.filter(m => (m.from === c && m.to === ours) || (m.from === ours && m.to === c));
  const key = JSON.stringify([c, ours, thread.map(m => [m.sid, m.status])]);
  if (key === shown) return; shown = key;
  const box = $("thread"); box.innerHTML = "";
  if (!thread.length) { const p = document.createElement("p"); p.className = "empty"; p.textContent = L.empty;
    box.appendChild(p); return; }
  for (const m of thread) {
    const mine = m.direction === "inbound";
    const div = document.createElement("div"); div.className = "msg " + (mine ? "out" : "in");
    div.textContent = m.body;
    const meta = document.createElement("div"); meta.className = "meta";
    meta.textContent = (mine ? L.sent_by_customer : L.sent_by_seller) + " · " + m.created_at.slice(11, 16);
    div.appendChild(meta); box.appendChild(div);
  }
  box.scrollTop = box.scrollHeight;
}
$("reply").addEventListener("submit", async (e) => {
  e.preventDefault(); $("error").textContent = "";
  const body = $("body").value; if (!body.trim()) return;
  const from = customer();
  if (!from) { $("error").textContent = L.error + ": " + L.not_a_number; $("customer").focus(); return; }
  const r = await fetch("/_sim/inbound", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({from, to: $("ours").value, body})});
  if (!r.ok) { $("error").textContent = L.error + ": " + ((await r.json()).error || r.status); return; }
  $("body").value = ""; refresh();
});
$("customer").addEventListener("input", showCustomerHint);
$("customer").addEventListener("change", () => { oursChosen = false; showCustomerHint(); refresh(); });
$("ours").addEventListener("change", () => { oursChosen = true; refresh(); });
loadNumbers().then(refresh); setInterval(refresh, 1000); setInterval(loadNumbers, 5000);
</script></body></html>
"""


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def render_phone_page(accept_language: str = "") -> str:
    """The page in the browser's language (its Accept-Language header), like TextDesk's own pages."""
    if settings.configured:
        language = language_for(accept_language)
        with translation.override(language):
            labels = _labels()
    else:
        language, labels = "en", _labels()
    page = PAGE.replace('<html lang="en">', f'<html lang="{_escape(language)}">', 1)
    for marker, key in (
        ("__TITLE__", "title"),
        ("__CUSTOMER__", "customer"),
        ("__OUR__", "our_number"),
        ("__PLACEHOLDER__", "placeholder"),
        ("__SEND__", "send"),
    ):
        page = page.replace(marker, _escape(labels[key]))
    return page.replace("__LABELS__", json.dumps(labels).replace("</", "<\\/"))
