"""The seller's one click on an opt-out request found in free text (record it, or dismiss it)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_POST

from textdesk.compliance import access
from textdesk.compliance.actions import intent, ledger


def _flag(request, flag_id: int):
    flag = access.visible_flags(request.user).select_related("conversation").filter(pk=flag_id).first()
    if flag is None:
        raise Http404
    if not request.user.has_perm("org.send_messages"):
        raise PermissionDenied
    return flag


def _box(request, flag):
    conversation = flag.conversation
    context = {
        "number": flag.customer_e164,
        "consents": ledger.current(flag.customer_e164),
        "flags": list(intent.open_flags(conversation)),
        "conversation": conversation,
    }
    response = render(request, "compliance/consent_box.html", context)
    response["HX-Trigger"] = "consent-changed"
    return response


@login_required
@require_POST
def record_flag(request, flag_id: int):
    flag = _flag(request, flag_id)
    intent.record(flag, request.user)
    return _box(request, flag)


@login_required
@require_POST
def dismiss_flag(request, flag_id: int):
    flag = _flag(request, flag_id)
    intent.dismiss(flag, request.user)
    return _box(request, flag)
