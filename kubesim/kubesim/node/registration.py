"""The simulated node's core/v1 Node object: what the kubelet registers and keeps fresh.

Shaped like a real kubelet's node (setters in pkg/kubelet/nodestatus): the standard labels,
capacity and allocatable read from the host (allocatable less the default hard eviction
thresholds), the four conditions with the kubelet's reasons, addresses, nodeInfo and the
daemon endpoint. The heartbeat renews every condition's lastHeartbeatTime, as the kubelet's
periodic status report does.
"""

from __future__ import annotations

import os
import platform
import shutil
import uuid
from typing import Any

from kubesim.apiserver.discovery import KUBE_VERSION
from kubesim.node.pod_status import HOST_IP

KUBELET_PORT = 10250
MAX_PODS = 110
_ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_CONDITIONS = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory",
     "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)  # fmt: skip
_EVICTION_MEMORY = 100 * 1024 * 1024  # memory.available<100Mi
_EVICTION_DISK = 0.10  # nodefs.available<10%


def _arch() -> str:
    machine = platform.machine().lower()
    return _ARCHES.get(machine, machine or "amd64")


def _os() -> str:
    return platform.system().lower() or "linux"


def _os_image() -> str:
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key == "PRETTY_NAME":
                    return value.strip().strip('"')
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}".strip() or "<unknown>"


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3


def _disk_bytes() -> int:
    try:
        return shutil.disk_usage("/").total
    except OSError:
        return 100 * 1024**3


def _read_id(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return ""


def runtime_version(runtime: object) -> str:
    """containerRuntimeVersion: `<runtime name>://<version>`, as CRI runtimes report it."""
    name = type(runtime).__name__.removesuffix("Runtime").lower() or "stub"
    return f"kubesim-{name}://0.1.0"


def node_labels(name: str) -> dict[str, str]:
    arch, os_name = _arch(), _os()
    return {
        "beta.kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": os_name,
        "kubernetes.io/arch": arch,
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": os_name,
    }


def conditions(now: str, since: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The kubelet's node conditions, heartbeat `now` (transitions kept from `since`)."""
    since = since or {}
    return [
        {
            "type": kind,
            "status": status,
            "lastHeartbeatTime": now,
            "lastTransitionTime": since.get(kind, now),
            "reason": reason,
            "message": message,
        }
        for kind, status, reason, message in _CONDITIONS
    ]


def node_status(name: str, runtime: object, now: str) -> dict[str, Any]:
    memory, disk = _memory_bytes(), _disk_bytes()
    capacity = {
        "cpu": str(os.cpu_count() or 1),
        "ephemeral-storage": f"{disk // 1024}Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": f"{memory // 1024}Ki",
        "pods": str(MAX_PODS),
    }
    allocatable = {
        **capacity,
        "ephemeral-storage": str(int(disk * (1 - _EVICTION_DISK))),
        "memory": f"{max(memory - _EVICTION_MEMORY, 0) // 1024}Ki",
    }
    machine_id = _read_id("/etc/machine-id") or uuid.uuid5(uuid.NAMESPACE_DNS, name).hex
    return {
        "capacity": capacity,
        "allocatable": allocatable,
        "conditions": conditions(now),
        "addresses": [
            {"type": "InternalIP", "address": HOST_IP},
            {"type": "Hostname", "address": name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
        "nodeInfo": {
            "machineID": machine_id,
            "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, machine_id)),
            "bootID": _read_id("/proc/sys/kernel/random/boot_id") or str(uuid.uuid4()),
            "kernelVersion": platform.release(),
            "osImage": _os_image(),
            "containerRuntimeVersion": runtime_version(runtime),
            "kubeletVersion": KUBE_VERSION,
            "kubeProxyVersion": "",  # deprecated; kubelets no longer report it
            "operatingSystem": _os(),
            "architecture": _arch(),
        },
    }


def node_object(name: str, runtime: object, now: str) -> dict[str, Any]:
    """The Node the kubelet registers itself with."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": node_labels(name),
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {},
        "status": node_status(name, runtime, now),
    }
