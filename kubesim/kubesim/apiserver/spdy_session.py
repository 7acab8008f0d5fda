"""A server's SPDY/3.1 session over any byte transport: streams the client opens, pings, close.

The client opens streams (odd ids) with SYN_STREAM; `accept` decides on each from its headers
(a refused one is reset, as spdystream's server does when its handler errs), an accepted one is
answered with SYN_REPLY and handed to `serve` in a task of its own. Every frame goes out under
one lock, so the header compression context sees the blocks in the order the peer will.

Flow control: this side sends WINDOW_UPDATEs as a stream's data is consumed, and counts the
peer's windows, but waits on them only once the peer has shown it does flow control (sent a
WINDOW_UPDATE): spdystream, which kubectl and the kubelet use, never sends any and never waits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

from kubesim.apiserver import spdy

MAX_DATA = 32 * 1024  # the most one data frame carries here


class Transport(Protocol):
    async def read(self) -> bytes:
        """The next bytes from the peer; b"" once it is gone."""
        ...

    async def write(self, data: bytes) -> None: ...


class Stream:
    """One stream the client opened: its headers, its data in, and a way to answer."""

    def __init__(self, session: Session, stream_id: int, headers: spdy.Headers) -> None:
        self.session = session
        self.id = stream_id
        self.headers = headers
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()  # b"": the peer's FIN or a reset
        self.remote_done = False
        self.local_done = False
        self.send_window = session.initial_window
        self.window_open = asyncio.Event()
        self.window_open.set()

    def header(self, name: str) -> str:
        values = self.headers.get(name, [])
        return values[0] if values else ""

    async def read(self) -> bytes:
        """The next data from the peer; b"" once it finished (or reset) the stream."""
        data = await self.inbox.get()
        if data:  # consumed: the peer may send that much more
            await self.session.send(spdy.window_update(self.id, len(data)))
        else:
            self.inbox.put_nowait(b"")  # every later read sees the end too
        return data

    async def write(self, data: bytes) -> None:
        for at in range(0, len(data), MAX_DATA):
            chunk = data[at : at + MAX_DATA]
            while self.session.flow_control and self.send_window <= 0 and not self.local_done:
                self.window_open.clear()
                await self.window_open.wait()
            if self.local_done:
                raise ConnectionResetError("stream closed")
            self.send_window -= len(chunk)
            await self.session.send(spdy.data_frame(self.id, chunk))

    async def close(self) -> None:
        """This side sends no more (FIN): the peer's half stays open."""
        if not self.local_done:
            self.local_done = True
            await self.session.send(spdy.data_frame(self.id, b"", fin=True))
            self.session.forget(self)

    def _remote_end(self) -> None:
        if not self.remote_done:
            self.remote_done = True
            self.inbox.put_nowait(b"")

    def _reset(self) -> None:
        self._remote_end()
        self.local_done = True
        self.window_open.set()


Accept = Callable[[Stream], bool]
Serve = Callable[[Stream], Awaitable[None]]


class Session:
    def __init__(self, transport: Transport, accept: Accept, serve: Serve) -> None:
        self.transport = transport
        self.accept = accept
        self.serve = serve
        self.codec = spdy.HeaderCodec()
        self.parser = spdy.FrameParser(self.codec)
        self.streams: dict[int, Stream] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.lock = asyncio.Lock()
        self.last_id = 0
        self.initial_window = spdy.INITIAL_WINDOW
        self.flow_control = False
        self.closed = False

    async def send(self, frame: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("session closed")
        async with self.lock:
            await self.transport.write(frame)

    async def run(self) -> None:
        """Serve until the peer leaves, says GOAWAY or breaks the protocol; then every
        stream's task is cancelled."""
        try:
            while not self.closed and (data := await self.transport.read()):
                for frame in self.parser.feed(data):
                    if not await self._dispatch(frame):
                        return
        except spdy.ProtocolError:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.send(spdy.goaway(self.last_id, 1))
        except (ConnectionError, RuntimeError):
            pass  # the transport broke under a reply: the peer is gone
        finally:
            self.closed = True
            for stream in self.streams.values():
                stream._reset()
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _dispatch(self, frame: spdy.Frame) -> bool:
        if isinstance(frame, spdy.DataFrame):
            stream = self.streams.get(frame.stream_id)
            if stream is None or stream.remote_done:
                await self.send(spdy.rst_stream(frame.stream_id, spdy.INVALID_STREAM))
                return True
            if frame.data:
                stream.inbox.put_nowait(frame.data)
            if frame.flags & spdy.FLAG_FIN:
                stream._remote_end()
                self.forget(stream)
            return True
        if frame.kind == spdy.SYN_STREAM:
            await self._open(frame)
        elif frame.kind == spdy.RST_STREAM:
            if (gone := self.streams.pop(frame.stream_id, None)) is not None:
                gone._reset()
        elif frame.kind == spdy.PING:
            await self.send(spdy.ping(frame.values[0]))  # the client's (odd) pings echo back
        elif frame.kind == spdy.GOAWAY:
            return False
        elif frame.kind == spdy.WINDOW_UPDATE:
            self._window_update(frame.stream_id, frame.values[0])
        elif frame.kind == spdy.SETTINGS:
            pairs = dict(zip(frame.values[::2], frame.values[1::2], strict=True))
            self.initial_window = pairs.get(spdy.SETTINGS_INITIAL_WINDOW_SIZE, self.initial_window)
        elif frame.kind == spdy.HEADERS and frame.flags & spdy.FLAG_FIN:
            self._headers_fin(frame.stream_id)
        return True

    async def _open(self, frame: spdy.ControlFrame) -> None:
        sid = frame.stream_id
        if sid == 0 or sid % 2 == 0 or sid <= self.last_id:
            status = spdy.STREAM_IN_USE if sid in self.streams else spdy.PROTOCOL_ERROR
            await self.send(spdy.rst_stream(sid, status))
            return
        self.last_id = sid
        stream = Stream(self, sid, frame.headers)
        if frame.flags & spdy.FLAG_FIN:
            stream._remote_end()
        if not self.accept(stream):
            await self.send(spdy.rst_stream(sid, spdy.CANCEL))
            return
        self.streams[sid] = stream
        async with self.lock:  # the reply first: nothing may go out on it before
            await self.transport.write(spdy.syn_reply(self.codec, sid, {}))
        task = asyncio.create_task(self._serve(stream))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _serve(self, stream: Stream) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):  # the session is gone
            await self.serve(stream)

    def _headers_fin(self, stream_id: int) -> None:
        if (stream := self.streams.get(stream_id)) is not None:
            stream._remote_end()
            self.forget(stream)

    def forget(self, stream: Stream) -> None:
        """Drop a stream both sides have finished."""
        if stream.remote_done and stream.local_done:
            self.streams.pop(stream.id, None)

    def _window_update(self, stream_id: int, delta: int) -> None:
        self.flow_control = True
        if stream_id == 0:
            return  # the session window: this side sends little enough not to track it
        if (stream := self.streams.get(stream_id)) is not None:
            stream.send_window += delta
            if stream.send_window > 0:
                stream.window_open.set()
