"""Scale benchmark: the seller's lists, search and record page with 100,000 conversations and 1,000,000 messages.

    python bench/scale.py                                   # 100,000 conversations, 1,000,000 messages
    python bench/scale.py --messages 5000000                # the search goal's size
    python bench/scale.py --conversations 20000 --messages 200000 --samples 40   # a quicker run

What it does, and prints (figures only; nothing is asserted):
1. builds the data set on PostgreSQL with set-based SQL (a few statements, no row-by-row inserts): records of the
   four types named in four languages (70% with a mobile phone, 10% with a business phone), ten sellers in two
   teams and their numbers, one conversation per record, messages in English, Portuguese, Spanish and Italian
   (the conversation's language), unread counts; the measured seller sees about 90% of the conversations
   (most arrive on their team's numbers), the rest belong to sellers of the other team;
2. starts TextDesk as deployed (``textdesk serve``, two processes), signs in over HTTP like a browser, and
   times, over kept-alive HTTP: "My text messages" (first page, and a page 50,000 rows deep by its cursor; the
   former ``?page=2000`` for comparison), the REST conversation list, search (a common word, a rare word, a
   fragment of a phone number, a customer's name; in the grid and in ``GET /api/v1/messages?search=``), a record
   page and its conversation pane;
3. for each, the *floor*: the same result as one hand-written SQL statement (psycopg, one connection),
   timed the same number of times in the same run.
It ends with one line:
    scale: conversations <n>, messages <n>, grid p95 <ms> (floor <ms>), search p95 <ms> (floor <ms>),
    routed-visible p99 <ms> at 100 msg/s
4. routed and visible: signed Twilio webhooks paced at 100 msg/s (``--rate``) for 20 s to the served TextDesk
   with a ``textdesk worker``, from customers' numbers the records hold (90% of business phones empty) and
   unknown ones, to the North team's numbers; each is timed from its POST to its first appearance in the
   seller's ``GET /api/v1/messages?search=`` (polled every 50 ms, through the visibility rule).
``--reuse`` measures the data set an earlier run left in ``--database`` instead of building it again.
Needs: PostgreSQL and Redis on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from inbound import (  # noqa: E402
    AUTH_TOKEN,
    BIN,
    PG_ADMIN,
    PUBLIC_URL,
    WEBHOOK_KEY,
    django_setup,
    log,
    pct,
    start,
    stop,
    twilio_signature,
    visible_latencies,
    wait_http,
)

WEB_PORT = 8111
PASSWORD = "bench-Passw0rd!"
COMMON_WORD, RARE_WORD = "obrigado", "zanzibar"
RARE_EVERY = 50_000  # one message in this many holds the rare word

FIRST_NAMES = ["Ana", "João", "Maria", "Pedro", "Luca", "Giulia", "Marco", "Francesca", "Carlos", "Sofía", "Javier",
               "Lucía", "John", "Emma", "Michael", "Olivia"]  # fmt: skip
LAST_NAMES = ["Silva", "Santos", "Oliveira", "Souza", "Rossi", "Russo", "Ferrari", "Esposito", "García", "Martínez",
              "López", "Sánchez", "Smith", "Johnson", "Brown", "Williams"]  # fmt: skip
PHRASES = {
    "en": ["Hi, is the quote still valid?", "Thanks, I will call you tomorrow", "Can we move the meeting to Friday?",
           "The invoice is attached", "Please send the contract again", "Great, see you soon"],
    "pt": ["Olá, o orçamento ainda está válido?", "Obrigado, ligo amanhã", "Podemos mudar a reunião para sexta?",
           "A fatura está em anexo", "Por favor envie o contrato de novo", "Ótimo, obrigado e até breve"],
    "es": ["Hola, ¿el presupuesto sigue vigente?", "Gracias, te llamo mañana", "¿Podemos mover la reunión al viernes?",
           "La factura está adjunta", "Por favor envía el contrato otra vez", "Perfecto, hasta pronto"],
    "it": ["Ciao, il preventivo è ancora valido?", "Grazie, ti chiamo domani", "Possiamo spostare la riunione a venerdì?",
           "La fattura è in allegato", "Per favore invia di nuovo il contratto", "Perfetto, a presto"],
}  # fmt: skip


# ---------------------------------------------------------------- the data set


def sql_array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def seed_organisation() -> dict:
    """Ten sellers in two teams, a number per seller and two per team; the measured seller is seller 0."""
    from django.contrib.auth.models import Group

    from textdesk.messaging.models import ProviderAccount, SenderNumber
    from textdesk.org.models import ApiToken, Team, User

    group = Group.objects.get(name="Salesperson")
    sellers = []
    for i in range(10):
        user = User.objects.create_user(username=f"scale-seller-{i}", password=PASSWORD)
        user.groups.add(group)
        sellers.append(user)
    north, south = Team.objects.create(name="North"), Team.objects.create(name="South")
    north.members.add(*sellers[:5])
    south.members.add(*sellers[5:])
    account = ProviderAccount(kind="twilio", name="scale")
    account.credentials = {"account_sid": "AC" + "c" * 32, "auth_token": "scale-token"}
    account.save()
    numbers = {}
    for i, seller in enumerate(sellers):
        numbers[f"seller{i}"] = SenderNumber.objects.create(
            e164=f"+1415555{1000 + i}", name=f"scale {i}", provider_account=account, owner_user=seller
        ).pk
    for j, team in enumerate((north, south)):
        for k in range(2):
            numbers[f"{team.name}{k}"] = SenderNumber.objects.create(
                e164=f"+1415555{2000 + 10 * j + k}", name=f"scale {team.name} {k}", provider_account=account,
                owner_team=team,
            ).pk  # fmt: skip
    return {
        "sellers": [s.pk for s in sellers],
        "north": north.pk,
        "south": south.pk,
        "numbers": numbers,
        "account": account.pk,
        "token": ApiToken.issue(sellers[0])[1],
    }


def existing_organisation() -> dict:
    """The organisation of an earlier run (``--reuse``), with a fresh API token for seller 0."""
    from textdesk.org.models import ApiToken, Team, User

    sellers = [User.objects.get(username=f"scale-seller-{i}").pk for i in range(10)]
    return {
        "sellers": sellers,
        "north": Team.objects.get(name="North").pk,
        "south": Team.objects.get(name="South").pk,
        "token": ApiToken.issue(User.objects.get(pk=sellers[0]))[1],
    }


def build(cursor, org: dict, conversations: int, messages: int) -> None:
    """Records, conversations and messages with a handful of set-based statements.

    Conversation n (1..N) is on record n of one type (contacts 50%, accounts 20%, leads 20%, opportunities 10%),
    in language n % 4. Records are owned by seller n % 10, one in twenty by the North team. 90% of the
    conversations arrive on the North team's two numbers (seller 0 is in North); the rest on the number of a
    South seller. Message j belongs to conversation j % N + 1; the newest message of each is its preview.
    """
    sellers = org["sellers"]
    n_north = [org["numbers"]["North0"], org["numbers"]["North1"]]
    south_numbers = [org["numbers"][f"seller{i}"] for i in range(5, 10)]
    first, last = sql_array(FIRST_NAMES), sql_array(LAST_NAMES)
    langs = ["en", "pt", "es", "it"]
    phrases = "ARRAY[" + ", ".join(sql_array(PHRASES[lang]) for lang in langs) + "]"
    owner_user = f"CASE WHEN n % 20 = 0 THEN NULL ELSE (ARRAY{sellers})[1 + n % 10] END"
    owner_team = f"CASE WHEN n % 20 = 0 THEN {org['north']} ELSE NULL END"
    phone = "'+1' || (201 + n % 700)::text || lpad(((n * 7919) % 10000000)::text, 7, '0')"
    mobile = f"CASE WHEN n % 10 < 7 THEN {phone} ELSE '' END"
    business = "CASE WHEN n % 10 = 3 THEN '+1650' || lpad(n::text, 7, '0') ELSE '' END"
    fname = f"({first})[1 + (n * 31) % 16]"
    lname = f"({last})[1 + (n * 17 / 16) % 16]"
    series = f"generate_series(1, {conversations}) AS n"
    common = (
        f"{owner_user}, {owner_team}, true, NULL, 'US', now() - interval '400 days', now() - interval '1 day', "
        f"{business}, NULLIF({business}, ''), {mobile}, NULLIF({mobile}, '')"  # an empty E.164 form is NULL
    )
    common_cols = (
        "owner_user_id, owner_team_id, is_active, external_id, country, created_at, modified_at, "
        "business_phone, business_phone_e164, mobile_phone, mobile_phone_e164"
    )
    statements = [
        f"INSERT INTO crm_contact (id, {common_cols}, first_name, last_name, email, job_title, status_reason) "
        f"SELECT n, {common}, {fname}, {lname}, '', '', 'active' FROM {series} WHERE n % 10 < 5",
        f"INSERT INTO crm_account (id, {common_cols}, name, email, website, city, status_reason) "
        f"SELECT n, {common}, {lname} || ' ' || (ARRAY['Ltda', 'S.p.A.', 'S.L.', 'Inc.'])[1 + n % 4], '', '', '', "
        f"'active' FROM {series} WHERE n % 10 IN (5, 6)",
        f"INSERT INTO crm_lead (id, {common_cols}, first_name, last_name, topic, company_name, email, source, "
        f"status_reason) SELECT n, {common}, {fname}, {lname}, '', '', '', 'import', 'new' FROM {series} "
        "WHERE n % 10 IN (7, 8)",
        "INSERT INTO crm_opportunity (id, owner_user_id, owner_team_id, is_active, external_id, country, created_at, "
        f"modified_at, name, status_reason) SELECT n, {owner_user}, {owner_team}, true, NULL, 'US', now(), now(), "
        f"'Renewal ' || {lname} || ' ' || n, 'in_progress' FROM {series} WHERE n % 10 = 9",
        # Conversations: the record of the same n; the last message a little before now, spread over a year.
        "INSERT INTO messaging_conversation (id, record_type, record_key, customer_e164, created_at, last_message_at, "
        "last_message_preview, last_direction, last_status, unread_count, account_id, contact_id, lead_id, "
        "opportunity_id, sender_number_id) "
        "SELECT n, t.kind, t.kind || ':' || n, "
        f"{phone}, now() - interval '400 days', now() - (n::float8 / {conversations}) * interval '365 days', "
        "'', 'inbound', 'received', CASE WHEN n % 7 = 0 THEN 1 + n % 3 ELSE 0 END, "
        "CASE WHEN t.kind = 'account' THEN n END, CASE WHEN t.kind = 'contact' THEN n END, "
        "CASE WHEN t.kind = 'lead' THEN n END, CASE WHEN t.kind = 'opportunity' THEN n END, "
        f"CASE WHEN n % 10 = 4 THEN (ARRAY{south_numbers})[1 + (n / 10) % 5] ELSE (ARRAY{n_north})[1 + n % 2] END "
        f"FROM {series}, LATERAL (SELECT CASE WHEN n % 10 < 5 THEN 'contact' WHEN n % 10 < 7 THEN 'account' "
        "WHEN n % 10 < 9 THEN 'lead' ELSE 'opportunity' END AS kind) t",
        # Messages: j-th of conversation c (c = j % N + 1), k = j / N its age rank (0 = newest).
        "INSERT INTO messaging_message (id, direction, from_number, to_number, body, segments, encoding, status, "
        "provider_status, provider_message_id, failure_reason, failure_permanent, provider_error_code, "
        "provider_error_text, routing_state, routing_rule, idempotency_key, attempts, created_at, updated_at, "
        "conversation_id, provider_account_id, sender_number_id) "
        "SELECT j, CASE WHEN k % 2 = 0 THEN 'inbound' ELSE 'outbound' END, c.customer_e164, '+14155550000', "
        f"({phrases})[1 + c.id % 4][1 + (hashint8(j) & 65535) % 6] || ' #' || (j % 9973)::text "
        f"|| CASE WHEN j % {RARE_EVERY} = 17 THEN ' {RARE_WORD}' ELSE '' END, "
        "1, 'GSM-7', CASE WHEN k % 2 = 0 THEN 'received' ELSE 'delivered' END, '', NULL, '', false, '', '', "
        "CASE WHEN k % 2 = 0 THEN 'routed' ELSE '' END, '', NULL, 0, "
        "c.last_message_at - k * interval '1 hour', c.last_message_at - k * interval '1 hour', "
        f"c.id, {org['account']}, c.sender_number_id "
        f"FROM generate_series(0, {messages} - 1) AS j, LATERAL (SELECT j % {conversations} + 1 AS cid, "
        f"j / {conversations} AS k) p JOIN messaging_conversation c ON c.id = p.cid",
        "UPDATE messaging_conversation c SET last_message_preview = left(m.body, 160) FROM messaging_message m "
        "WHERE m.conversation_id = c.id AND m.id = c.id - 1",
    ]
    for statement in statements:
        started = time.perf_counter()
        cursor.execute(statement)
        log(f"  {statement.split('(')[0].strip()[:48]:<48} {time.perf_counter() - started:6.1f}s")
    for table in ("crm_contact", "crm_account", "crm_lead", "crm_opportunity", "messaging_conversation",
                  "messaging_message"):  # fmt: skip
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")


# ---------------------------------------------------------------- HTTP like a browser


class Browser:
    """One kept-alive connection with a session cookie (and the API token for /api/v1)."""

    def __init__(self, port: int, token: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}
        self.token = token

    def request(self, method: str, path: str, body: str | None = None, headers: dict | None = None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError):  # the server ended an idle kept-alive connection
            self.conn.close()
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        data = response.read()
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response.status, data

    def login(self, username: str) -> None:
        self.request("GET", "/login/")
        form = urllib.parse.urlencode(
            {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": self.cookies["csrftoken"]}
        )
        status, _ = self.request(
            "POST",
            "/login/",
            form,
            {"Content-Type": "application/x-www-form-urlencoded", "Referer": "http://127.0.0.1/"},
        )
        if status != 302:
            raise RuntimeError(f"login answered {status}")

    def timed(self, path: str, api: bool = False, htmx: bool = False) -> tuple[float, bytes]:
        headers = {"Authorization": f"Bearer {self.token}"} if api else {}
        if htmx:
            headers["HX-Request"] = "true"
        started = time.perf_counter()
        status, data = self.request("GET", path, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {data[:200]!r}")
        return elapsed, data


# ---------------------------------------------------------------- the floors: one hand-written statement each

VISIBLE = """(s.owner_user_id = %(me)s OR s.owner_team_id = ANY(%(teams)s)
  OR ct.owner_user_id = %(me)s OR ct.owner_team_id = ANY(%(teams)s) OR a.owner_user_id = %(me)s
  OR a.owner_team_id = ANY(%(teams)s) OR o.owner_user_id = %(me)s OR o.owner_team_id = ANY(%(teams)s)
  OR l.owner_user_id = %(me)s OR l.owner_team_id = ANY(%(teams)s))"""
JOINS = """JOIN messaging_sendernumber s ON s.id = c.sender_number_id
  LEFT JOIN crm_contact ct ON ct.id = c.contact_id LEFT JOIN crm_account a ON a.id = c.account_id
  LEFT JOIN crm_opportunity o ON o.id = c.opportunity_id LEFT JOIN crm_lead l ON l.id = c.lead_id"""
COLUMNS = """c.id, c.record_type, c.customer_e164, c.last_message_at, c.last_message_preview, c.unread_count,
  c.last_status, s.e164, coalesce(ct.first_name || ' ' || ct.last_name, a.name, o.name, l.first_name || ' ' || l.last_name)"""
FLOORS = {
    "grid": f"SELECT {COLUMNS} FROM messaging_conversation c {JOINS} WHERE {VISIBLE} "
    "ORDER BY c.last_message_at DESC, c.id DESC LIMIT 26",
    "deep": f"SELECT {COLUMNS} FROM messaging_conversation c {JOINS} WHERE {VISIBLE} "
    "AND c.last_message_at <= %(at)s AND (c.last_message_at < %(at)s OR c.id < %(id)s) "
    "ORDER BY c.last_message_at DESC, c.id DESC LIMIT 26",
    "words": f"SELECT m.id, m.body, m.created_at, {COLUMNS} FROM messaging_message m "
    f"JOIN messaging_conversation c ON c.id = m.conversation_id {JOINS} WHERE {VISIBLE} "
    "AND textdesk_search_vector(m.body) @@ to_tsquery('pg_catalog.simple', textdesk_fold(%(tsq)s)) "
    "ORDER BY m.created_at DESC, m.id DESC LIMIT 26",
    # A rare word: its matches from the GIN index first (the planner, left alone, walks the newest-first index),
    # bounded as TextDesk bounds them, which also tells the planner they are few (else it expects 0.5% of the table).
    "rare": f"WITH hit AS MATERIALIZED (SELECT id FROM messaging_message "
    "WHERE textdesk_search_vector(body) @@ to_tsquery('pg_catalog.simple', textdesk_fold(%(tsq)s)) LIMIT 2001) "
    f"SELECT m.id, m.body, m.created_at, {COLUMNS} FROM hit JOIN messaging_message m ON m.id = hit.id "
    f"JOIN messaging_conversation c ON c.id = m.conversation_id {JOINS} WHERE {VISIBLE} "
    "ORDER BY m.created_at DESC, m.id DESC LIMIT 26",
    "number": f"SELECT {COLUMNS} FROM messaging_conversation c {JOINS} WHERE {VISIBLE} "
    "AND c.customer_e164 LIKE %(like)s ORDER BY c.last_message_at DESC, c.id DESC LIMIT 26",
    "name": f"SELECT {COLUMNS} FROM messaging_conversation c {JOINS} WHERE {VISIBLE} "
    "AND c.contact_id IN (SELECT id FROM crm_contact WHERE textdesk_fold(first_name || ' ' || last_name) "
    "LIKE textdesk_fold(%(like)s)) ORDER BY c.last_message_at DESC, c.id DESC LIMIT 26",
    "record": "SELECT ct.*, (SELECT json_agg(x) FROM (SELECT c.id, c.last_message_at, c.last_message_preview "
    "FROM messaging_conversation c WHERE c.contact_id = ct.id ORDER BY c.last_message_at DESC LIMIT 10) x), "
    "(SELECT json_agg(y) FROM (SELECT m.id, m.body, m.status, m.created_at FROM messaging_message m "
    "WHERE m.conversation_id = (SELECT id FROM messaging_conversation WHERE contact_id = ct.id "
    "ORDER BY last_message_at DESC LIMIT 1) ORDER BY m.created_at DESC LIMIT 50) y) "
    "FROM crm_contact ct WHERE ct.id = %(record)s",
}


def time_floor(conn, sql: str, params: dict, samples: int) -> list[float]:
    timings = []
    with conn.cursor() as cursor:
        for _ in range(samples):
            started = time.perf_counter()
            cursor.execute(sql, params)
            cursor.fetchall()
            timings.append((time.perf_counter() - started) * 1000)
    return timings


# ---------------------------------------------------------------- routed and visible under load

ACCOUNT_SID = "AC" + "c" * 32


def webhook_targets(org: dict, rng: random.Random) -> tuple[list[str], list[str]]:
    """The provider account answering signed webhooks at a known key; returns customers' numbers that the
    records hold (mobile and business phones, as routing looks them up) and the North team's numbers."""
    from textdesk.crm.models import Contact
    from textdesk.messaging.models import Conversation, ProviderAccount, SenderNumber

    account = ProviderAccount.objects.get(name="scale")
    account.inbound_key = WEBHOOK_KEY
    account.credentials = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    account.save()
    ours = list(SenderNumber.objects.filter(owner_team_id=org["north"]).values_list("e164", flat=True))
    mobiles = Conversation.objects.filter(sender_number__e164__in=ours).values_list("customer_e164", flat=True)
    business = Contact.objects.filter(business_phone_e164__isnull=False).values_list("business_phone_e164", flat=True)
    known = list(mobiles.order_by("id")[:: max(1, mobiles.count() // 4000)][:4000]) + list(business[:1000])
    rng.shuffle(known)
    return known, ours


def webhook_requests(count: int, tag: str, known: list[str], ours: list[str], rng: random.Random) -> list[str]:
    """Signed Twilio webhook bodies, one distinct message each; a third from numbers no record holds."""
    bodies = []
    for i in range(count):
        params = {
            "ToCountry": "US",
            "NumMedia": "0",
            "SmsStatus": "received",
            "Body": f"Hello, about order {i} {tag}: can you call me back?",
            "NumSegments": "1",
            "MessageSid": f"SM{tag}{i:010d}",
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "From": rng.choice(known) if i % 3 else f"+1{rng.randint(201, 989)}{rng.randint(2000000, 9999999)}",
            "To": ours[i % len(ours)],
        }
        params["SmsMessageSid"] = params["SmsSid"] = params["MessageSid"]
        bodies.append((twilio_signature(PUBLIC_URL + f"/webhooks/{WEBHOOK_KEY}/inbound", params), params))
    return [(sig, urllib.parse.urlencode(params)) for sig, params in bodies]


def post_paced(port: int, bodies: list, rate: float, connections: int = 16) -> tuple[dict[int, float], list[int]]:
    """Each webhook posted at its time (message i at i / rate seconds), over ``connections`` kept-alive
    connections; returns when each was sent (perf_counter) and the statuses that were not 2xx."""
    sent: dict[int, float] = {}
    failed: list[int] = []
    numbers = itertools.count()
    lock = threading.Lock()
    begin = time.perf_counter() + 0.2
    route = f"/webhooks/{WEBHOOK_KEY}/inbound"

    def poster() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                i = next(numbers)
            if i >= len(bodies):
                return
            pause = begin + i / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            sig, body = bodies[i]
            headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig}
            sent[i] = time.perf_counter()
            try:
                conn.request("POST", route, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (http.client.HTTPException, OSError):
                conn.close()
                status = 0
            if status >= 300 or status == 0:
                failed.append(status)

    threads = [threading.Thread(target=poster) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent, failed


class VisibilityWatch:
    """The seller's view, polled: ``GET /api/v1/messages?search=<tag>`` (newest first, through the visibility
    rule) every ``interval`` seconds, 100 at a time, paging on while a page shows only messages not seen before;
    records when each message of the run was first seen."""

    def __init__(self, port: int, token: str, tag: str, interval: float = 0.05):
        self.browser = Browser(port, token)
        self.tag, self.interval = tag, interval
        self.seen: dict[int, float] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        while not self.done.is_set():
            cursor = ""
            for _ in range(40):  # a page only of messages not seen before: the next one may hold more
                _, data = self.browser.timed(f"/api/v1/messages?limit=100&search={self.tag}{cursor}", api=True)
                at = time.perf_counter()
                page = json.loads(data)
                new = 0
                for item in page["items"]:
                    i = int(re.search(r"order (\d+) ", item["body"]).group(1))
                    if i not in self.seen:
                        self.seen[i] = at
                        new += 1
                if new < len(page["items"]) or not page["next_cursor"]:
                    break
                cursor = f"&cursor={page['next_cursor']}"
            self.done.wait(self.interval)


def routed_visible(args, env: dict, work: Path, org: dict) -> float:
    """Signed webhooks at ``args.rate`` msg/s to the served TextDesk with its routing workers, each timed from
    its POST to its first appearance in the seller's message list; returns the p99 in ms (inf if >1% unseen)."""
    rng = random.Random(7)
    known, ours = webhook_targets(org, rng)
    workers = [
        start([str(BIN / "textdesk"), "worker"], env, work / f"worker{i}.log") for i in range(args.route_workers)
    ]
    try:
        stamp = f"{int(time.time()) % 1000000:06d}"
        warm = webhook_requests(int(args.rate * 3), f"rvw{stamp}", known, ours, rng)
        post_paced(args.port, warm, args.rate)
        tag = f"rvq{stamp}"
        bodies = webhook_requests(int(args.rate * args.duration), tag, known, ours, rng)
        watch = VisibilityWatch(args.port, org["token"], tag)
        watch.thread.start()
        started = time.perf_counter()
        sent, failed = post_paced(args.port, bodies, args.rate)
        elapsed = time.perf_counter() - started
        deadline = time.perf_counter() + 30
        while len(watch.seen) < len(sent) and time.perf_counter() < deadline:
            time.sleep(0.2)
        watch.done.set()
        watch.thread.join()
    finally:
        for worker in workers:
            stop(worker)
    latencies = [(watch.seen[i] - at) * 1000 for i, at in sent.items() if i in watch.seen]
    unseen = len(sent) - len(latencies)
    routed = [s * 1000 for s in visible_latencies(tag)]
    log(
        f"\nrouted and visible: {len(sent)} signed webhooks in {elapsed:.1f}s ({len(sent) / elapsed:.0f} msg/s, "
        f"{len(failed)} not 2xx), {args.route_workers} routing worker(s); POST → in the seller's list p50 "
        f"{pct(latencies, 50):.0f} ms, p99 {pct(latencies, 99):.0f} ms, {unseen} not seen within 30 s; "
        f"durable write → routed p50 {pct(routed, 50):.0f} ms, p99 {pct(routed, 99):.0f} ms"
    )
    if failed or unseen > len(sent) / 100:
        return float("inf")
    return pct(latencies + [float("inf")] * unseen, 99)


# ---------------------------------------------------------------- the run


def summary(label: str, timings: list[float], floor: list[float] | None) -> str:
    line = f"{label:<44} p50 {statistics.median(timings):7.1f} ms  p95 {pct(timings, 95):7.1f} ms"
    if floor:
        line += f"   floor p50 {statistics.median(floor):6.1f} ms  p95 {pct(floor, 95):6.1f} ms"
    return line


def build_database(args, db_url: str, env: dict) -> dict:
    """The database dropped, migrated and filled; returns the organisation."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{args.database}"')
    subprocess.run([str(BIN / "textdesk"), "migrate", "-v0"], env=env, check=True)
    django_setup(env)
    org = seed_organisation()
    log(f"\n[PostgreSQL] building {args.conversations:,} conversations, {args.messages:,} messages (set-based SQL)")
    started = time.perf_counter()
    with psycopg.connect(db_url, autocommit=True) as conn, conn.cursor() as cursor:
        # Index maintenance during a bulk load is the slow part: the indexes are built once, after it.
        cursor.execute("SET maintenance_work_mem = '256MB'")
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename IN "
            "('messaging_message', 'messaging_conversation') AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)"
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        # The rows are built consistent; checking each foreign key row by row would triple the load time.
        cursor.execute("SET session_replication_role = replica")
        build(cursor, org, args.conversations, args.messages)
        cursor.execute("SET session_replication_role = DEFAULT")
        for name, definition in indexes:
            begun = time.perf_counter()
            cursor.execute(definition)
            log(f"  index {name:<46} {time.perf_counter() - begun:6.1f}s")
        cursor.execute("VACUUM (ANALYZE) crm_contact, crm_account, crm_lead, crm_opportunity")
        cursor.execute("VACUUM (ANALYZE) messaging_conversation, messaging_message")
        cursor.execute("CHECKPOINT")
    log(f"  built in {time.perf_counter() - started:.0f}s")

    return org


def run(args) -> None:
    import psycopg

    work = Path(tempfile.mkdtemp(prefix="textdesk-scale-"))
    db_url = f"postgres://postgres@127.0.0.1:5432/{args.database}"
    env = dict(
        os.environ,
        TEXTDESK_DATABASE_URL=db_url,
        TEXTDESK_DATA_DIR=str(work / "data"),
        TEXTDESK_SECRET_KEY="bench-secret-key",
        TEXTDESK_LOG_LEVEL="WARNING",
        TEXTDESK_ALLOWED_HOSTS="*",
        TEXTDESK_PUBLIC_URL=PUBLIC_URL,
        TEXTDESK_REDIS_URL=args.redis_url,
        TEXTDESK_BUS_PREFIX="scale-bench",
        DJANGO_SETTINGS_MODULE="textdesk.settings",
    )
    if args.reuse:
        # The data set of an earlier run with the same sizes: only pending migrations are applied.
        subprocess.run([str(BIN / "textdesk"), "migrate", "-v0"], env=env, check=True)
        django_setup(env)
        org = existing_organisation()
        with psycopg.connect(db_url) as conn:
            args.conversations = conn.execute("SELECT count(*) FROM messaging_conversation").fetchone()[0]
            args.messages = conn.execute("SELECT count(*) FROM messaging_message").fetchone()[0]
        log(f"\n[PostgreSQL] reusing {args.database}: {args.conversations:,} conversations, {args.messages:,} messages")
    else:
        org = build_database(args, db_url, env)
    from django.db import connection

    from textdesk.messaging import keyset
    from textdesk.messaging.models import Conversation
    from textdesk.org.models import User

    seller = User.objects.get(username="scale-seller-0")
    from textdesk.messaging.visibility import visible_conversations

    visible = visible_conversations(seller)
    depth = min(50_000, max(1, int(args.conversations * 0.9) - 30))
    deep_row = visible.order_by("-last_message_at", "-id").values("id", "last_message_at")[depth - 1]
    deep_cursor = keyset.Cursor(True, False, deep_row["last_message_at"], deep_row["id"], depth + 1).encode()
    contact = Conversation.objects.filter(contact__isnull=False, contact__owner_user=seller).order_by("-id").first()
    number_fragment = contact.customer_e164[-7:-2]
    name = f"{contact.contact.first_name} {contact.contact.last_name}"
    n_visible = visible.count()
    connection.close()
    log(f"  seller 0 sees {n_visible:,} conversations; deep page at row {depth:,}")

    web = start([str(BIN / "textdesk"), "serve", "--port", str(args.port), "--workers", "2"], env, work / "web.log")
    results: dict[str, tuple[list[float], list[float] | None]] = {}
    try:
        wait_http(f"http://127.0.0.1:{args.port}/healthz")
        browser = Browser(args.port, org["token"])
        browser.login("scale-seller-0")
        q = urllib.parse.quote
        searches = {
            f"search: common word ({COMMON_WORD})": (COMMON_WORD, "words", {"tsq": f"'{COMMON_WORD}':*"}),
            f"search: rare word ({RARE_WORD})": (RARE_WORD, "rare", {"tsq": f"'{RARE_WORD}':*"}),
            f"search: phone fragment ({number_fragment})": (number_fragment, "number", {"like": f"%{number_fragment}%"}),
            f"search: customer name ({name})": (name, "name", {"like": f"%{name}%"}),
        }  # fmt: skip
        cases = [
            ("grid: first page", "/messages/", {}, "grid", {}),
            (f"grid: deep page (cursor, row {depth:,})", f"/messages/?cursor={deep_cursor}", {}, "deep",
             {"at": deep_row["last_message_at"], "id": deep_row["id"]}),
            ("REST: GET /api/v1/conversations?limit=25", "/api/v1/conversations?limit=25", {"api": True}, "grid", {}),
            (f"REST: ... ?cursor= (row {depth:,})", f"/api/v1/conversations?limit=25&cursor={deep_cursor}",
             {"api": True}, "deep", {"at": deep_row["last_message_at"], "id": deep_row["id"]}),
        ]  # fmt: skip
        for label, (text, floor_key, params) in searches.items():
            cases.append((label, f"/messages/?search={q(text)}", {}, floor_key, params))
        cases.append(
            (f"REST: /api/v1/messages?search={COMMON_WORD}", f"/api/v1/messages?limit=25&search={COMMON_WORD}",
             {"api": True}, "words", {"tsq": f"'{COMMON_WORD}':*"})
        )  # fmt: skip
        cases.append(
            (f"REST: /api/v1/messages?search={RARE_WORD}", f"/api/v1/messages?limit=25&search={RARE_WORD}",
             {"api": True}, "rare", {"tsq": f"'{RARE_WORD}':*"})
        )  # fmt: skip
        cases.append(("record page", f"/records/contact/{contact.contact_id}/", {}, "record", {}))
        cases.append(("record pane", f"/records/contact/{contact.contact_id}/pane/", {"htmx": True}, None, {}))
        if args.legacy_offset:
            cases.append(("grid: former ?page=2000 (offset 49,975)", "/messages/?page=2000", {}, "deep",
                          {"at": deep_row["last_message_at"], "id": deep_row["id"]}))  # fmt: skip
        with psycopg.connect(db_url, autocommit=True) as floor_conn:
            base = {"me": org["sellers"][0], "teams": [org["north"]], "record": contact.contact_id}
            log(f"\nover HTTP, one kept-alive connection, {args.samples} requests each after 3 of warm-up")
            for label, path, how, floor_key, params in cases:
                for _ in range(3):
                    browser.timed(path, **how)
                timings = [browser.timed(path, **how)[0] for _ in range(args.samples)]
                floor = None
                if floor_key:
                    floor = time_floor(floor_conn, FLOORS[floor_key], {**base, **params}, args.samples)
                results[label] = (timings, floor)
                log(summary(label, timings, floor))
            # A peek at what the first search page answers (rows found), so a fast empty answer cannot pass.
            for label, (text, _, _) in searches.items():
                _, body = browser.timed(f"/messages/?search={q(text)}")
                rows = len(re.findall(rb"data-conversation-row=", body))
                log(f"  {label}: {rows} rows on the first page")
            _, body = browser.timed(f"/api/v1/messages?limit=25&search={RARE_WORD}", api=True)
            log(f"  REST rare word: count {json.loads(body)['count']}")
        routed_p99 = routed_visible(args, env, work, org) if args.rate else None
    finally:
        stop(web)
    grid, grid_floor = results["grid: first page"]
    search_t = [t for label, (ts, _) in results.items() if label.startswith("search:") for t in ts]
    search_f = [t for label, (_, fs) in results.items() if label.startswith("search:") for t in fs or []]
    log(
        f"\nscale: conversations {args.conversations}, messages {args.messages}, grid p95 {pct(grid, 95):.0f} ms "
        f"(floor {pct(grid_floor, 95):.1f} ms), search p95 {pct(search_t, 95):.0f} ms (floor {pct(search_f, 95):.1f} ms), "
        f"routed-visible p99 {'n/a' if routed_p99 is None else f'{routed_p99:.0f} ms'} at {args.rate:g} msg/s"
    )
    shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000, help="e.g. 5000000 for the search goal")
    parser.add_argument("--samples", type=int, default=100, help="timed requests per case")
    parser.add_argument("--legacy-offset", action="store_true", help="also time the former ?page=2000 link")
    parser.add_argument(
        "--database", default="textdesk_scale", help="PostgreSQL database to drop and recreate (a name of your own)"
    )
    parser.add_argument("--rate", type=float, default=100, help="webhooks per second for routed-visible (0: skip)")
    parser.add_argument("--duration", type=int, default=20, help="seconds of webhooks at --rate")
    parser.add_argument("--route-workers", type=int, default=1, help="textdesk worker processes during that run")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="Redis for the workers' wake-ups")
    parser.add_argument("--reuse", action="store_true", help="measure the data set an earlier run left in --database")
    parser.add_argument("--port", type=int, default=WEB_PORT, help="where TextDesk is served during the run")
    args = parser.parse_args()
    log(f"== Scale benchmark ({os.cpu_count()} cores; figures drift between runs, compare within one run)")
    run(args)


if __name__ == "__main__":
    main()
