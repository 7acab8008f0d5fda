"""End to end: vanilla KubeSpawner in a real JupyterHub, spawning into the embedded cluster.

Everything the tests check is what reached the cluster (read back through the Kubernetes API) or
what the Hub reports through its REST API and proxy; neither the spawner nor the cluster is mocked.
"""

from __future__ import annotations

import asyncio
import ipaddress
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import watch
from kubernetes_asyncio.client import CoreV1Api, V1Pod
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException
from kubespawner import KubeSpawner
from kubespawner import __version__ as kubespawner_version

from kubesim import LocalCluster
from tests.support.hub import IMAGE, NAMESPACE, RunningHub, StartHub

pytestmark = pytest.mark.hub

USER = "alice"
POD = f"jupyter-{USER}"  # KubeSpawner's default pod_name_template, jupyter-{user_server}


async def read_pod(kube_client: ApiClient, name: str = POD) -> V1Pod:
    return await CoreV1Api(kube_client).read_namespaced_pod(name, NAMESPACE)


async def spawn(hub: RunningHub, user: str = USER) -> dict[str, Any]:
    """Create `user`, start their server through the REST API and wait until the Hub says ready."""
    await hub.create_user(user)
    assert await hub.start_server(user) == 202  # slow_spawn_timeout=0: pending at once
    return await hub.wait_ready(user)


async def fetch_through_proxy(hub: RunningHub, path: str) -> dict[str, Any]:
    async with hub.http.get(hub.url(path), allow_redirects=False) as r:
        assert r.status == 200, await r.text()
        body: dict[str, Any] = await r.json()
        return body


async def test_rest_start_creates_pod_in_cluster(
    hub_factory: StartHub, local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    hub = await hub_factory()
    server = await spawn(hub)

    assert server["ready"] is True
    assert server["pending"] is None
    assert server["url"] == f"/user/{USER}/"
    spawner = hub.user(USER).spawner
    assert type(spawner) is KubeSpawner
    assert spawner.pod_name == POD

    pod = await read_pod(kube_client)
    labels = pod.metadata.labels
    assert labels["component"] == "singleuser-server"
    assert labels["hub.jupyter.org/username"] == USER
    assert labels["app.kubernetes.io/component"] == "singleuser-server"
    assert labels["hub.jupyter.org/servername"] == ""  # the default server
    assert pod.metadata.annotations["hub.jupyter.org/username"] == USER
    assert pod.metadata.annotations["hub.jupyter.org/kubespawner-version"] == kubespawner_version

    [container] = pod.spec.containers
    assert container.name == "notebook"
    assert container.image == IMAGE
    assert container.args == ["jupyterhub-singleuser"]
    assert [(p.name, p.container_port) for p in container.ports] == [("notebook-port", 8888)]
    # cpu_limit=1.0, mem_limit="1G" (1024**3 bytes) are sent as JSON numbers; a real API server
    # answers canonical quantity strings ("1", "1073741824"), so compare by value.
    limits = container.resources.limits
    assert (Decimal(limits["cpu"]), int(limits["memory"])) == (Decimal(1), 1024**3)
    env = {e.name: e.value for e in container.env}
    assert env["JUPYTERHUB_USER"] == USER
    assert env["JUPYTERHUB_SERVICE_PREFIX"] == f"/user/{USER}/"
    assert env["JUPYTER_IMAGE"] == IMAGE
    assert env["JUPYTERHUB_API_TOKEN"]

    # The kubelet ran it, and the Hub's server record is the pod's address.
    assert pod.status.phase == "Running"
    assert pod.spec.node_name
    assert ipaddress.ip_address(pod.status.pod_ip) in ipaddress.ip_network("127.0.0.0/8")
    assert all(cs.ready for cs in pod.status.container_statuses)
    assert (spawner.server.ip, spawner.server.port) == (pod.status.pod_ip, 8888)
    assert local_cluster.requests.count(verb="create", resource="pods") == 1


async def test_progress_stream_relays_kubernetes_events(
    hub_factory: StartHub, local_cluster: LocalCluster
) -> None:
    hub = await hub_factory()
    # KubeSpawner relays the pod's events by polling its event reflector once a second while the
    # spawn is pending, and the stub kubelet has the pod Running within ~0.1 s: a spawn that
    # quick ends before the first poll. Slow the first pod watch (KubeSpawner waits for Running
    # through it) so the spawn stays pending for a poll, as it would while a real node pulls.
    local_cluster.faults.delay(1.5, verb="watch", path=r"/namespaces/default/pods$", times=1)
    await hub.create_user(USER)
    assert await hub.start_server(USER) == 202

    events = await hub.progress(USER)

    k8s = [e for e in events if "raw_event" in e]
    reasons = [e["raw_event"]["reason"] for e in k8s]
    assert "Scheduled" in reasons, events
    assert "Started" in reasons, events
    assert reasons.index("Scheduled") < reasons.index("Started")
    for event in k8s:
        raw = event["raw_event"]
        assert raw["involvedObject"]["kind"] == "Pod"
        assert raw["involvedObject"]["name"] == POD
        # KubeSpawner's message format: "<timestamp> [<type>] <message>"
        assert f"[{raw['type']}] {raw['message']}" in event["message"]
    scheduled = k8s[reasons.index("Scheduled")]["raw_event"]
    assert f"{NAMESPACE}/{POD}" in scheduled["message"]
    progress = [e["progress"] for e in k8s]
    assert progress == sorted(progress) and 0 < progress[-1] < 100

    final = events[-1]
    assert final["ready"] is True
    assert final["progress"] == 100
    assert final["url"] == f"/user/{USER}/"
    assert not any(e.get("failed") for e in events)


async def test_hub_reaches_server_on_pod_ip(hub_factory: StartHub, kube_client: ApiClient) -> None:
    hub = await hub_factory()
    await spawn(hub)
    user = hub.user(USER)
    assert user.running
    pod = await read_pod(kube_client)
    target = f"http://{pod.status.pod_ip}:8888"
    assert user.spawner.server.url == f"{target}/user/{USER}/"

    # The proxy routes the user's prefix to the pod IP ...
    routes = await hub.app.proxy.get_all_routes()
    assert routes[f"/user/{USER}/"]["target"] == target
    # ... and a request through the proxy is answered by the pod's (stub) container.
    body = await fetch_through_proxy(hub, f"user/{USER}/api/status")
    assert body == {
        "stub": True,
        "pod": f"{NAMESPACE}/{POD}",
        "container": "notebook",
        "path": f"/user/{USER}/api/status",
    }


async def test_stop_deletes_pod_gracefully(
    hub_factory: StartHub, local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    hub = await hub_factory()
    await spawn(hub)
    pod = await read_pod(kube_client)
    pod_url = f"http://{pod.status.pod_ip}:8888/"
    seen: list[tuple[str, dict[str, Any]]] = []

    async def follow_pod() -> None:
        w = watch.Watch()
        async with w.stream(
            CoreV1Api(kube_client).list_namespaced_pod,
            NAMESPACE,
            field_selector=f"metadata.name={POD}",
            resource_version=pod.metadata.resource_version,
            timeout_seconds=20,
        ) as stream:
            async for event in stream:
                seen.append((event["type"], event["raw_object"]))
                if event["type"] == "DELETED":
                    return

    watcher = asyncio.create_task(follow_pod())
    await asyncio.sleep(0.2)  # let the watch open before the delete

    await hub.api(
        "DELETE", f"users/{USER}/server", expect=(204,)
    )  # stopped within slow_stop_timeout
    await asyncio.wait_for(watcher, 10)

    # Graceful deletion: first marked (deletionTimestamp, the grace period KubeSpawner asked
    # for), then removed once the kubelet has stopped the containers.
    types = [t for t, _ in seen]
    assert types[-1] == "DELETED"
    marked = [
        obj for t, obj in seen if t == "MODIFIED" and obj["metadata"].get("deletionTimestamp")
    ]
    assert marked, types
    assert marked[0]["metadata"]["deletionGracePeriodSeconds"] == 1
    assert seen[-1][1]["metadata"]["uid"] == pod.metadata.uid
    deletes = [
        r for r in local_cluster.requests.entries if r.verb == "delete" and r.resource == "pods"
    ]
    assert [(r.path, r.status) for r in deletes] == [
        (f"/api/v1/namespaces/{NAMESPACE}/pods/{POD}", 200)
    ]

    with pytest.raises(ApiException) as gone:
        await read_pod(kube_client)
    assert gone.value.status == 404
    assert not hub.user(USER).running
    assert await hub.server_model(USER) is None
    # The container is stopped: nothing answers on the pod IP any more.
    with pytest.raises(aiohttp.ClientConnectionError):
        async with hub.http.get(pod_url, timeout=aiohttp.ClientTimeout(total=2)):
            pass


async def test_hub_restart_finds_running_server(
    hub_factory: StartHub, sqlite_url: str, local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    hub1 = await hub_factory(db_url=sqlite_url, cleanup_servers=False)
    await spawn(hub1)
    before = await read_pod(kube_client)
    spawner1 = hub1.user(USER).spawner

    # Hub #1 goes away without stopping servers; stop() also resets KubeSpawner's class-wide
    # reflectors and client config, so hub #2 starts from scratch like a new process.
    await hub1.stop()
    assert KubeSpawner.reflectors == {}
    still = await read_pod(kube_client)
    assert still.metadata.uid == before.metadata.uid
    assert still.metadata.deletion_timestamp is None

    hub2 = await hub_factory(db_url=sqlite_url, fresh_db=False)
    user = hub2.user(USER)
    assert user.running
    assert user.spawner is not spawner1
    assert user.spawner.pod_name == POD
    assert await user.spawner.poll() is None
    server = await hub2.server_model(USER)
    assert server is not None and server["ready"] is True

    # The same pod is serving: not recreated, and hub #2's proxy routes to it.
    after = await read_pod(kube_client)
    assert after.metadata.uid == before.metadata.uid
    assert after.status.pod_ip == before.status.pod_ip
    assert user.spawner.server.ip == before.status.pod_ip
    assert local_cluster.requests.count(verb="create", resource="pods") == 1
    assert local_cluster.requests.count(verb="delete", resource="pods") == 0
    body = await fetch_through_proxy(hub2, f"user/{USER}/api/status")
    assert body["pod"] == f"{NAMESPACE}/{POD}"
