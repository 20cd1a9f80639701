"""The web server's listening socket: Nagle's algorithm off on every accepted connection."""

from __future__ import annotations

import socket

from textdesk.web.serving import APP, NoDelayConfig


def test_connections_accepted_by_the_server_socket_send_without_delay():
    """uvicorn's multi-process mode binds this socket; a connection accepted on it must not wait for the
    client's delayed ACK before the body of an answer (TCP_NODELAY, inherited from the listening socket)."""
    config = NoDelayConfig(APP, host="127.0.0.1", port=0, workers=2)
    listener = config.bind_socket()
    try:
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        listener.listen()
        client = socket.create_connection(listener.getsockname()[:2], timeout=5)
        accepted, _ = listener.accept()
        try:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            accepted.close()
            client.close()
    finally:
        listener.close()


def test_the_server_raises_its_open_file_limit_to_the_hard_limit():
    """Each live-update stream holds a socket: a default soft limit (often 1,024) would cap the streams."""
    import resource

    from textdesk.web.serving import raise_open_file_limit

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lower = min(soft, 256)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lower, hard))
    try:
        assert raise_open_file_limit() == hard == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
