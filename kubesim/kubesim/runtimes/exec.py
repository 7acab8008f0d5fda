"""Exec in the process runtime: a command started inside a running container (podexec.py).

The command gets what the container's own process got: its environment, working directory,
user, and mounts (by entering the namespaces of the container's podinit), and the streams the
client asked for: pipes, or one terminal for stdin, stdout and stderr with `tty`. As with runc,
a command that cannot start is an error (`ExecStartError`), not an exit code; one that started
reports its exit code (128 + n when killed by signal n). The session kills what is left of the
command when it ends early (the client went away) or when the container stops, as containerd
does with an exec whose stream ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import struct
import sys
import termios
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubesim.runtimes import podexec, podinit
from kubesim.runtimes.base import ExecStartError, exec_start_error

PODEXEC = Path(podexec.__file__)
CHUNK = 64 * 1024


@dataclass(frozen=True)
class ExecTarget:
    """What an exec into one running container needs from how the container was started."""

    env: dict[str, str]
    cwd: str
    path: str  # PATH for podexec itself
    ns_pid: int | None = None  # the container's podinit, when it has namespaces to enter
    uid: int | None = None
    gid: int | None = None
    groups: list[int] = field(default_factory=list)
    switch: bool = False  # become uid/gid (root without namespaces)


def exit_code(returncode: int) -> int:
    """A process's exit code as runtimes report it: 128 + n when signal n killed it."""
    return 128 - returncode if returncode < 0 else returncode


class ProcessSession:
    """One running exec: its output, its stdin, its terminal size, its exit code."""

    def __init__(self, process: asyncio.subprocess.Process, master: int | None) -> None:
        self.process = process
        self._master = master  # the terminal's master side, with tty

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        if self._master is not None:
            async for data in _read_fd(self._master):
                yield 1, data
            return
        queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(maxsize=16)
        readers = [(1, self.process.stdout), (2, self.process.stderr)]
        tasks = [asyncio.create_task(_pump(fd, stream, queue)) for fd, stream in readers if stream]
        try:
            open_streams = len(tasks)
            while open_streams:
                item = await queue.get()
                if item is None:
                    open_streams -= 1
                else:
                    yield item
        finally:
            for task in tasks:
                task.cancel()

    async def write(self, data: bytes) -> None:
        if self._master is not None:
            await asyncio.to_thread(write_all, self._master, data)
            return
        stdin = self.process.stdin
        if stdin is None or stdin.is_closing():
            return
        stdin.write(data)
        with contextlib.suppress(ConnectionError):
            await stdin.drain()

    def close_stdin(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()

    def resize(self, width: int, height: int) -> None:
        if self._master is not None:
            size = struct.pack("HHHH", height, width, 0, 0)
            with contextlib.suppress(OSError):
                fcntl.ioctl(self._master, termios.TIOCSWINSZ, size)

    async def wait(self) -> int:
        return exit_code(await self.process.wait())

    async def kill(self) -> None:
        """SIGKILL the command and all it started, even after it exited itself: what it left
        behind is still in its process group (its own session)."""
        pid = self.process.pid
        if self.process.returncode is None:
            podinit.kill_all([*podinit.descendants(pid), pid])
        with contextlib.suppress(ProcessLookupError):
            await self.process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        self.close()

    def close(self) -> None:
        if self._master is not None:
            with contextlib.suppress(OSError):
                os.close(self._master)
            self._master = None


async def _pump(
    fd: int, stream: asyncio.StreamReader, queue: asyncio.Queue[tuple[int, bytes] | None]
) -> None:
    try:
        while data := await stream.read(CHUNK):
            await queue.put((fd, data))
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        await queue.put(None)


async def _read_fd(fd: int) -> AsyncIterator[bytes]:
    """What a terminal's master side reads until the other side is gone (EIO on Linux)."""
    loop = asyncio.get_running_loop()
    readable = asyncio.Event()
    os.set_blocking(fd, False)
    loop.add_reader(fd, readable.set)
    try:
        while True:
            await readable.wait()
            readable.clear()
            try:
                data = os.read(fd, CHUNK)
            except BlockingIOError:
                continue
            except OSError:
                return
            if not data:
                return
            yield data
    finally:
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(fd)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            os.set_blocking(fd, True)  # a full terminal buffer: wait in this thread
        except OSError:
            return


async def start(
    target: ExecTarget,
    path: str,
    argv: list[str],
    exec_id: str,
    *,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
) -> ProcessSession:
    """Start argv in the target container; `path` is argv[0] resolved (and allowed)."""
    spec: dict[str, Any] = {
        "path": path,
        "argv": argv,
        # containerd sets TERM for a terminal, over the container's own
        "env": {**target.env, "TERM": "xterm"} if tty else target.env,
        "cwd": target.cwd,
        "nsPid": target.ns_pid,
        "uid": target.uid,
        "gid": target.gid,
        "groups": target.groups,
        "switch": target.switch,
        "tty": tty,
    }
    spec_r, spec_w = os.pipe()
    status_r, status_w = os.pipe()
    master: int | None = None
    slave: int | None = None
    pipe, null = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
    streams: dict[str, Any] = {
        "stdin": pipe if stdin else null,
        "stdout": pipe if stdout else null,
        "stderr": pipe if stderr else null,
    }
    if tty:
        master, slave = os.openpty()
        streams = {"stdin": slave, "stdout": slave, "stderr": slave}
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            str(PODEXEC),
            str(spec_r),
            str(status_w),
            pass_fds=(spec_r, status_w),
            start_new_session=True,  # its own session: a terminal, and one group to kill
            env={"PATH": target.path},
            cwd="/",
            **streams,
        )
    except BaseException:
        for fd in (spec_w, status_r, master):
            if fd is not None:
                os.close(fd)
        raise
    finally:
        for fd in (spec_r, status_w, slave):
            if fd is not None:
                os.close(fd)
    session = ProcessSession(process, master)
    try:
        await asyncio.to_thread(write_all, spec_w, json.dumps(spec).encode())
    finally:
        os.close(spec_w)
    failure = await asyncio.to_thread(_read_all, status_r)
    if failure:
        await session.kill()
        raise exec_start_error(exec_id, failure.decode(errors="replace"))
    return session


def _read_all(fd: int) -> bytes:
    chunks = []
    try:
        while chunk := os.read(fd, CHUNK):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


__all__ = ["ExecStartError", "ExecTarget", "ProcessSession", "exit_code", "start", "write_all"]
