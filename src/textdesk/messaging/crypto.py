"""Encryption at rest for provider credentials (Fernet, key from configuration)."""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class CredentialsUnreadable(RuntimeError):
    """Stored credentials cannot be decrypted with the configured key."""


def _fernet() -> Fernet:
    material = settings.ENCRYPTION_KEY or settings.SECRET_KEY
    try:
        if settings.ENCRYPTION_KEY:
            return Fernet(material.encode())
    except ValueError:
        pass
    # Derive a Fernet key from any string (e.g. the secret key); domain-separated from other uses.
    digest = hashlib.sha256(b"textdesk-credentials:" + material.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_json(value: dict) -> str:
    return _fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> dict:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise CredentialsUnreadable(
            "provider credentials cannot be decrypted: TEXTDESK_ENCRYPTION_KEY or TEXTDESK_SECRET_KEY changed"
        ) from exc
