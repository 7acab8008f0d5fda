"""The kubelet's streaming server: exec, attach and portforward into the pods it runs.

The API server reaches it through the `StreamSource` protocol (apiserver/streams.py). As the
kubelet does, it refuses what it cannot serve before any upgrade, with its own plain-text
errors: no stream asked for (400), a container that is not running (`container not found
("x")`, 500), a pod whose sandbox is not up. The container runtime runs exec'd commands and
gives attach its container's process; a port forward is a TCP connection to the pod's IP, which
the pod's servers listen on (pods share the host's network).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING, Any

from kubesim.apiserver.streams import (
    Connection,
    Session,
    Starter,
    StreamFailed,
    StreamOptions,
    StreamRefused,
)
from kubesim.runtimes.base import ExecStartError, container_named

if TYPE_CHECKING:
    from kubesim.node.kubelet import Kubelet

CONNECT_TIMEOUT = 10.0


def sandbox_id(pod: dict[str, Any]) -> str:
    """A stable id for the pod's sandbox, in the form container runtimes use (64 hex)."""
    return hashlib.sha256(str(pod["metadata"].get("uid", "")).encode()).hexdigest()


def full_name(pod: dict[str, Any]) -> str:
    """kubecontainer.GetPodFullName: NAME_NAMESPACE."""
    meta = pod["metadata"]
    return f"{meta.get('name', '')}_{meta.get('namespace', '')}"


def kubelet_options(options: StreamOptions) -> StreamOptions:
    """remotecommand.NewOptions: a terminal carries stderr itself; one stream at least."""
    stderr = options.stderr and not options.tty
    if not (options.stdin or options.stdout or stderr):
        raise StreamRefused(400, "you must specify at least 1 of stdin, stdout, stderr")
    return StreamOptions(options.stdin, options.stdout, stderr, options.tty)


class _Forwarder:
    """Connections to the ports of one pod's IP."""

    def __init__(self, ip: str, sandbox: str) -> None:
        self.ip = ip
        self.sandbox = sandbox

    async def connect(self, port: int) -> Connection:
        try:
            return await asyncio.wait_for(asyncio.open_connection(self.ip, port), CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as e:
            why = "connection refused" if isinstance(e, ConnectionRefusedError) else str(e)
            # containerd's words; the pod's network is the host's, reached at the pod's IP
            raise StreamFailed(
                f'failed to execute portforward in network namespace "host": failed to connect '
                f'to localhost:{port} inside namespace "{self.sandbox}", IPv4: dial tcp4 '
                f"{self.ip}:{port}: connect: {why} IPv6 dial tcp6: address localhost: no "
                "suitable address found "
            ) from None


class KubeletStreams:
    """The `StreamSource` of one kubelet."""

    def __init__(self, kubelet: Kubelet) -> None:
        self.kubelet = kubelet

    @property
    def node_name(self) -> str:
        return self.kubelet.node_name

    def _running(self, pod: dict[str, Any], container: str, missing: str) -> None:
        found = self.kubelet.running_containers(pod)
        if found is None or container not in found[1]:
            raise StreamRefused(500, missing)

    def exec(
        self, pod: dict[str, Any], container: str, command: list[str], options: StreamOptions
    ) -> Starter:
        opts = kubelet_options(options)
        self._running(pod, container, f'container not found ("{container}")')
        runtime = self.kubelet.runtime

        async def start() -> Session:
            try:
                return await runtime.exec(
                    pod, container, command,
                    stdin=opts.stdin, stdout=opts.stdout, stderr=opts.stderr, tty=opts.tty,
                )  # fmt: skip
            except ExecStartError as e:
                raise StreamFailed(f"error executing command in container: {e}") from None

        return start

    def attach(self, pod: dict[str, Any], container: str, options: StreamOptions) -> Starter:
        opts = kubelet_options(options)
        where = f"container {container} not found in pod {full_name(pod)}"
        self._running(pod, container, where)
        if container_named(pod, container) is None:  # an init container: no spec to attach
            raise StreamRefused(500, where)
        runtime = self.kubelet.runtime

        async def start() -> Session:
            try:
                return await runtime.attach(
                    pod, container, stdin=opts.stdin, stdout=opts.stdout, stderr=opts.stderr
                )
            except ExecStartError as e:
                raise StreamFailed(f"error attaching to container: {e}") from None

        return start

    def port_forward(
        self, pod: dict[str, Any], ports: list[int], *, require_ports: bool = True
    ) -> _Forwarder:
        if not ports and require_ports:
            raise StreamRefused(400, 'query parameter "port" is required')
        for port in ports:
            if port < 1:
                raise StreamRefused(400, f'port "{port}" must be > 0')
        found = self.kubelet.running_containers(pod)
        if found is None:
            raise StreamRefused(500, f'pod not found ("{full_name(pod)}")')
        return _Forwarder(found[0], sandbox_id(pod))


__all__ = ["KubeletStreams", "full_name", "kubelet_options", "sandbox_id"]
