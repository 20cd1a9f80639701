"""A user's own preferences."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction


@transaction.atomic
def set_language(user, language: str) -> None:
    """Interface language of ``user``; "" means follow the browser. Unknown codes raise ValueError."""
    if language and language not in dict(settings.LANGUAGES):
        raise ValueError(f"unknown language {language!r}")
    user.language = language
    user.save(update_fields=["language"])
