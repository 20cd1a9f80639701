"""Sign-in throttling and the sign-in record.

After ``SIGNIN_FAILURE_LIMIT`` failures in a row (wrong passwords for one username, or from one client address;
bad API tokens from one client address) that username or client is locked out for ``SIGNIN_LOCKOUT_SECONDS``:
even the right password is refused meanwhile. Counters live in Django's cache (Redis when
``TEXTDESK_REDIS_URL`` is set, so every process shares them; per process otherwise). A cache that cannot be
reached does not stop anyone signing in: the lockout is a brake, not a door.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.core.cache import cache

from textdesk.org.models import SignInRecord

log = logging.getLogger(__name__)


def client_ip(request) -> str | None:
    return (request.META.get("REMOTE_ADDR") or None) if request is not None else None


def _keys(username: str | None, ip: str | None) -> list[str]:
    keys = []
    if username:
        keys.append("signin:user:" + hashlib.sha256(username.lower().encode("utf-8", "replace")).hexdigest())
    if ip:
        keys.append(f"signin:ip:{ip}")
    return keys


def is_locked_out(username: str | None, ip: str | None) -> bool:
    try:
        return any(cache.get(key + ":locked") for key in _keys(username, ip))
    except Exception:  # the cache is down: do not lock everyone out
        log.warning("sign-in throttle: cache unavailable", exc_info=True)
        return False


def note_failure(username: str | None, ip: str | None) -> None:
    try:
        for key in _keys(username, ip):
            cache.add(key, 0, settings.SIGNIN_LOCKOUT_SECONDS)
            if cache.incr(key) >= settings.SIGNIN_FAILURE_LIMIT:
                cache.set(key + ":locked", True, settings.SIGNIN_LOCKOUT_SECONDS)
                cache.delete(key)
    except Exception:
        log.warning("sign-in throttle: cache unavailable", exc_info=True)


def note_success(username: str | None, ip: str | None) -> None:
    try:
        cache.delete_many(_keys(username, ip))
    except Exception:
        log.warning("sign-in throttle: cache unavailable", exc_info=True)


def record(channel: str, outcome: str, *, username: str = "", user=None, ip: str | None = None) -> None:
    SignInRecord.objects.create(
        channel=channel, outcome=outcome, username=(username or "")[:150], user=user, client_ip=ip
    )
