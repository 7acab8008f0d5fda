"""Container probes, as the kubelet's prober runs them: startup and readiness.

A container with a startupProbe is not `started` (nor ready) until that probe succeeds; one with
a readinessProbe is not `ready` until it succeeds, and stops being ready after
`failureThreshold` failures in a row (ready again after `successThreshold` successes). Probes
run every `periodSeconds` after `initialDelaySeconds`, each within `timeoutSeconds`; a failure
is a Warning `Unhealthy` event in the kubelet's words. Handlers: tcpSocket (a connection to the
pod IP), httpGet (a status from 200 to 399) and exec (exit code 0, through the container
runtime). Simplifications: livenessProbes are not run, a startup probe that keeps failing does
not restart the container, and grpc handlers count as passing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from kubesim.runtimes.base import ContainerRuntime, ExecStartError

Exec = Callable[[list[str], float], Awaitable[tuple[int, str]]]  # (exit code, output)
PROBES = ("startupProbe", "readinessProbe")


@dataclass(frozen=True)
class Probe:
    """One probe of a container, with the API's defaults."""

    kind: str  # "Startup" or "Readiness", as the kubelet's messages name them
    handler: dict[str, Any]
    initial_delay: float
    period: float
    timeout: float
    success_threshold: int
    failure_threshold: int

    @classmethod
    def of(cls, kind: str, spec: dict[str, Any]) -> Probe:
        return cls(
            kind=kind,
            handler=spec,
            initial_delay=float(spec.get("initialDelaySeconds") or 0),
            period=float(spec.get("periodSeconds") or 10),
            timeout=float(spec.get("timeoutSeconds") or 1),
            success_threshold=int(spec.get("successThreshold") or 1),
            failure_threshold=int(spec.get("failureThreshold") or 3),
        )


def initial_flags(container: dict[str, Any]) -> tuple[bool, bool]:
    """(started, ready) of a container that has just started: false where a probe must pass."""
    started = not container.get("startupProbe")
    return started, started and not container.get("readinessProbe")


def _port(value: Any, container: dict[str, Any]) -> int | None:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    for p in container.get("ports") or []:
        if p.get("name") == value:
            return int(p.get("containerPort") or 0)
    return None


async def check(probe: Probe, ip: str, container: dict[str, Any], run_exec: Exec) -> str | None:
    """Run a probe once: None when it passes, else the kubelet's failure message."""
    h = probe.handler
    try:
        if "tcpSocket" in h:
            port = _port(h["tcpSocket"].get("port"), container)
            host = h["tcpSocket"].get("host") or ip
            if port is None:
                return f"unable to resolve port {h['tcpSocket'].get('port')!r}"
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), probe.timeout
                )
            except TimeoutError:
                return f"dial tcp {host}:{port}: i/o timeout"
            except OSError:
                return f"dial tcp {host}:{port}: connect: connection refused"
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return None
        if "httpGet" in h:
            return await _http(h["httpGet"], ip, container, probe.timeout)
        if "exec" in h:
            command = [str(a) for a in h["exec"].get("command") or []]
            code, output = await run_exec(command, probe.timeout)
            if code != 0:
                return output or f"command {command!r} exited with {code}"
            return None
    except Exception as e:  # a probe that cannot run fails; it never breaks the node
        return str(e) or type(e).__name__
    return None  # grpc: not run here


async def _http(
    spec: dict[str, Any], ip: str, container: dict[str, Any], limit: float
) -> str | None:
    port = _port(spec.get("port"), container)
    scheme = str(spec.get("scheme") or "HTTP").lower()
    host = spec.get("host") or ip
    path = spec.get("path") or "/"
    url = f"{scheme}://{host}:{port}{path if path.startswith('/') else '/' + path}"
    headers = {h["name"]: h.get("value", "") for h in spec.get("httpHeaders") or [] if "name" in h}
    headers.setdefault("User-Agent", "kube-probe/1.32")
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=limit)) as http,
            http.get(url, headers=headers, ssl=False, allow_redirects=False) as r,
        ):
            if 200 <= r.status < 400:
                return None
            return f"HTTP probe failed with statuscode: {r.status}"
    except TimeoutError:
        why = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        return f'Get "{url}": {why}'
    except aiohttp.ClientError:
        return f'Get "{url}": dial tcp {host}:{port}: connect: connection refused'


async def probe_exec(
    runtime: ContainerRuntime,
    pod: dict[str, Any],
    container: str,
    command: list[str],
    limit: float,
) -> tuple[int, str]:
    """An exec probe's command in the container: its exit code and output (the first 10 KiB,
    as the kubelet keeps); killed at the timeout, which fails the probe."""
    try:
        session = await runtime.exec(
            pod, container, command, stdin=False, stdout=True, stderr=True, tty=False
        )
    except ExecStartError as e:
        return -1, str(e)
    output = bytearray()

    async def collect() -> int:
        async for _, data in session.output():
            output.extend(data[: 10240 - len(output)])
        return await session.wait()

    try:
        code = await asyncio.wait_for(collect(), limit)
    except TimeoutError:
        return -1, f"command timed out after {limit:g}s"
    finally:
        await session.kill()
    return code, output.decode(errors="replace")


class Prober:
    """The probes of one running container, until cancelled. `on_change(started, ready)` is
    called whenever either changes; `on_failure(message)` for each failed probe."""

    def __init__(
        self,
        container: dict[str, Any],
        ip: str,
        run_exec: Exec,
        on_change: Callable[[bool, bool], None],
        on_failure: Callable[[str], None],
    ) -> None:
        self.container = container
        self.ip = ip
        self.run_exec = run_exec
        self.on_change = on_change
        self.on_failure = on_failure

    async def run(self) -> None:
        started, ready = initial_flags(self.container)
        startup = self.container.get("startupProbe")
        if startup:
            await self._until_passing(Probe.of("Startup", startup))
            started, ready = True, not self.container.get("readinessProbe")
            self.on_change(started, ready)
        readiness = self.container.get("readinessProbe")
        if not readiness:
            return
        probe = Probe.of("Readiness", readiness)
        await asyncio.sleep(probe.initial_delay)
        successes = failures = 0
        while True:
            failure = await check(probe, self.ip, self.container, self.run_exec)
            if failure is None:
                successes, failures = successes + 1, 0
                if not ready and successes >= probe.success_threshold:
                    ready = True
                    self.on_change(started, ready)
            else:
                successes, failures = 0, failures + 1
                self.on_failure(f"{probe.kind} probe failed: {failure}")
                if ready and failures >= probe.failure_threshold:
                    ready = False
                    self.on_change(started, ready)
            await asyncio.sleep(probe.period)

    async def _until_passing(self, probe: Probe) -> None:
        await asyncio.sleep(probe.initial_delay)
        while (failure := await check(probe, self.ip, self.container, self.run_exec)) is not None:
            self.on_failure(f"{probe.kind} probe failed: {failure}")
            await asyncio.sleep(probe.period)


__all__ = ["PROBES", "Probe", "Prober", "check", "initial_flags", "probe_exec"]
