"""What the API server needs from a node to serve exec, attach and portforward: `StreamSource`.

The node's kubelet implements it (node/streams.py), so the API server never imports the node or
its container runtime, as with `LogSource` for pods/log. A source may refuse a stream before it
begins (`StreamRefused`: the kubelet's HTTP error, e.g. `container not found ("x")`), or fail it
once begun (`StreamFailed`: a command that could not start, a port nothing listens on).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol


class StreamRefused(Exception):
    """The kubelet's answer to a stream it will not open: an HTTP code and its plain text."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class StreamFailed(Exception):
    """A stream that began but could not go on: the kubelet's error text."""


@dataclass(frozen=True)
class StreamOptions:
    """PodExecOptions / PodAttachOptions, as the kubelet receives them."""

    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


class Session(Protocol):
    """A running exec, or an attach to a container's main process."""

    def output(self) -> AsyncIterator[tuple[int, bytes]]:
        """(1 stdout | 2 stderr, bytes) until the process's output ends."""
        ...

    async def write(self, data: bytes) -> None: ...

    def close_stdin(self) -> None: ...

    def resize(self, width: int, height: int) -> None: ...

    async def wait(self) -> int:
        """The exit code (attach: 0 once the output ended)."""
        ...

    async def kill(self) -> None: ...


# Starting a stream the source accepted: raises StreamFailed when it cannot start.
Starter = Callable[[], Awaitable[Session]]
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class PortForwarder(Protocol):
    """Connections to one pod's ports."""

    sandbox: str  # the pod sandbox's id, as the kubelet names the pod in its errors

    async def connect(self, port: int) -> Connection:
        """A TCP connection to the pod's port; raises StreamFailed with the runtime's error."""
        ...


class StreamSource(Protocol):
    """Streams into the pods of one node, as its kubelet serves them."""

    @property
    def node_name(self) -> str:
        """The node whose pods these are."""
        ...

    def exec(
        self, pod: dict[str, Any], container: str, command: list[str], options: StreamOptions
    ) -> Starter:
        """Accept an exec (raises StreamRefused); the starter runs the command."""
        ...

    def attach(self, pod: dict[str, Any], container: str, options: StreamOptions) -> Starter:
        """Accept an attach to the container's main process (raises StreamRefused)."""
        ...

    def port_forward(
        self, pod: dict[str, Any], ports: list[int], *, require_ports: bool = True
    ) -> PortForwarder:
        """Accept a port forward to these ports (raises StreamRefused); over SPDY the
        client names each port as it connects, so the query need not list any."""
        ...
