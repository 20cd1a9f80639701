from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrgConfig(AppConfig):
    name = "textdesk.org"
    label = "org"
    verbose_name = _("Organisation")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from textdesk.org import backends  # noqa: F401  (connects the sign-in record to Django's sign-in signals)
        from textdesk.org.roles import ensure_roles

        post_migrate.connect(ensure_roles, sender=self)
