"""exec and attach over a plain SPDY upgrade (kubectl's fallback when its WebSocket is refused).

As the kubelet serves remotecommand v4 over SPDY (cri/streaming/remotecommand): the client opens
one stream per channel, typed by its `streamtype` header (error, stdin, stdout, stderr, resize);
once every stream the options call for is there, the command starts; stdin's FIN closes the
command's stdin, resize carries JSON terminal sizes, and at the end the error stream gets the
JSON Status (success, the exit code, or why it could not start) and every stream is closed.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from kubesim.apiserver import channels, spdy_upgrade
from kubesim.apiserver.spdy_session import Session as SpdySession
from kubesim.apiserver.spdy_session import Stream
from kubesim.apiserver.streams import Session, Starter, StreamFailed, StreamOptions

EXEC_PROTOCOLS = (channels.V4,)  # the kubelet's newest; kubectl offers it after v5
STREAM_CREATION_TIMEOUT = 30.0  # the kubelet's default
STREAM_TYPES = frozenset({"error", "stdin", "stdout", "stderr", "resize"})


class _Streams:
    """The streams of one exec, as they arrive."""

    def __init__(self, options: StreamOptions) -> None:
        self.wanted = {"error"}
        self.wanted |= {"stdin"} if options.stdin else set()
        self.wanted |= {"stdout"} if options.stdout else set()
        self.wanted |= {"stderr"} if options.stderr and not options.tty else set()
        self.wanted |= {"resize"} if options.tty else set()
        self.got: dict[str, Stream] = {}
        self.ready = asyncio.Event()
        self.released = asyncio.Event()  # set when the exec is over: the streams may end

    @staticmethod
    def accept(stream: Stream) -> bool:
        return stream.header("streamtype") in STREAM_TYPES

    async def serve(self, stream: Stream) -> None:
        kind = stream.header("streamtype")
        if kind in self.got or kind not in self.wanted:
            await stream.close()  # not one this exec asked for
            return
        self.got[kind] = stream
        if set(self.got) == self.wanted:
            self.ready.set()
        await self.released.wait()  # its task lives as long as the exec


async def serve(
    request: web.Request, start: Starter, options: StreamOptions, command: list[str]
) -> web.StreamResponse:
    """Handshake, upgrade, and run the exec (or attach) over the session."""
    if not spdy_upgrade.is_spdy(request):
        return spdy_upgrade.go_error(400, "unable to upgrade: missing upgrade headers in request")
    negotiated = spdy_upgrade.handshake(request, EXEC_PROTOCOLS)
    if isinstance(negotiated, web.Response):
        return negotiated
    streams = _Streams(options)
    transport, response = await spdy_upgrade.switch(request, negotiated)
    session = SpdySession(transport, streams.accept, streams.serve)
    running = asyncio.create_task(session.run())
    ready = asyncio.create_task(streams.ready.wait())
    try:
        await asyncio.wait({running, ready}, timeout=STREAM_CREATION_TIMEOUT,
                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        if streams.ready.is_set():
            runner = asyncio.create_task(_run(streams, start, command))
            await asyncio.wait({running, runner}, return_when=asyncio.FIRST_COMPLETED)
            if not runner.done():
                runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
    finally:
        streams.released.set()
        running.cancel()
        ready.cancel()
        await asyncio.gather(running, ready, return_exceptions=True)
        if request.transport is not None:
            request.transport.close()
    return response


async def _run(streams: _Streams, start: Starter, command: list[str]) -> None:
    error = streams.got["error"]
    try:
        try:
            session = await start()
        except StreamFailed as e:
            status = channels.internal_error_status(str(e))
        else:
            code = await _relay(streams, session)
            if code == 0:
                status = channels.success_status()
            else:  # containerd's words, as over WebSockets
                detail = f"error executing command [{' '.join(command)}], exit code {code}"
                status = channels.exit_status(
                    code, f"command terminated with non-zero exit code: {detail}"
                )
        await error.write(channels.go_json(status).encode())
    finally:
        for stream in streams.got.values():
            with contextlib.suppress(ConnectionError):
                await stream.close()


async def _relay(streams: _Streams, session: Session) -> int:
    """Copy stdin and resizes in and the output out; the exit code once the output ended."""
    outputs = {1: streams.got.get("stdout"), 2: streams.got.get("stderr")}

    async def output() -> None:
        async for fd, data in session.output():
            if (stream := outputs.get(fd)) is not None and data:
                await stream.write(data)

    async def stdin(stream: Stream) -> None:
        while data := await stream.read():
            await session.write(data)
        session.close_stdin()

    async def resize(stream: Stream) -> None:
        decoder = channels.ResizeDecoder()
        while data := await stream.read():
            for width, height in decoder.feed(data):
                session.resize(width, height)

    inputs = []
    if (s := streams.got.get("stdin")) is not None:
        inputs.append(asyncio.create_task(stdin(s)))
    if (s := streams.got.get("resize")) is not None:
        inputs.append(asyncio.create_task(resize(s)))
    try:
        await output()
        return await session.wait()
    finally:
        await session.kill()
        for task in inputs:
            task.cancel()
        await asyncio.gather(*inputs, return_exceptions=True)
