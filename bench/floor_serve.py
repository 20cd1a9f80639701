"""Serve the floor (floor_app:app) in several uvicorn processes with TCP_NODELAY on every connection.

``uvicorn --workers N`` binds the listening socket itself and its accepted connections keep Nagle's
algorithm on, so each answer waits ~40 ms for the client's delayed ACK and throughput becomes
connections ÷ 40 ms instead of what the code can do. TextDesk's ``serve`` sets the option on its
listening socket (see textdesk.web.serving); the floor gets the same treatment here so the two are
compared on equal terms (the floor's endpoint stays free of TextDesk's code; only the server socket is
shared). Usage: python floor_serve.py <port> <workers>
"""

from __future__ import annotations

import sys

import uvicorn
from uvicorn.supervisors import Multiprocess

from textdesk.web.serving import NoDelayConfig  # the same server socket as TextDesk's


def main() -> None:
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    config = NoDelayConfig(
        "floor_app:app", host="127.0.0.1", port=port, workers=workers, log_level="warning", access_log=False
    )
    sock = config.bind_socket()
    if workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
