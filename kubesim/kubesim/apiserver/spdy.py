"""SPDY/3.1 framing: the frames kubectl's port-forward tunnel speaks, and their header blocks.

A frame is an 8-byte header (control bit, version 3 and type; or a 31-bit stream id for data)
then flags and a 24-bit length. Name/value header blocks are zlib-compressed with the SPDY/3
dictionary, one compression context per direction for the whole session (so a `HeaderCodec`
lives as long as its session). Anything malformed raises `ProtocolError`: the session ends.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS = 1, 2, 3, 4
PING, GOAWAY, HEADERS, WINDOW_UPDATE = 6, 7, 8, 9
FLAG_FIN, FLAG_UNIDIRECTIONAL = 0x01, 0x02
# RST_STREAM status codes
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, CANCEL = 1, 2, 3, 5
STREAM_IN_USE, STREAM_ALREADY_CLOSED, FLOW_CONTROL_ERROR = 8, 9, 7
SETTINGS_INITIAL_WINDOW_SIZE = 7
INITIAL_WINDOW = 64 * 1024
MAX_HEADER_BLOCK = 256 * 1024  # decompressed; a bigger block is a protocol error, not a bomb
MAX_CONTROL_FRAME = 64 * 1024

# The SPDY/3 header dictionary (draft 3.1, section 2.6.10.1): these words, each after its
# 32-bit big-endian length, then the tail text.
_DICTIONARY_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language "
    "accept-ranges age allow authorization cache-control connection content-base "
    "content-encoding content-language content-length content-location content-md5 "
    "content-range content-type date etag expect expires from host if-match if-modified-since "
    "if-none-match if-range if-unmodified-since last-modified location max-forwards pragma "
    "proxy-authenticate proxy-authorization range referer retry-after server te trailer "
    "transfer-encoding upgrade user-agent vary via warning www-authenticate method get status "
    "|200 OK| version HTTP/1.1 url public set-cookie keep-alive origin"
)
_DICTIONARY_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 "
    "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 "
    "Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, "
    "Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)


def _dictionary() -> bytes:
    words = _DICTIONARY_WORDS.replace("|200 OK|", "200\x00OK").split()
    out = b"".join(
        struct.pack(">I", len(w)) + w.replace("\x00", " ").encode("ascii") for w in words
    )
    return out + _DICTIONARY_TAIL.encode("ascii")


DICTIONARY = _dictionary()


class ProtocolError(Exception):
    """A byte stream that is not SPDY/3: the session is over."""


Headers = dict[str, list[str]]


@dataclass
class DataFrame:
    stream_id: int
    flags: int
    data: bytes


@dataclass
class ControlFrame:
    """A control frame, decoded as far as its type goes (`stream_id`, `headers`, `values`)."""

    kind: int
    flags: int
    stream_id: int = 0
    headers: Headers = field(default_factory=dict)
    values: tuple[int, ...] = ()  # RST status; PING id; GOAWAY (last, status); delta; settings


Frame = DataFrame | ControlFrame


class HeaderCodec:
    """The two zlib contexts of one session: what it reads, and what it writes."""

    def __init__(self) -> None:
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(9, zlib.DEFLATED, 15, zdict=DICTIONARY)

    def encode(self, headers: Headers) -> bytes:
        block = struct.pack(">I", len(headers))
        for name, values in headers.items():
            key, value = name.lower().encode(), "\x00".join(values).encode()
            block += struct.pack(">I", len(key)) + key + struct.pack(">I", len(value)) + value
        return self._deflate.compress(block) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def decode(self, compressed: bytes) -> Headers:
        try:
            block = self._inflate.decompress(compressed, MAX_HEADER_BLOCK + 1)
        except zlib.error as e:
            raise ProtocolError(f"bad header compression: {e}") from None
        if len(block) > MAX_HEADER_BLOCK or self._inflate.unconsumed_tail:
            raise ProtocolError("header block too large")
        return parse_header_block(block)


def parse_header_block(block: bytes) -> Headers:
    """The name/value pairs of an uncompressed block; names are lower case and unique."""
    reader = _Reader(block)
    headers: Headers = {}
    for _ in range(reader.u32()):
        name = reader.chunk(reader.u32())
        value = reader.chunk(reader.u32())
        try:
            key = name.decode("ascii")
        except UnicodeDecodeError:
            raise ProtocolError("header name is not ASCII") from None
        if not key or key != key.lower() or key in headers:
            raise ProtocolError(f"bad or repeated header name {key!r}")
        headers[key] = value.decode("utf-8", "replace").split("\x00")
    if reader.left():
        raise ProtocolError("trailing bytes after the header block")
    return headers


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def u32(self) -> int:
        return int.from_bytes(self.chunk(4), "big")

    def chunk(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise ProtocolError("frame or header block cut short")
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def left(self) -> int:
        return len(self.data) - self.at


class FrameParser:
    """Bytes in, frames out: `feed` what arrived, whatever its boundaries."""

    def __init__(self, codec: HeaderCodec) -> None:
        self.codec = codec
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self.buffer += data
        frames: list[Frame] = []
        while len(self.buffer) >= 8:
            length = int.from_bytes(self.buffer[5:8], "big")
            if self.buffer[0] & 0x80 and length > MAX_CONTROL_FRAME:
                raise ProtocolError("control frame too large")
            if len(self.buffer) < 8 + length:
                break
            head, body = bytes(self.buffer[:8]), bytes(self.buffer[8 : 8 + length])
            del self.buffer[: 8 + length]
            frames.append(self._frame(head, body))
        return frames

    def _frame(self, head: bytes, body: bytes) -> Frame:
        first, flags = int.from_bytes(head[:4], "big"), head[4]
        if not first & 0x80000000:
            return DataFrame(first & 0x7FFFFFFF, flags, body)
        version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
        if version != VERSION:
            raise ProtocolError(f"unsupported SPDY version {version}")
        r = _Reader(body)
        frame = ControlFrame(kind, flags)
        if kind == SYN_STREAM:
            frame.stream_id = r.u32() & 0x7FFFFFFF
            r.chunk(6)  # associated stream, priority, slot: nothing here depends on them
            frame.headers = self.codec.decode(r.chunk(r.left()))
        elif kind in (SYN_REPLY, HEADERS):
            frame.stream_id = r.u32() & 0x7FFFFFFF
            frame.headers = self.codec.decode(r.chunk(r.left()))
        elif kind in (RST_STREAM, WINDOW_UPDATE):
            frame.stream_id = r.u32() & 0x7FFFFFFF
            frame.values = (r.u32() & 0x7FFFFFFF,)
        elif kind == SETTINGS:
            count = r.u32()
            frame.values = tuple(v for _ in range(count) for v in (r.u32() & 0xFFFFFF, r.u32()))
        elif kind == PING:
            frame.values = (r.u32(),)
        elif kind == GOAWAY:
            frame.values = (r.u32() & 0x7FFFFFFF, r.u32())
        else:
            return frame  # unknown control frames are ignored, as the spec says
        if r.left():
            raise ProtocolError(f"control frame {kind} has trailing bytes")
        return frame


def _control(kind: int, flags: int, body: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(body)) + body


def data_frame(stream_id: int, data: bytes, fin: bool = False) -> bytes:
    flags = FLAG_FIN if fin else 0
    return struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(data)) + data


def syn_stream(codec: HeaderCodec, stream_id: int, headers: Headers, fin: bool = False) -> bytes:
    body = struct.pack(">IIH", stream_id, 0, 0) + codec.encode(headers)
    return _control(SYN_STREAM, FLAG_FIN if fin else 0, body)


def syn_reply(codec: HeaderCodec, stream_id: int, headers: Headers, fin: bool = False) -> bytes:
    body = struct.pack(">I", stream_id) + codec.encode(headers)
    return _control(SYN_REPLY, FLAG_FIN if fin else 0, body)


def rst_stream(stream_id: int, status: int) -> bytes:
    return _control(RST_STREAM, 0, struct.pack(">II", stream_id, status))


def settings(pairs: dict[int, int]) -> bytes:
    body = struct.pack(">I", len(pairs))
    body += b"".join(struct.pack(">II", key, value) for key, value in pairs.items())
    return _control(SETTINGS, 0, body)


def ping(ping_id: int) -> bytes:
    return _control(PING, 0, struct.pack(">I", ping_id))


def goaway(last_stream: int, status: int = 0) -> bytes:
    return _control(GOAWAY, 0, struct.pack(">II", last_stream, status))


def window_update(stream_id: int, delta: int) -> bytes:
    return _control(WINDOW_UPDATE, 0, struct.pack(">II", stream_id, delta))
