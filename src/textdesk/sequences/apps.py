from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SequencesConfig(AppConfig):
    name = "textdesk.sequences"
    label = "sequences"
    verbose_name = _("Sales accelerator")

    def ready(self) -> None:
        from textdesk.messaging.signals import text_not_delivered

        text_not_delivered.connect(_reopen_failed_text_step, dispatch_uid="sequences-reopen-failed-text-step")


def _reopen_failed_text_step(sender, message, **kwargs) -> None:
    from textdesk.sequences.actions import text_not_delivered

    text_not_delivered(message)  # does nothing for a message no sequence step sent
