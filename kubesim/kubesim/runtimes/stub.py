"""A container runtime that runs nothing: each container port gets a tiny HTTP responder.

Enough for clients that only need a pod to be reachable (JupyterHub's readiness check answers
200) and to show real-looking output in `kubectl logs`. Containers never exit on their own;
`crash()` simulates an exit for tests.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from kubesim.runtimes.base import (
    ContainerExit,
    ContainerResult,
    ContainerRuntime,
    ExitHandler,
    container_named,
)

log = logging.getLogger(__name__)


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
    buffer: LogBuffer | None, *, follow: bool, tail_lines: int | None, timestamps: bool
) -> AsyncIterator[str]:
    """A container's lines; none for a container that never ran (or whose output is gone)."""
    if buffer is None:
        buffer = LogBuffer()
        buffer.close()
    return buffer.read(follow=follow, tail_lines=tail_lines, timestamps=timestamps)


@dataclass
class _Container:
    name: str
    image: str
    ports: list[int]
    log: LogBuffer = field(default_factory=LogBuffer)
    previous: LogBuffer | None = None
    runner: web.AppRunner | None = None
    container_id: str = ""


@dataclass
class _Pod:
    namespace: str
    name: str
    uid: str
    containers: dict[str, _Container] = field(default_factory=dict)


class StubRuntime(ContainerRuntime):
    """Containers that only answer HTTP on their TCP ports, and log each request."""

    def __init__(self) -> None:
        self._pods: dict[str, _Pod] = {}
        self._on_exit: ExitHandler | None = None

    def set_exit_handler(self, handler: ExitHandler) -> None:
        self._on_exit = handler

    async def start_pod(self, pod: dict[str, Any], pod_ip: str) -> dict[str, ContainerResult]:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        old = self._pods.get(meta["uid"])
        if old is not None:
            await self._stop(old)
        sp = self._pods[meta["uid"]] = _Pod(meta.get("namespace") or "", meta["name"], meta["uid"])
        results: dict[str, ContainerResult] = {}
        for c in spec.get("initContainers") or []:
            container = self._container(sp, c)
            container.container_id = _new_id()
            container.log.write(f"stub init container {c['name']} ran: image {container.image}")
            container.log.close()
            results[c["name"]] = ContainerResult.terminated(0, container.container_id)
        for c in spec.get("containers") or []:
            results[c["name"]] = await self._run(sp, self._container(sp, c), pod_ip)
        return results

    def _container(self, sp: _Pod, c: dict[str, Any]) -> _Container:
        ports = [
            int(p["containerPort"])
            for p in c.get("ports") or []
            if p.get("containerPort") and (p.get("protocol") or "TCP") == "TCP"
        ]
        old = sp.containers.get(c["name"])
        container = _Container(c["name"], c.get("image", ""), ports)
        if old is not None:
            container.previous = old.log
        sp.containers[c["name"]] = container
        return container

    async def _run(self, sp: _Pod, container: _Container, ip: str) -> ContainerResult:
        container.container_id = _new_id()
        where = ", ".join(f"http://{ip}:{port}" for port in container.ports) or "no ports"
        container.log.write(
            f"stub container {container.name} started: image {container.image}, serving {where}"
        )
        if not container.ports:
            return ContainerResult.running(container.container_id)

        async def answer(request: web.Request) -> web.Response:
            version = f"{request.version.major}.{request.version.minor}"
            container.log.write(
                f'{request.remote} - "{request.method} {request.path_qs} HTTP/{version}" 200'
            )
            return web.json_response(
                {
                    "stub": True,
                    "pod": f"{sp.namespace}/{sp.name}",
                    "container": container.name,
                    "path": request.path,
                }
            )

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        container.runner = runner  # before binding, so a stop can always clean it up
        try:
            for port in container.ports:
                await web.TCPSite(runner, ip, port, reuse_address=True).start()
        except OSError as e:  # e.g. a port listed twice: the "process" dies at once
            message = f"cannot listen on {ip}: {e}"
            container.log.write(message)
            await self._halt(container)
            return ContainerResult.terminated(1, container.container_id, "Error", message)
        return ContainerResult.running(container.container_id)

    async def restart_container(
        self, pod: dict[str, Any], pod_ip: str, container: str
    ) -> ContainerResult:
        sp = self._pods.get(pod["metadata"]["uid"])
        spec = container_named(pod, container)
        if sp is None or spec is None:
            return ContainerResult.waiting("CreateContainerError", "no such container")
        old = sp.containers.get(container)
        if old is not None:
            await self._halt(old)
        return await self._run(sp, self._container(sp, spec), pod_ip)

    async def crash(
        self, pod: dict[str, Any], container: str, exit_code: int = 1, reason: str = ""
    ) -> None:
        """Simulate a container exiting on its own (the stub's containers never do)."""
        sp = self._pods.get(pod["metadata"]["uid"])
        c = sp.containers.get(container) if sp else None
        if sp is None or c is None:
            raise KeyError(f"{pod['metadata']['name']}/{container} is not running here")
        c.log.write(f"stub container {container} exited with code {exit_code}")
        await self._halt(c)
        if self._on_exit is not None:
            self._on_exit(
                ContainerExit(sp.namespace, sp.name, sp.uid, container, exit_code, reason)
            )

    async def stop_pod(self, pod: dict[str, Any], grace: float) -> None:
        sp = self._pods.get(pod["metadata"]["uid"])
        if sp is not None:
            await self._stop(sp)  # nothing to wait for: the stub stops at once

    async def remove_pod(self, pod: dict[str, Any]) -> None:
        sp = self._pods.pop(pod["metadata"]["uid"], None)
        if sp is not None:
            await self._stop(sp)

    async def _stop(self, sp: _Pod) -> None:
        for c in sp.containers.values():
            await self._halt(c)

    async def _halt(self, c: _Container) -> None:
        runner, c.runner = c.runner, None
        c.log.close()  # ends followers, as a real container's exit ends `logs -f`
        if runner is not None:
            try:
                await runner.cleanup()  # closes the listening sockets: the ports are free
            except Exception:
                log.exception("stub runtime: stopping container %s failed", c.name)

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
        for sp in list(self._pods.values()):
            await self._stop(sp)
        self._pods.clear()


def _new_id() -> str:
    return f"stub://{secrets.token_hex(32)}"


__all__ = ["LogBuffer", "StubRuntime", "read_logs", "rfc3339nano"]
