"""A plain `Upgrade: SPDY/3.1` (kubectl's fallback when its WebSocket is refused) for portforward.

As the kubelet does: the `X-Stream-Protocol-Version` handshake (httpstream.Handshake: 400 when
missing, 403 when nothing matches), then 101 Switching Protocols and SPDY on the bare
connection. aiohttp has no public raw-socket upgrade; like its WebSocketResponse, this takes
the connection over by giving the request's protocol a parser of its own, which gets every byte
from then on.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aiohttp import web

from kubesim.apiserver.spdy_portforward import PortForwardStreams
from kubesim.apiserver.streams import PortForwarder

PROTOCOL_HEADER = "X-Stream-Protocol-Version"
PORT_FORWARD_PROTOCOLS = ("portforward.k8s.io",)


def go_error(status: int, message: str, **headers: str) -> web.Response:
    """net/http's http.Error: plain text and a newline."""
    return web.Response(
        status=status,
        text=message + "\n",
        headers={"X-Content-Type-Options": "nosniff", **headers},
        content_type="text/plain",
        charset="utf-8",
    )


def handshake(request: web.Request, accepted: tuple[str, ...]) -> str | web.Response:
    """The negotiated protocol, or the kubelet's refusal."""
    values = request.headers.getall(PROTOCOL_HEADER, [])
    if not values:
        return go_error(
            400,
            f"unable to upgrade: header {PROTOCOL_HEADER} does not exist in request with "
            f"{len({k.lower() for k in request.headers} - {'host'})} headers",  # Go: no Host
        )
    offered = [p.strip() for v in values for p in v.split(",") if p.strip()]
    if not offered:
        return go_error(
            400,
            f"unable to upgrade: header {PROTOCOL_HEADER} contains [{' '.join(values)}], but "
            "no valid protocols",
        )
    for protocol in offered:
        if protocol in accepted:
            return protocol
    refusal = go_error(
        403,
        f"unable to upgrade: unable to negotiate protocol: client supports [{' '.join(offered)}],"
        f" server accepts [{' '.join(accepted)}]",
    )
    for protocol in accepted:
        refusal.headers.add("X-Accepted-Stream-Protocol-Versions", protocol)
    return refusal


def is_spdy(request: web.Request) -> bool:
    return "spdy/3.1" in request.headers.get("Upgrade", "").lower()


class _TakeOver:
    """The parser aiohttp feeds once the connection is upgraded: bytes to a queue."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if data:
            self.queue.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self.queue.put_nowait(b"")


class RawTransport:
    """The bare connection under an upgraded request."""

    def __init__(self, request: web.Request) -> None:
        # aiohttp types set_parser for its WebSocketReader; any feed_data/feed_eof will do
        self.protocol = cast(Any, request.protocol)
        self.parser = _TakeOver()
        self.protocol.set_parser(self.parser)
        self.protocol.keep_alive(False)

    async def read(self) -> bytes:
        data = await self.parser.queue.get()
        if not data:
            self.parser.queue.put_nowait(b"")
        return data

    async def write(self, data: bytes) -> None:
        transport = self.protocol.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("connection lost")
        transport.write(data)
        await self.protocol._drain_helper()  # aiohttp's own backpressure wait


async def switch(request: web.Request, negotiated: str) -> tuple[RawTransport, web.StreamResponse]:
    """101 Switching Protocols; the connection is then the caller's."""
    response = web.StreamResponse(status=101, reason="Switching Protocols")
    response.headers.update(
        {"Connection": "Upgrade", "Upgrade": "SPDY/3.1", PROTOCOL_HEADER: negotiated}
    )
    response.force_close()
    transport = RawTransport(request)  # first: the client's frames may follow the 101 at once
    await response.prepare(request)
    return transport, response


async def serve_port_forward(request: web.Request, forwarder: PortForwarder) -> web.StreamResponse:
    """portforward over a plain SPDY upgrade."""
    if not is_spdy(request):
        return go_error(400, "unable to upgrade: missing upgrade headers in request")
    negotiated = handshake(request, PORT_FORWARD_PROTOCOLS)
    if isinstance(negotiated, web.Response):
        return negotiated
    transport, response = await switch(request, negotiated)
    try:
        await PortForwardStreams(forwarder).run(transport)
    finally:
        if request.transport is not None:
            request.transport.close()
    return response
