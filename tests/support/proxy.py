"""A TCP proxy the test can cut and restore: an outage of whatever is behind it, seen by a
worker exactly as a network partition (its connections die, new ones are refused), while
the service itself stays up for the test's own checks."""

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from civicgrid.embedded.process import free_port


@dataclass
class TcpProxy:
    target_host: str
    target_port: int
    port: int = field(default_factory=free_port)
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _server: asyncio.Server | None = None
    _open: set[asyncio.WriteTransport] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def restore(self) -> "TcpProxy":
        """Listen (again) on the same port."""
        self._call(self._listen())
        return self

    def cut(self) -> None:
        """Stop listening and reset every connection through the proxy."""
        self._call(self._cut())

    def close(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for transport in list(self._open):
            transport.abort()
        self._open.clear()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.target_host, self.target_port
            )
        except OSError:
            writer.transport.abort()
            return
        pair = (writer.transport, upstream_writer.transport)
        self._open.update(pair)
        await asyncio.gather(
            _copy(reader, upstream_writer), _copy(upstream_reader, writer), return_exceptions=True
        )
        for transport in pair:
            self._open.discard(transport)
            transport.abort()


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    finally:
        sink.transport.abort()
