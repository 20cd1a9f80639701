"""The sign-in page: Django's login view, answering 429 with its own words while the sign-in is locked out."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


class SignInForm(AuthenticationForm):
    locked_out = False

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            if getattr(self.request, "signin_locked_out", False):
                self.locked_out = True
                raise ValidationError(
                    _("Too many failed sign-ins. Wait a few minutes, then try again."), code="locked_out"
                ) from None
            raise


class SignInView(auth_views.LoginView):
    template_name = "web/login.html"
    form_class = SignInForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.locked_out:
            response.status_code = 429
        return response
