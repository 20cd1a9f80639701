"""Django's error handlers (``handler404`` …): JSON in the API's error shape under ``/api/``, else a page."""

from __future__ import annotations

import logging

from django.utils.translation import gettext as _

from textdesk import errors

log = logging.getLogger(__name__)


def bad_request(request, exception=None):
    return errors.response_for(request, errors.for_status(400, _("The request could not be read.")))


def forbidden(request, exception=None):
    message = str(exception or "") if isinstance(exception, errors.Refusal) else ""
    return errors.response_for(request, errors.Forbidden(message or _("You do not have access to this page.")))


def not_found(request, exception=None):
    return errors.response_for(
        request, errors.NotFound(_("There is nothing at this address, or it is not visible to you."))
    )


def server_error(request):
    return errors.response_for(request, errors.server_error())
