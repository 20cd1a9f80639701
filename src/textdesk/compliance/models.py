"""What compliance keeps: the audit trail, the consent ledger, auto-reply texts and what was sent of them,
opt-out suggestions found in free text, erased numbers (hashed) and the organisation's compliance settings."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    SENT = "sent", _("Sent a text message")
    READ = "read", _("Read a conversation")
    MOVED = "moved", _("Moved a conversation")
    EXPORTED = "exported", _("Exported a person's data")
    ERASED = "erased", _("Erased a person's data")
    CONSENT_CHANGED = "consent_changed", _("Changed consent")
    OPT_OUT_CHANGED = "opt_out_changed", _("Changed an opt-out")
    CREDENTIALS_CHANGED = "credentials_changed", _("Changed provider credentials")
    LOGGED_IN = "logged_in", _("Logged in")
    LOGIN_FAILED = "login_failed", _("Failed to log in")
    AUTO_REPLY = "auto_reply", _("Sent an automatic reply")
    RETENTION = "retention", _("Applied the retention policy")


class AppendOnly(Exception):
    """Audit events are never changed nor deleted one by one (only the retention policy removes old ones)."""


class AuditEvent(models.Model):
    """Who did what, when, to what. Append-only."""

    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("who"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_name = models.CharField(_("who (name)"), max_length=150, blank=True)
    action = models.CharField(_("what"), max_length=30, choices=AuditAction.choices, db_index=True)
    target_type = models.CharField(_("target type"), max_length=40, blank=True)
    target_id = models.CharField(_("target"), max_length=64, blank=True, db_index=True)
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name or '-'} {self.action} {self.target_type}:{self.target_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnly("audit events cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("audit events cannot be deleted one by one")


class Purpose(models.TextChoices):
    TRANSACTIONAL = "transactional", _("Transactional")
    MARKETING = "marketing", _("Marketing")


class ConsentMethod(models.TextChoices):
    KEYWORD = "keyword", _("Keyword")
    WEB_FORM = "web_form", _("Web form")
    IMPORT = "import", _("Import")
    CALL = "call", _("Seller on a call")
    API = "api", _("API")
    FREE_TEXT = "free_text", _("Customer's own words")
    PROVIDER = "provider", _("Provider")


class LegalBasis(models.TextChoices):
    CONSENT = "consent", _("Consent")
    CONTRACT = "contract", _("Contract")
    LEGITIMATE_INTEREST = "legitimate_interest", _("Legitimate interest")
    LEGAL_OBLIGATION = "legal_obligation", _("Legal obligation")


class ConsentRecord(models.Model):
    """One entry of the consent ledger: a customer number's consent for one purpose granted or revoked.

    The current consent is the latest entry of (number, purpose). Entries are never changed.
    """

    customer_e164 = models.CharField(_("customer number"), max_length=16, db_index=True)
    purpose = models.CharField(_("purpose"), max_length=20, choices=Purpose.choices)
    granted = models.BooleanField(_("granted"))
    at = models.DateTimeField(_("when"), default=timezone.now)
    method = models.CharField(_("how"), max_length=20, choices=ConsentMethod.choices)
    wording = models.TextField(_("wording shown"), blank=True)
    legal_basis = models.CharField(_("legal basis"), max_length=30, choices=LegalBasis.choices, default="consent")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["customer_e164", "purpose", "-at"], name="consent_latest")]

    def __str__(self) -> str:
        return f"{self.customer_e164} {self.purpose} {'granted' if self.granted else 'revoked'}"


class ReplyKind(models.TextChoices):
    OPT_OUT = "opt_out", _("Opt-out confirmation")
    OPT_IN = "opt_in", _("Opt-in confirmation")
    HELP = "help", _("Help")


class AutoReplyText(models.Model):
    """The organisation's wording of an automatic reply, per language, optionally for one sender number."""

    kind = models.CharField(_("kind"), max_length=10, choices=ReplyKind.choices)
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES)
    sender_number = models.ForeignKey(
        "messaging.SenderNumber",
        verbose_name=_("sender number"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        help_text=_("Empty: every number without its own text."),
    )
    text = models.TextField(_("text"), max_length=320)

    class Meta:
        verbose_name = _("automatic reply")
        verbose_name_plural = _("automatic replies")
        constraints = [
            models.UniqueConstraint(fields=["kind", "language", "sender_number"], name="autoreply_unique_per_number"),
            models.UniqueConstraint(
                fields=["kind", "language"],
                condition=models.Q(sender_number__isnull=True),
                name="autoreply_unique_default",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.language})"


class AutoReplySent(models.Model):
    """One row per automatic reply sent: its unique key is what makes a confirmation go out once."""

    key = models.CharField(max_length=200, unique=True)
    customer_e164 = models.CharField(max_length=16, db_index=True)
    message = models.ForeignKey("messaging.Message", null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(default=timezone.now)


class FlagState(models.TextChoices):
    OPEN = "open", _("Waiting for the seller")
    RECORDED = "recorded", _("Opt-out recorded")
    DISMISSED = "dismissed", _("Dismissed")


class OptOutFlag(models.Model):
    """An inbound message whose words ask to stop: shown to the seller, who records the opt-out in one click."""

    message = models.OneToOneField("messaging.Message", on_delete=models.CASCADE, related_name="optout_flag")
    conversation = models.ForeignKey("messaging.Conversation", on_delete=models.CASCADE, related_name="optout_flags")
    customer_e164 = models.CharField(max_length=16, db_index=True)
    language = models.CharField(max_length=10)
    phrase = models.CharField(_("words"), max_length=100)
    state = models.CharField(_("state"), max_length=10, choices=FlagState.choices, default=FlagState.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("opt-out request in free text")
        verbose_name_plural = _("opt-out requests in free text")
        ordering = ["-created_at"]


def number_hash(e164: str) -> str:
    """A keyed hash of a phone number: matches the number again, but does not give it back."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, b"textdesk-erased-number:" + e164.encode(), hashlib.sha256).hexdigest()


class ErasedNumber(models.Model):
    """A number whose person was erased: kept only as a hash, so its opt-out still blocks sends."""

    number_hash = models.CharField(max_length=64, unique=True)
    opted_out = models.BooleanField(default=True)
    erased_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("erased number")
        verbose_name_plural = _("erased numbers")

    @classmethod
    def blocks(cls, e164: str) -> bool:
        return cls.objects.filter(number_hash=number_hash(e164), opted_out=True).exists()


class RetentionAction(models.TextChoices):
    DELETE = "delete", _("Delete")
    ANONYMISE = "anonymise", _("Anonymise (keep counts, remove text and numbers)")


class ComplianceSettings(models.Model):
    """One row: the organisation's compliance choices."""

    brand_name = models.CharField(
        _("brand name"), max_length=60, default="TextDesk", help_text=_("Starts every automatic reply.")
    )
    help_contact = models.CharField(
        _("help contact"), max_length=120, blank=True, help_text=_("Phone, e-mail or web address given on HELP.")
    )
    marketing_consent_required = models.BooleanField(
        _("marketing needs consent"),
        default=False,
        help_text=_("Refuse marketing templates to numbers without marketing consent in the ledger."),
    )
    auto_opt_out_on_intent = models.BooleanField(
        _("record opt-outs found in free text automatically"),
        default=False,
        help_text=_("Otherwise the seller is shown the message and records the opt-out in one click."),
    )
    message_retention_days = models.PositiveIntegerField(
        _("keep messages for (days)"), null=True, blank=True, help_text=_("Empty: keep forever.")
    )
    message_retention_action = models.CharField(
        _("older messages are"), max_length=10, choices=RetentionAction.choices, default=RetentionAction.DELETE
    )
    audit_retention_days = models.PositiveIntegerField(_("keep audit events for (days)"), default=730)
    intent_scanned_up_to = models.BigIntegerField(default=0, editable=False)
    retention_ran_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("compliance settings")
        verbose_name_plural = _("compliance settings")
        permissions = [
            ("manage_person_data", _("Export or erase a person's data")),
            ("view_dashboard", _("See the manager's dashboard")),
        ]

    def __str__(self) -> str:
        return str(_("Compliance settings"))

    @classmethod
    def current(cls) -> ComplianceSettings:
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj


class TemplatePurpose(models.Model):
    """A text message template marked as marketing: sends made from it need marketing consent."""

    template = models.OneToOneField(
        "messaging.MessageTemplate", on_delete=models.CASCADE, related_name="compliance_purpose"
    )
    purpose = models.CharField(_("purpose"), max_length=20, choices=Purpose.choices, default=Purpose.MARKETING)

    class Meta:
        verbose_name = _("template purpose")
        verbose_name_plural = _("template purposes")
