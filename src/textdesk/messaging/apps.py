from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    name = "textdesk.messaging"
    label = "messaging"
    verbose_name = _("Text messages")

    def ready(self) -> None:
        from textdesk import lookups  # noqa: F401  (registers ``field__any``)
