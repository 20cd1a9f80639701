"""Point the simulator at the demo organisation: host its numbers, post to the demo account's webhooks."""

from __future__ import annotations

from typing import Any

from textdesk.simulator.state import SimulatorState

GENERIC_PREFIX = "/generic"  # a generic account's base_url is the simulator's URL + this


def numbers_on_simulator(simulator_url: str) -> list[dict[str, Any]]:
    """Every active number whose provider account sends through the simulator at ``simulator_url``."""
    from textdesk.messaging.models import SenderNumber

    wanted = simulator_url.rstrip("/")
    hosted = []
    numbers = SenderNumber.objects.select_related("provider_account", "owner_user").filter(
        provider_account__is_active=True
    )
    # A seller's own line comes first: the customer phone page answers on it unless told otherwise.
    for sender in sorted(numbers, key=lambda n: (n.owner_user_id is None, n.name, n.pk)):
        owner = sender.owner_user.get_username() if sender.owner_user is not None else ""
        label = f"{sender.name} ({owner})" if owner else sender.name
        account = sender.provider_account
        base_url = str((account.options or {}).get("base_url") or "").rstrip("/")
        if base_url not in (wanted, wanted + GENERIC_PREFIX):
            continue
        credentials = account.credentials
        if account.kind == "twilio":
            hosted.append(
                {
                    "number": sender.e164,
                    "label": label,
                    "api": "twilio",
                    "account_sid": credentials.get("account_sid", ""),
                    "auth_token": credentials.get("auth_token", ""),
                    "sms_url": account.inbound_url,
                    "status_callback": account.status_url,
                }
            )
        elif account.kind == "generic":
            hosted.append(
                {
                    "number": sender.e164,
                    "label": label,
                    "api": "generic",
                    "api_key": credentials.get("api_key", ""),
                    "signing_secret": credentials.get("signing_secret", ""),
                    "sms_url": account.inbound_url,
                    "status_callback": account.status_url,
                }
            )
        elif account.kind in ("link_mobility", "vibes"):
            hosted.append(
                {
                    "number": sender.e164,
                    "api": account.kind,
                    "username": credentials.get("username", ""),
                    "password": credentials.get("password", ""),
                    "sms_url": account.inbound_url,
                    "status_callback": account.status_url,
                }
            )
    return hosted


def configure_from_database(state: SimulatorState, simulator_url: str) -> int:
    """Host the numbers of every provider account pointed at this simulator; returns how many."""
    numbers = numbers_on_simulator(simulator_url)
    for number in numbers:
        state.add_number(number)
    return len(numbers)
