from django.utils.translation import gettext as _
from ninja.security import HttpBearer

from textdesk import errors
from textdesk.org import signin
from textdesk.org.models import ApiToken, SignInRecord


class BearerToken(HttpBearer):
    """``Authorization: Bearer <token>``; a client that sent too many bad tokens in a row is answered 429 for a
    while, whatever token it sends (``textdesk.org.signin``)."""

    def authenticate(self, request, token: str):
        ip = signin.client_ip(request)
        if signin.is_locked_out(None, ip):
            signin.record(SignInRecord.Channel.API_TOKEN, SignInRecord.Outcome.LOCKED_OUT, ip=ip)
            raise errors.RateLimited(
                _("Too many requests with a bad token. Wait a while, then try again with a valid token."),
                retry_after=settings_lockout(),
            )
        found = ApiToken.find(token)
        if found is None:
            signin.note_failure(None, ip)
            signin.record(SignInRecord.Channel.API_TOKEN, SignInRecord.Outcome.FAILED, ip=ip)
            return None
        request.user = found.user
        found.note_use()
        return found.user


def settings_lockout() -> int:
    from django.conf import settings

    return settings.SIGNIN_LOCKOUT_SECONDS
