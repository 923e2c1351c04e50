"""The lean client's response parser, byte by byte: framing, codings, keep-alive and what it refuses."""

from __future__ import annotations

import gzip
import zlib

import pytest

from orderbridge.vtex.http11_parser import MAX_HEAD_BYTES, ProtocolError, ResponseParser
from orderbridge.vtex.sending import Reply


def parse(
    raw: bytes, *, no_body: bool = False, step: int | None = None
) -> tuple[Reply | None, ResponseParser]:
    """Feed ``raw`` whole, or ``step`` bytes at a time (as a slow network would deliver it)."""
    parser = ResponseParser(no_body)
    reply = None
    size = step or len(raw) or 1
    for start in range(0, len(raw), size):
        reply = parser.feed(raw[start : start + size])
    return reply, parser


CHUNKED = (
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"a"\r\n3;ext=1\r\n:1}\r\n0\r\nX-T: y\r\n\r\n'
)


def test_a_content_length_response_is_complete_with_its_status_headers_and_body() -> None:
    reply, parser = parse(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nRetry-After: 3\r\n\r\n{}")

    assert reply == Reply(201, {"content-length": "2", "retry-after": "3"}, b"{}")
    assert parser.keep_alive


@pytest.mark.parametrize("step", [1, 2, 7, None])
def test_a_chunked_body_is_joined_whatever_the_packet_boundaries(step: int | None) -> None:
    reply, parser = parse(CHUNKED, step=step)

    assert reply is not None and reply.content == b'{"a":1}'
    assert parser.keep_alive


def test_a_response_arriving_in_pieces_is_incomplete_until_its_last_byte() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    parser = ResponseParser()

    assert [parser.feed(raw[i : i + 1]) for i in range(len(raw) - 1)] == [None] * (len(raw) - 1)
    assert parser.feed(raw[-1:]) == Reply(200, {"content-length": "5"}, b"hello")


def test_a_body_without_length_or_chunking_ends_with_the_connection() -> None:
    reply, parser = parse(b"HTTP/1.1 200 OK\r\n\r\npart one, ")
    assert reply is None and parser.reads_until_close

    reply = parser.feed(b"part two")
    assert reply is None

    assert parser.feed_eof() == Reply(200, {}, b"part one, part two")
    assert not parser.keep_alive


def test_an_eof_before_the_announced_length_is_not_a_response() -> None:
    reply, parser = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")

    assert reply is None and parser.feed_eof() is None


@pytest.mark.parametrize(
    ("status", "no_body"), [(204, False), (304, False), (200, True)], ids=["204", "304", "HEAD"]
)
def test_no_body_is_read_for_head_204_and_304_whatever_the_headers_announce(
    status: int, no_body: bool
) -> None:
    reply, parser = parse(f"HTTP/1.1 {status} X\r\nContent-Length: 120\r\n\r\n".encode(), no_body=no_body)

    assert reply is not None and (reply.status, reply.content) == (status, b"")
    assert parser.keep_alive, "the connection is ready for the next request at once"


def test_interim_1xx_responses_are_skipped_for_the_final_one() -> None:
    reply, _ = parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + CHUNKED)

    assert reply is not None and (reply.status, reply.content) == (200, b'{"a":1}')
    assert "link" not in reply.headers


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"HTTP/1.1 200 OK\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n", False),
        (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\n", False),
        (b"HTTP/1.0 200 OK\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n", True),
    ],
)
def test_the_connection_stays_open_only_as_the_version_and_connection_header_allow(
    head: bytes, keep_alive: bool
) -> None:
    reply, parser = parse(head + b"Content-Length: 0\r\n\r\n")

    assert reply is not None and parser.keep_alive is keep_alive


def test_bytes_after_the_response_make_the_connection_unusable() -> None:
    reply, parser = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 200 OK\r\n")

    assert reply is not None and reply.content == b"{}"
    assert not parser.keep_alive


def test_both_framings_announced_use_chunked_and_close_the_connection() -> None:
    raw = CHUNKED.replace(b"Transfer-Encoding", b"Content-Length: 99\r\nTransfer-Encoding")

    reply, parser = parse(raw)

    assert reply is not None and reply.content == b'{"a":1}'
    assert not parser.keep_alive


def test_repeated_headers_are_joined_and_names_are_lower_case() -> None:
    reply, _ = parse(b"HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a:  2 \r\nContent-Length: 0\r\n\r\n")

    assert reply is not None and reply.headers["x-a"] == "1, 2"


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-zlib.MAX_WBITS)),
        ("gzip, deflate", lambda data: zlib.compress(gzip.compress(data))),
    ],
    ids=["gzip", "deflate", "raw-deflate", "gzip-then-deflate"],
)
def test_content_codings_are_undone(coding: str, encode: object) -> None:
    assert callable(encode)
    body = b'{"orderId": "1001-01"}' * 50
    packed = encode(body)
    head = f"HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nContent-Length: {len(packed)}\r\n\r\n"

    reply, _ = parse(head.encode() + packed)

    assert reply is not None and reply.content == body


def test_a_gzip_body_of_several_members_is_decoded_whole() -> None:
    packed = gzip.compress(b"first ") + gzip.compress(b"second")
    head = f"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {len(packed)}\r\n\r\n".encode()

    reply, _ = parse(head + packed)

    assert reply is not None and reply.content == b"first second"


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 OK\r\n\r\n",
        b"HTTX/1.1 200 OK\r\n\r\n",
        b"HTTP/2 200 OK\r\n\r\n",
        b"<html>hello</html>\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\nxx",
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 9\r\n\r\nnot gzip!",
    ],
)
def test_a_malformed_response_is_a_protocol_error(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse(raw)


def test_a_truncated_gzip_body_is_a_protocol_error() -> None:
    packed = gzip.compress(b"x" * 1000)[:-10]
    head = f"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {len(packed)}\r\n\r\n".encode()

    with pytest.raises(ProtocolError, match="truncated"):
        parse(head + packed)


def test_headers_beyond_64_kib_are_refused_before_their_end_arrives() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\n")
    filler = b"X-Filler: " + b"a" * 1000 + b"\r\n"

    with pytest.raises(ProtocolError, match="64 KiB"):
        for _ in range(MAX_HEAD_BYTES // len(filler) + 2):
            parser.feed(filler)


def test_a_chunk_size_line_that_never_ends_is_refused() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")

    with pytest.raises(ProtocolError, match="chunk-size"):
        parser.feed(b"1" * 5000)
