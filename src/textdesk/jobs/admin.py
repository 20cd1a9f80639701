"""Admin site page for the background queue: what is waiting, what failed and why (read-only)."""

from __future__ import annotations

from django.contrib import admin

from textdesk.jobs.models import Job


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
