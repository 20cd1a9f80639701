"""Sequences: ordered steps that records move through, with each record's own progress and history."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from textdesk.crm.models import RecordLink, RecordType
from textdesk.domain import sequences as rules


class Sequence(models.Model):
    name = models.CharField(_("name"), max_length=150, unique=True)
    description = models.TextField(_("description"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    active = models.BooleanField(_("active"), default=True, help_text=_("Inactive sequences take no new records."))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    modified_at = models.DateTimeField(_("modified"), auto_now=True)

    class Meta:
        verbose_name = _("sequence")
        verbose_name_plural = _("sequences")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class StepKind(models.TextChoices):
    TEXT_MANUAL = rules.TEXT_MANUAL, _("Send a text message")
    TEXT_AUTOMATED = rules.TEXT_AUTOMATED, _("Send an automated text message")
    WAIT = rules.WAIT, _("Wait")
    CALL = rules.CALL, _("Phone call")
    EMAIL = rules.EMAIL, _("Email")


class SequenceStep(models.Model):
    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveIntegerField(_("order"))
    kind = models.CharField(_("type"), max_length=20, choices=StepKind.choices)
    name = models.CharField(_("name"), max_length=150, blank=True)
    description = models.TextField(_("instructions"), blank=True)
    template = models.ForeignKey(
        "messaging.MessageTemplate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("template"),
    )
    wait = models.DurationField(_("wait time"), null=True, blank=True)

    class Meta:
        verbose_name = _("sequence step")
        verbose_name_plural = _("sequence steps")
        ordering = ["sequence", "order"]
        constraints = [models.UniqueConstraint(fields=["sequence", "order"], name="sequencestep_unique_order")]

    def __str__(self) -> str:
        return self.name or str(self.get_kind_display())

    @property
    def title(self) -> str:
        return str(self)

    @property
    def is_text(self) -> bool:
        return self.kind in rules.TEXT_KINDS

    def spec(self) -> rules.StepSpec:
        return rules.StepSpec(kind=self.kind, has_template=self.template_id is not None, wait=self.wait)


class ConnectionState(models.TextChoices):
    ACTIVE = "active", _("In progress")
    COMPLETED = "completed", _("Completed")
    STOPPED = "stopped", _("Disconnected")
    FAILED = "failed", _("Step failed")


# A record is in at most one running sequence at a time (a failed step still holds it).
OPEN_STATES = (ConnectionState.ACTIVE, ConnectionState.FAILED)


class SequenceConnection(RecordLink, models.Model):
    """One record's progress through one sequence."""

    sequence = models.ForeignKey(Sequence, on_delete=models.PROTECT, related_name="connections")
    record_type = models.CharField(_("record type"), max_length=20, choices=RecordType.choices)
    # Exactly one of the four is set, matching record_type (as on messaging.Conversation).
    account = models.ForeignKey("crm.Account", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey("crm.Contact", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    opportunity = models.ForeignKey(
        "crm.Opportunity", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    lead = models.ForeignKey("crm.Lead", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    record_key = models.CharField(max_length=40, db_index=True, editable=False)
    current_step = models.ForeignKey(
        SequenceStep, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("current step")
    )
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=ConnectionState.choices, default=ConnectionState.ACTIVE)
    failure_reason = models.CharField(_("failure reason"), max_length=40, blank=True)
    failure_detail = models.CharField(_("failure detail"), max_length=1000, blank=True)
    # Bumped every time a step is entered: scheduled work for an older entry is stale and does nothing.
    attempt = models.PositiveIntegerField(default=0, editable=False)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    connected_at = models.DateTimeField(_("connected"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("connected record")
        verbose_name_plural = _("connected records")
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["record_key"],
                condition=Q(state__in=["active", "failed"]),
                name="sequenceconnection_one_open_per_record",
            )
        ]
        indexes = [models.Index(fields=["state", "due_at"], name="seqconn_state_due")]

    def __str__(self) -> str:
        return f"{self.record_key} in {self.sequence_id} [{self.state}]"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class StepOutcome(models.TextChoices):
    COMPLETED = "completed", _("Completed")
    SKIPPED = "skipped", _("Skipped")
    FAILED = "failed", _("Failed")


class SequenceStepHistory(models.Model):
    connection = models.ForeignKey(SequenceConnection, on_delete=models.CASCADE, related_name="history")
    step = models.ForeignKey(SequenceStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    step_kind = models.CharField(max_length=20, choices=StepKind.choices)
    step_order = models.PositiveIntegerField()
    outcome = models.CharField(_("outcome"), max_length=10, choices=StepOutcome.choices)
    at = models.DateTimeField(_("at"))
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    detail = models.CharField(_("detail"), max_length=1000, blank=True)
    message = models.ForeignKey("messaging.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = _("step history")
        verbose_name_plural = _("step history")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.connection_id} step {self.step_order}: {self.outcome}"
