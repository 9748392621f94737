"""The HTTP/1.1 protocol the server speaks: uvicorn's (httptools), with the limits a server
facing untrusted clients needs and uvicorn does not set.

- The request line and headers together are capped (``max_head_bytes``): a larger head is
  answered 431 and the connection closed, whether it arrives at once or trickles in (it is
  never buffered past the cap plus one read).
- A connection must finish sending its head within ``head_timeout`` seconds of its first byte
  (or of connecting): a client that holds connections open with partial heads (slowloris)
  gets 408 and is closed. Idle keep-alive connections are uvicorn's keep-alive timeout's.

The request body has its own deadline, applied where routes read it (``read_body``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 32 * 1024
HEAD_TIMEOUT_S = 10.0

_REASONS = {408: "Request Timeout", 431: "Request Header Fields Too Large"}


class GuardedHttp(HttpToolsProtocol):
    max_head_bytes = MAX_HEAD_BYTES
    head_timeout = HEAD_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # between a request's first byte (or the connection) and its headers
        self._head_bytes = 0  # raw bytes read since the head began (may include some body)
        self._head_size = 0  # the head's own bytes, as parsed
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    @classmethod
    def configure(cls, max_head_bytes: int, head_timeout: float) -> None:
        """Set the limits of this process's connections (from Settings, before serving)."""
        cls.max_head_bytes = max_head_bytes
        cls.head_timeout = head_timeout

    # -- connection ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()  # a connection that sends nothing is not kept either

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._arm_head_timer()
            self._head_bytes += len(data)
        super().data_received(data)
        # a head still incomplete after this read and already past the cap: refuse it now,
        # before the parser buffers more of it
        if self._in_head and self._head_bytes > self.max_head_bytes and not self._refused:
            self._refuse(431, f"request line and headers over {self.max_head_bytes} bytes")

    # -- parser callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_size = 0

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm_head_timer()
        if self._head_size > self.max_head_bytes:
            self._refuse(431, f"request line and headers over {self.max_head_bytes} bytes")
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        self._in_head = True  # the next request's head; its clock starts at its first byte
        self._head_bytes = 0

    # -- limits --------------------------------------------------------------------------
    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self._in_head or self.transport.is_closing():
            return
        if self._head_bytes == 0:
            self.transport.close()  # a connection that never sent a byte: nothing to answer
            return
        self._refuse(408, f"request headers not received within {self.head_timeout:g} s")

    def _refuse(self, status: int, message: str) -> None:
        self._refused = True
        self._in_head = False
        self._disarm_head_timer()
        body = json.dumps({"error": message}).encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, _REASONS[status].encode(), len(body), body)
        )
        self.transport.close()
        self.logger.info("refused a request from %s: %s", self.client, message)
