"""The kubelet's startup and readiness probes, and its retry of containers it could not configure.

A container with a readiness probe is not ready (nor its pod) until the probe passes; one with a
startup probe is not even started; each failure is a Warning `Unhealthy` event in the kubelet's
words. A container whose secret is missing is tried again until the secret exists.
"""

from __future__ import annotations

import asyncio
import re
import sys
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from kubesim import LocalCluster
from kubesim.testing import client_configuration
from tests.support.streams import NS, container, pod, wait_for

LATE = (
    "import socket, sys, time\n"
    "time.sleep(1.5)\n"
    "s = socket.create_server((sys.argv[1], 7070))\n"
    "while True: s.accept()[0].close()\n"
)


async def statuses(core: Any, name: str) -> tuple[Any, dict[str, str]]:
    p = await core.read_namespaced_pod(name, NS)
    conditions = {c.type: c.status for c in p.status.conditions or []}
    return (p.status.container_statuses or [None])[0], conditions


async def unhealthy(core: Any, name: str) -> list[str]:
    events = await core.list_namespaced_event(NS, field_selector=f"involvedObject.name={name}")
    return [e.message for e in events.items if e.reason == "Unhealthy" and e.type == "Warning"]


async def test_http_readiness_in_the_stub_runtime(kube_client: ApiClient) -> None:
    core: Any = client.CoreV1Api(kube_client)
    good = {"httpGet": {"path": "/healthz", "port": "web"}, "periodSeconds": 1}
    bad = {"httpGet": {"path": "/healthz", "port": 9999}, "periodSeconds": 1}
    web = container("c", "serve", ports=[{"name": "web", "containerPort": 8080}])
    await core.create_namespaced_pod(NS, pod("good", {**web, "readinessProbe": good}))
    await core.create_namespaced_pod(NS, pod("bad", {**web, "readinessProbe": bad}))

    async def ready(name: str) -> bool:
        st, conditions = await statuses(core, name)
        return bool(st and st.ready and conditions.get("Ready") == "True")

    await wait_for(lambda: ready("good"), within=10)
    messages = await wait_for(lambda: unhealthy(core, "bad"), within=10)
    assert re.fullmatch(
        r'Readiness probe failed: Get "http://(127\.[0-9.]+):9999/healthz": dial tcp \1:9999: '
        r"connect: connection refused",
        messages[0],
    ), messages[0]
    st, conditions = await statuses(core, "bad")
    assert st.started and not st.ready  # running, but not ready
    assert conditions["Ready"] == "False" and conditions["ContainersReady"] == "False"


@pytest.mark.skipif(sys.platform != "linux", reason="the process runtime needs Linux")
def test_startup_and_readiness_probes_in_the_process_runtime(tmp_path: Any) -> None:
    allowed = ("python3", "sh")
    with LocalCluster(runtime="process", allowed_commands=allowed, data_dir=tmp_path) as cluster:

        async def run() -> None:
            async with ApiClient(client_configuration(cluster)) as api:
                core: Any = client.CoreV1Api(api)
                tcp = {"tcpSocket": {"port": 7070}, "periodSeconds": 1}
                startup = {"exec": {"command": ["sh", "-c", "exit 0"]}, "periodSeconds": 1}
                late = container("c", "python3", "-c", LATE, "0.0.0.0", readinessProbe=tcp,
                                 startupProbe=startup)  # fmt: skip
                await core.create_namespaced_pod(NS, pod("late", late))

                async def not_ready_yet() -> bool:
                    st, _ = await statuses(core, "late")
                    return bool(st and st.state.running and not st.ready)

                await wait_for(not_ready_yet, within=10)

                async def ready() -> bool:
                    st, conditions = await statuses(core, "late")
                    return bool(st.started and st.ready and conditions["Ready"] == "True")

                await wait_for(ready, within=15)
                messages = await unhealthy(core, "late")
                assert messages and messages[0].startswith("Readiness probe failed: dial tcp 127.")
                assert messages[0].endswith(":7070: connect: connection refused")

        asyncio.run(run())


@pytest.mark.skipif(sys.platform != "linux", reason="the process runtime needs Linux")
def test_a_container_waits_for_its_secret(tmp_path: Any) -> None:
    with LocalCluster(runtime="process", allowed_commands=("sh",), data_dir=tmp_path) as cluster:

        async def run() -> None:
            async with ApiClient(client_configuration(cluster)) as api:
                core: Any = client.CoreV1Api(api)
                ref = {"secretKeyRef": {"name": "later", "key": "k"}}
                c = container("c", "sh", "-c", "sleep 100", env=[{"name": "K", "valueFrom": ref}])
                await core.create_namespaced_pod(NS, pod("waits", c))

                async def config_error() -> bool:
                    st, _ = await statuses(core, "waits")
                    waiting = st and st.state.waiting
                    return bool(waiting and waiting.reason == "CreateContainerConfigError")

                await wait_for(config_error, within=10)
                secret = {"metadata": {"name": "later"}, "stringData": {"k": "v"}}
                await core.create_namespaced_secret(NS, secret)

                async def running() -> bool:
                    st, _ = await statuses(core, "waits")
                    return bool(st and st.state.running)

                await wait_for(running, within=10)

        asyncio.run(run())
