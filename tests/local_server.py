"""The one HTTP server class the tests' stand-ins for providers and receivers listen with (127.0.0.1 only)."""

from __future__ import annotations

from http.server import ThreadingHTTPServer


class LocalHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: a pipeline opening dozens of connections at once overflowed it, the
    # kernel dropped their SYNs and retried them 1 and 3 s later, and requests sent on time arrived in bunches.
    request_queue_size = 256
