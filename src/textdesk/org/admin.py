"""Admin site pages for people: users (with role and teams), teams, API tokens, organisation settings."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from textdesk.org import roles
from textdesk.org.actions.people import role_of
from textdesk.org.models import ApiToken, OrganisationSettings, SignInRecord, Team, User

admin.site.site_header = _("TextDesk administration")
admin.site.site_title = _("TextDesk")
admin.site.index_title = _("Organisation, CRM and text messaging")


class TeamMembershipInline(admin.TabularInline):
    model = Team.members.through
    extra = 0
    verbose_name = _("team")
    verbose_name_plural = _("teams")
    autocomplete_fields = ["team"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "get_full_name", "email", "role", "is_staff", "is_active")
    list_filter = ("groups", "teams", "is_staff", "is_active")
    search_fields = ("username", "first_name", "last_name", "email", "external_id")
    fieldsets = (*(DjangoUserAdmin.fieldsets or ()), (_("TextDesk"), {"fields": ("language", "external_id")}))
    inlines = [TeamMembershipInline]

    @admin.display(description=_("role"))
    def role(self, obj: User) -> str:
        return role_of(obj) or "—"

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        # A System Administrator works in the admin site; grant access when the role is given here.
        user = form.instance
        if not user.is_staff and user.groups.filter(name=roles.SYSTEM_ADMINISTRATOR).exists():
            user.is_staff = True
            user.save(update_fields=["is_staff"])


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "member_count", "external_id", "created_at")
    search_fields = ("name", "external_id")
    filter_horizontal = ("members",)

    @admin.display(description=_("members"))
    def member_count(self, obj: Team) -> int:
        return obj.members.count()


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued with ``textdesk token <username>`` (shown once); here they are listed and revoked."""

    list_display = ("user", "name", "prefix", "created_at", "last_used_at")
    search_fields = ("user__username", "name", "prefix")
    readonly_fields = ("user", "prefix", "created_at", "last_used_at")
    fields = ("user", "name", "prefix", "created_at", "last_used_at")

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(OrganisationSettings)
class OrganisationSettingsAdmin(admin.ModelAdmin):
    fieldsets = (
        (_("Quiet hours"), {"fields": ("quiet_hours_enabled", "quiet_hours_start", "quiet_hours_end")}),
        (_("Messages"), {"fields": ("message_body_limit", "send_deadline_minutes")}),
        (_("Sending rates"), {"fields": ("rate_long_code", "rate_toll_free", "rate_short_code")}),
    )

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and not OrganisationSettings.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SignInRecord)
class SignInRecordAdmin(admin.ModelAdmin):
    """Who signed in, who failed and who was locked out (read-only)."""

    list_display = ("at", "channel", "outcome", "username", "user", "client_ip")
    list_filter = ("outcome", "channel")
    search_fields = ("username", "client_ip")
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
