"""Pod IPs: addresses in 127.0.0.0/8, so every pod's servers can listen on their own IP.

One pool per process: every kubelet of the process allocates from it, so embedded clusters side
by side (a test's and a demo's) never hand out the same address.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any


class IpPool:
    """Pod IPs in 127.0.0.0/8 (never 127.0.0.1), unique across the kubelets of this process."""

    FIRST = int(ipaddress.IPv4Address("127.1.0.2"))
    LAST = int(ipaddress.IPv4Address("127.255.255.254"))

    def __init__(self) -> None:
        self._used: set[str] = set()
        # Each process starts in its own 127.N.0.0/16 (N from the pid), so embedded clusters
        # of concurrent processes (parallel test runs, a demo) rarely even probe the same IPs.
        self._next = self.FIRST + (os.getpid() % 254) * 65536

    @property
    def upcoming(self) -> str:
        """The address the next allocation tries first."""
        return str(ipaddress.IPv4Address(self._next))

    def allocate(self, taken: set[str], ports: list[int]) -> str:
        # Round-robin rather than lowest-free: a just-freed IP is not handed out again at once.
        for _ in range(self.LAST - self.FIRST + 1):
            ip = str(ipaddress.IPv4Address(self._next))
            self._next = self.FIRST if self._next >= self.LAST else self._next + 1
            if ip not in self._used and ip not in taken and ports_free(ip, ports):
                self._used.add(ip)
                return ip
        raise RuntimeError("no free pod IP in 127.0.0.0/8")

    def claim(self, ip: str) -> bool:
        if ip in self._used:
            return False
        self._used.add(ip)
        return True

    def release(self, ip: str) -> None:
        self._used.discard(ip)


POD_IPS = IpPool()


def ports_free(ip: str, ports: list[int]) -> bool:
    """Whether nothing listens on ip:port, e.g. a pod of another process's embedded cluster."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the runtime binds
            try:
                sock.bind((ip, port))
            except OSError:
                return False
    return True


def tcp_ports(pod: dict[str, Any]) -> list[int]:
    """The TCP ports the pod's containers declare: what its IP must have free."""
    spec = pod.get("spec") or {}
    return [
        int(p["containerPort"])
        for c in spec.get("containers") or []
        for p in c.get("ports") or []
        if p.get("containerPort") and (p.get("protocol") or "TCP") == "TCP"
    ]
