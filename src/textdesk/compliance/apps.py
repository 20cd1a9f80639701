from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ComplianceConfig(AppConfig):
    name = "textdesk.compliance"
    verbose_name = _("Compliance")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from textdesk.compliance import listeners

        listeners.connect()
