"""Attach in the process runtime: a container's main process, as it writes and reads.

The runtime reads the process's stdout and stderr in chunks; each chunk goes to the log (as
whole lines) and to every attached client (`OutputFanout`), so an attach sees what comes after
it joined, on the stream it came from. Input goes to the process's stdin when the container was
created with `stdin: true` (and is dropped otherwise, as containerd drops it); with `stdinOnce`
the first attach that ends its input closes the container's stdin for good.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from kubesim.runtimes.base import LogBuffer


class LineSplitter:
    """Chunks of one stream into the log's lines (a partial line waits for its end)."""

    def __init__(self, log: LogBuffer) -> None:
        self._log = log
        self._partial = b""

    def feed(self, data: bytes) -> None:
        data = self._partial + data
        head, sep, self._partial = data.rpartition(b"\n")
        if sep:
            self._log.write(head.decode(errors="replace"))

    def flush(self) -> None:
        if self._partial:
            self._log.write(self._partial.decode(errors="replace"))
            self._partial = b""


class OutputFanout:
    """A running container's output, copied to each attached client's queue."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[tuple[int, bytes] | None]] = set()
        self.closed = False

    def subscribe(self) -> asyncio.Queue[tuple[int, bytes] | None]:
        queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(maxsize=4096)
        if self.closed:
            queue.put_nowait(None)
        else:
            self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[tuple[int, bytes] | None]) -> None:
        self._queues.discard(queue)

    def publish(self, fd: int, data: bytes) -> None:
        for queue in list(self._queues):
            try:
                queue.put_nowait((fd, data))
            except asyncio.QueueFull:  # a client that does not read loses its place
                self._queues.discard(queue)
                _end(queue)

    def close(self) -> None:
        self.closed = True
        for queue in self._queues:
            _end(queue)
        self._queues.clear()


def _end(queue: asyncio.Queue[tuple[int, bytes] | None]) -> None:
    while True:
        try:
            queue.put_nowait(None)
            return
        except asyncio.QueueFull:
            queue.get_nowait()  # make room for the end marker


class ContainerAttach:
    """One client attached to a process container."""

    def __init__(
        self,
        fanout: OutputFanout,
        stdin: asyncio.StreamWriter | None,
        *,
        stdout: bool,
        stderr: bool,
        stdin_once: bool,
    ) -> None:
        self._fanout = fanout
        self._queue = fanout.subscribe()
        self._stdin = stdin
        self._wanted = {1} if stdout else set()
        if stderr:
            self._wanted.add(2)
        self._stdin_once = stdin_once

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        while (item := await self._queue.get()) is not None:
            if item[0] in self._wanted:
                yield item

    async def write(self, data: bytes) -> None:
        if self._stdin is None or self._stdin.is_closing():
            return
        self._stdin.write(data)
        with contextlib.suppress(ConnectionError):
            await self._stdin.drain()

    def close_stdin(self) -> None:
        if self._stdin_once and self._stdin is not None:
            self._stdin.close()  # the container reads EOF; no later attach can write

    def resize(self, width: int, height: int) -> None:
        pass  # the process runtime gives containers no terminal

    async def wait(self) -> int:
        return 0

    async def kill(self) -> None:
        # Detaching stops nothing in the container.
        self._fanout.unsubscribe(self._queue)
        _end(self._queue)


__all__ = ["ContainerAttach", "LineSplitter", "OutputFanout"]
