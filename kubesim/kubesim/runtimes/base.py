"""The interface between the simulated kubelet and whatever runs a pod's containers.

The kubelet owns pod status, events and restart policy; a runtime only starts and stops
containers, keeps their output, and reports containers that exit on their own. `StubRuntime`
(runtime_stub.py) serves container ports with tiny HTTP responders; a process runtime would run
each container's command as a local process bound to the pod IP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol


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

    async def close(self) -> None:
        """Stop everything: the kubelet is stopping."""


__all__ = [
    "ContainerExit",
    "ContainerResult",
    "ContainerRuntime",
    "ExitHandler",
    "container_named",
]
