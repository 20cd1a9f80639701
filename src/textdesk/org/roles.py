"""The three roles as Django groups with named permissions; kept in step after every migrate."""

from __future__ import annotations

SALESPERSON = "Salesperson"
SALES_MANAGER = "Sales Manager"
SYSTEM_ADMINISTRATOR = "System Administrator"

_SELLER = [
    "org.receive_inbound_messages",
    "org.send_messages",
    "org.manage_own_templates",
    "org.move_conversations",
    "crm.view_account",
    "crm.add_account",
    "crm.change_account",
    "crm.view_contact",
    "crm.add_contact",
    "crm.change_contact",
    "crm.view_lead",
    "crm.add_lead",
    "crm.change_lead",
    "crm.view_opportunity",
    "crm.add_opportunity",
    "crm.change_opportunity",
]
_MANAGER = _SELLER + [
    "org.manage_phone_numbers",
    "org.manage_sequences",
    "org.view_team_conversations",
    "messaging.view_sendernumber",
    "messaging.change_sendernumber",
    "compliance.view_dashboard",
]
_ADMIN_EXTRA = [
    "org.manage_sms_providers",
    "org.view_all_conversations",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    SALESPERSON: _SELLER,
    SALES_MANAGER: _MANAGER,
    SYSTEM_ADMINISTRATOR: _MANAGER + _ADMIN_EXTRA,
}

# System administrators also get every model permission of these apps (for the admin site).
_ADMIN_APPS = ["org", "crm", "messaging", "jobs", "sequences", "auth", "compliance"]


def ensure_roles(using: str = "default", **_kwargs) -> None:
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission

    # post_migrate reaches the org app before the apps after it (crm, messaging, …) have their
    # permissions; create them all first so every role gets its full set on the first migrate.
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)

    for role, codes in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = []
        for code in codes:
            app_label, codename = code.split(".")
            perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is not None:
                perms.append(perm)
        if role == SYSTEM_ADMINISTRATOR:
            perms += list(Permission.objects.filter(content_type__app_label__in=_ADMIN_APPS))
        group.permissions.set(perms)
