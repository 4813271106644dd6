"""A tiny HTTP/1.1 server side: the connection protocol, request parsing and response encoding."""

from __future__ import annotations

import asyncio
import email.message
import email.parser
import json
from http import HTTPStatus
from typing import TYPE_CHECKING, NamedTuple, cast

if TYPE_CHECKING:
    from judgekit.testing.server import JudgeServer

_STATUS_LINES = {s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in HTTPStatus}
_MAX_HEAD_BYTES = 1 << 16


class Request(NamedTuple):
    """A parsed request line and headers; the body starts at ``body_start`` in the buffer."""

    method: bytes
    path: bytes
    headers: dict[bytes, bytes]
    keep_alive: bool
    expects_continue: bool
    body_start: int


class Response(NamedTuple):
    """A response to encode; ``headers`` are extra header lines, each ending in CRLF."""

    status: int
    body: bytes
    headers: bytes = b""
    content_type: bytes = b"application/json"


class Connection(asyncio.Protocol):
    """One client connection: parse requests from the buffer and answer them in order."""

    def __init__(self, server: JudgeServer, loop: asyncio.AbstractEventLoop) -> None:
        self._server = server
        self._loop = loop
        self._buffer = bytearray()
        self._transport: asyncio.Transport  # set by connection_made()
        self._pending: asyncio.TimerHandle | None = None  # a delayed answer not yet sent
        self._continued = False  # "100 Continue" already sent for the current request

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Register the connection with the server."""
        self._transport = cast(asyncio.Transport, transport)
        self._server._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        """Unregister it and cancel a delayed answer."""
        self._server._connections.discard(self)
        if self._pending is not None:
            self._pending.cancel()

    def data_received(self, data: bytes) -> None:
        """Buffer the bytes and answer what is complete, unless an answer is pending."""
        self._buffer += data
        if self._pending is None:
            self._process()

    def abort(self) -> None:
        """Close the connection at once, dropping unsent data."""
        self._transport.abort()

    def _process(self) -> None:
        """Answer every complete request in the buffer, stopping at a delayed one."""
        while self._buffer and self._pending is None and not self._transport.is_closing():
            try:
                request = _parse_head(self._buffer)
                body = None if request is None else _parse_body(self._buffer, request)
            except ValueError:
                self._send(error_response(400, "Malformed HTTP request."), keep_alive=False)
                return
            if request is None or body is None:
                if request is not None and request.expects_continue and not self._continued:
                    self._continued = True
                    self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                return
            del self._buffer[: body[1]]
            self._continued = False
            delay_s, response = self._server._answer(request, body[0])
            if delay_s > 0:
                self._pending = self._loop.call_later(delay_s, self._send_later, response, request.keep_alive)
            else:
                self._send(response, request.keep_alive)

    def _send_later(self, response: Response | None, keep_alive: bool) -> None:
        self._pending = None
        self._send(response, keep_alive)
        self._process()

    def _send(self, response: Response | None, keep_alive: bool) -> None:
        if response is None:
            self._transport.abort()
            return
        self._transport.write(self._server._encode(response, keep_alive))
        if not keep_alive:
            self._transport.close()


def _parse_head(buffer: bytearray) -> Request | None:
    """Parse the request line and headers, or None if they are not all in yet."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > _MAX_HEAD_BYTES:
            raise ValueError("request head too large")
        return None
    lines = bytes(buffer[:end]).split(b"\r\n")
    method, target, version = lines[0].split(b" ", 2)
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    connection = headers.get(b"connection", b"").lower()
    return Request(
        method=method,
        path=target.partition(b"?")[0],
        headers=headers,
        keep_alive=connection == b"keep-alive" or (version == b"HTTP/1.1" and connection != b"close"),
        expects_continue=headers.get(b"expect", b"").lower() == b"100-continue",
        body_start=end + 4,
    )


def _parse_body(buffer: bytearray, request: Request) -> tuple[bytes, int] | None:
    """Return the body and the offset just past it, or None if it is not all in yet."""
    if request.headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        return _parse_chunked(buffer, request.body_start)
    end = request.body_start + int(request.headers.get(b"content-length", b"0"))
    return (bytes(buffer[request.body_start : end]), end) if len(buffer) >= end else None


def _parse_chunked(buffer: bytearray, pos: int) -> tuple[bytes, int] | None:
    chunks = []
    while True:
        eol = buffer.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buffer[pos:eol]).partition(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            break
        if len(buffer) < pos + size + 2:
            return None
        chunks.append(bytes(buffer[pos : pos + size]))
        pos += size + 2
    if buffer.startswith(b"\r\n", pos):
        return b"".join(chunks), pos + 2
    trailers_end = buffer.find(b"\r\n\r\n", pos)
    return None if trailers_end < 0 else (b"".join(chunks), trailers_end + 4)


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The fields of a multipart/form-data body: name -> (filename, content)."""
    header = email.message.Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if header.get_content_type() != "multipart/form-data" or not isinstance(boundary, str):
        raise ValueError("expected multipart/form-data with a boundary")
    parts: dict[str, tuple[str | None, bytes]] = {}
    # Each part sits between CRLF "--boundary" delimiters; the last delimiter ends in "--".
    for piece in body.split(b"--" + boundary.encode("latin-1"))[1:]:
        if piece.startswith(b"--"):
            return parts
        head, separator, content = piece.partition(b"\r\n\r\n")
        if not head.startswith(b"\r\n") or not separator or not content.endswith(b"\r\n"):
            raise ValueError("a part is malformed")
        headers = email.parser.BytesHeaderParser().parsebytes(head[2:] + b"\r\n\r\n")
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise ValueError("a part has no name")
        parts[name] = (headers.get_filename(), content[:-2])
    raise ValueError("the closing boundary is missing")


def encode_response(response: Response, keep_alive: bool, limits: bytes) -> bytes:
    """The response as sent: status line, content headers, ``limits`` header lines, body."""
    status = _STATUS_LINES.get(response.status) or b"HTTP/1.1 %d Error\r\n" % response.status
    length = b"content-type: %s\r\ncontent-length: %d\r\n" % (response.content_type, len(response.body))
    end = b"\r\n" if keep_alive else b"connection: close\r\n\r\n"
    return b"".join((status, length, limits, response.headers, end, response.body))


def error_response(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: bytes = b"",
) -> Response:
    """An OpenAI-style ``{"error": {...}}`` response."""
    error = {"message": message, "type": type_, "param": param, "code": code}
    return Response(status, json.dumps({"error": error}).encode(), headers)
