"""Neutral failure reasons: what went wrong, whether retrying can help, and what a seller can do."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

INVALID_SENDING_PARAMETERS = "InvalidSendingParameters"
RECIPIENT_OPTED_OUT = "RecipientOptedOut"
UNREACHABLE_DESTINATION = "UnreachableDestination"
LANDLINE = "Landline"
CARRIER_FILTERED = "CarrierFiltered"
NOT_REGISTERED = "NotRegistered"
EXPIRED = "Expired"
PROVIDER_AUTH_FAILED = "ProviderAuthFailed"
PROVIDER_UNAVAILABLE = "ProviderUnavailable"
RATE_LIMITED = "RateLimited"
SENDER_NOT_ALLOWED = "SenderNotAllowed"
EMPTY_BODY = "EmptyBody"
BODY_TOO_LONG = "BodyTooLong"
OUTCOME_UNKNOWN = "OutcomeUnknown"
NO_DELIVERY_REPORT = "NoDeliveryReport"
SENDING_STOPPED = "SendingStopped"
UNKNOWN = "Unknown"


@dataclass(frozen=True)
class FailureReason:
    code: str
    title: str | Promise  # translated when shown
    fix: str | Promise


REASONS: dict[str, FailureReason] = {
    r.code: r
    for r in [
        FailureReason(
            INVALID_SENDING_PARAMETERS,
            _("Invalid sending parameters"),
            _("Use the international format for the number (E.164), e.g. +5511912345678."),
        ),
        FailureReason(
            RECIPIENT_OPTED_OUT,
            _("The customer opted out"),
            _("The customer replied STOP. Ask them to text START before you send again."),
        ),
        FailureReason(
            UNREACHABLE_DESTINATION,
            _("The phone could not be reached"),
            _("The phone may be off or out of coverage. Try again later or use another number."),
        ),
        FailureReason(
            LANDLINE,
            _("The number is a landline"),
            _("Text messages cannot reach a landline. Use the customer's mobile number."),
        ),
        FailureReason(
            CARRIER_FILTERED,
            _("Blocked by the carrier"),
            _(
                "The carrier filtered the message as unwanted. Rephrase it, avoid link shorteners, and check your sender registration."
            ),
        ),
        FailureReason(
            NOT_REGISTERED,
            _("Sender not registered"),
            _("This number must be registered (e.g. 10DLC in the US) before it can send. Ask your administrator."),
        ),
        FailureReason(
            EXPIRED, _("Expired before delivery"), _("The network could not deliver it in time. Try again later.")
        ),
        FailureReason(
            PROVIDER_AUTH_FAILED,
            _("The SMS provider refused our credentials"),
            _("Ask your administrator to check the provider account's credentials."),
        ),
        FailureReason(
            PROVIDER_UNAVAILABLE,
            _("The SMS provider is unavailable"),
            _("The provider did not answer in time. The message was retried until its deadline; send it again later."),
        ),
        FailureReason(
            RATE_LIMITED,
            _("Too many messages"),
            _("The provider limited the sending rate. The message is retried automatically."),
        ),
        FailureReason(
            SENDER_NOT_ALLOWED,
            _("You cannot send from this number"),
            _("Choose one of your own numbers or your team's."),
        ),
        FailureReason(EMPTY_BODY, _("The message is empty"), _("Write a message before sending.")),
        FailureReason(BODY_TOO_LONG, _("The message is too long"), _("Shorten the message.")),
        FailureReason(
            OUTCOME_UNKNOWN,
            _("Outcome unknown"),
            _(
                "Sending was interrupted and the provider cannot tell whether it went out. Check with the customer before sending again."
            ),
        ),
        FailureReason(
            NO_DELIVERY_REPORT,
            _("No delivery report"),
            _(
                "The provider accepted the message but never reported whether it reached the phone. It probably did; ask the customer if it matters."
            ),
        ),
        FailureReason(
            SENDING_STOPPED,
            _("Sending stopped"),
            _("The message was never handed to the provider, so it did not go out. Send it again."),
        ),
        FailureReason(
            UNKNOWN, _("Unknown error"), _("Try again later; if it keeps failing, contact your administrator.")
        ),
    ]
}


def describe(code: str) -> FailureReason:
    return REASONS.get(code, REASONS[UNKNOWN])
