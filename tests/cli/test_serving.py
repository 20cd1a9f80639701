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


def test_a_worker_yields_the_cpu_to_the_web_processes_unless_told_otherwise(tmp_path):
    """Where they share cores, webhooks are answered first in a burst; routing catches up after."""
    import os
    import subprocess
    import sys
    import threading
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "TEXTDESK_DATA_DIR": str(tmp_path), "TEXTDESK_DATABASE_URL": "",
           "TEXTDESK_REDIS_URL": "", "TEXTDESK_LOG_LEVEL": "INFO", "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")])}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("TEXTDESK_WORKER_NICE", None)
    subprocess.run([sys.executable, "-m", "textdesk", "migrate", "-v0"], env=env, check=True, timeout=300)
    own = os.getpriority(os.PRIO_PROCESS, 0)
    for args, expected in (((), own + 10), (("--nice", "0"), own)):
        worker = subprocess.Popen([sys.executable, "-m", "textdesk", "worker", *args], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        guard = threading.Timer(60, worker.kill)  # never wait forever for the line below
        guard.start()
        try:
            for line in worker.stdout:  # its priority is set before it says it started
                if "started" in line:
                    break
            assert os.getpriority(os.PRIO_PROCESS, worker.pid) == min(expected, 19)
        finally:
            guard.cancel()
            worker.terminate()
            worker.wait(10)
