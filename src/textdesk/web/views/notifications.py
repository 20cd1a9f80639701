"""The notification bell: unread count, list, open one (pane on its conversation, marked read)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_POST

from textdesk.messaging.actions.reading import mark_read
from textdesk.messaging.models import Notification, NotificationKind
from textdesk.messaging.visibility import visible_conversations
from textdesk.web.views.pane import render_pane


@login_required
def notification_list(request):
    items = Notification.objects.filter(user=request.user).select_related("conversation")[:20]
    return render(request, "web/partials/notifications.html", {"items": items})


@login_required
@require_POST
def notification_open(request, notification_id: int):
    notification = mark_read(request.user, notification_id)
    if notification is None:
        raise Http404
    if notification.conversation_id:
        conversation = visible_conversations(request.user).filter(pk=notification.conversation_id).first()
        if conversation is not None:
            return render_pane(request, conversation.record, conversation_id=conversation.pk)
    return render(
        request,
        "web/partials/notification_detail.html",
        {
            "n": notification,
            "missing_privilege": notification.kind == NotificationKind.MISSING_PRIVILEGE,
        },
    )
