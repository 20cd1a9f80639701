"""Admin site pages of compliance: the audit trail (read-only, filterable), the consent ledger, automatic
reply texts, compliance settings with the person-data page (export, erase) and the retention dry run."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from textdesk.compliance import access
from textdesk.compliance.actions import retention, subject
from textdesk.compliance.models import (
    AuditEvent,
    AutoReplyText,
    ComplianceSettings,
    ConsentRecord,
    ErasedNumber,
    OptOutFlag,
    TemplatePurpose,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """What happened is not edited here: it changes only through the product's actions."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor_name", "action", "target_type", "target_id")
    list_filter = ("action", "target_type", ("at", admin.DateFieldListFilter), "actor_name")
    search_fields = ("actor_name", "target_id")
    date_hierarchy = "at"
    readonly_fields = ("at", "actor", "actor_name", "action", "target_type", "target_id", "details")


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyAdmin):
    list_display = ("customer_e164", "purpose", "granted", "at", "method", "legal_basis", "recorded_by")
    list_filter = ("purpose", "granted", "method", "legal_basis")
    search_fields = ("customer_e164",)
    readonly_fields = (
        "customer_e164",
        "purpose",
        "granted",
        "at",
        "method",
        "wording",
        "legal_basis",
        "recorded_by",
        "note",
    )


@admin.register(OptOutFlag)
class OptOutFlagAdmin(ReadOnlyAdmin):
    list_display = ("customer_e164", "phrase", "language", "state", "created_at", "resolved_by")
    list_filter = ("state", "language")
    search_fields = ("customer_e164",)
    readonly_fields = ("message", "conversation", "customer_e164", "language", "phrase", "state", "resolved_by")


@admin.register(ErasedNumber)
class ErasedNumberAdmin(ReadOnlyAdmin):
    list_display = ("number_hash", "opted_out", "erased_at")


@admin.register(AutoReplyText)
class AutoReplyTextAdmin(admin.ModelAdmin):
    list_display = ("kind", "language", "sender_number", "text")
    list_filter = ("kind", "language")


@admin.register(TemplatePurpose)
class TemplatePurposeAdmin(admin.ModelAdmin):
    list_display = ("template", "purpose")


class PersonForm(forms.Form):
    number = forms.CharField(label=_("Phone number (E.164)"), max_length=16)


@admin.register(ComplianceSettings)
class ComplianceSettingsAdmin(admin.ModelAdmin):
    """One row; its change page also leads to the person-data page."""

    change_form_template = "compliance/admin/settings_change_form.html"

    def has_add_permission(self, request):
        return not ComplianceSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {"retention": retention.apply(dry_run=True), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self):
        own = [path("person/", self.admin_site.admin_view(self.person_view), name="compliance_person")]
        return own + super().get_urls()

    def person_view(self, request):
        if not request.user.has_perm(access.PERSON_DATA):
            raise PermissionDenied
        form = PersonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            number = form.cleaned_data["number"]
            try:
                if "erase" in request.POST:
                    erased = subject.erase(number, user=request.user)
                    self.message_user(
                        request,
                        _("Erased %(messages)d messages; the opt-out is kept as a hash.")
                        % {"messages": erased.messages},
                        messages.SUCCESS,
                    )
                    return redirect(reverse("admin:compliance_person"))
                name, data = subject.export_archive(number, user=request.user)
            except subject.InvalidNumber:
                form.add_error("number", _("Write the number in the international format, e.g. +5511912345678."))
            else:
                response = HttpResponse(data, content_type="application/zip")
                response["Content-Disposition"] = f'attachment; filename="{name}"'
                return response
        context = {**self.admin_site.each_context(request), "form": form, "title": _("A person's data")}
        return TemplateResponse(request, "compliance/admin/person.html", context)
