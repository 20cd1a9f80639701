"""The compliance check of every send (called once from the send action, before anything is written).

Refuses numbers that opted out (of this sender number or of all), numbers erased on request (known only
by their hash), and marketing texts to numbers without marketing consent when the organisation requires
it. An automatic consent reply being queued (:mod:`textdesk.compliance.actions.replies`) passes.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from textdesk.domain import failures
from textdesk.domain.templating import PLACEHOLDER_RE

MARKETING_CONSENT_MISSING = "MarketingConsentMissing"


def literal_parts(template_body: str) -> list[str]:
    return [part.strip() for part in PLACEHOLDER_RE.split(template_body)[::2] if part.strip()]


def made_from(template_body: str, body: str) -> bool:
    """True when ``body`` holds every literal part of the template, in order (placeholders filled in)."""
    parts = literal_parts(template_body)
    if sum(len(p) for p in parts) < 8:
        return False  # too little fixed text to tell
    position = 0
    for part in parts:
        found = body.find(part, position)
        if found < 0:
            return False
        position = found + len(part)
    return True


def is_marketing(body: str) -> bool:
    from textdesk.compliance.models import Purpose, TemplatePurpose

    marked = TemplatePurpose.objects.filter(purpose=Purpose.MARKETING).select_related("template")
    return any(made_from(item.template.body, body) for item in marked)


def check_send(*, to_number: str, sender_number, body: str, source: str = "ui") -> None:
    """Raise ``SendRefused`` when compliance forbids this send."""
    from textdesk.compliance.actions import ledger, replies
    from textdesk.compliance.models import ComplianceSettings, ErasedNumber
    from textdesk.messaging.actions.consent import is_opted_out
    from textdesk.messaging.outbound.send import SendRefused

    if replies.replying_to.get() == to_number:
        return
    if is_opted_out(to_number, sender_number.e164) or ErasedNumber.blocks(to_number):
        raise SendRefused(failures.RECIPIENT_OPTED_OUT)
    if (
        ComplianceSettings.current().marketing_consent_required
        and is_marketing(body)
        and not ledger.has_marketing_consent(to_number)
    ):
        raise SendRefused(
            MARKETING_CONSENT_MISSING,
            _("%(number)s has not given consent to marketing messages.") % {"number": to_number},
            _("Record the customer's marketing consent first, or send a message that is not marketing."),
        )
