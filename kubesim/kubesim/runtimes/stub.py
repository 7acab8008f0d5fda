"""A container runtime that runs nothing: each container port gets a tiny HTTP responder.

Enough for clients that only need a pod to be reachable (JupyterHub's readiness check answers
200) and to show real-looking output in `kubectl logs`. Containers never exit on their own;
`crash()` simulates an exit for tests.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from kubesim.runtimes.base import Container, ContainerResult, Pod, RuntimeBase

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class _Container(Container):
    image: str = ""
    ports: list[int] = field(default_factory=list)
    runner: web.AppRunner | None = None


class StubRuntime(RuntimeBase[_Container]):
    """Containers that only answer HTTP on their TCP ports, and log each request."""

    async def start_pod(self, pod: dict[str, Any], pod_ip: str) -> dict[str, ContainerResult]:
        sp = await self._new_pod(pod)
        spec = pod.get("spec") or {}
        results: dict[str, ContainerResult] = {}
        for c in spec.get("initContainers") or []:
            container = self._container(sp, c)
            container.container_id = _new_id()
            container.log.write(f"stub init container {c['name']} ran: image {container.image}")
            container.log.close()
            results[c["name"]] = ContainerResult.terminated(0, container.container_id)
        for c in spec.get("containers") or []:
            results[c["name"]] = await self._run(sp, pod, c, pod_ip)
        return results

    def _container(self, sp: Pod[_Container], c: dict[str, Any]) -> _Container:
        ports = [
            int(p["containerPort"])
            for p in c.get("ports") or []
            if p.get("containerPort") and (p.get("protocol") or "TCP") == "TCP"
        ]
        return sp.add(_Container(name=c["name"], image=c.get("image", ""), ports=ports))

    async def _run(
        self, sp: Pod[_Container], pod: dict[str, Any], spec: dict[str, Any], pod_ip: str
    ) -> ContainerResult:
        container = self._container(sp, spec)
        container.container_id = _new_id()
        where = ", ".join(f"http://{pod_ip}:{port}" for port in container.ports) or "no ports"
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
                await web.TCPSite(runner, pod_ip, port, reuse_address=True).start()
        except OSError as e:  # e.g. a port listed twice: the "process" dies at once
            message = f"cannot listen on {pod_ip}: {e}"
            container.log.write(message)
            await self._halt(container, 0)
            return ContainerResult.terminated(1, container.container_id, "Error", message)
        return ContainerResult.running(container.container_id)

    async def crash(
        self, pod: dict[str, Any], container: str, exit_code: int = 1, reason: str = ""
    ) -> None:
        """Simulate a container exiting on its own (the stub's containers never do)."""
        sp = self._pods.get(pod["metadata"]["uid"])
        c = sp.containers.get(container) if sp else None
        if sp is None or c is None:
            raise KeyError(f"{pod['metadata']['name']}/{container} is not running here")
        c.log.write(f"stub container {container} exited with code {exit_code}")
        await self._halt(c, 0)
        self._report_exit(sp, container, exit_code, reason)

    async def _halt(self, container: _Container, grace: float) -> None:
        # Nothing to wait for: the stub stops at once, whatever the grace period.
        runner, container.runner = container.runner, None
        container.log.close()  # ends followers, as a real container's exit ends `logs -f`
        if runner is not None:
            try:
                await runner.cleanup()  # closes the listening sockets: the ports are free
            except Exception:
                log.exception("stub runtime: stopping container %s failed", container.name)


def _new_id() -> str:
    return f"stub://{secrets.token_hex(32)}"


__all__ = ["StubRuntime"]
