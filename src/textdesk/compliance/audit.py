"""Writing the audit trail: ``record(action, actor, target, details)``; the acting user of a request is
known to the signal listeners through :class:`CurrentRequest` (a middleware)."""

from __future__ import annotations

import contextvars

from textdesk.compliance.models import AuditEvent

_request: contextvars.ContextVar = contextvars.ContextVar("textdesk_audit_request", default=None)


def current_user():
    """The user of the request being served, when there is one (web or API: the API sets it after auth)."""
    request = _request.get()
    user = getattr(request, "user", None) if request is not None else None
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def record(action: str, actor=None, target_type: str = "", target_id="", details: dict | None = None) -> AuditEvent:
    """Append one audit event. ``actor`` defaults to the current request's user (None for the system)."""
    if actor is None:
        actor = current_user()
    return AuditEvent.objects.create(
        actor=actor if actor is not None and getattr(actor, "pk", None) else None,
        actor_name=(getattr(actor, "username", "") or "")[:150] if actor is not None else "",
        action=action,
        target_type=target_type[:40],
        target_id=str(target_id or "")[:64],
        details=details or {},
    )


class CurrentRequest:
    """Middleware: remembers the request for the audit listeners (signals have no request of their own)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)
