"""An incremental parser of one HTTP/1.1 response, for the lean client in ``http11``.

It is fed bytes as they arrive and answers the ``Reply`` once the response is complete: status line,
headers, a body framed by ``Content-Length``, ``Transfer-Encoding: chunked`` or the end of the
connection (RFC 9112 §6.3), no body for HEAD, 1xx, 204 and 304, then ``Content-Encoding`` (gzip,
deflate) undone. It also says whether the connection may carry another request (``keep_alive``).

Anything that does not parse raises ``ProtocolError``: once framing is in doubt the connection's
next bytes cannot be trusted, so the caller closes it. Limits (64 KiB of headers, 64 MiB of body,
before and after decompression) keep a broken or hostile server from growing memory without end.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable

from .sending import Reply

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_CHUNK_LINE_BYTES = 4096

_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([1-9][0-9][0-9])(?: [^\x00]*)?")
#: Every line after the status line: "\r\n" name ":" value, the name a token, no NUL, CR or LF in the value.
_HEADER_BLOCK = re.compile(rb"(?:\r\n[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00\r\n]*)*")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,15})[ \t]*(?:;[^\x00]*)?")
_LENGTH = re.compile(r"[0-9]{1,18}")


class ProtocolError(Exception):
    """The response broke HTTP/1.1 (or our limits); the connection it came on must be closed."""


class ResponseParser:
    """Parses the response to one request. ``feed`` returns the ``Reply`` once it is complete."""

    __slots__ = (
        "_body_size",
        "_buf",
        "_chunks",
        "_no_body",
        "_remaining",
        "_reply",
        "_scanned",
        "_step",
        "headers",
        "keep_alive",
        "status",
    )

    def __init__(self, no_body: bool = False) -> None:
        """``no_body``: the request was HEAD, so the response has no body whatever it announces."""
        self._no_body = no_body
        self._buf = bytearray()
        self._step: Callable[[], bool] = self._head
        self._scanned = 0  # bytes of the head already searched for its end (slow senders)
        self._remaining = 0
        self._body_size = 0
        self._chunks: list[bytes] = []
        self._reply: Reply | None = None
        self.status = 0
        self.headers: dict[str, str] = {}
        self.keep_alive = False

    @property
    def reads_until_close(self) -> bool:
        """True while the body is the rest of the connection: its end is the server's EOF."""
        return self._step == self._until_close

    def feed(self, data: bytes) -> Reply | None:
        """Take the next bytes of the connection; the ``Reply`` once complete, else None."""
        self._buf += data
        while self._reply is None and self._step():
            pass
        return self._reply

    def feed_eof(self) -> Reply | None:
        """The server closed the connection: the ``Reply`` when that ended the body, else None."""
        if self._reply is None and self.reads_until_close:
            return self._complete(bytes(self._buf), leftover=False)
        return self._reply

    def _head(self) -> bool:
        buf = self._buf
        end = buf.find(b"\r\n\r\n", max(0, self._scanned - 3))
        if end < 0 or end > MAX_HEAD_BYTES:
            if len(buf) > MAX_HEAD_BYTES:
                raise ProtocolError("response headers exceed 64 KiB")
            self._scanned = len(buf)
            return False
        head = bytes(buf[:end])
        del buf[: end + 4]
        self._scanned = 0
        status, is_http11, headers = parse_head(head)
        if status < 200:
            if status == 101:
                raise ProtocolError("101 Switching Protocols to a request that asked for no upgrade")
            return True  # an interim response (100, 103): the final one follows
        self.status = status
        self.headers = headers
        self.keep_alive = _keeps_alive(is_http11, headers.get("connection"))
        self._frame()
        return True

    def _frame(self) -> None:
        """Choose how the body ends (RFC 9112 §6.3)."""
        headers = self.headers
        if self._no_body or self.status in (204, 304):
            self._complete(b"", leftover=bool(self._buf))
            return
        coding = headers.get("transfer-encoding")
        if coding is not None:
            if coding.strip().lower() != "chunked":
                raise ProtocolError("unsupported transfer-encoding")
            if "content-length" in headers:
                self.keep_alive = False  # both framings announced: the connection is not to be trusted
            self._step = self._chunk_size
        elif (length := headers.get("content-length")) is not None:
            self._remaining = _content_length(length)
            self._step = self._length
        else:
            self.keep_alive = False
            self._step = self._until_close

    def _length(self) -> bool:
        buf = self._buf
        size = self._remaining
        if len(buf) < size:
            return False
        body = bytes(buf[:size]) if len(buf) > size else bytes(buf)
        del buf[:size]
        self._complete(body, leftover=bool(buf))
        return False

    def _chunk_size(self) -> bool:
        buf = self._buf
        eol = buf.find(b"\r\n")
        if eol < 0:
            if len(buf) > MAX_CHUNK_LINE_BYTES:
                raise ProtocolError("chunk-size line too long")
            return False
        match = _CHUNK_SIZE.fullmatch(buf, 0, eol)
        if match is None:
            raise ProtocolError("malformed chunk size")
        size = int(match.group(1), 16)  # before the del: the match reads the (mutable) buffer lazily
        del buf[: eol + 2]
        if size == 0:
            self._remaining = 0  # now counts trailer bytes
            self._step = self._trailers
            return True
        self._body_size += size
        if self._body_size > MAX_BODY_BYTES:
            raise ProtocolError("response body exceeds 64 MiB")
        self._remaining = size
        self._step = self._chunk_data
        return True

    def _chunk_data(self) -> bool:
        buf = self._buf
        size = self._remaining
        if len(buf) < size + 2:
            return False
        if buf[size : size + 2] != b"\r\n":
            raise ProtocolError("chunk data not followed by CRLF")
        self._chunks.append(bytes(buf[:size]))
        del buf[: size + 2]
        self._step = self._chunk_size
        return True

    def _trailers(self) -> bool:
        """Trailer fields are read and dropped (the transport needs none); an empty line ends them."""
        buf = self._buf
        eol = buf.find(b"\r\n")
        if eol < 0:
            if len(buf) + self._remaining > MAX_HEAD_BYTES:
                raise ProtocolError("trailers exceed 64 KiB")
            return False
        del buf[: eol + 2]
        if eol == 0:
            self._complete(b"".join(self._chunks), leftover=bool(buf))
            return False
        self._remaining += eol
        return True

    def _until_close(self) -> bool:
        if len(self._buf) > MAX_BODY_BYTES:
            raise ProtocolError("response body exceeds 64 MiB")
        return False

    def _complete(self, body: bytes, *, leftover: bool) -> Reply:
        if leftover:
            self.keep_alive = False  # bytes nobody asked for: the stream is out of step
        coding = self.headers.get("content-encoding")
        if coding is not None and body:
            body = decode_content(body, coding)
        self._reply = Reply(self.status, self.headers, body)
        return self._reply


def parse_head(head: bytes) -> tuple[int, bool, dict[str, str]]:
    """Status, whether it is HTTP/1.1, and the headers (lower-case names; repeats joined by ", ").

    The header block is checked by one regular expression, then split as text: a match per line
    cost more than the rest of the response's handling."""
    eol = head.find(b"\r\n")
    status_line = _STATUS_LINE.fullmatch(head if eol < 0 else head[:eol])
    if status_line is None:
        raise ProtocolError("malformed status line")
    headers: dict[str, str] = {}
    if eol >= 0:
        block = head[eol:]
        if _HEADER_BLOCK.fullmatch(block) is None:
            raise ProtocolError("malformed header line")
        for line in block.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            name = name.lower()
            value = value.strip(" \t")
            previous = headers.get(name)
            headers[name] = value if previous is None else f"{previous}, {value}"
    return int(status_line.group(2)), status_line.group(1) == b"1", headers


def _keeps_alive(is_http11: bool, connection: str | None) -> bool:
    """HTTP/1.1 stays open unless told ``close``; HTTP/1.0 closes unless told ``keep-alive``."""
    if connection is None:
        return is_http11
    tokens = {token.strip().lower() for token in connection.split(",")}
    if is_http11:
        return "close" not in tokens
    return "keep-alive" in tokens and "close" not in tokens


def _content_length(value: str) -> int:
    """One length, or a list of identical ones (a proxy may have merged duplicates)."""
    lengths = {text.strip() for text in value.split(",")}
    if len(lengths) != 1:
        raise ProtocolError("conflicting content-length")
    text = lengths.pop()
    if not _LENGTH.fullmatch(text):
        raise ProtocolError("malformed content-length")
    length = int(text)
    if length > MAX_BODY_BYTES:
        raise ProtocolError("response body exceeds 64 MiB")
    return length


def decode_content(body: bytes, content_encoding: str) -> bytes:
    """Undo each content coding, last applied first."""
    for coding in reversed(content_encoding.split(",")):
        coding = coding.strip().lower()
        if coding in ("", "identity"):
            continue
        if coding in ("gzip", "x-gzip"):
            body = _inflate(body, 16 + zlib.MAX_WBITS, members=True)
        elif coding == "deflate":
            body = _inflate(
                body, zlib.MAX_WBITS if _has_zlib_header(body) else -zlib.MAX_WBITS, members=False
            )
        else:
            raise ProtocolError(f"unsupported content-encoding {coding!r}")
    return body


def _has_zlib_header(data: bytes) -> bool:
    """HTTP's "deflate" is zlib-wrapped, but some servers send raw deflate; the header tells them apart."""
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


def _inflate(data: bytes, wbits: int, *, members: bool) -> bytes:
    """Decompress ``data`` (every gzip member, when ``members``), at most ``MAX_BODY_BYTES`` of output."""
    out: list[bytes] = []
    size = 0
    while data:
        inflater = zlib.decompressobj(wbits)
        try:
            part = inflater.decompress(data, MAX_BODY_BYTES + 1 - size)
        except zlib.error as exc:
            raise ProtocolError(f"undecodable response body: {exc}") from None
        size += len(part)
        if size > MAX_BODY_BYTES:
            raise ProtocolError("decoded response body exceeds 64 MiB")
        if not inflater.eof:
            raise ProtocolError("truncated compressed response body")
        out.append(part)
        data = inflater.unused_data
        if data and not members:
            raise ProtocolError("bytes after the end of the compressed response body")
    return b"".join(out)
