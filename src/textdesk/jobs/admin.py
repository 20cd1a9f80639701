"""Admin site page for the background queue: what is waiting, what failed and why (read-only)."""

from __future__ import annotations

from django.contrib import admin

from textdesk.jobs.models import Job, WorkerHeartbeat


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "state", "run_at", "attempts", "locked_by", "finished_at")
    list_filter = ("state", "kind")
    search_fields = ("kind", "dedupe_key", "last_error")
    date_hierarchy = "run_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    """Each worker's last sign of life (also in /healthz): a worker whose beat is old has stopped."""

    list_display = ("name", "host", "pid", "started_at", "beat_at", "restarts")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
