"""Django's error handlers (``handler404`` …): JSON in the API's error shape under ``/api/``, else a page."""

from __future__ import annotations

import logging
import sys

from django.db import InterfaceError, OperationalError
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
    """An exception no view answered. One from the database (out of reach, or no pooled connection free within the
    pool's timeout) is a 503 to retry, not a server error; its page skips the layout, which reads the database."""
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        refusal = errors.database_unavailable()
        if errors.is_api_request(request):
            return errors.api_response(refusal)
        return errors.plain_page_response(refusal)
    return errors.response_for(request, errors.server_error())
