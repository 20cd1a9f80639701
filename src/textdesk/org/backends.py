"""Password sign-in that honours the lockout (``textdesk.org.signin``) and keeps the sign-in record."""

from __future__ import annotations

from django.contrib.auth import user_logged_in, user_login_failed
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver

from textdesk.org import signin
from textdesk.org.models import SignInRecord


class ThrottledModelBackend(ModelBackend):
    """Django's username + password check, refused outright while the username or the client is locked out."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is not None and signin.is_locked_out(username, signin.client_ip(request)):
            if request is not None:
                request.signin_locked_out = True
            signin.record(
                SignInRecord.Channel.PASSWORD,
                SignInRecord.Outcome.LOCKED_OUT,
                username=username,
                ip=signin.client_ip(request),
            )
            raise PermissionDenied("locked out")  # no other backend is asked either
        return super().authenticate(request, username=username, password=password, **kwargs)


@receiver(user_login_failed)
def _failed(sender, credentials, request=None, **kwargs):
    if request is not None and getattr(request, "signin_locked_out", False):
        return  # already recorded as locked out; not counted again
    username, ip = credentials.get("username", ""), signin.client_ip(request)
    signin.note_failure(username, ip)
    signin.record(SignInRecord.Channel.PASSWORD, SignInRecord.Outcome.FAILED, username=username, ip=ip)


@receiver(user_logged_in)
def _succeeded(sender, request, user, **kwargs):
    ip = signin.client_ip(request)
    signin.note_success(user.get_username(), ip)
    signin.record(
        SignInRecord.Channel.PASSWORD, SignInRecord.Outcome.SUCCEEDED, username=user.get_username(), user=user, ip=ip
    )
