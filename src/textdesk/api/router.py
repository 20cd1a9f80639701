"""The REST API (``/api/v1``), with its OpenAPI document at ``/api/v1/openapi.json``.

Every operation needs ``Authorization: Bearer <token>`` (``textdesk token <username>``); the
OpenAPI document and the interactive docs (``/api/v1/docs``) are public, so clients can be
generated without a token. Every error is JSON in one shape (``textdesk.errors``, docs/API.md):
``{"detail": "...", "code": "...", "fix": "..."}``, where for invalid input (422) ``detail`` lists the fields:
``[{"loc": [...], "msg": "...", "type": "..."}]``.
"""

from ninja import NinjaAPI

from textdesk.api import messages, numbers, people, providers, records, sequences
from textdesk.api.auth import BearerToken
from textdesk.api.common import ErrorOut, install_error_handlers


class TextDeskApi(NinjaAPI):
    """The API whose OpenAPI document lists every status an operation can answer, each error in the one shape."""

    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        return document_every_error(schema)


def document_every_error(schema: dict) -> dict:
    """Add the answers every operation may give besides its own: 401 (no or bad token), 422 (unreadable input,
    e.g. a NUL character in any parameter), 429 (too many bad tokens), and 404 where the path names an item."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in error_schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components.setdefault("ErrorOut", error_schema)
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            codes = {"422": "Invalid input", "429": "Too many attempts"}
            if operation.get("security", True):
                codes["401"] = "Unauthorized"
            if "{" in path:
                codes["404"] = "Not found"
            for code, description in codes.items():
                responses.setdefault(code, {"description": description, **ref})
    return schema


api = TextDeskApi(
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
