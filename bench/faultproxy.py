"""A local TCP proxy that can cut and restore a connection on demand (tests and bench/faults.py).

Every byte between TextDesk and PostgreSQL (or Redis) passes through it. ``cut()`` aborts every open connection
(the peer sees a reset, as when a server dies or a network link drops) and stops listening, so new connections
are refused; ``restore()`` listens again on the same port. It runs its own event loop in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1", port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.host, self.port = host, port
        self.loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._transports: set[asyncio.BaseTransport] = set()
        self._thread = threading.Thread(target=self.loop.run_forever, name="tcp-proxy", daemon=True)
        self.connections = 0  # accepted since it started

    def _call(self, coro, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, client_reader, client_writer) -> None:
        self.connections += 1
        self._transports.add(client_writer.transport)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            self._transports.discard(client_writer.transport)
            return
        self._transports.add(upstream_writer.transport)

        async def pipe(reader, writer) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    writer.close()

        try:
            await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))
        finally:
            self._transports.discard(client_writer.transport)
            self._transports.discard(upstream_writer.transport)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()

    def cut(self) -> None:
        """Drop every connection and refuse new ones."""
        self._call(self._cut())

    def restore(self) -> None:
        """Accept connections again (same port)."""
        self._call(self._listen())

    def stop(self) -> None:
        self._call(self._cut())
        self._call(asyncio.sleep(0.1))  # the aborted connections' tasks finish
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
