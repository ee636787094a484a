"""The smallest HTTP/1.1 server an admission webhook needs, as an asyncio protocol.

Its only client is kube-apiserver: POSTs of one JSON document with a ``Content-Length``, over
TLS, on kept-alive connections; a kubelet or a person adds ``GET /healthz``. A general web
framework spends most of each request on what this client never uses (routing tables,
middleware, request and response objects, multidict headers), and an admission webhook sits
in the path of every pod creation, so the webhook answers from this protocol instead:
``parse_head`` (pure) reads a request head, and the protocol frames bodies by
``Content-Length``, answers requests in order and keeps the connection.

What it refuses, with a 4xx, a JSON reason and the connection closed: a head over
``MAX_HEAD`` bytes, a malformed request line or header, an HTTP version other than 1.0/1.1,
``Transfer-Encoding`` (the apiserver always sends a length), a ``Content-Length`` that is not
one number or is over the body limit. A connection that sends no complete request for
``IDLE_SECONDS`` is closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from .gzipped import accepts_gzip

log = logging.getLogger("cudaswitch.webhook")
MAX_HEAD = 16 * 1024
IDLE_SECONDS = 60.0
_TOKEN = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_REASONS = {100: "Continue", 200: "OK", 400: "Bad Request", 404: "Not Found",
            405: "Method Not Allowed", 408: "Request Timeout", 413: "Content Too Large",
            431: "Request Header Fields Too Large", 500: "Internal Server Error",
            505: "HTTP Version Not Supported"}


class HttpError(ValueError):
    """A request this server will not read further; the connection is closed after the answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Head:
    method: str
    path: str
    length: int
    keep_alive: bool
    expect_continue: bool
    gzip: bool = False


def parse_head(raw: bytes, max_body: int) -> Head:
    """A request head (up to, not including, the blank line) or HttpError."""
    lines = raw.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[1].startswith(b"/"):
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise HttpError(505, "only HTTP/1.1 and HTTP/1.0 are served")
    lengths, connection, expect, accept = set(), b"", b"", b""
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.match(name):
            raise HttpError(400, "malformed header line")
        name, value = name.lower(), value.strip(b" \t")
        if name == b"content-length":
            lengths.add(value)
        elif name == b"transfer-encoding":
            raise HttpError(400, "Transfer-Encoding is not accepted; send the body with a "
                                 "Content-Length")
        elif name == b"connection":
            connection = value.lower()
        elif name == b"expect":
            expect = value.lower()
        elif name == b"accept-encoding":
            accept = value
    if len(lengths) > 1:
        raise HttpError(400, "Content-Length given twice with different values")
    text = lengths.pop() if lengths else b"0"
    if not text.isdigit() or len(text) > 12:
        raise HttpError(400, "Content-Length is not a number")
    length = int(text)
    if length > max_body:
        raise HttpError(400, f"body is {length} bytes, over the {max_body} byte limit")
    keep = b"close" not in connection if version == b"HTTP/1.1" else b"keep-alive" in connection
    return Head(method.decode("ascii"), target.split(b"?", 1)[0].decode("latin-1"), length,
                keep, expect == b"100-continue", accepts_gzip(accept))


def response_bytes(status: int, body: bytes, close: bool = False,
                   extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
            "Content-Type: application/json", f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in extra)]
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}, separators=(",", ":")).encode()


# (method, path, body, client takes gzip) -> (status, JSON body, extra headers)
Respond = Callable[[str, str, bytes, bool], tuple[int, bytes, tuple[tuple[str, str], ...]]]


class Http1Protocol(asyncio.Protocol):
    """One connection: requests framed by Content-Length, answered in order by ``respond``."""

    def __init__(self, respond: Respond, max_body: int) -> None:
        self.respond = respond
        self.max_body = max_body
        self.buf = bytearray()
        self.head: Head | None = None
        self.body_at = 0
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; both have what is used here
        self.transport = transport  # type: ignore[assignment]
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer:
            self.timer.cancel()
        self.transport = None

    def _arm(self) -> None:
        if self.timer:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(IDLE_SECONDS, self._idle)

    def _idle(self) -> None:
        if self.transport is not None:
            if self.buf or self.head:
                self.transport.write(response_bytes(408, error_body("request not completed "
                                                                    "in time"), close=True))
            self.transport.close()

    def pause_writing(self) -> None:  # a client that sends without reading: stop reading it
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    def _fail(self, status: int, message: str) -> None:
        assert self.transport is not None
        self.transport.write(response_bytes(status, error_body(message), close=True))
        self.transport.close()
        self.closing = True
        self.buf.clear()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.buf += data
        while self.transport is not None and not self.closing:
            if self.head is None:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buf) > MAX_HEAD:
                        self._fail(431, f"request head over {MAX_HEAD} bytes")
                    return
                if end > MAX_HEAD:
                    self._fail(431, f"request head over {MAX_HEAD} bytes")
                    return
                try:
                    self.head = parse_head(bytes(self.buf[:end]), self.max_body)
                except HttpError as e:
                    self._fail(e.status, str(e))
                    return
                self.body_at = end + 4
                if self.head.expect_continue:
                    self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            head = self.head
            end = self.body_at + head.length
            if len(self.buf) < end:
                return
            body = bytes(self.buf[self.body_at:end])
            del self.buf[:end]
            self.head = None
            try:
                status, payload, extra = self.respond(head.method, head.path, body, head.gzip)
            except Exception as e:  # a bug here must not drop the connection unanswered
                log.exception("%s %s failed", head.method, head.path)
                status, payload, extra = 500, error_body(f"internal error: {type(e).__name__}"), ()
            self.transport.write(response_bytes(status, payload, not head.keep_alive, extra))
            if not head.keep_alive:
                self.transport.close()
                self.closing = True
                return
            self._arm()
