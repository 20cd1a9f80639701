from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class JobState(models.TextChoices):
    PENDING = "pending", _("Pending")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class Job(models.Model):
    """One unit of background work. Claimed with a lease, so a dead worker's job is picked up again."""

    kind = models.CharField(max_length=50)
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.PENDING)
    run_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    locked_by = models.CharField(max_length=100, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # Work that must never run twice (e.g. one sequence step) carries a unique key.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # In memory only (no value, so not a field): set by queue.run, and by queue.complete when a handler ends
    # its own job inside its transaction.
    completed: bool

    class Meta:
        indexes = [
            # In the claims' order (run_at, id), so a claim reads its rows in order and stops at its limit.
            models.Index(fields=["run_at", "id"], condition=Q(state="pending"), name="job_pending_due"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}#{self.pk} ({self.state})"


class WorkerHeartbeat(models.Model):
    """The last sign of life of one worker (written every few seconds while it can reach the database)."""

    name = models.CharField(max_length=200, unique=True)
    host = models.CharField(max_length=200, blank=True)
    pid = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField()
    # How often its supervisor had to start its loop again since the process started.
    restarts = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} ({self.beat_at:%Y-%m-%d %H:%M:%S})"
