"""The built-in carrier simulator: admin API, fault rules, callbacks, inbound retries, records, process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from tests.providers.helpers import twilio_account
from textdesk.domain import failures
from textdesk.providers.twilio import PROVIDER

SID = "AC" + "5" * 32
TOKEN = "sim-token"
OURS = "+14155550001"
CUSTOMER = "+14155550134"
http = httpx.Client(timeout=30)  # one client: creating one per request costs more than the request


@pytest.fixture
def hosted(simulator, sink):
    answer = http.post(
        simulator.url + "/_sim/numbers",
        json={
            "number": OURS,
            "account_sid": SID,
            "auth_token": TOKEN,
            "sms_url": sink.url + "/webhooks/in",
            "status_callback": sink.url + "/webhooks/status",
        },
    )
    assert answer.status_code == 201
    return simulator


def send(simulator, to=CUSTOMER, body="Hello", token=TOKEN):
    return http.post(
        f"{simulator.url}/2010-04-01/Accounts/{SID}/Messages.json",
        auth=(SID, token),
        data={"To": to, "From": OURS, "Body": body},
    )


def statuses(received):
    return [parse_qs(r.body.decode())["MessageStatus"][0] for r in received]


def test_admin_api_rejects_bad_configuration(simulator):
    assert http.post(simulator.url + "/_sim/numbers", json={"number": OURS}).status_code == 400
    assert http.post(simulator.url + "/_sim/numbers", json={"number": OURS, "colour": "red"}).status_code == 400
    assert http.post(simulator.url + "/_sim/rules", json={"rate": 2}).status_code == 400
    assert http.post(simulator.url + "/_sim/rules", json={"final_status": "lost"}).status_code == 400
    assert http.post(simulator.url + "/_sim/config", json={"callback_delays": [1]}).status_code == 400
    assert http.post(simulator.url + "/_sim/inbound", json={"from": CUSTOMER}).status_code == 400
    assert (
        http.post(
            simulator.url + "/_sim/inbound", json={"from": CUSTOMER, "to": "+19995550000", "body": "hi"}
        ).status_code
        == 404
    )
    assert http.delete(simulator.url + "/_sim/rules/99").status_code == 404


def test_unknown_from_number_is_21606(hosted):
    answer = http.post(
        f"{hosted.url}/2010-04-01/Accounts/{SID}/Messages.json",
        auth=(SID, TOKEN),
        data={"To": CUSTOMER, "From": "+14155550999", "Body": "x"},
    )
    assert (answer.status_code, answer.json()["code"]) == (400, 21606)
    assert answer.json()["more_info"] == "https://www.twilio.com/docs/errors/21606"


def test_rule_by_number_pattern_only_hits_matching_numbers(hosted):
    rule = http.post(hosted.url + "/_sim/rules", json={"to_pattern": "+1415555099*", "error_code": 21614}).json()
    assert send(hosted, to="+14155550990").json()["code"] == 21614
    assert send(hosted, to="+14155550991").json()["code"] == 21614
    assert send(hosted, to=CUSTOMER).status_code == 201
    assert http.delete(f"{hosted.url}/_sim/rules/{rule['id']}").status_code == 204
    assert send(hosted, to="+14155550990").status_code == 201


def test_rule_rate_affects_some_sends(hosted):
    http.post(hosted.url + "/_sim/config", json={"seed": 7})
    http.post(hosted.url + "/_sim/rules", json={"rate": 0.5, "error_code": 21612})
    codes = [send(hosted).status_code for _ in range(40)]
    assert set(codes) == {201, 400}
    assert len(http.get(hosted.url + "/_sim/messages", params={"direction": "outbound"}).json()) == codes.count(201)


def test_async_failure_reports_error_code(hosted, sink):
    http.post(hosted.url + "/_sim/rules", json={"async_error_code": 30003})
    sid = send(hosted).json()["sid"]
    received = sink.wait_for(3, "/status")
    assert statuses(received) == ["queued", "sent", "undelivered"]
    [report] = PROVIDER.parse_status(twilio_account(TOKEN, SID), received[-1].as_webhook()).statuses
    assert (report.provider_message_id, report.error_code, report.failure_reason) == (
        sid,
        "30003",
        failures.UNREACHABLE_DESTINATION,
    )
    message = http.get(f"{hosted.url}/2010-04-01/Accounts/{SID}/Messages/{sid}.json", auth=(SID, TOKEN)).json()
    assert (message["status"], message["error_code"]) == ("undelivered", 30003)


def test_failed_without_sent(hosted, sink):
    http.post(hosted.url + "/_sim/rules", json={"async_error_code": 30007, "final_status": "failed"})
    send(hosted)
    assert statuses(sink.wait_for(2, "/status")) == ["queued", "failed"]


def test_duplicate_and_out_of_order_callbacks(hosted, sink):
    http.post(hosted.url + "/_sim/rules", json={"duplicate_callbacks": 1, "out_of_order": True})
    send(hosted)
    received = sink.wait_for(6, "/status")
    assert statuses(received) == ["delivered", "delivered", "sent", "sent", "queued", "queued"]
    # The simulator logs a webhook once the receiver has answered: wait for the last entry.
    webhooks = []
    for _attempt in range(100):
        webhooks = http.get(hosted.url + "/_sim/webhooks", params={"kind": "status"}).json()
        if len(webhooks) >= 6:
            break
        time.sleep(0.05)
    assert [w["status"] for w in webhooks] == statuses(received)
    assert all(w["status_code"] == 200 for w in webhooks)


def test_inbound_is_retried_with_the_same_message_sid(hosted, sink):
    sink.answers = [500]
    result = http.post(hosted.url + "/_sim/inbound", json={"from": CUSTOMER, "to": OURS, "body": "Hi"}).json()
    assert result["deliveries"] == [{"attempts": [500, 200], "delivered": True}]
    received = sink.wait_for(2, "/in")
    assert {parse_qs(r.body.decode())["MessageSid"][0] for r in received} == {result["message_sid"]}
    assert len({r.headers["i-twilio-idempotency-token"] for r in received}) == 1


def test_inbound_repeat_simulates_provider_retries(hosted, sink):
    result = http.post(
        hosted.url + "/_sim/inbound", json={"from": CUSTOMER, "to": OURS, "body": "Hi", "repeat": 3}
    ).json()
    assert len(result["deliveries"]) == 3
    received = sink.wait_for(3, "/in")
    assert [parse_qs(r.body.decode())["MessageSid"][0] for r in received] == [result["message_sid"]] * 3
    inbound = http.get(hosted.url + "/_sim/messages", params={"direction": "inbound"}).json()
    assert len(inbound) == 1


def test_gives_up_after_configured_retries(hosted, sink):
    http.post(hosted.url + "/_sim/config", json={"inbound_retries": 2})
    sink.answers = [503, 503, 503, 503]
    result = http.post(hosted.url + "/_sim/inbound", json={"from": CUSTOMER, "to": OURS, "body": "Hi"}).json()
    assert result["deliveries"] == [{"attempts": [503, 503, 503], "delivered": False}]


def test_stop_reply_carries_opt_out_type_and_blocks_sends(hosted, sink):
    http.post(hosted.url + "/_sim/inbound", json={"from": CUSTOMER, "to": OURS, "body": " Stop "})
    [received] = sink.wait_for(1, "/in")
    [message] = PROVIDER.parse_inbound(twilio_account(TOKEN, SID), received.as_webhook()).inbound
    assert message.opt_signal == "opt_out"
    assert send(hosted).json()["code"] == 21610


def test_concurrent_sends_are_all_recorded(hosted):
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda i: send(hosted, body=f"message {i}"), range(64)))
    assert all(a.status_code == 201 for a in answers)
    recorded = http.get(hosted.url + "/_sim/messages", params={"direction": "outbound"}).json()
    assert len(recorded) == 64 == len({m["sid"] for m in recorded})
    assert {m["body"] for m in recorded} == {f"message {i}" for i in range(64)}


def test_reset_forgets_records_but_keeps_numbers(hosted, sink):
    send(hosted)
    sink.wait_for(3, "/status")
    assert http.post(hosted.url + "/_sim/reset").status_code == 204
    assert http.get(hosted.url + "/_sim/messages").json() == []
    assert [n["number"] for n in http.get(hosted.url + "/_sim/numbers").json()] == [OURS]


def test_phone_page(hosted):
    page = http.get(hosted.url + "/phone")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Customer phone" in page.text and "/_sim/inbound" in page.text


@pytest.mark.django_db
def test_demo_accounts_are_hosted(simulator):
    from textdesk.demo.organisation import SIMULATOR_ACCOUNT_SID, seed_demo
    from textdesk.demo.simulator import configure_from_database
    from textdesk.messaging.models import ProviderAccount

    seed_demo(simulator_url=simulator.url)
    assert configure_from_database(simulator.state, simulator.url) == 3
    account = ProviderAccount.objects.get(name="Demo carrier (simulator)")
    hosted = {n["number"]: n for n in http.get(simulator.url + "/_sim/numbers").json()}
    assert set(hosted) == {"+14155550001", "+14155550002", "+5511955550003"}
    assert hosted["+14155550001"]["sms_url"] == account.inbound_url
    assert hosted["+14155550001"]["status_callback"] == account.status_url
    assert hosted["+14155550001"]["account_sid"] == SIMULATOR_ACCOUNT_SID
    from textdesk.providers.base import OutboundSMS

    # The demo's webhook URLs point at a TextDesk server this test does not run: post nothing there.
    simulator.state.add_number({**hosted["+14155550001"], "sms_url": "", "status_callback": ""})
    with httpx.Client(timeout=5) as client:
        result = PROVIDER.send(account.config(), OutboundSMS("+14155550001", CUSTOMER, "Hi", "k"), client)
    assert result.status == "queued"


def test_simulator_command_runs_as_its_own_process(tmp_path):
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": str(src), "TEXTDESK_DATA_DIR": str(tmp_path)}
    help_text = subprocess.run(
        [sys.executable, "-m", "textdesk", "simulator", "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    assert help_text.returncode == 0 and "--port" in help_text.stdout and "customer" in help_text.stdout
    process = subprocess.Popen(
        [sys.executable, "-m", "textdesk", "simulator", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = ""
        while "running at" not in line:
            line = process.stdout.readline()
            assert line, process.stderr.read()
        url = line.rsplit(" ", 1)[1].strip()
        assert http.get(url + "/_sim/health").json() == {"ok": True}
    finally:
        process.terminate()
        process.wait(10)


def test_the_simulator_keeps_only_its_latest_records(simulator):
    """A simulator left running (a demo, a benchmark) forgets its oldest messages and webhook records."""
    from textdesk.simulator.state import SimulatorState

    state = SimulatorState()
    state.settings.update({"keep_records": 3})
    for i in range(5):
        state.record_message(sid=f"SM{i}", direction="outbound", body=str(i))
        state.record_webhook(url=f"http://sink/{i}", status_code=200)
    assert [m["sid"] for m in state.list_messages()] == ["SM2", "SM3", "SM4"]
    assert state.find_message("SM0") is None and state.find_message("SM4")["body"] == "4"
    assert [w["seq"] for w in state.list_webhooks()] == [3, 4, 5]  # numbering goes on
    answer = http.post(simulator.url + "/_sim/config", json={"keep_records": 0})
    assert answer.status_code == 400


def test_status_callbacks_can_be_turned_off_while_messages_still_move_on(hosted, sink):
    assert http.post(hosted.url + "/_sim/config", json={"status_callbacks": False}).status_code < 300
    try:
        sid = send(hosted).json()["sid"]
        for _attempt in range(100):  # the message goes on to delivered as before, nobody is told
            message = http.get(f"{hosted.url}/2010-04-01/Accounts/{SID}/Messages/{sid}.json", auth=(SID, TOKEN))
            if message.json()["status"] == "delivered":
                break
            time.sleep(0.05)
        assert message.json()["status"] == "delivered"
        assert http.get(hosted.url + "/_sim/webhooks", params={"kind": "status"}).json() == []
        assert [r for r in sink.received if "/status" in r.url] == []
    finally:
        http.post(hosted.url + "/_sim/config", json={"status_callbacks": True})
    send(hosted)
    assert statuses(sink.wait_for(3, "/status")) == ["queued", "sent", "delivered"]
