"""Admin site pages for CRM records: phones with their validity, search by name or number, owner."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.contrib import admin
from django.db import models
from django.db.models import Q
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from textdesk.crm.models import Account, Contact, ImportRun, Lead, Opportunity
from textdesk.domain import phones


def _phone_cell(raw: str, e164: str):
    if not raw:
        return "—"
    if e164:
        return format_html('<span title="{}">{}</span>', raw, e164)
    return format_html('{} <strong style="color:#b00">({})</strong>', raw, _("invalid"))


class RecordAdmin(admin.ModelAdmin):
    list_filter: ClassVar[tuple[str, ...]] = ("is_active", "status_reason", "owner_team", "owner_user")
    autocomplete_fields = ["owner_user", "owner_team"]
    readonly_fields: ClassVar[tuple[str, ...]] = ("is_active", "created_at", "modified_at", "phone_summary")
    list_select_related: ClassVar[tuple[str, ...]] = ("owner_user", "owner_team")
    search_fields: ClassVar[tuple[str, ...]] = ("external_id",)

    @admin.display(description=_("owner"))
    def owner_display(self, obj) -> str:
        return str(obj.owner or "—")

    @admin.display(description=_("business phone"))
    def business_phone_display(self, obj):
        return _phone_cell(obj.business_phone, obj.business_phone_e164)

    @admin.display(description=_("mobile phone"))
    def mobile_phone_display(self, obj):
        return _phone_cell(obj.mobile_phone, obj.mobile_phone_e164)

    @admin.display(description=_("phone numbers (E.164)"))
    def phone_summary(self, obj):
        if not obj.pk or not hasattr(obj, "phone_numbers"):
            return "—"
        rows = [
            format_html(
                "{}: {} → {}",
                n["label"],
                n["raw"] or "—",
                n["e164"] or (_("cannot be read as a phone number") if n["raw"] else "—"),
            )
            for n in obj.phone_numbers()
        ]
        return format_html("<br>".join(["{}"] * len(rows)), *rows) if rows else "—"

    def get_search_results(self, request, queryset, search_term):
        """Also find records by a phone number in any format (read in the default region)."""
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term and hasattr(self.model, "mobile_phone_e164"):
            e164 = phones.normalise(search_term, settings.DEFAULT_REGION).e164
            if e164:
                queryset |= self.model.objects.filter(Q(mobile_phone_e164=e164) | Q(business_phone_e164=e164))
        return queryset, may_have_duplicates


_PHONE_COLUMNS = ("business_phone_display", "mobile_phone_display")
_PHONE_SEARCH = ("business_phone", "mobile_phone", "business_phone_e164", "mobile_phone_e164")


@admin.register(Account)
class AccountAdmin(RecordAdmin):
    list_display = ("name", *_PHONE_COLUMNS, "city", "owner_display", "status_reason")
    search_fields = ("name", "city", "email", "external_id", *_PHONE_SEARCH)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(Contact)
class ContactAdmin(RecordAdmin):
    list_display = ("__str__", "account", *_PHONE_COLUMNS, "owner_display", "status_reason")
    search_fields = ("first_name", "last_name", "email", "external_id", *_PHONE_SEARCH)
    autocomplete_fields = ["owner_user", "owner_team", "account"]
    list_select_related = ("owner_user", "owner_team", "account")


@admin.register(Lead)
class LeadAdmin(RecordAdmin):
    list_display = ("__str__", "company_name", *_PHONE_COLUMNS, "source", "owner_display", "status_reason")
    list_filter = ("is_active", "status_reason", "source", "owner_team", "owner_user")
    search_fields = ("first_name", "last_name", "company_name", "topic", "email", "external_id", *_PHONE_SEARCH)


@admin.register(Opportunity)
class OpportunityAdmin(RecordAdmin):
    list_display = ("name", "customer_display", "estimated_value", "owner_display", "status_reason")
    search_fields = ("name", "external_id", "account__name", "customer_contact__last_name")
    autocomplete_fields = ["owner_user", "owner_team", "account", "customer_contact", "contacts"]
    readonly_fields = ("is_active", "created_at", "modified_at")

    @admin.display(description=_("customer"))
    def customer_display(self, obj) -> str:
        return str(obj.customer or "—")


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    """Imports are started from the web app (Import in the top bar) or the command line; here they are looked up."""

    list_display = (
        "file_name",
        "kind",
        "state",
        "total_rows",
        "created_count",
        "updated_count",
        "failed_count",
        "started_by",
        "created_at",
    )
    list_filter = ("state", "kind")
    exclude = ("content", "rejected_csv")
    readonly_fields = [f.name for f in ImportRun._meta.fields if f.name not in ("content", "rejected_csv")]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
