"""The portforward.k8s.io protocol over a SPDY session, as the kubelet serves it.

For each connection the client opens an error stream and a data stream, both naming the port
and a `requestid` (kubelet portforward/httpstream.go). Once both of a request are there, the
pod's port is dialled and bytes are copied both ways; a dial that fails writes the kubelet's
message on the error stream. When either direction ends (the client's FIN, the pod closing), the
other gets a second to finish, as containerd gives it; then the connection and both streams are
closed. A request whose second
stream never comes is given up after `PAIR_TIMEOUT`, as the kubelet's stream creation timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from kubesim.apiserver.spdy_session import Session as SpdySession
from kubesim.apiserver.spdy_session import Stream, Transport
from kubesim.apiserver.streams import PortForwarder, StreamFailed

PAIR_TIMEOUT = 30.0
READ_SIZE = 32 * 1024
LINGER = 1.0


class WebSocketTransport:
    """The SPDY byte stream kubectl tunnels in a WebSocket's binary messages (their bounds
    mean nothing); anything but a binary message ends it, as the API server's tunnel does."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def read(self) -> bytes:
        while True:
            try:
                message = await self.ws.receive()
            except RuntimeError:  # already closed
                return b""
            if message.type != WSMsgType.BINARY:
                return b""
            if message.data:
                return bytes(message.data)

    async def write(self, data: bytes) -> None:
        await self.ws.send_bytes(data)


@dataclass
class _Pair:
    data: Stream | None = None
    error: Stream | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)


class PortForwardStreams:
    """The kubelet's portforward handler for one session."""

    def __init__(self, forwarder: PortForwarder) -> None:
        self.forwarder = forwarder
        self.pairs: dict[str, _Pair] = {}

    async def run(self, transport: Transport) -> None:
        await SpdySession(transport, self.accept, self.serve).run()

    @staticmethod
    def accept(stream: Stream) -> bool:
        """httpStreamReceived: a port in 1..65535 and a known stream type, or a reset."""
        port = stream.header("port")
        if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            return False
        return stream.header("streamtype") in ("data", "error")

    @staticmethod
    def _request_id(stream: Stream) -> str:
        """Clients older than requestid: the error stream comes right before its data's."""
        if rid := stream.header("requestid"):
            return rid
        return str(stream.id if stream.header("streamtype") == "error" else stream.id - 2)

    async def serve(self, stream: Stream) -> None:
        rid = self._request_id(stream)
        pair = self.pairs.setdefault(rid, _Pair())
        kind = stream.header("streamtype")
        if (pair.data if kind == "data" else pair.error) is not None:
            # the kubelet's httpStreamPair.add refuses it, and says so on the error stream
            if pair.error is not None:
                message = (
                    f"error processing stream for request {rid}: {kind} stream already assigned"
                )
                await pair.error.write(message.encode())
            await stream.close()
            return
        if kind == "data":
            pair.data = stream
        else:
            pair.error = stream
        if pair.data is None or pair.error is None:
            await self._await_partner(rid, pair)
            return
        pair.ready.set()
        del self.pairs[rid]
        try:
            await self._forward(pair.data, pair.error)
        finally:
            await _close(pair.data, pair.error)

    async def _await_partner(self, rid: str, pair: _Pair) -> None:
        try:
            await asyncio.wait_for(pair.ready.wait(), PAIR_TIMEOUT)
        except TimeoutError:
            self.pairs.pop(rid, None)
            if pair.error is not None:
                with contextlib.suppress(ConnectionError):
                    message = f"(request={rid}) timed out waiting for streams"
                    await pair.error.write(message.encode())
            await _close(pair.data, pair.error)

    async def _forward(self, data: Stream, error: Stream) -> None:
        port = int(data.header("port"))
        try:
            reader, writer = await self.forwarder.connect(port)
        except StreamFailed as e:
            sandbox = self.forwarder.sandbox
            message = f"error forwarding port {port} to pod {sandbox}, uid : {e}"
            await error.write(message.encode())
            return

        async def upstream() -> None:  # client -> pod, until the client's FIN
            while chunk := await data.read():
                writer.write(chunk)
                await writer.drain()

        async def downstream() -> None:  # pod -> client, until the pod closes
            while chunk := await reader.read(READ_SIZE):
                await data.write(chunk)

        copies = {asyncio.create_task(upstream()), asyncio.create_task(downstream())}
        try:
            # As containerd: once either way ends, the other gets a second to finish.
            _, pending = await asyncio.wait(copies, return_when=asyncio.FIRST_COMPLETED)
            if pending:
                await asyncio.wait(pending, timeout=LINGER)
        finally:
            for task in copies:
                task.cancel()
            await asyncio.gather(*copies, return_exceptions=True)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


async def _close(*streams: Stream | None) -> None:
    for stream in streams:
        if stream is not None:
            with contextlib.suppress(ConnectionError):
                await stream.close()
