"""The CRM records the text messages live on: accounts, contacts, opportunities and leads."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from textdesk.crm import record_types
from textdesk.domain import phones

PHONE_FIELDS = ("business_phone", "mobile_phone")


# The choices of every record_type column, from the registry (crm/record_types.py).
# django-stubs types the functional API's values as plain labels, not (value, label) pairs.
RecordType = models.TextChoices("RecordType", [(s.key.upper(), (s.key, s.label)) for s in record_types.RECORD_TYPES])  # type: ignore[call-overload]


class OwnedRecord(models.Model):
    """A CRM record: owned by exactly one user or one team, active or not, timestamped."""

    record_type: str = ""
    ACTIVE_REASONS: tuple[str, ...] = ("active",)
    # Declared for the type checker only (no value, so Django adds nothing): every concrete record
    # type defines its own status_reason field and gets Django's default manager.
    status_reason: str
    objects: ClassVar[models.Manager[Any]]

    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("owner (user)"),
    )
    owner_team = models.ForeignKey(
        "org.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("owner (team)"),
    )
    is_active = models.BooleanField(_("active"), default=True, editable=False)
    external_id = models.CharField(_("external id"), max_length=100, blank=True, null=True, unique=True)
    country = models.CharField(
        _("country"),
        max_length=2,
        blank=True,
        help_text=_("ISO code (e.g. BR) used for phone numbers written without a country code."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    modified_at = models.DateTimeField(_("modified"), auto_now=True, db_index=True)

    class Meta:
        abstract = True

    @classmethod
    def owner_constraint(cls, name: str) -> models.CheckConstraint:
        return models.CheckConstraint(
            condition=(
                Q(owner_user__isnull=False, owner_team__isnull=True)
                | Q(owner_user__isnull=True, owner_team__isnull=False)
            ),
            name=name,
            violation_error_message=_("A record is owned by exactly one user or one team."),
        )

    @property
    def owner(self):
        return self.owner_user or self.owner_team

    @property
    def record_key(self) -> str:
        return f"{self.record_type}:{self.pk}"

    def phone_region(self) -> str:
        return self.country or settings.DEFAULT_REGION

    def clean(self) -> None:
        super().clean()
        if bool(self.owner_user_id) == bool(self.owner_team_id):
            raise ValidationError(_("Choose exactly one owner: a user or a team."))

    def save(self, *args, **kwargs):
        self.derive_fields()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            extra = {"is_active", "modified_at"} | {f"{f}_e164" for f in PHONE_FIELDS if hasattr(self, f)}
            kwargs["update_fields"] = set(update_fields) | extra
        super().save(*args, **kwargs)

    def derive_fields(self) -> None:
        """The fields every save derives from the others; a bulk insert (which skips ``save``) calls it itself."""
        self.is_active = self.status_reason in self.ACTIVE_REASONS
        self.normalise_phones()

    def normalise_phones(self) -> None:
        region = self.phone_region()
        for field in PHONE_FIELDS:
            if hasattr(self, field):
                setattr(self, f"{field}_e164", phones.normalise(getattr(self, field), region).e164)

    def phone_numbers(self) -> list[dict]:
        """The record's phone fields: label, raw value, E.164 (empty when invalid)."""
        labels = {"business_phone": _("Business phone"), "mobile_phone": _("Mobile phone")}
        out = []
        for field in PHONE_FIELDS:
            if hasattr(self, field):
                raw = getattr(self, field)
                out.append(
                    {
                        "field": field,
                        "label": labels[field],
                        "raw": raw,
                        "e164": getattr(self, f"{field}_e164"),
                        "is_valid": bool(getattr(self, f"{field}_e164")),
                    }
                )
        return out


class E164Field(models.CharField):
    """A phone field's E.164 form: "" in Python when the field is empty or cannot be read, NULL in the database.

    NULL never equals a customer's number, stays out of the partial index (:func:`phone_indexes`), and does not
    weigh on the planner's estimates: with most phones empty, one common value "" made PostgreSQL expect a
    lookup by number to match a large part of the table, and scan it."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("null", True)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        return "" if value is None else value

    def get_prep_value(self, value):
        return super().get_prep_value(value) or None


def phone_indexes(prefix: str) -> list[models.Index]:
    """An index per phone column, holding only the records that have a number there."""
    return [
        models.Index(
            fields=[f"{field}_e164"], name=f"{prefix}_{field[:3]}_e164", condition=Q(**{f"{field}_e164__isnull": False})
        )
        for field in PHONE_FIELDS
    ]


class PhoneFieldsMixin(models.Model):
    business_phone = models.CharField(_("business phone"), max_length=40, blank=True)
    business_phone_e164 = E164Field(max_length=16, blank=True, editable=False)
    mobile_phone = models.CharField(_("mobile phone"), max_length=40, blank=True)
    mobile_phone_e164 = E164Field(max_length=16, blank=True, editable=False)

    class Meta:
        abstract = True


class Account(PhoneFieldsMixin, OwnedRecord):
    record_type = RecordType.ACCOUNT

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        INACTIVE = "inactive", _("Inactive")

    name = models.CharField(_("account name"), max_length=200, db_index=True)
    email = models.EmailField(_("email"), blank=True)
    website = models.URLField(_("website"), blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    status_reason = models.CharField(_("status reason"), max_length=20, choices=Status.choices, default=Status.ACTIVE)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["name"]
        constraints = [OwnedRecord.owner_constraint("account_one_owner")]
        indexes = phone_indexes("crm_account")

    def __str__(self) -> str:
        return self.name


class Contact(PhoneFieldsMixin, OwnedRecord):
    record_type = RecordType.CONTACT

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        INACTIVE = "inactive", _("Inactive")

    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, db_index=True)
    email = models.EmailField(_("email"), blank=True)
    job_title = models.CharField(_("job title"), max_length=100, blank=True)
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts", verbose_name=_("account")
    )
    status_reason = models.CharField(_("status reason"), max_length=20, choices=Status.choices, default=Status.ACTIVE)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["last_name", "first_name"]
        constraints = [OwnedRecord.owner_constraint("contact_one_owner")]
        indexes = phone_indexes("crm_contact")

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def phone_region(self) -> str:
        if self.country:
            return self.country
        if self.account is not None and self.account.country:
            return self.account.country
        return settings.DEFAULT_REGION


class Lead(PhoneFieldsMixin, OwnedRecord):
    record_type = RecordType.LEAD
    ACTIVE_REASONS = ("new", "contacted")

    class Status(models.TextChoices):
        NEW = "new", _("New")
        CONTACTED = "contacted", _("Contacted")
        QUALIFIED = "qualified", _("Qualified")
        DISQUALIFIED = "disqualified", _("Disqualified")

    class Source(models.TextChoices):
        MANUAL = "manual", _("Entered by a user")
        IMPORT = "import", _("Import")
        API = "api", _("API")
        INBOUND_TEXT = "inbound_text", _("Inbound text message")

    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True, db_index=True)
    topic = models.CharField(_("topic"), max_length=200, blank=True)
    company_name = models.CharField(_("company"), max_length=200, blank=True)
    email = models.EmailField(_("email"), blank=True)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices, default=Source.MANUAL)
    status_reason = models.CharField(_("status reason"), max_length=20, choices=Status.choices, default=Status.NEW)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-created_at"]
        constraints = [OwnedRecord.owner_constraint("lead_one_owner")]
        indexes = phone_indexes("crm_lead")

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.topic or self.company_name or str(_("Lead"))


class Opportunity(OwnedRecord):
    record_type = RecordType.OPPORTUNITY
    ACTIVE_REASONS = ("in_progress", "on_hold")

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", _("In progress")
        ON_HOLD = "on_hold", _("On hold")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    name = models.CharField(_("topic"), max_length=200, db_index=True)
    account = models.ForeignKey(
        Account,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="opportunities",
        verbose_name=_("customer (account)"),
    )
    customer_contact = models.ForeignKey(
        Contact,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customer_opportunities",
        verbose_name=_("customer (contact)"),
    )
    contacts = models.ManyToManyField(
        Contact, blank=True, related_name="opportunities", verbose_name=_("related contacts")
    )
    estimated_value = models.DecimalField(
        _("estimated revenue"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    estimated_close_date = models.DateField(_("estimated close date"), null=True, blank=True)
    status_reason = models.CharField(
        _("status reason"), max_length=20, choices=Status.choices, default=Status.IN_PROGRESS
    )

    class Meta:
        verbose_name = _("opportunity")
        verbose_name_plural = _("opportunities")
        ordering = ["-modified_at"]
        constraints = [
            OwnedRecord.owner_constraint("opportunity_one_owner"),
            models.CheckConstraint(
                condition=~Q(account__isnull=False, customer_contact__isnull=False),
                name="opportunity_one_customer",
                violation_error_message=_("An opportunity's customer is an account or a contact, not both."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def customer(self):
        return self.account or self.customer_contact


class RecordLink:
    """For models pointing at one CRM record of any type: four nullable foreign keys named after the
    record types, exactly one of them set, plus ``record_type`` and ``record_key`` ("contact:42")."""

    RECORD_FIELDS = record_types.LINK_FIELDS

    @property
    def record(self):
        return getattr(self, self.record_type)

    def set_record(self, record) -> None:
        for field in self.RECORD_FIELDS:
            setattr(self, field, None)
        setattr(self, record.record_type, record)
        self.record_type = record.record_type
        self.record_key = record.record_key


# Record type → model (crm/record_types.py is the list).
RECORD_MODELS = record_types.MODELS


def record_model(record_type: str) -> type[OwnedRecord]:
    try:
        return RECORD_MODELS[record_type]
    except KeyError:
        raise ValueError(f"unknown record type {record_type!r}") from None


def parse_record_key(key: str) -> tuple[str, int]:
    """``"contact:42"`` → ``("contact", 42)``; raises ValueError on anything else."""
    kind, _, pk = key.partition(":")
    record_model(kind)
    if not pk.isdigit():
        raise ValueError(f"bad record key {key!r}")
    return kind, int(pk)


class ImportRun(models.Model):
    """One CSV import started from the web app: the file, its progress and its report (run by a worker)."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Waiting to start")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Finished")
        FAILED = "failed", _("Could not be imported")

    MAX_BYTES = 20 * 1024 * 1024
    MAX_PROBLEMS_SHOWN = 200

    kind = models.CharField(_("record type"), max_length=20)
    file_name = models.CharField(_("file"), max_length=255)
    content = models.BinaryField(editable=False)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("started by")
    )
    default_owner = models.CharField(max_length=150, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    unreadable_numbers = models.PositiveIntegerField(default=0)
    # The first problems, as "line: text" (the whole list of rejected rows is in rejected_csv).
    problems = models.JSONField(default=list, blank=True)
    rejected_csv = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("CSV import")
        verbose_name_plural = _("CSV imports")

    def __str__(self) -> str:
        return f"{self.file_name} ({self.kind})"

    @property
    def percent(self) -> int:
        if self.state == self.State.DONE:
            return 100
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0

    @property
    def is_running(self) -> bool:
        return self.state in (self.State.QUEUED, self.State.RUNNING)
