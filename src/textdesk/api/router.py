"""The REST API (``/api/v1``), with its OpenAPI document at ``/api/v1/openapi.json``."""

from ninja import NinjaAPI

from textdesk.api.auth import BearerToken

api = NinjaAPI(
    title="TextDesk API",
    version="1",
    description="CRM records, sender numbers, provider accounts, conversations and text messages.",
    auth=BearerToken(),
    urls_namespace="api",
)

from textdesk.api.sequences import router as sequences_router  # noqa: E402

api.add_router("/sequences", sequences_router)
