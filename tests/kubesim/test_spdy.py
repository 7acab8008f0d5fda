"""SPDY/3.1 framing and sessions (kubesim.apiserver.spdy, spdy_session), and the tunnel's edges.

The framer round-trips every frame kubectl's port-forward uses, its header blocks share one
zlib context per direction, and anything malformed is a `ProtocolError`; a session fed hostile
bytes ends (after a GOAWAY) rather than crash or hang. Through the server: a raw WebSocket
tunnel client that breaks the protocol is disconnected; one that does flow control is honoured.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import struct
import zlib
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from kubesim import LocalCluster
from kubesim.apiserver import spdy, spdy_portforward
from kubesim.apiserver.spdy_session import Session, Stream
from kubesim.apiserver.streams import Connection, StreamFailed
from tests.support.streams import NS, container, pod, running_pod, url


def test_the_header_dictionary_is_spdy3s() -> None:
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert b"\x00\x00\x00\x06200 OK\x00\x00\x00\x07version" in spdy.DICTIONARY
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")
    digest = "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02"
    assert hashlib.sha256(spdy.DICTIONARY).hexdigest() == digest


def test_header_blocks_share_one_context_per_direction() -> None:
    writer, reader = spdy.HeaderCodec(), spdy.HeaderCodec()
    first = {"streamtype": ["error"], "port": ["8080"], "requestid": ["0"]}
    second = {"streamtype": ["data"], "port": ["8080"], "requestid": ["0"], "x": ["a", "b"]}
    one, two = writer.encode(first), writer.encode(second)
    assert len(two) < len(writer.encode(second)) + 40  # sanity: blocks are compressed
    assert reader.decode(one) == first
    assert reader.decode(two) == second  # needs the first block's context
    fresh = spdy.HeaderCodec()
    with pytest.raises(spdy.ProtocolError):
        fresh.decode(two)  # out of context: not a valid deflate stream on its own
    # a plain zlib stream with the dictionary is what a Go peer sends
    deflate = zlib.compressobj(zdict=spdy.DICTIONARY)
    block = struct.pack(">I", 1) + struct.pack(">I", 4) + b"port" + struct.pack(">I", 2) + b"80"
    go = deflate.compress(block) + deflate.flush(zlib.Z_SYNC_FLUSH)
    assert spdy.HeaderCodec().decode(go) == {"port": ["80"]}


def parse_all(data: bytes, codec: spdy.HeaderCodec | None = None) -> list[spdy.Frame]:
    parser = spdy.FrameParser(codec or spdy.HeaderCodec())
    frames: list[spdy.Frame] = []
    for i in range(len(data)):  # a byte at a time: boundaries mean nothing
        frames += parser.feed(data[i : i + 1])
    assert not parser.buffer
    return frames


def test_frames_round_trip() -> None:
    codec = spdy.HeaderCodec()
    wire = b"".join([
        spdy.syn_stream(codec, 1, {"port": ["80"]}),
        spdy.syn_reply(codec, 1, {}, fin=True),
        spdy.data_frame(1, b"hello"),
        spdy.data_frame(1, b"", fin=True),
        spdy.rst_stream(3, spdy.CANCEL),
        spdy.settings({spdy.SETTINGS_INITIAL_WINDOW_SIZE: 1024}),
        spdy.ping(7),
        spdy.window_update(1, 4096),
        spdy.goaway(5, 0),
    ])  # fmt: skip
    frames = parse_all(wire)
    control = [f for f in frames if isinstance(f, spdy.ControlFrame)]
    data = [f for f in frames if isinstance(f, spdy.DataFrame)]
    assert [(f.kind, f.stream_id, f.values) for f in control] == [
        (spdy.SYN_STREAM, 1, ()), (spdy.SYN_REPLY, 1, ()), (spdy.RST_STREAM, 3, (5,)),
        (spdy.SETTINGS, 0, (7, 1024)), (spdy.PING, 0, (7,)), (spdy.WINDOW_UPDATE, 1, (4096,)),
        (spdy.GOAWAY, 0, (5, 0)),
    ]  # fmt: skip
    assert control[0].headers == {"port": ["80"]}
    assert control[1].flags == spdy.FLAG_FIN
    assert [(f.stream_id, f.flags, f.data) for f in data] == [(1, 0, b"hello"), (1, 1, b"")]


def header_block(*pairs: tuple[bytes, bytes], count: int | None = None) -> bytes:
    out = struct.pack(">I", len(pairs) if count is None else count)
    for name, value in pairs:
        out += struct.pack(">I", len(name)) + name + struct.pack(">I", len(value)) + value
    return out


def raw_syn_stream(block: bytes) -> bytes:
    deflate = zlib.compressobj(zdict=spdy.DICTIONARY)
    body = struct.pack(">IIH", 1, 0, 0) + deflate.compress(block) + deflate.flush(2)
    return struct.pack(">HHI", 0x8003, spdy.SYN_STREAM, len(body)) + body


@pytest.mark.parametrize(
    "wire",
    [
        struct.pack(">HHI", 0x8002, spdy.PING, 4) + b"\0\0\0\1",  # SPDY/2
        struct.pack(">HHI", 0x8003, spdy.PING, 0x10000 + 1),  # a huge control frame
        struct.pack(">HHI", 0x8003, spdy.PING, 8) + b"\0" * 8,  # trailing bytes
        struct.pack(">HHI", 0x8003, spdy.RST_STREAM, 4) + b"\0\0\0\1",  # cut short
        struct.pack(">HHI", 0x8003, spdy.SYN_STREAM, 14) + b"\0\0\0\1" + b"\0" * 6 + b"junk",
        raw_syn_stream(header_block((b"Port", b"80"))),  # not lower case
        raw_syn_stream(header_block((b"port", b"80"), (b"port", b"81"))),  # repeated
        raw_syn_stream(header_block((b"port", b"80"), count=3)),  # fewer pairs than said
        raw_syn_stream(header_block((b"port", b"80")) + b"x"),  # trailing bytes in the block
        raw_syn_stream(header_block((b"p\xffrt", b"80"))),  # not ASCII
        raw_syn_stream(header_block((b"", b"80"))),  # empty name
    ],
)
def test_malformed_frames_are_protocol_errors(wire: bytes) -> None:
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameParser(spdy.HeaderCodec()).feed(wire)


def test_a_header_bomb_is_refused() -> None:
    block = header_block((b"x", b"a" * (spdy.MAX_HEADER_BLOCK + 10)))
    deflate = zlib.compressobj(9, zdict=spdy.DICTIONARY)
    with pytest.raises(spdy.ProtocolError, match="too large"):
        spdy.HeaderCodec().decode(deflate.compress(block) + deflate.flush(2))


def test_unknown_control_frames_are_ignored() -> None:
    wire = struct.pack(">HHI", 0x8003, 0x77, 3) + b"abc" + spdy.ping(1)
    frames = spdy.FrameParser(spdy.HeaderCodec()).feed(wire)
    assert [f.kind for f in frames if isinstance(f, spdy.ControlFrame)] == [0x77, spdy.PING]


# -- a session over an in-memory transport ---------------------------------------------------


class Pipe:
    """The client's bytes in, the server's bytes out."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self.sent = bytearray()

    async def read(self) -> bytes:
        return await self.incoming.get()

    async def write(self, data: bytes) -> None:
        self.sent += data


async def echo_serve(stream: Stream) -> None:
    while data := await stream.read():
        await stream.write(data)
    await stream.close()


def server_frames(pipe: Pipe, codec: spdy.HeaderCodec) -> list[Any]:
    frames = spdy.FrameParser(codec).feed(bytes(pipe.sent))
    out: list[Any] = []
    for f in frames:
        if isinstance(f, spdy.DataFrame):
            out.append(("data", f.stream_id, f.flags, f.data))
        else:
            out.append((f.kind, f.stream_id, f.values))
    return out


async def test_a_session_serves_refuses_and_answers_pings() -> None:
    pipe, client = Pipe(), spdy.HeaderCodec()
    session = Session(pipe, lambda s: s.header("ok") == "yes", echo_serve)
    running = asyncio.create_task(session.run())
    pipe.incoming.put_nowait(spdy.syn_stream(client, 1, {"ok": ["yes"]}))
    pipe.incoming.put_nowait(spdy.syn_stream(client, 3, {"ok": ["no"]}))  # refused
    pipe.incoming.put_nowait(spdy.syn_stream(client, 2, {"ok": ["yes"]}))  # even: a server's
    pipe.incoming.put_nowait(spdy.data_frame(9, b"nobody"))  # no such stream
    pipe.incoming.put_nowait(spdy.ping(5) + spdy.data_frame(1, b"abc", fin=True))
    for _ in range(50):
        await asyncio.sleep(0.01)
        if b"abc" in pipe.sent:
            break
    pipe.incoming.put_nowait(spdy.goaway(1))
    await asyncio.wait_for(running, 5)
    frames = server_frames(pipe, spdy.HeaderCodec())
    assert (spdy.SYN_REPLY, 1, ()) in frames
    assert (spdy.RST_STREAM, 3, (spdy.CANCEL,)) in frames
    assert (spdy.RST_STREAM, 2, (spdy.PROTOCOL_ERROR,)) in frames
    assert (spdy.RST_STREAM, 9, (spdy.INVALID_STREAM,)) in frames
    assert (spdy.PING, 0, (5,)) in frames
    assert ("data", 1, 0, b"abc") in frames
    assert ("data", 1, spdy.FLAG_FIN, b"") in frames
    assert (spdy.WINDOW_UPDATE, 1, (3,)) in frames  # what it consumed, given back


@pytest.mark.parametrize(
    "garbage", [b"\x80\x03\x00\x01" + b"\xff" * 40, b"\x80\x09" + b"\x00" * 30, b"x" * 9]
)
async def test_hostile_bytes_end_the_session_cleanly(garbage: bytes) -> None:
    pipe = Pipe()
    session = Session(pipe, lambda s: True, echo_serve)
    running = asyncio.create_task(session.run())
    pipe.incoming.put_nowait(garbage)
    pipe.incoming.put_nowait(b"")  # and the peer goes
    await asyncio.wait_for(running, 5)  # returns: no exception, no hang


async def test_a_peer_that_does_flow_control_is_waited_for() -> None:
    pipe, client = Pipe(), spdy.HeaderCodec()
    released = asyncio.Event()

    async def big(stream: Stream) -> None:
        await stream.write(b"x" * (100 * 1024))
        released.set()

    session = Session(pipe, lambda s: True, big)
    running = asyncio.create_task(session.run())
    pipe.incoming.put_nowait(spdy.window_update(0, 1))  # the peer shows it counts windows
    pipe.incoming.put_nowait(spdy.syn_stream(client, 1, {}))
    await asyncio.sleep(0.1)
    assert not released.is_set()  # 64 KiB out, then it waits
    assert len(pipe.sent) < 70 * 1024
    pipe.incoming.put_nowait(spdy.window_update(1, 64 * 1024))
    await asyncio.wait_for(released.wait(), 5)
    pipe.incoming.put_nowait(b"")
    await asyncio.wait_for(running, 5)


# -- the WebSocket tunnel, raw ---------------------------------------------------------------


@pytest.fixture(scope="module")
def web(module_cluster: LocalCluster) -> LocalCluster:
    """The module's cluster, with a stub pod answering HTTP on 8080."""
    stub = container("web", "serve", ports=[{"containerPort": 8080}])
    asyncio.run(running_pod(module_cluster, pod("web", stub)))
    return module_cluster


async def test_the_tunnel_drops_clients_that_break_the_protocol(web: LocalCluster) -> None:
    local_cluster = web
    target = url(local_cluster, f"/api/v1/namespaces/{NS}/pods/web/portforward")
    headers = {"Authorization": f"Bearer {local_cluster.token}"}
    async with aiohttp.ClientSession() as http:
        # a well-behaved request first: HTTP through the stub container
        ws = await http.ws_connect(target, protocols=("SPDY/3.1+portforward.k8s.io",),
                                   headers=headers)  # fmt: skip
        assert ws.protocol == "SPDY/3.1+portforward.k8s.io"
        codec = spdy.HeaderCodec()
        base = {"port": ["8080"], "requestid": ["0"]}
        await ws.send_bytes(spdy.syn_stream(codec, 1, {**base, "streamtype": ["error"]}))
        await ws.send_bytes(spdy.syn_stream(codec, 3, {**base, "streamtype": ["data"]}))
        await ws.send_bytes(spdy.data_frame(3, b"GET /x HTTP/1.0\r\n\r\n", fin=True))
        parser, reply = spdy.FrameParser(spdy.HeaderCodec()), b""
        while not reply.endswith(b"}"):
            message = await asyncio.wait_for(ws.receive(), 5)
            assert message.type == aiohttp.WSMsgType.BINARY
            for f in parser.feed(message.data):
                if isinstance(f, spdy.DataFrame) and f.stream_id == 3:
                    reply += f.data
        assert reply.startswith(b"HTTP/1.0 200 OK") and b'"path": "/x"' in reply
        # then garbage: a GOAWAY and the connection ends
        await ws.send_bytes(b"\x80\x03\x00\x01\x00\x00\x00\x04" + b"\x00\x00\x00\x00")
        got = b""
        while (message := await asyncio.wait_for(ws.receive(), 5)).type == aiohttp.WSMsgType.BINARY:
            got += message.data
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        kinds = [f.kind for f in parser.feed(got) if isinstance(f, spdy.ControlFrame)]
        assert spdy.GOAWAY in kinds
        await ws.close()
        # a text message is not the tunnel's: the connection ends too
        ws = await http.ws_connect(target, protocols=("SPDY/3.1+portforward.k8s.io",),
                                   headers=headers)  # fmt: skip
        await ws.send_str("hello")
        message = await asyncio.wait_for(ws.receive(), 5)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        await ws.close()


# -- the plain SPDY upgrade, raw -------------------------------------------------------------


async def upgrade(
    cluster: LocalCluster, *headers: str
) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    where = urlsplit(cluster.url)
    assert where.scheme == "http" and where.hostname and where.port
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    lines = [f"POST /api/v1/namespaces/{NS}/pods/web/portforward HTTP/1.1", "Host: kubesim",
             f"Authorization: Bearer {cluster.token}", "Connection: Upgrade",
             "Content-Length: 0", *headers]  # fmt: skip
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return head, reader, writer


async def test_a_plain_spdy_upgrade(web: LocalCluster) -> None:
    head, reader, writer = await upgrade(
        web, "Upgrade: SPDY/3.1", "X-Stream-Protocol-Version: v9, portforward.k8s.io"
    )
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 101 Switching Protocols"
    assert {"Connection: Upgrade", "Upgrade: SPDY/3.1",
            "X-Stream-Protocol-Version: portforward.k8s.io"} <= set(lines)  # fmt: skip
    assert not any(line.lower().startswith(("transfer-encoding", "content-length"))
                   for line in lines)  # fmt: skip
    codec, base = spdy.HeaderCodec(), {"port": ["8080"], "requestid": ["7"]}
    writer.write(spdy.syn_stream(codec, 1, {**base, "streamtype": ["data"]}))  # data first
    writer.write(spdy.syn_stream(codec, 3, {**base, "streamtype": ["error"]}))
    writer.write(spdy.syn_stream(codec, 5, {"port": ["0"], "streamtype": ["data"]}))  # refused
    writer.write(spdy.data_frame(1, b"GET /plain HTTP/1.0\r\n\r\n", fin=True))
    parser, frames = spdy.FrameParser(spdy.HeaderCodec()), list[spdy.Frame]()
    while not any(isinstance(f, spdy.DataFrame) and f.stream_id == 1 and f.flags for f in frames):
        frames += parser.feed(await asyncio.wait_for(reader.read(65536), 5))
    body = b"".join(f.data for f in frames if isinstance(f, spdy.DataFrame) and f.stream_id == 1)
    assert body.startswith(b"HTTP/1.0 200 OK") and b'"path": "/plain"' in body
    resets = [f.values for f in frames if isinstance(f, spdy.ControlFrame)
              and f.kind == spdy.RST_STREAM and f.stream_id == 5]  # fmt: skip
    assert resets == [(spdy.CANCEL,)]
    writer.write(spdy.goaway(5))
    assert await asyncio.wait_for(reader.read(), 5) == b""  # the server hangs up
    writer.close()


@pytest.mark.parametrize(
    ("headers", "status", "text"),
    [
        (("Upgrade: SPDY/3.1",), 400,
         "unable to upgrade: header X-Stream-Protocol-Version does not exist in request with 4 "
         "headers"),
        (("Upgrade: SPDY/3.1", "X-Stream-Protocol-Version: v4.channel.k8s.io"), 403,
         "unable to upgrade: unable to negotiate protocol: client supports [v4.channel.k8s.io], "
         "server accepts [portforward.k8s.io]"),
        (("Upgrade: h2c", "X-Stream-Protocol-Version: portforward.k8s.io"), 400,
         "unable to upgrade: missing upgrade headers in request"),
    ],
)  # fmt: skip
async def test_plain_spdy_handshake_refusals(
    web: LocalCluster, headers: tuple[str, ...], status: int, text: str
) -> None:
    head, reader, writer = await upgrade(web, *headers)
    assert head.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"Content-Type: text/plain; charset=utf-8" in head
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    assert (await reader.readexactly(length)).decode() == text + "\n"
    writer.close()


# -- pairing streams, with a stand-in for the node -------------------------------------------


class Refusing:
    """A forwarder whose every port refuses."""

    sandbox = "sandbox"

    async def connect(self, port: int) -> Connection:
        raise StreamFailed(f"nothing on {port}")


def stream_texts(pipe: Pipe) -> dict[int, bytes]:
    texts: dict[int, bytes] = {}
    for f in spdy.FrameParser(spdy.HeaderCodec()).feed(bytes(pipe.sent)):
        if isinstance(f, spdy.DataFrame):
            texts[f.stream_id] = texts.get(f.stream_id, b"") + f.data
    return texts


async def test_streams_pair_by_request_id_or_stream_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spdy_portforward, "PAIR_TIMEOUT", 0.2)
    pipe, client = Pipe(), spdy.HeaderCodec()
    running = asyncio.create_task(spdy_portforward.PortForwardStreams(Refusing()).run(pipe))
    error, data = {"streamtype": ["error"]}, {"streamtype": ["data"]}
    for sid, headers in [
        (1, {**error, "port": ["80"]}), (3, {**data, "port": ["80"]}),  # no requestid: 1
        (5, {**error, "port": ["81"], "requestid": ["r"]}),
        (7, {**error, "port": ["81"], "requestid": ["r"]}),  # the same kind twice
        (9, {**data, "port": ["81"], "requestid": ["r"]}),
        (11, {**error, "port": ["82"], "requestid": ["lonely"]}),  # its data never comes
    ]:  # fmt: skip
        pipe.incoming.put_nowait(spdy.syn_stream(client, sid, headers))
    await asyncio.sleep(0.5)
    pipe.incoming.put_nowait(b"")
    await asyncio.wait_for(running, 5)
    texts = stream_texts(pipe)
    assert texts[1] == b"error forwarding port 80 to pod sandbox, uid : nothing on 80"
    assert texts[5] == (
        b"error processing stream for request r: error stream already assigned"
        b"error forwarding port 81 to pod sandbox, uid : nothing on 81"
    )
    assert texts[11] == b"(request=lonely) timed out waiting for streams"
    assert not texts.get(3) and not texts.get(7) and not texts.get(9)


async def test_exec_over_plain_spdy(web: LocalCluster) -> None:
    """The stub runtime runs no command: the error stream says so, as the kubelet's v4 does."""
    where = urlsplit(web.url)
    assert where.hostname and where.port
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    path = f"/api/v1/namespaces/{NS}/pods/web/exec?command=ls&stdout=true&stdin=true"
    lines = [f"POST {path} HTTP/1.1", "Host: kubesim", f"Authorization: Bearer {web.token}",
             "Connection: Upgrade", "Upgrade: SPDY/3.1", "Content-Length: 0",
             "X-Stream-Protocol-Version: v5.channel.k8s.io,v4.channel.k8s.io"]  # fmt: skip
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert b"101 Switching Protocols" in head and b"Version: v4.channel.k8s.io" in head
    codec = spdy.HeaderCodec()
    writer.write(spdy.syn_stream(codec, 1, {"streamtype": ["error"]}))
    writer.write(spdy.syn_stream(codec, 3, {"streamtype": ["stderr"]}))  # not asked for
    writer.write(spdy.syn_stream(codec, 5, {"streamtype": ["stdin"]}))
    writer.write(spdy.syn_stream(codec, 7, {"streamtype": ["stdout"]}))
    parser, frames = spdy.FrameParser(spdy.HeaderCodec()), list[spdy.Frame]()
    while data := await asyncio.wait_for(reader.read(65536), 5):  # until it hangs up
        frames += parser.feed(data)
    error = b"".join(f.data for f in frames if isinstance(f, spdy.DataFrame) and f.stream_id == 1)
    status = json.loads(error)
    assert status["status"] == "Failure" and status["code"] == 500
    assert status["message"].startswith(
        "Internal error occurred: error executing command in container: "
    )
    fins = {f.stream_id for f in frames if isinstance(f, spdy.DataFrame) and f.flags}
    assert fins == {1, 3, 5, 7}
    writer.close()
