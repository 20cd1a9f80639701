"""Text messaging: providers, sender numbers, conversations, messages, consent, notifications, templates."""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from textdesk.crm.models import RecordLink, RecordType
from textdesk.messaging import crypto


def new_webhook_key() -> str:
    return secrets.token_urlsafe(24)


class ProviderKind(models.TextChoices):
    TWILIO = "twilio", "Twilio"
    VONAGE = "vonage", "Vonage"
    TELNYX = "telnyx", "Telnyx"
    PLIVO = "plivo", "Plivo"
    ACS = "acs", "Azure Communication Services"
    INFOBIP = "infobip", "Infobip"
    TELESIGN = "telesign", "Telesign"
    MESSAGEBIRD = "messagebird", "MessageBird"
    LINK_MOBILITY = "link_mobility", "LINK Mobility"
    VIBES = "vibes", "Vibes"
    GENERIC = "generic", _("Generic HTTP gateway")


class ProviderAccount(models.Model):
    """One account at an SMS provider. Its webhook URLs carry unguessable keys."""

    kind = models.CharField(_("provider"), max_length=20, choices=ProviderKind.choices)
    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    # Non-secret settings (e.g. API base URL, signature method); secrets live in `credentials_encrypted`.
    options = models.JSONField(_("options"), default=dict, blank=True)
    credentials_encrypted = models.TextField(editable=False, blank=True)
    inbound_key = models.CharField(max_length=64, unique=True, default=new_webhook_key, editable=False)
    status_key = models.CharField(max_length=64, unique=True, default=new_webhook_key, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("SMS provider account")
        verbose_name_plural = _("SMS provider accounts")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def credentials(self) -> dict:
        return crypto.decrypt_json(self.credentials_encrypted)

    @credentials.setter
    def credentials(self, value: dict) -> None:
        self.credentials_encrypted = crypto.encrypt_json(value or {})

    def config(self):
        """The account as plain data for its provider adapter."""
        from textdesk.providers.base import AccountConfig

        return AccountConfig(
            kind=self.kind,
            credentials=self.credentials,
            options=dict(self.options or {}),
            inbound_url=self.inbound_url,
            status_url=self.status_url,
        )

    @property
    def inbound_url(self) -> str:
        return f"{settings.PUBLIC_URL}/webhooks/{self.inbound_key}/inbound"

    @property
    def status_url(self) -> str:
        return f"{settings.PUBLIC_URL}/webhooks/{self.status_key}/status"


class NumberType(models.TextChoices):
    GEO = "geo", _("Geo (long code)")
    TOLL_FREE = "toll_free", _("Toll-free")
    SHORT_CODE = "short_code", _("Short code")


class SenderNumber(models.Model):
    """One of our numbers, owned by a user or a team; only its owners may send from it."""

    e164 = models.CharField(_("phone number"), max_length=16, unique=True, help_text=_("E.164, e.g. +5511912345678"))
    name = models.CharField(_("name"), max_length=100, unique=True)
    number_type = models.CharField(_("type"), max_length=20, choices=NumberType.choices, default=NumberType.GEO)
    provider_account = models.ForeignKey(
        ProviderAccount, on_delete=models.PROTECT, related_name="numbers", verbose_name=_("provider account")
    )
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sender_numbers",
        verbose_name=_("owner (user)"),
    )
    owner_team = models.ForeignKey(
        "org.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sender_numbers",
        verbose_name=_("owner (team)"),
    )
    rate_per_second = models.FloatField(
        _("messages per second"),
        null=True,
        blank=True,
        help_text=_("Empty: the organisation's default for this type of number."),
    )
    # Next free sending slot, shared by every worker (see textdesk.messaging.outbound.ratelimit).
    next_send_at = models.DateTimeField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("sender number")
        verbose_name_plural = _("sender numbers")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(owner_user__isnull=False, owner_team__isnull=True)
                    | Q(owner_user__isnull=True, owner_team__isnull=False)
                ),
                name="sendernumber_one_owner",
                violation_error_message=_("A number is owned by exactly one user or one team."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.e164})"

    @property
    def owner(self):
        return self.owner_user or self.owner_team


class Conversation(RecordLink, models.Model):
    """The thread between one customer number and one of our numbers, on one CRM record."""

    record_type = models.CharField(_("record type"), max_length=20, choices=RecordType.choices)
    # Exactly one of the four is set, matching record_type; record_key ("contact:42") makes it unique.
    account = models.ForeignKey(
        "crm.Account", null=True, blank=True, on_delete=models.CASCADE, related_name="conversations"
    )
    contact = models.ForeignKey(
        "crm.Contact", null=True, blank=True, on_delete=models.CASCADE, related_name="conversations"
    )
    opportunity = models.ForeignKey(
        "crm.Opportunity", null=True, blank=True, on_delete=models.CASCADE, related_name="conversations"
    )
    lead = models.ForeignKey("crm.Lead", null=True, blank=True, on_delete=models.CASCADE, related_name="conversations")
    # record_key is searched through the unique binding (it leads it); customer_e164 has a plain index (no LIKE
    # twin: nothing searches it by prefix). Every routed message writes this row, so each index counts.
    record_key = models.CharField(max_length=40, editable=False)
    customer_e164 = models.CharField(_("customer number"), max_length=16)
    sender_number = models.ForeignKey(
        SenderNumber, on_delete=models.PROTECT, related_name="conversations", verbose_name=_("our number")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_message_at = models.DateTimeField(_("last message"), null=True, blank=True, db_index=True)
    last_message_preview = models.CharField(max_length=160, blank=True)
    last_direction = models.CharField(max_length=10, blank=True)
    last_status = models.CharField(max_length=20, blank=True)
    unread_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["-last_message_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["record_key", "customer_e164", "sender_number"], name="conversation_unique_binding"
            )
        ]
        indexes = [models.Index(fields=["customer_e164"], name="conversation_customer")]

    def __str__(self) -> str:
        return f"{self.record_key} ↔ {self.customer_e164} via {self.sender_number_id}"


class Direction(models.TextChoices):
    INBOUND = "inbound", _("Inbound")
    OUTBOUND = "outbound", _("Outbound")


class MessageStatus(models.TextChoices):
    """Provider-neutral status; see textdesk.domain.status for precedence and the seed's reasons."""

    SCHEDULED = "scheduled", _("Scheduled")
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    UNDELIVERED = "undelivered", _("Not delivered")
    FAILED = "failed", _("Failed")
    UNKNOWN = "unknown", _("Unknown outcome")
    NO_REPORT = "no_report", _("No delivery report")
    RECEIVED = "received", _("Received")


class RoutingState(models.TextChoices):
    PENDING = "pending", _("Waiting to be routed")
    ROUTED = "routed", _("Routed")
    FAILED = "failed", _("Could not be routed")


class Message(models.Model):
    # Indexed by message_conv_time below (conversation first): a second index would only cost every write.
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    direction = models.CharField(_("direction"), max_length=10, choices=Direction.choices)
    # Indexed by message_unique_provider_id (account first). The other references are indexed only where set
    # (see Meta.indexes): an inbound message is stored without them, and every index entry costs its webhook.
    provider_account = models.ForeignKey(
        ProviderAccount, on_delete=models.PROTECT, related_name="messages", db_index=False
    )
    sender_number = models.ForeignKey(
        SenderNumber, null=True, blank=True, on_delete=models.PROTECT, related_name="messages", db_index=False
    )
    from_number = models.CharField(_("from"), max_length=32)
    to_number = models.CharField(_("to"), max_length=32)
    body = models.TextField(_("body"), blank=True)
    segments = models.PositiveSmallIntegerField(_("segments"), default=1)
    encoding = models.CharField(_("encoding"), max_length=10, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=MessageStatus.choices)
    provider_status = models.CharField(_("provider status"), max_length=40, blank=True)
    provider_message_id = models.CharField(_("provider message id"), max_length=100, null=True, blank=True)
    failure_reason = models.CharField(_("failure reason"), max_length=40, blank=True)
    failure_permanent = models.BooleanField(default=False)
    provider_error_code = models.CharField(_("provider error code"), max_length=40, blank=True)
    provider_error_text = models.CharField(_("provider error"), max_length=1000, blank=True)
    # Inbound only: routing happens after the webhook has been acknowledged.
    routing_state = models.CharField(max_length=10, choices=RoutingState.choices, blank=True)
    routing_rule = models.CharField(_("routing rule"), max_length=40, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # Outbound only (inbound messages have none): a unique key sent to providers that support idempotent sends.
    idempotency_key = models.UUIDField(default=uuid.uuid4, null=True, editable=False)
    send_after = models.DateTimeField(_("send after"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("text message")
        verbose_name_plural = _("text messages")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider_account", "provider_message_id"],
                condition=Q(provider_message_id__isnull=False),
                name="message_unique_provider_id",
            ),
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="message_unique_idempotency_key",
            ),
        ]
        # Partial where a column is empty on most rows' first write: a webhook's insert (and the routing's update
        # after it) touches only the indexes whose condition its row meets. Queries that filter on the column
        # (``conversation_id = …``, ``status = 'failed'``) imply the condition, so the planner uses them alike.
        indexes = [
            models.Index(
                fields=["conversation", "created_at"], condition=Q(conversation__isnull=False), name="message_conv_time"
            ),
            # For the admin's status filter; an inbound message's status ("received") never changes.
            # Declared here rather than with db_index, which on PostgreSQL adds a second (LIKE) index.
            models.Index(fields=["status"], condition=~Q(status="received"), name="message_status"),
            models.Index(fields=["id"], condition=Q(routing_state="pending"), name="message_routing_pending"),
            models.Index(fields=["sender_number"], condition=Q(sender_number__isnull=False), name="message_sender"),
            models.Index(fields=["author"], condition=Q(author__isnull=False), name="message_author"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.from_number}→{self.to_number} [{self.status}]"


class MessageEvent(models.Model):
    """History of a message's status: every change, with the provider's own value and code."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=20, choices=MessageStatus.choices)
    provider_status = models.CharField(max_length=40, blank=True)
    provider_code = models.CharField(max_length=40, blank=True)
    detail = models.CharField(max_length=1000, blank=True)
    applied = models.BooleanField(default=True, help_text=_("False when precedence kept the earlier status."))

    class Meta:
        ordering = ["at", "id"]


class MessagePart(models.Model):
    """One separately tracked part of a long outbound message, for providers that give each part its own
    id and delivery report (Vonage's SMS API). The message is delivered only when every part is."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="parts")
    provider_account = models.ForeignKey(ProviderAccount, on_delete=models.CASCADE, related_name="+")
    provider_message_id = models.CharField(max_length=100)
    number = models.PositiveSmallIntegerField()  # 1-based, in the provider's order
    status = models.CharField(max_length=20, choices=MessageStatus.choices)
    provider_status = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["message", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider_account", "provider_message_id"], name="messagepart_unique_provider_id"
            )
        ]


class UnmatchedStatusUpdate(models.Model):
    """A status callback that arrived before we recorded the provider's message id; applied later."""

    provider_account = models.ForeignKey(ProviderAccount, on_delete=models.CASCADE)
    provider_message_id = models.CharField(max_length=100, db_index=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)


class ConsentAction(models.TextChoices):
    OPT_OUT = "opt_out", _("Opted out")
    OPT_IN = "opt_in", _("Opted in")
    HELP = "help", _("Asked for help")


class OptOut(models.Model):
    """Current consent of a customer number, for one of our numbers or (scope "*") for all."""

    customer_e164 = models.CharField(max_length=16)
    scope = models.CharField(max_length=16, help_text=_('Our number (E.164), or "*" for every number.'))
    is_opted_out = models.BooleanField(default=True)
    source = models.CharField(max_length=40)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer_e164", "scope"], name="optout_unique_scope")]


class ConsentEvent(models.Model):
    customer_e164 = models.CharField(max_length=16, db_index=True)
    scope = models.CharField(max_length=16)
    action = models.CharField(max_length=10, choices=ConsentAction.choices)
    source = models.CharField(max_length=40, help_text=_("keyword, provider signal, provider error or a user"))
    detail = models.CharField(max_length=200, blank=True)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at"]


class NotificationKind(models.TextChoices):
    INBOUND_MESSAGE = "inbound_message", _("New text message")
    MISSING_PRIVILEGE = "missing_privilege", _("Missing privilege")
    SEND_FAILED = "send_failed", _("Message not delivered")
    SEQUENCE_STEP_FAILED = "sequence_step_failed", _("Sequence step failed")
    ROUTING_FAILED = "routing_failed", _("Message could not be routed")


class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=30, choices=NotificationKind.choices)
    title = models.CharField(max_length=200)
    body = models.CharField(max_length=1000, blank=True)
    conversation = models.ForeignKey(Conversation, null=True, blank=True, on_delete=models.CASCADE)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_user_unread")]


class MessageTemplate(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="message_templates")
    name = models.CharField(_("template name"), max_length=100)
    category = models.CharField(_("category"), max_length=20, choices=RecordType.choices)
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, default="en")
    body = models.TextField(_("body"))
    # [{"name": "ContactFirstName", "display_name": "", "default": ""}, ...]
    placeholders = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("text message template")
        verbose_name_plural = _("text message templates")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="template_unique_name")]

    def __str__(self) -> str:
        return self.name


class ConversationMove(models.Model):
    """Audit: who moved which conversation from which record to which."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="moves")
    moved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    from_record_key = models.CharField(max_length=40)
    to_record_key = models.CharField(max_length=40)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at"]


class ConcatPartBuffer(models.Model):
    """Parts of a long inbound message that the provider delivers separately, until all have arrived."""

    provider_account = models.ForeignKey(ProviderAccount, on_delete=models.CASCADE)
    from_number = models.CharField(max_length=32)
    to_number = models.CharField(max_length=32)
    reference = models.CharField(max_length=64)
    total = models.PositiveSmallIntegerField()
    number = models.PositiveSmallIntegerField()
    body = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider_account", "from_number", "reference", "number"], name="concat_unique_part"
            )
        ]


class CustomerCarrier(models.Model):
    """The carrier a provider named for a customer in their last inbound message, for providers whose sends
    to that customer must name it again (Vibes)."""

    provider_account = models.ForeignKey(ProviderAccount, on_delete=models.CASCADE, related_name="+")
    customer_number = models.CharField(max_length=32)
    carrier = models.CharField(max_length=20)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider_account", "customer_number"], name="customer_carrier_unique")
        ]
