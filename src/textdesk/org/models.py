"""People of the organisation: users, teams, roles and organisation-wide settings."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    language = models.CharField(
        _("language"),
        max_length=10,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_("Language of the interface; empty means the browser's language."),
    )
    external_id = models.CharField(_("external id"), max_length=100, blank=True, null=True, unique=True)

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        permissions = [
            ("receive_inbound_messages", _("Receive inbound text messages")),
            ("send_messages", _("Send text messages")),
            ("manage_own_templates", _("Manage own text message templates")),
            ("move_conversations", _("Move conversations to another record")),
            ("manage_phone_numbers", _("Manage sender phone numbers")),
            ("manage_sms_providers", _("Manage SMS providers")),
            ("manage_sequences", _("Manage sequences")),
            ("view_team_conversations", _("See the conversations of every team the user belongs to")),
            ("view_all_conversations", _("See every conversation of the organisation")),
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    def team_ids(self) -> list[int]:
        cached = getattr(self, "_team_ids", None)
        if cached is None:
            cached = list(self.teams.values_list("id", flat=True))
            self._team_ids = cached
        return cached


class Team(models.Model):
    name = models.CharField(_("name"), max_length=150, unique=True)
    members = models.ManyToManyField(User, related_name="teams", blank=True, verbose_name=_("members"))
    external_id = models.CharField(_("external id"), max_length=100, blank=True, null=True, unique=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class OrganisationSettings(models.Model):
    """One row: what an administrator sets for the whole organisation."""

    quiet_hours_enabled = models.BooleanField(_("quiet hours enabled"), default=False)
    quiet_hours_start = models.TimeField(_("quiet hours start"), default=dt.time(21, 0))
    quiet_hours_end = models.TimeField(_("quiet hours end"), default=dt.time(8, 0))
    message_body_limit = models.PositiveIntegerField(_("message length limit"), default=1000)
    rate_long_code = models.FloatField(_("messages per second, long code"), default=1.0)
    rate_toll_free = models.FloatField(_("messages per second, toll-free"), default=3.0)
    rate_short_code = models.FloatField(_("messages per second, short code"), default=100.0)
    send_deadline_minutes = models.PositiveIntegerField(_("give up retrying after (minutes)"), default=60)

    class Meta:
        verbose_name = _("organisation settings")
        verbose_name_plural = _("organisation settings")

    def __str__(self) -> str:
        return str(_("Organisation settings"))

    @classmethod
    def current(cls) -> OrganisationSettings:
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj


# How stale ApiToken.last_used_at may be: "when was this token last used" needs no finer answer.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class ApiToken(models.Model):
    """A bearer token for the REST API. Only its SHA-256 is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100, blank=True)
    prefix = models.CharField(max_length=8, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.user} {self.prefix}…"

    @staticmethod
    def hash(token: str) -> str:
        import hashlib

        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User, name: str = "") -> tuple[ApiToken, str]:
        import secrets

        token = "td_" + secrets.token_urlsafe(32)
        obj = cls.objects.create(user=user, name=name, prefix=token[:8], token_hash=cls.hash(token))
        return obj, token

    @classmethod
    def find(cls, token: str) -> ApiToken | None:
        """The token's row when it belongs to an active user."""
        obj = cls.objects.select_related("user").filter(token_hash=cls.hash(token)).first()
        if obj is None or not obj.user.is_active:
            return None
        return obj

    @classmethod
    def authenticate(cls, token: str) -> User | None:
        obj = cls.find(token)
        return obj.user if obj is not None else None

    def note_use(self) -> None:
        """Records when the token was last used, to the minute: written on every request, it made each API read
        also a committed write (a WAL flush on PostgreSQL, the write lock on SQLite)."""
        now = timezone.now()
        if self.last_used_at is None or now - self.last_used_at >= LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now


class SignInRecord(models.Model):
    """One sign-in attempt (web login or API token), kept for the administrators: who, from where, and whether
    it succeeded or was refused because of too many failures. Only sign-ins: not a general audit trail."""

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")
        LOCKED_OUT = "locked_out", _("locked out")

    class Channel(models.TextChoices):
        PASSWORD = "password", _("password")
        API_TOKEN = "api_token", _("API token")

    at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices)
    username = models.CharField(_("username given"), max_length=150, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), null=True, blank=True, on_delete=models.SET_NULL
    )
    client_ip = models.GenericIPAddressField(_("client IP address"), null=True, blank=True)

    class Meta:
        verbose_name = _("sign-in record")
        verbose_name_plural = _("sign-in records")
        ordering = ["-at", "-id"]
