from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrgConfig(AppConfig):
    name = "textdesk.org"
    label = "org"
    verbose_name = _("Organisation")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from textdesk.org.roles import ensure_roles

        # After every app's migrate, not only ours: the roles name permissions of apps (crm, messaging)
        # whose permission rows are created after org's post_migrate has run.
        post_migrate.connect(ensure_roles, dispatch_uid="textdesk.org.ensure_roles")
