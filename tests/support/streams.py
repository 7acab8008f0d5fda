"""Helpers for the exec, attach and portforward tests: raw WebSocket streams and waiting pods."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from kubesim import LocalCluster
from kubesim.testing import client_configuration

NS = "default"
Message = bytes | str


@dataclass
class Stream:
    """What one stream request got: the HTTP status (101 when upgraded), the negotiated
    subprotocol, a refusal's body, and the frames received, decoded by channel."""

    status: int
    protocol: str = ""
    body: str = ""
    frames: list[tuple[int, bytes]] = field(default_factory=list)
    close_code: int | None = None

    def channel(self, number: int) -> bytes:
        return b"".join(data for ch, data in self.frames if ch == number)


def decode(protocol: str, data: Message) -> tuple[int, bytes]:
    """(channel, data) of a server's message under `protocol`."""
    if "base64" in protocol:
        assert isinstance(data, str), f"base64 protocols send text, got {data!r}"
        return ord(data[0]) - ord("0"), base64.b64decode(data[1:])
    assert isinstance(data, bytes), f"binary protocols send bytes, got {data!r}"
    return data[0], data[1:]


def frame(channel: int, data: bytes, protocol: str = "v4.channel.k8s.io") -> Message:
    """A client's message on a channel, framed for `protocol`."""
    if "base64" in protocol:
        return chr(ord("0") + channel) + base64.b64encode(data).decode()
    return bytes([channel]) + data


def url(cluster: LocalCluster, path: str, query: Sequence[tuple[str, str]] = ()) -> str:
    return cluster.url + path + ("?" + urlencode(list(query)) if query else "")


async def refusal(
    http: aiohttp.ClientSession, target: str, headers: dict[str, str]
) -> tuple[int, str]:
    """Status and body of a WebSocket upgrade the server refused."""
    upgrade = {
        **headers,
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(secrets.token_bytes(16)).decode(),
    }
    async with http.get(target, headers=upgrade) as r:
        return r.status, await r.text()


async def stream(
    cluster: LocalCluster,
    path: str,
    query: Sequence[tuple[str, str]] = (),
    *,
    protocols: Sequence[str] = ("v4.channel.k8s.io",),
    send: Sequence[Message] = (),
    token: str | None = None,
    until: Callable[[Stream], bool] | None = None,
    within: float = 20.0,
) -> Stream:
    """Open a stream, send `send`, and collect frames until the server closes it (or `until`
    holds, when the client closes it)."""
    headers = {"Authorization": f"Bearer {token or cluster.token}"}
    target = url(cluster, path, query)
    async with aiohttp.ClientSession() as http:
        try:
            ws = await http.ws_connect(
                target, protocols=tuple(protocols), headers=headers, max_msg_size=0
            )
        except aiohttp.WSServerHandshakeError:
            if protocols:
                headers["Sec-WebSocket-Protocol"] = ", ".join(protocols)
            status, body = await refusal(http, target, headers)
            return Stream(status, body=body)
        result = Stream(101, protocol=ws.protocol or "")
        async with ws:
            for message in send:
                if isinstance(message, str):
                    await ws.send_str(message)
                else:
                    await ws.send_bytes(message)

            async def read() -> None:
                async for msg in ws:
                    if msg.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                        result.frames.append(decode(result.protocol, msg.data))
                        if until is not None and until(result):
                            return

            await asyncio.wait_for(read(), within)
        result.close_code = ws.close_code
        return result


def exec_query(command: Sequence[str], **flags: bool | str) -> list[tuple[str, str]]:
    query = [("command", c) for c in command]
    for key, value in flags.items():
        query.append((key, value if isinstance(value, str) else str(value).lower()))
    return query


def exec_path(pod: str, sub: str = "exec", namespace: str = NS) -> str:
    return f"/api/v1/namespaces/{namespace}/pods/{pod}/{sub}"


async def wait_for(
    check: Callable[[], Awaitable[Any]], within: float = 20.0, every: float = 0.05
) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {within}s; last value {value!r}")
        await asyncio.sleep(every)


async def running_pod(cluster: LocalCluster, body: dict[str, Any], ns: str = NS) -> str:
    """Create a pod and wait until its containers run; returns its IP."""
    async with ApiClient(client_configuration(cluster)) as api:
        core: Any = client.CoreV1Api(api)
        await core.create_namespaced_pod(ns, body)

        async def ready() -> str | None:
            pod = await core.read_namespaced_pod(body["metadata"]["name"], ns)
            statuses = pod.status.container_statuses or []
            if pod.status.phase == "Running" and statuses and all(s.ready for s in statuses):
                return str(pod.status.pod_ip)
            return None

        ip: str = await wait_for(ready)
        return ip


def pod(name: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"terminationGracePeriodSeconds": 0, **spec, "containers": list(containers)},
    }


def container(name: str, *command: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "command": list(command), **extra}


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def namespaces_work() -> bool:
    from kubesim.runtimes.process import namespace_isolation_works

    return namespace_isolation_works()


def can_bind_low_ports() -> bool:
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            start = int(f.read())
    except OSError:
        start = 1024
    return os.geteuid() == 0 or start <= 80
