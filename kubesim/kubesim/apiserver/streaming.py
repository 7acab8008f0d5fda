"""pods/exec, pods/attach and pods/portforward: the API server's side of a stream.

As kube-apiserver 1.32 does: the options are read from the query (PodExecOptions and friends),
the pod, its container and its node are checked (404 and 400 Status bodies), and then the
request must be a WebSocket upgrade (anything else: 400 "Upgrade request required"). A client
offering `v5.channel.k8s.io` is answered by the API server itself (its stream translator: the
connection is upgraded first, and whatever the kubelet then says arrives as the final status);
any other goes through to the kubelet (its refusals are HTTP errors before the upgrade). The
node side, a `StreamSource` (streams.py), runs the command or connects the port.

`kubectl port-forward` tunnels SPDY/3.1 in a WebSocket (`SPDY/3.1+portforward.k8s.io`); and
kubectl falls back to a plain SPDY upgrade when a WebSocket upgrade is refused: both are served
as the kubelet serves SPDY (spdy_portforward.py, spdy_exec.py, spdy_upgrade.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

from aiohttp import WSMsgType, web

from kubesim.apiserver import channels, spdy_exec, spdy_upgrade
from kubesim.apiserver.api import Api
from kubesim.apiserver.channels import Codec
from kubesim.apiserver.routing import Target
from kubesim.apiserver.spdy_portforward import PortForwardStreams, WebSocketTransport
from kubesim.apiserver.streams import (
    Connection,
    PortForwarder,
    Session,
    Starter,
    StreamFailed,
    StreamOptions,
    StreamRefused,
    StreamSource,
)
from kubesim.registry.errors import ApiError, bad_request, internal, method_not_allowed, not_found

STREAM_SUBRESOURCES = frozenset({"exec", "attach", "portforward"})
CLOSE_TIMEOUT = 2.0  # how long a closing handshake may take before the connection is dropped
_UPGRADE = re.compile(r"(^|.*,\s*)upgrade($|\s*,)")


def query_flag(request: web.Request, key: str) -> bool:
    """A boolean query parameter as the API server converts one (Convert_Slice_string_To_bool):
    absent, "0" and "false" (any case) are false; anything else, even empty, is true."""
    values = request.query.getall(key, [])
    return bool(values) and values[0] != "0" and values[0].lower() != "false"


def parse_ports(request: web.Request) -> list[int]:
    """PodPortForwardOptions.ports: repeated or comma-separated 16-bit numbers."""
    ports = []
    for value in request.query.getall("ports", []):
        for part in value.split(","):
            if not part.isdigit() or not part.isascii():
                raise bad_request(
                    f'cannot convert to []int32: strconv.ParseUint: parsing "{part}": '
                    "invalid syntax"
                )
            if int(part) > 65535:
                raise bad_request(
                    f'cannot convert to []int32: strconv.ParseUint: parsing "{part}": '
                    "value out of range"
                )
            ports.append(int(part))
    return ports


def _names(containers: list[dict[str, Any]]) -> list[str]:
    return [str(c.get("name", "")) for c in containers]


def pick_container(pod: dict[str, Any], name: str, wanted: str) -> str:
    """The container a stream is for: the one asked for, which the pod must have, or the only
    one (pod/strategy.go streamLocation)."""
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or []
    if wanted:
        every = [*containers, *(spec.get("initContainers") or []),
                 *(spec.get("ephemeralContainers") or [])]  # fmt: skip
        if wanted not in _names(every):
            raise bad_request(f"container {wanted} is not valid for pod {name}")
        return wanted
    if len(containers) == 1:
        return str(containers[0].get("name", ""))
    if not containers:
        raise bad_request(f"a container name must be specified for pod {name}")
    message = (
        f"a container name must be specified for pod {name}, choose one of: "
        f"[{' '.join(_names(containers))}]"
    )
    init = spec.get("initContainers") or []
    if init:
        message += f" or one of the init containers: [{' '.join(_names(init))}]"
    raise bad_request(message)


def is_websocket(request: web.Request) -> bool:
    """wsstream.IsWebSocketRequest: Upgrade: websocket and Connection naming upgrade."""
    upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
    return upgrade and bool(_UPGRADE.match(request.headers.get("Connection", "").lower()))


def is_upgrade(request: web.Request) -> bool:
    """httpstream.IsUpgradeRequest: any Connection header naming upgrade."""
    return any("upgrade" in v.lower() for v in request.headers.getall("Connection", []))


def _node_unreachable(api: Api, node: str) -> ApiError:
    """A pod bound to a node this cluster has no kubelet for."""
    nodes = api.registry.get("", "v1", "nodes")
    if nodes is None or api.store.get(nodes.storage_key, None, node) is None:
        return not_found("nodes", "", node)
    return internal(f'error dialing backend: no kubelet serves node "{node}"')


async def serve_stream(
    request: web.Request, api: Api, t: Target, source: StreamSource | None
) -> web.StreamResponse:
    """GET or POST .../pods/NAME/{exec,attach,portforward}."""
    if request.method not in ("GET", "POST"):
        raise method_not_allowed()
    assert t.name is not None and t.sub is not None
    ports = parse_ports(request) if t.sub == "portforward" else []
    pod = api.get(t.rt, t.namespace, t.name)
    container = ""
    if t.sub != "portforward":
        container = pick_container(pod, t.name, request.query.get("container", ""))
    node = str((pod.get("spec") or {}).get("nodeName") or "")
    if not node:
        raise bad_request(f"pod {t.name} does not have a host assigned")
    if source is None or node != source.node_name:
        raise _node_unreachable(api, node)
    spdy = not is_websocket(request) and is_upgrade(request)  # kubectl's fallback
    if not is_websocket(request) and not spdy:
        raise bad_request("Upgrade request required")
    if spdy and t.sub == "portforward":
        return await _spdy_port_forward(request, source, pod, ports)
    if not spdy and request.method != "GET":
        # golang.org/x/net/websocket, which serves these, takes no other method.
        return web.Response(status=405, text="bad method")
    offered = channels.client_protocols(request.headers.get("Sec-WebSocket-Protocol"))
    if t.sub == "portforward":
        return await _port_forward(request, source, pod, ports, offered)
    options = StreamOptions(
        stdin=query_flag(request, "stdin"),
        stdout=query_flag(request, "stdout"),
        stderr=query_flag(request, "stderr"),
        tty=query_flag(request, "tty"),
    )
    command = request.query.getall("command", []) if t.sub == "exec" else []
    if spdy:
        return await _spdy_exec(request, source, pod, container, command, options, t.sub)
    translated = channels.V5 in offered
    refused: StreamRefused | None = None
    start: Starter | None = None
    try:
        if t.sub == "exec":
            start = source.exec(pod, container, command, options)
        else:
            start = source.attach(pod, container, options)
    except StreamRefused as e:
        if not translated:  # the kubelet's own answer, passed through before any upgrade
            return web.Response(status=e.code, text=e.message)
        refused = e
    accepted = channels.TRANSLATOR_PROTOCOLS if translated else channels.KUBELET_EXEC_PROTOCOLS
    protocol = channels.negotiate(offered, accepted)
    if protocol is None:
        return web.Response(status=403)  # x/net/websocket: no common subprotocol
    ws = await _upgrade(request, protocol)
    codec = Codec(protocol)
    try:
        await _remote_command(ws, codec, options, start, refused, command, translated)
    finally:
        await _close(ws)
    return ws


async def _upgrade(request: web.Request, protocol: str) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(
        protocols=(protocol,) if protocol else (),
        timeout=CLOSE_TIMEOUT,
        max_msg_size=0,  # wsstream sets no limit on what a client sends
        compress=False,
    )
    await ws.prepare(request)
    return ws


async def _close(ws: web.WebSocketResponse) -> None:
    with contextlib.suppress(ConnectionError, asyncio.TimeoutError, RuntimeError):
        await ws.close()


async def _send(ws: web.WebSocketResponse, message: bytes | str) -> None:
    if isinstance(message, str):
        await ws.send_str(message)
    else:
        await ws.send_bytes(message)


# -- exec and attach -------------------------------------------------------------------------


async def _remote_command(
    ws: web.WebSocketResponse,
    codec: Codec,
    options: StreamOptions,
    start: Starter | None,
    refused: StreamRefused | None,
    command: list[str],
    translated: bool,
) -> None:
    # An empty message on the lowest writable channel tells the client the streams are up.
    if options.stdout or options.stderr:
        first = channels.STDOUT if options.stdout else channels.STDERR
    else:
        first = channels.ERROR
    await _send(ws, codec.encode(first, b""))
    status: dict[str, Any] | None
    if refused is not None:  # only when translated: the kubelet refused the translator
        status = channels.internal_error_status(f"unable to upgrade connection: {refused}")
    else:
        assert start is not None
        try:
            session = await start()
        except StreamFailed as e:
            status = channels.internal_error_status(str(e))
            if translated:  # the translator's client read that status and reports its message
                status = channels.internal_error_status(status["message"])
        else:
            code = await _relay(ws, codec, options, session)
            if code is None:
                return  # the client left
            status = _exit_status(code, command, translated)
    frame = channels.status_frame(codec, status)
    if frame is not None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await _send(ws, codec.encode(channels.ERROR, frame))


def _exit_status(code: int, command: list[str], translated: bool) -> dict[str, Any]:
    if code == 0:
        return channels.success_status()
    if translated:  # client-go's words for the exit, wrapped by the translator
        detail = f"command terminated with exit code {code}"
    else:  # containerd's
        detail = f"error executing command [{' '.join(command)}], exit code {code}"
    return channels.exit_status(code, f"command terminated with non-zero exit code: {detail}")


async def _relay(
    ws: web.WebSocketResponse, codec: Codec, options: StreamOptions, session: Session
) -> int | None:
    """Copy the client's input to the session and its output to the client until the process
    ends (its exit code) or the client leaves (None: the process is killed)."""
    reader = asyncio.create_task(_client_input(ws, codec, options, session))
    writer = asyncio.create_task(_session_output(ws, codec, options, session))
    exited = asyncio.create_task(session.wait())
    tasks = (reader, writer, exited)
    try:
        await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
        if writer.done() and writer.exception() is None:  # its output ended: now its exit
            await asyncio.wait({reader, exited}, return_when=asyncio.FIRST_COMPLETED)
            if exited.done():
                return exited.result()
        return None  # the client left first, or cannot be written to
    finally:
        # Whatever is left of it goes: all of it when the client left (as containerd kills an
        # exec whose stream ended), or what it left behind after exiting.
        await session.kill()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _client_input(
    ws: web.WebSocketResponse, codec: Codec, options: StreamOptions, session: Session
) -> None:
    resize = channels.ResizeDecoder()
    async for message in ws:
        if message.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
            continue
        decoded = codec.decode(message.data)
        if decoded is None:
            continue
        channel, data = decoded
        if channel == channels.STDIN and options.stdin:
            await session.write(data)
        elif channel == channels.RESIZE:
            for width, height in resize.feed(data):
                session.resize(width, height)
        elif channel == channels.CLOSE and codec.close_signals and _closes_stdin(data, options):
            session.close_stdin()


def _closes_stdin(data: bytes, options: StreamOptions) -> bool:
    """A v5 close signal names the channel it closes; stdin is the only one a client writes."""
    return options.stdin and data == bytes([channels.STDIN])


async def _session_output(
    ws: web.WebSocketResponse, codec: Codec, options: StreamOptions, session: Session
) -> None:
    wanted = {channels.STDOUT} if options.stdout else set()
    if options.stderr and not options.tty:
        wanted.add(channels.STDERR)
    async for fd, data in session.output():
        if fd in wanted and data:
            await _send(ws, codec.encode(fd, data))


# -- portforward -----------------------------------------------------------------------------


async def _port_forward(
    request: web.Request,
    source: StreamSource,
    pod: dict[str, Any],
    ports: list[int],
    offered: list[str],
) -> web.StreamResponse:
    # kubectl's SPDY tunnel reaches the kubelet as SPDY, which needs no ports in the query.
    tunnel = channels.PORT_FORWARD_TUNNEL in offered
    try:
        forwarder = source.port_forward(pod, ports, require_ports=not tunnel)
    except StreamRefused as e:
        return web.Response(status=e.code, text=e.message)
    if tunnel:
        ws = await _upgrade(request, channels.PORT_FORWARD_TUNNEL)
        try:
            await PortForwardStreams(forwarder).run(WebSocketTransport(ws))
        finally:
            await _close(ws)
        return ws
    protocol = channels.negotiate(offered, channels.KUBELET_PORT_FORWARD_PROTOCOLS)
    if protocol is None:
        return web.Response(status=403)  # x/net/websocket: no common subprotocol
    ws = await _upgrade(request, protocol)
    codec = Codec(protocol)
    try:
        for i, port in enumerate(ports):  # each channel opens with its port
            await _send(ws, codec.encode(2 * i, channels.port_header(port)))
            await _send(ws, codec.encode(2 * i + 1, channels.port_header(port)))
        await _forward_all(ws, codec, forwarder, ports)
    finally:
        await _close(ws)
    return ws


async def _spdy_port_forward(
    request: web.Request, source: StreamSource, pod: dict[str, Any], ports: list[int]
) -> web.StreamResponse:
    """kubectl's fallback: a plain SPDY upgrade, which names no ports in the query."""
    try:
        forwarder = source.port_forward(pod, ports, require_ports=False)
    except StreamRefused as e:
        return web.Response(status=e.code, text=e.message)
    return await spdy_upgrade.serve_port_forward(request, forwarder)


async def _spdy_exec(
    request: web.Request,
    source: StreamSource,
    pod: dict[str, Any],
    container: str,
    command: list[str],
    options: StreamOptions,
    sub: str,
) -> web.StreamResponse:
    """exec or attach over kubectl's SPDY fallback: the kubelet's own (remotecommand v4)."""
    try:
        if sub == "exec":
            start = source.exec(pod, container, command, options)
        else:
            start = source.attach(pod, container, options)
    except StreamRefused as e:
        return web.Response(status=e.code, text=e.message)
    return await spdy_exec.serve(request, start, options, command)


class _Port:
    """One forwarded port: the client's bytes for it, queued until its connection is up."""

    def __init__(self, index: int, port: int) -> None:
        self.index = index
        self.port = port
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue(maxsize=64)
        self.done = False


async def _forward_all(
    ws: web.WebSocketResponse, codec: Codec, forwarder: PortForwarder, ports: list[int]
) -> None:
    """Forward every port until each connection has ended (then the stream ends, as the
    kubelet's does) or the client leaves."""
    pairs = [_Port(i, port) for i, port in enumerate(ports)]
    forwards = [asyncio.create_task(_forward(ws, codec, forwarder, p)) for p in pairs]
    reader = asyncio.create_task(_port_input(ws, codec, pairs))
    everything: asyncio.Future[list[None]] = asyncio.gather(*forwards)
    try:
        pending: list[asyncio.Future[Any]] = [reader, everything]
        await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    finally:
        everything.cancel()
        for task in [*forwards, reader]:
            task.cancel()
        await asyncio.gather(*forwards, reader, everything, return_exceptions=True)


async def _port_input(ws: web.WebSocketResponse, codec: Codec, pairs: list[_Port]) -> None:
    async for message in ws:
        if message.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
            continue
        decoded = codec.decode(message.data)
        if decoded is None:
            continue
        channel, data = decoded
        index, error_channel = divmod(channel, 2)
        if not error_channel and index < len(pairs) and not pairs[index].done and data:
            await pairs[index].inbox.put(data)  # a pod that does not read holds the client back


async def _forward(
    ws: web.WebSocketResponse, codec: Codec, forwarder: PortForwarder, p: _Port
) -> None:
    try:
        connection = await forwarder.connect(p.port)
    except StreamFailed as e:
        p.done = True
        message = f"error forwarding port {p.port} to pod {forwarder.sandbox}, uid : {e}"
        await _send(ws, codec.encode(2 * p.index + 1, message.encode()))
        return
    try:
        await _copy_both(ws, codec, connection, p)
    finally:
        p.done = True
        connection[1].close()
        with contextlib.suppress(ConnectionError, OSError):
            await connection[1].wait_closed()


async def _copy_both(
    ws: web.WebSocketResponse, codec: Codec, connection: Connection, p: _Port
) -> None:
    reader, writer = connection

    async def upstream() -> None:  # client -> pod, for as long as the pod reads
        while True:
            data = await p.inbox.get()
            writer.write(data)
            await writer.drain()

    pushing = asyncio.create_task(upstream())
    try:
        while data := await reader.read(64 * 1024):  # pod -> client, until the pod closes
            await _send(ws, codec.encode(2 * p.index, data))
    except (ConnectionError, OSError):
        pass
    finally:
        pushing.cancel()
        await asyncio.gather(pushing, return_exceptions=True)
