"""The interface between the simulated kubelet and whatever runs a pod's containers.

The kubelet owns pod status, events and restart policy; a runtime only starts and stops
containers, keeps their output, and reports containers that exit on their own. `StubRuntime`
(stub.py) serves container ports with tiny HTTP responders; `ProcessRuntime` (process.py) runs
each container's command as a local process bound to the pod IP. What both do alike lives here in
`RuntimeBase`: their pods by uid, each container's output (`LogBuffer`), reading it for
`kubectl logs`, restarts, stopping, and reporting exits.

Both also serve the node's streams: `exec` starts a command in a running container and
`attach` connects to a container's main process, each as a `StreamedProcess` (sessions.py).
A runtime that cannot run commands (the stub) fails every exec as runc does for a command that
is not there.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from abc import abstractmethod
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, cast


@dataclass(frozen=True)
class ContainerResult:
    """What became of one container a runtime was asked to start."""

    state: str  # "running"; "waiting" (never started); "terminated" (ran and already exited)
    container_id: str = ""
    reason: str = ""
    message: str = ""
    exit_code: int = 0

    @classmethod
    def running(cls, container_id: str) -> ContainerResult:
        return cls("running", container_id)

    @classmethod
    def waiting(cls, reason: str, message: str = "") -> ContainerResult:
        """Could not be started at all, e.g. ErrImagePull or CreateContainerError."""
        return cls("waiting", reason=reason, message=message)

    @classmethod
    def terminated(
        cls, exit_code: int, container_id: str = "", reason: str = "", message: str = ""
    ) -> ContainerResult:
        """Started and already exited: init containers, or reason StartError (exit 128)."""
        return cls("terminated", container_id, reason, message, exit_code)


@dataclass(frozen=True)
class ContainerExit:
    """A runtime's report that a running container exited on its own."""

    namespace: str
    pod: str
    uid: str
    container: str
    exit_code: int
    reason: str = ""  # empty: Completed (exit 0) or Error
    message: str = ""


ExitHandler = Callable[[ContainerExit], None]


class ExecStartError(Exception):
    """A command could not be started in a container: the runtime's error, as containerd
    reports it ("failed to exec in container: failed to start exec ...")."""


class StreamedProcess(Protocol):
    """A command started by exec, or a container's main process seen through attach."""

    def output(self) -> AsyncIterator[tuple[int, bytes]]:
        """(1 for stdout or 2 for stderr, bytes) as the process writes them, until both end."""
        ...

    async def write(self, data: bytes) -> None:
        """Bytes for its stdin (dropped when it has none)."""

    def close_stdin(self) -> None:
        """End of its stdin."""

    def resize(self, width: int, height: int) -> None:
        """A new terminal size (only a process with a terminal has one)."""

    async def wait(self) -> int:
        """Its exit code, once it has exited (128 + n when killed by signal n)."""
        ...

    async def kill(self) -> None:
        """Stop it (SIGKILL) if it is still running, and let go of its streams."""


def exec_start_error(exec_id: str, reason: str) -> ExecStartError:
    """containerd's error for a command runc could not start, e.g. `exec: "x": executable file
    not found in $PATH`."""
    return ExecStartError(
        f'failed to exec in container: failed to start exec "{exec_id}": OCI runtime exec '
        f"failed: exec failed: unable to start container process: {reason}: unknown"
    )


def container_named(pod: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The pod's (regular) container spec called `name`, if any."""
    containers = (pod.get("spec") or {}).get("containers") or []
    return next((c for c in containers if c.get("name") == name), None)


class ContainerRuntime(Protocol):
    """Runs the containers of pods on their pod IPs. Pods are identified by metadata.uid."""

    def set_exit_handler(self, handler: ExitHandler) -> None:
        """Called once by the kubelet; report containers that exit on their own through it.

        Also report exits caused by `stop_pod` when their exit codes are known: the kubelet
        records them in the final status (unreported containers count as exit 0).
        """

    async def start_pod(self, pod: dict[str, Any], pod_ip: str) -> dict[str, ContainerResult]:
        """Run the init containers to completion, then start every container; a result each."""
        ...

    async def restart_container(
        self, pod: dict[str, Any], pod_ip: str, container: str
    ) -> ContainerResult:
        """Start an exited container again (restartPolicy); keep its old output as previous."""
        ...

    async def stop_pod(self, pod: dict[str, Any], grace: float) -> None:
        """Stop every container (SIGTERM, then kill after `grace` seconds); keep their output."""

    async def remove_pod(self, pod: dict[str, Any]) -> None:
        """The pod object is gone: stop anything left and forget its output."""

    def logs(
        self,
        pod: dict[str, Any],
        container: str,
        *,
        follow: bool,
        tail_lines: int | None,
        timestamps: bool,
        previous: bool,
    ) -> AsyncIterator[str]:
        """A container's output as lines ending in "\\n"; with follow, until it stops."""
        ...

    async def exec(
        self,
        pod: dict[str, Any],
        container: str,
        command: list[str],
        *,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        tty: bool,
    ) -> StreamedProcess:
        """Start `command` in a running container, with the streams asked for (a terminal
        with `tty`); raises ExecStartError when it cannot start."""
        ...

    async def attach(
        self, pod: dict[str, Any], container: str, *, stdin: bool, stdout: bool, stderr: bool
    ) -> StreamedProcess:
        """The main process of a running container: its output from now on, and its stdin
        when the container has one (`stdin: true`)."""
        ...

    async def close(self) -> None:
        """Stop everything: the kubelet is stopping."""


def rfc3339nano(ns: int) -> str:
    """A UTC timestamp as Go's time.RFC3339Nano formats it (trailing zeros trimmed)."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


class LogBuffer:
    """The output of one container instance: bounded, with followers that see new lines."""

    def __init__(self, max_lines: int = 10_000) -> None:
        self._lines: deque[tuple[int, str]] = deque(maxlen=max_lines)
        self._dropped = 0  # lines that fell off the front, so follower positions stay valid
        self._changed = asyncio.Event()
        self.closed = False

    def write(self, text: str) -> None:
        now = time.time_ns()
        for line in text.splitlines():
            if len(self._lines) == self._lines.maxlen:
                self._dropped += 1
            self._lines.append((now, line))
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def read(
        self, *, follow: bool, tail_lines: int | None, timestamps: bool
    ) -> AsyncIterator[str]:
        end = self._dropped + len(self._lines)
        everything = tail_lines is None or tail_lines < 0  # kubectl's --tail=-1
        pos = self._dropped if everything else max(self._dropped, end - (tail_lines or 0))
        while True:
            changed = self._changed
            while pos < self._dropped + len(self._lines):
                pos = max(pos, self._dropped)
                stamp, line = self._lines[pos - self._dropped]
                pos += 1
                yield f"{rfc3339nano(stamp)} {line}\n" if timestamps else f"{line}\n"
            if not follow or self.closed:
                return
            await changed.wait()


def read_logs(
    buffer: LogBuffer | None,
    *,
    follow: bool = False,
    tail_lines: int | None = None,
    timestamps: bool = False,
) -> AsyncIterator[str]:
    """A container's lines; none for a container that never ran (or whose output is gone)."""
    if buffer is None:
        buffer = LogBuffer()
        buffer.close()
    return buffer.read(follow=follow, tail_lines=tail_lines, timestamps=timestamps)


class LogAttach:
    """Attach to a container whose output is only its log (the stub's): the lines written from
    now on, on stdout, until the container stops; stdin goes nowhere."""

    def __init__(self, buffer: LogBuffer | None, *, stdout: bool) -> None:
        self._buffer = buffer
        self._stdout = stdout
        self._stopped = asyncio.Event()

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        if self._buffer is None:
            return
        lines = cast(
            AsyncGenerator[str, None],
            self._buffer.read(follow=True, tail_lines=0, timestamps=False),
        )
        stop = asyncio.ensure_future(self._stopped.wait())
        line: asyncio.Future[str] | None = None
        try:
            while True:
                line = asyncio.ensure_future(anext(lines))
                await asyncio.wait({line, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not line.done():
                    return
                try:
                    text = line.result()
                except StopAsyncIteration:
                    return
                if self._stdout:
                    yield 1, text.encode()
        finally:
            stop.cancel()
            if line is not None and not line.done():
                # The generator may end rather than cancel: collect either, so no task is left
                # with an exception nobody reads.
                line.cancel()
                await asyncio.gather(line, return_exceptions=True)
            await lines.aclose()

    async def write(self, data: bytes) -> None:
        pass

    def close_stdin(self) -> None:
        pass

    def resize(self, width: int, height: int) -> None:
        pass

    async def wait(self) -> int:
        return 0

    async def kill(self) -> None:
        self._stopped.set()


@dataclass(kw_only=True)
class Container:
    """One instance of a container a runtime started; subclasses add how it runs."""

    name: str
    container_id: str = ""
    log: LogBuffer = field(default_factory=LogBuffer)
    previous: LogBuffer | None = None  # the output of the instance before a restart


C = TypeVar("C", bound=Container)


@dataclass
class Pod(Generic[C]):
    """A pod a runtime runs: its identity and its containers' latest instances by name."""

    namespace: str
    name: str
    uid: str
    containers: dict[str, C] = field(default_factory=dict)

    def add(self, container: C) -> C:
        """Record a (re)started container; the output of the one it replaces stays previous."""
        old = self.containers.get(container.name)
        if old is not None:
            container.previous = old.log
        self.containers[container.name] = container
        return container


class RuntimeBase(ContainerRuntime, Generic[C]):
    """What the runtimes here share; a subclass starts pods and runs and halts one container."""

    def __init__(self) -> None:
        self._pods: dict[str, Pod[C]] = {}  # by metadata.uid
        self._on_exit: ExitHandler | None = None

    def set_exit_handler(self, handler: ExitHandler) -> None:
        self._on_exit = handler

    def _report_exit(self, sp: Pod[C], container: str, exit_code: int, reason: str = "") -> None:
        if self._on_exit is not None:
            exit_ = ContainerExit(sp.namespace, sp.name, sp.uid, container, exit_code, reason)
            self._on_exit(exit_)

    @abstractmethod
    async def _run(
        self, sp: Pod[C], pod: dict[str, Any], spec: dict[str, Any], pod_ip: str
    ) -> ContainerResult:
        """Start a new instance of one of the pod's containers."""

    @abstractmethod
    async def _halt(self, container: C, grace: float) -> None:
        """Stop one container instance (SIGTERM, then kill after `grace`); close its log."""

    async def _removed(self, sp: Pod[C]) -> None:
        """The pod is gone and stopped: drop what the runtime kept of it besides output."""

    async def _new_pod(self, pod: dict[str, Any]) -> Pod[C]:
        """Record a pod about to start, stopping what an earlier start of it left running."""
        meta = pod["metadata"]
        old = self._pods.pop(meta["uid"], None)
        if old is not None:
            await self._stop(old, 0)
        sp: Pod[C] = Pod(meta.get("namespace") or "", meta["name"], meta["uid"])
        self._pods[meta["uid"]] = sp
        return sp

    async def restart_container(
        self, pod: dict[str, Any], pod_ip: str, container: str
    ) -> ContainerResult:
        sp = self._pods.get(pod["metadata"]["uid"])
        spec = container_named(pod, container)
        if sp is None or spec is None:
            return ContainerResult.waiting("CreateContainerError", "no such container")
        old = sp.containers.get(container)
        if old is not None:
            await self._halt(old, 0)
        return await self._run(sp, pod, spec, pod_ip)

    async def stop_pod(self, pod: dict[str, Any], grace: float) -> None:
        sp = self._pods.get(pod["metadata"]["uid"])
        if sp is not None:
            await self._stop(sp, grace)

    async def remove_pod(self, pod: dict[str, Any]) -> None:
        sp = self._pods.pop(pod["metadata"]["uid"], None)
        if sp is not None:
            await self._stop(sp, 0)
            await self._removed(sp)

    async def _stop(self, sp: Pod[C], grace: float) -> None:
        await asyncio.gather(*(self._halt(c, grace) for c in sp.containers.values()))

    async def exec(
        self,
        pod: dict[str, Any],
        container: str,
        command: list[str],
        *,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        tty: bool,
    ) -> StreamedProcess:
        # A runtime that runs no programs has none to start: runc's "not found".
        name = command[0] if command else ""
        reason = f'exec: "{name}": executable file not found in $PATH'
        raise exec_start_error(secrets.token_hex(32), reason)

    async def attach(
        self, pod: dict[str, Any], container: str, *, stdin: bool, stdout: bool, stderr: bool
    ) -> StreamedProcess:
        # The container's output is its log; what comes after now is what attach shows.
        sp = self._pods.get(pod["metadata"].get("uid", ""))
        c = sp.containers.get(container) if sp else None
        return LogAttach(c.log if c else None, stdout=stdout or stderr)

    def logs(
        self,
        pod: dict[str, Any],
        container: str,
        *,
        follow: bool,
        tail_lines: int | None,
        timestamps: bool,
        previous: bool,
    ) -> AsyncIterator[str]:
        sp = self._pods.get(pod["metadata"].get("uid", ""))
        c = sp.containers.get(container) if sp else None
        buffer = (c.previous if previous else c.log) if c else None
        return read_logs(buffer, follow=follow, tail_lines=tail_lines, timestamps=timestamps)

    async def close(self) -> None:
        # The kubelet has already stopped its pods, with its shutdown grace: this is the rest.
        await asyncio.gather(*(self._stop(sp, 0) for sp in self._pods.values()))
        self._pods.clear()


__all__ = [
    "Container",
    "ContainerExit",
    "ContainerResult",
    "ContainerRuntime",
    "ExecStartError",
    "ExitHandler",
    "LogAttach",
    "LogBuffer",
    "Pod",
    "RuntimeBase",
    "StreamedProcess",
    "container_named",
    "exec_start_error",
    "read_logs",
    "rfc3339nano",
]
