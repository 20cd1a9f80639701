from django.contrib import admin

from textdesk.sequences.models import Sequence, SequenceConnection, SequenceStep, SequenceStepHistory


class StepInline(admin.TabularInline):
    model = SequenceStep
    extra = 0
    fields = ("order", "kind", "name", "template", "wait", "description")


@admin.register(Sequence)
class SequenceAdmin(admin.ModelAdmin):
    list_display = ("name", "active", "created_by", "modified_at")
    inlines = [StepInline]


class HistoryInline(admin.TabularInline):
    model = SequenceStepHistory
    extra = 0
    can_delete = False
    readonly_fields = ("step", "step_kind", "step_order", "outcome", "at", "by", "detail", "message")


@admin.register(SequenceConnection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ("record_key", "sequence", "current_step", "due_at", "state", "failure_reason")
    list_filter = ("state", "sequence")
    readonly_fields = ("record_key", "attempt")
    inlines = [HistoryInline]
