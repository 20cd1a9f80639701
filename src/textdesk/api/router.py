"""The REST API (``/api/v1``), with its OpenAPI document at ``/api/v1/openapi.json``.

Every operation needs ``Authorization: Bearer <token>`` (``textdesk token <username>``); the
OpenAPI document and the interactive docs (``/api/v1/docs``) are public, so clients can be
generated without a token. Errors are JSON: ``{"detail": "..."}``, or for invalid input (422)
``{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}``.
"""

from ninja import NinjaAPI

from textdesk.api import messages, numbers, people, providers, records, sequences
from textdesk.api.auth import BearerToken
from textdesk.api.common import install_error_handlers

api = NinjaAPI(
    title="TextDesk API",
    version="1",
    description="CRM records, sender numbers, provider accounts, conversations and text messages.",
    auth=BearerToken(),
    urls_namespace="api",
)
install_error_handlers(api)

api.add_router("/users", people.users)
api.add_router("/teams", people.teams)
api.add_router("/accounts", records.accounts)
api.add_router("/contacts", records.contacts)
api.add_router("/leads", records.leads)
api.add_router("/opportunities", records.opportunities)
api.add_router("/sender-numbers", numbers.router)
api.add_router("/provider-accounts", providers.router)
api.add_router("/messages", messages.router)
api.add_router("", "textdesk.api.conversations.router")
api.add_router("/sequences", sequences.router)
api.add_router("", "textdesk.compliance.api.router")
