"""The web server: uvicorn, with Nagle's algorithm off on every connection.

When uvicorn runs several processes it binds the listening socket itself, and the
connections accepted on it keep Nagle's algorithm on: asyncio turns it off only on
sockets it created as TCP. A response written in two parts (headers, then body)
then waits for the client's delayed acknowledgement, about 40 ms per request on a
kept-alive connection, which caps one provider connection at some 25 webhooks per
second. ``TCP_NODELAY`` set on the listening socket is inherited by every accepted
connection (Linux), so all processes answer at once.

Every open live-update stream is a socket: the process's open-file limit, often
1,024 by default, would cap the streams of a web process well below what it
serves otherwise, so the server raises it to the hard limit first.
"""

from __future__ import annotations

import logging
import resource
import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

APP = "textdesk.asgi:application"
log = logging.getLogger(__name__)


def raise_open_file_limit() -> int:
    """Raise this process's open-file limit to its hard limit (inherited by the processes it starts); returns
    the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # an unlimited hard limit is not always accepted as a soft one
            log.warning("could not raise the open-file limit from %s", soft)
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class NoDelayConfig(uvicorn.Config):
    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


def run(host: str, port: int, workers: int = 1, app: str = APP, access_log: bool = False) -> None:
    """Serve ``app`` on ``host:port`` in ``workers`` processes (blocks until stopped); ``access_log``: a line
    per request."""
    raise_open_file_limit()
    config = NoDelayConfig(
        app,
        host=host,
        port=port,
        workers=workers,
        log_level="info" if access_log else "warning",
        access_log=access_log,
        lifespan="on",  # at shutdown the application closes its webhook connections (textdesk.asgi)
        timeout_graceful_shutdown=3,
    )
    sock = config.bind_socket()
    try:
        if workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
