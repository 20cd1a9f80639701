"""A small TCP proxy (asyncio) that can cut every connection through it for a while.

    proxy = CutProxy("127.0.0.1", 5432).start()     # listens on 127.0.0.1:<proxy.port>, in a thread
    proxy.cut(5.0)                                  # closes every open connection; refuses new ones for 5 s

Used by bench/outbound_faults.py to take PostgreSQL away from the web server and the workers.
"""

from __future__ import annotations

import asyncio
import threading
import time


class CutProxy:
    def __init__(self, target_host: str, target_port: int, listen_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.listen_host = listen_host
        self.port = 0
        self.cuts = 0
        self._down_until = 0.0
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()

    def start(self) -> CutProxy:
        threading.Thread(target=self._run, name="tcp-cut-proxy", daemon=True).start()
        self._ready.wait(10)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._client, self.listen_host, 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def cut(self, seconds: float) -> None:
        """Close every connection now and refuse new ones for ``seconds`` (from any thread)."""
        self.cuts += 1
        self._down_until = time.monotonic() + seconds
        self._loop.call_soon_threadsafe(self._close_all)

    def _close_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if time.monotonic() < self._down_until:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.discard(writer)
        self._writers.discard(up_writer)
