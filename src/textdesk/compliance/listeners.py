"""Audit events from what other parts of TextDesk already do, without them knowing: sends, moves,
provider credential changes, logins (Django's signals)."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_save, pre_save

from textdesk.compliance.models import AuditAction


def _audit():
    from textdesk.compliance import audit

    return audit


def message_saved(sender, instance, created, raw=False, **kwargs):
    if raw or not created or instance.direction != "outbound":
        return
    _audit().record(
        AuditAction.SENT,
        actor=instance.author,
        target_type="message",
        target_id=instance.pk,
        details={"to": instance.to_number, "from": instance.from_number, "status": instance.status},
    )


def move_saved(sender, instance, created, raw=False, **kwargs):
    if raw or not created:
        return
    _audit().record(
        AuditAction.MOVED,
        actor=instance.moved_by,
        target_type="conversation",
        target_id=instance.conversation_id,
        details={"from": instance.from_record_key, "to": instance.to_record_key},
    )


def provider_account_saving(sender, instance, raw=False, **kwargs):
    if raw:
        return
    before = sender.objects.filter(pk=instance.pk).values_list("credentials_encrypted", flat=True).first()
    instance._credentials_changed = instance.pk is None or before != instance.credentials_encrypted


def provider_account_saved(sender, instance, created, raw=False, **kwargs):
    if raw or not getattr(instance, "_credentials_changed", False):
        return
    instance._credentials_changed = False
    _audit().record(
        AuditAction.CREDENTIALS_CHANGED,
        target_type="provider_account",
        target_id=instance.pk,
        details={"name": instance.name, "kind": instance.kind, "created": created},  # never the secrets
    )


def logged_in(sender, request, user, **kwargs):
    _audit().record(AuditAction.LOGGED_IN, actor=user, target_type="user", target_id=user.pk, details=_ip(request))


def login_failed(sender, credentials, request=None, **kwargs):
    username = str((credentials or {}).get("username", ""))[:150]  # Django already masks the password
    _audit().record(AuditAction.LOGIN_FAILED, actor=None, target_type="user", target_id=username, details=_ip(request))


def _ip(request) -> dict:
    address = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    return {"ip": address} if address else {}


def connect() -> None:
    from textdesk.messaging.models import ConversationMove, Message, ProviderAccount

    post_save.connect(message_saved, sender=Message, dispatch_uid="compliance.audit.sent")
    post_save.connect(move_saved, sender=ConversationMove, dispatch_uid="compliance.audit.moved")
    pre_save.connect(provider_account_saving, sender=ProviderAccount, dispatch_uid="compliance.audit.creds.pre")
    post_save.connect(provider_account_saved, sender=ProviderAccount, dispatch_uid="compliance.audit.creds")
    user_logged_in.connect(logged_in, dispatch_uid="compliance.audit.login")
    user_login_failed.connect(login_failed, dispatch_uid="compliance.audit.login_failed")
