"""A provider adapter that only declares credential fields: what the admin form reads from one."""

from textdesk.providers.base import CredentialField


class _FormOnlyProvider:
    kind = "generic"
    display_name = "Form-only provider"
    credential_fields = (
        CredentialField("username", "User name", secret=False),
        CredentialField("password", "Password"),
        CredentialField("signing_secret", "Signing secret", required=False),
    )


PROVIDER = _FormOnlyProvider()
