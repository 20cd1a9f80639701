"""ASGI entry point.

Two paths bypass Django's request machinery because they are hot or long-lived:
provider webhooks (``/webhooks/``: parse, verify, one durable write) and the
server-sent event stream (``/live/events``). Everything else is Django.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "textdesk.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_application = get_asgi_application()


async def application(scope, receive, send):
    if scope["type"] == "http":
        path = scope["path"]
        if path.startswith("/webhooks/"):
            from textdesk.messaging.intake_asgi import webhook_app

            return await webhook_app(scope, receive, send)
        if path == "/live/events":
            from textdesk.live.sse import sse_app

            return await sse_app(scope, receive, send)
    return await django_application(scope, receive, send)
