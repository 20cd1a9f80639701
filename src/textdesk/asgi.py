"""ASGI entry point.

Three paths bypass Django's request machinery because they are hot, long-lived or
static: provider webhooks (``/webhooks/``: parse, verify, one durable write), the
server-sent event stream (``/live/events``) and static files (``/static/``,
served asynchronously from each installed app's ``static`` folder). Everything
else is Django.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "textdesk.settings")

from django.conf import settings
from django.core.asgi import get_asgi_application

django_application = get_asgi_application()
STATIC_PREFIX = "/" + settings.STATIC_URL.strip("/")
_static_files = None


def static_files():
    """Starlette's static file server over the ``static`` folder of every installed app."""
    global _static_files
    if _static_files is None:
        from django.apps import apps
        from starlette.staticfiles import StaticFiles

        packages = [
            (config.name, "static")
            for config in apps.get_app_configs()
            if os.path.isdir(os.path.join(config.path, "static"))
        ]
        _static_files = StaticFiles(packages=packages)
    return _static_files


async def lifespan(receive, send) -> None:
    """The ASGI lifespan protocol: nothing to prepare at startup; at shutdown, the webhooks' connections close."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            from textdesk.messaging.inbound import intake_pg

            try:
                await intake_pg.aclose_pool()
            except Exception as exc:  # the server stops all the same; the server sessions end with the process
                await send({"type": "lifespan.shutdown.failed", "message": repr(exc)})
                return
            await send({"type": "lifespan.shutdown.complete"})
            return


async def application(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(receive, send)
    if scope["type"] == "http":
        path = scope["path"]
        if path.startswith("/webhooks/"):
            from textdesk.messaging.inbound.intake_asgi import webhook_app

            return await webhook_app(scope, receive, send)
        if path == "/live/events":
            from textdesk.live.sse import sse_app

            return await sse_app(scope, receive, send)
        if path.startswith(STATIC_PREFIX + "/"):
            inner = dict(scope, path=path[len(STATIC_PREFIX) :], root_path=scope.get("root_path", "") + STATIC_PREFIX)
            return await static_files()(inner, receive, send)
    return await django_application(scope, receive, send)
