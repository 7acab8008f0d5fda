"""The simulated node (scheduler, kubelet, PVC binder) and the stub runtime, over `Api`."""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

from kubesim.apiserver.api import Api
from kubesim.apiserver.journal import Journal
from kubesim.apiserver.store import Store
from kubesim.node.kubelet import ContainerResult, Kubelet, qos_class
from kubesim.node.pod_ips import POD_IPS
from kubesim.registry.errors import ApiError
from kubesim.registry.resources import Registry, ResourceType
from kubesim.runtimes.stub import StubRuntime

T = TypeVar("T")
NS = "default"
PORT = 8888


async def until(check: Callable[[], T | None], within: float = 5.0) -> T:
    """Poll a synchronous check until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {within}s; last value {value!r}")
        await asyncio.sleep(0.02)


class Node:
    """An Api with a running kubelet, and shortcuts for the tests."""

    def __init__(self, kubelet: Kubelet) -> None:
        assert isinstance(kubelet.runtime, StubRuntime)
        self.api, self.kubelet, self.runtime = kubelet.api, kubelet, kubelet.runtime
        self.pods = self.rt("pods")
        self.pvcs = self.rt("persistentvolumeclaims")

    def rt(self, plural: str) -> ResourceType:
        rt = self.api.registry.get("", "v1", plural)
        assert rt is not None
        return rt

    def pod(self, name: str) -> dict[str, Any] | None:
        return self.api.store.get(("", "pods"), NS, name)

    def create_pod(self, name: str, **spec: Any) -> dict[str, Any]:
        body = {
            "metadata": {"name": name},
            "spec": {
                "containers": [
                    {
                        "name": "notebook",
                        "image": "quay.io/jupyter/base-notebook:2024",
                        "ports": [{"containerPort": PORT, "name": "notebook-port"}],
                    }
                ],
                **spec,
            },
        }
        return self.api.create(self.pods, NS, body)

    async def running(self, name: str) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            pod = self.pod(name)
            status = (pod or {}).get("status") or {}
            ready = [c for c in status.get("conditions") or [] if c["type"] == "Ready"]
            running = status.get("phase") == "Running" and ready and ready[0]["status"] == "True"
            return pod if running else None

        return await until(check)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.api.store.items(("", "events"), NS)
            if e["involvedObject"]["name"] == name
        ]

    def reasons(self, name: str) -> list[str]:
        return [e["reason"] for e in self.events(name)]


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    kubelet = Kubelet(Api(Store(), Registry()), StubRuntime())
    await kubelet.start()
    yield Node(kubelet)
    await kubelet.stop()


async def http_get(ip: str, path: str = "/") -> tuple[int, Any]:
    timeout = aiohttp.ClientTimeout(total=2)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(f"http://{ip}:{PORT}{path}") as response,
    ):
        return response.status, await response.json()


async def collect(lines: AsyncIterator[str]) -> list[str]:
    return [line async for line in lines]


# -- running ----------------------------------------------------------------------------------


async def test_pod_runs_with_real_looking_status(node: Node) -> None:
    resources = {"limits": {"cpu": "500m", "memory": "1Gi"}}
    node.create_pod(
        "p1",
        containers=[
            {
                "name": "notebook",
                "image": "jupyter/base-notebook:latest",
                "resources": resources,
                "ports": [{"containerPort": PORT}],
            }
        ],
    )
    pod = await node.running("p1")
    status = pod["status"]
    assert pod["spec"]["nodeName"] == "local-node"
    ip = ipaddress.IPv4Address(status["podIP"])
    assert ip in ipaddress.IPv4Network("127.0.0.0/8") and str(ip) != "127.0.0.1"
    assert status["podIPs"] == [{"ip": status["podIP"]}]
    assert status["hostIP"] == "127.0.0.1" and status["hostIPs"] == [{"ip": "127.0.0.1"}]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", status["startTime"])
    assert status["qosClass"] == "Guaranteed"
    conditions = {c["type"]: c for c in status["conditions"]}
    assert set(conditions) == {
        "PodReadyToStartContainers",
        "Initialized",
        "ContainersReady",
        "Ready",
        "PodScheduled",
    }
    for cond in conditions.values():
        assert cond["status"] == "True" and cond["lastTransitionTime"], cond
    [cs] = status["containerStatuses"]
    assert cs["name"] == "notebook" and cs["image"] == "jupyter/base-notebook:latest"
    assert cs["imageID"].startswith("docker.io/jupyter/base-notebook@sha256:")
    assert re.fullmatch(r"stub://[0-9a-f]{64}", cs["containerID"])
    assert cs["ready"] is True and cs["started"] is True and cs["restartCount"] == 0
    assert cs["state"]["running"]["startedAt"]


async def test_port_answers_http(node: Node) -> None:
    node.create_pod("web")
    pod = await node.running("web")
    status, body = await http_get(pod["status"]["podIP"], "/user/alice/api")
    assert status == 200
    assert body["pod"] == "default/web" and body["path"] == "/user/alice/api"


async def test_events_of_a_started_pod(node: Node) -> None:
    node.create_pod("ev")
    pod = await node.running("ev")
    events = {e["reason"]: e for e in node.events("ev")}
    assert {"Scheduled", "Pulling", "Pulled", "Created", "Started"} <= set(events)
    image = "quay.io/jupyter/base-notebook:2024"
    scheduled = events["Scheduled"]
    assert scheduled["message"] == "Successfully assigned default/ev to local-node"
    assert scheduled["source"]["component"] == "default-scheduler"
    assert scheduled["reportingComponent"] == "default-scheduler"
    assert events["Pulling"]["message"] == f'Pulling image "{image}"'
    assert events["Pulled"]["message"] == (
        f'Successfully pulled image "{image}" in 0s (0s including waiting). Image size: 0 bytes.'
    )
    assert events["Created"]["message"] == "Created container: notebook"
    assert events["Started"]["message"] == "Started container notebook"
    started = events["Started"]
    assert started["involvedObject"] == {
        "kind": "Pod",
        "namespace": NS,
        "name": "ev",
        "uid": pod["metadata"]["uid"],
        "apiVersion": "v1",
        "resourceVersion": started["involvedObject"]["resourceVersion"],
        "fieldPath": "spec.containers{notebook}",
    }
    assert started["involvedObject"]["resourceVersion"]
    assert started["type"] == "Normal" and started["count"] == 1
    assert started["source"] == {"component": "kubelet", "host": "local-node"}
    assert started["reportingComponent"] == "kubelet"
    assert started["reportingInstance"] == "local-node"
    assert started["firstTimestamp"] and started["lastTimestamp"]
    assert re.fullmatch(r"ev\.[0-9a-f]+", started["metadata"]["name"])


async def test_pods_get_distinct_ips(node: Node) -> None:
    node.create_pod("a")
    node.create_pod("b")
    a, b = await node.running("a"), await node.running("b")
    assert a["status"]["podIP"] != b["status"]["podIP"]
    for pod in (a, b):
        assert (await http_get(pod["status"]["podIP"]))[0] == 200


async def test_ip_of_a_stored_pod_is_not_reused(node: Node) -> None:
    # A finished pod (e.g. loaded from disk) still holds the IP the allocator would pick next.
    upcoming = POD_IPS.upcoming
    node.create_pod("done")
    await node.running("done")
    done = node.pod("done")
    assert done is not None
    done = {**done, "status": {**done["status"], "phase": "Succeeded", "podIP": upcoming}}
    node.api.system_write(node.pods, done)
    node.create_pod("fresh")
    fresh = await node.running("fresh")
    assert fresh["status"]["podIP"] not in (upcoming, "127.0.0.1")


# -- scheduling and volumes -------------------------------------------------------------------


async def test_missing_pvc_keeps_pod_pending_until_it_exists(node: Node) -> None:
    volumes = [{"name": "home", "persistentVolumeClaim": {"claimName": "claim-alice"}}]
    node.create_pod("needs-pvc", volumes=volumes)

    def unschedulable() -> dict[str, Any] | None:
        pod = node.pod("needs-pvc")
        conds = [
            c
            for c in (pod or {}).get("status", {}).get("conditions", [])
            if c["type"] == "PodScheduled"
        ]
        return conds[0] if conds and conds[0]["status"] == "False" else None

    cond = await until(unschedulable)
    assert cond["reason"] == "Unschedulable"
    assert cond["message"].startswith(
        '0/1 nodes are available: persistentvolumeclaim "claim-alice" not found.'
    )
    pod = node.pod("needs-pvc")
    assert pod is not None and pod["status"]["phase"] == "Pending"
    assert not pod["spec"].get("nodeName")
    [failed] = [e for e in node.events("needs-pvc") if e["reason"] == "FailedScheduling"]
    assert failed["type"] == "Warning" and failed["message"] == cond["message"]
    assert failed["reportingComponent"] == "default-scheduler"

    node.api.create(
        node.pvcs,
        NS,
        {
            "metadata": {"name": "claim-alice"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    pod = await node.running("needs-pvc")
    assert pod["spec"]["nodeName"] == "local-node"
    assert "Scheduled" in node.reasons("needs-pvc")


async def test_pvc_is_bound(node: Node) -> None:
    created = node.api.create(
        node.pvcs,
        NS,
        {
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "5Gi"}},
            },
        },
    )

    def bound() -> dict[str, Any] | None:
        pvc = node.api.store.get(("", "persistentvolumeclaims"), NS, "data")
        return pvc if pvc and pvc["status"].get("phase") == "Bound" else None

    pvc = await until(bound)
    assert pvc["spec"]["volumeName"] == f"pvc-{created['metadata']['uid']}"
    assert pvc["status"]["accessModes"] == ["ReadWriteOnce"]
    assert pvc["status"]["capacity"] == {"storage": "5Gi"}
    annotations = pvc["metadata"]["annotations"]
    assert annotations["pv.kubernetes.io/bind-completed"] == "yes"
    assert annotations["pv.kubernetes.io/bound-by-controller"] == "yes"
    assert annotations["volume.kubernetes.io/storage-provisioner"]


# -- deletion ---------------------------------------------------------------------------------


async def test_graceful_delete_stops_and_removes(node: Node) -> None:
    node.create_pod("bye")
    pod = await node.running("bye")
    ip = pod["status"]["podIP"]
    deleted = node.api.delete(node.pods, NS, "bye")
    assert deleted["metadata"]["deletionTimestamp"]  # graceful: marked, not yet gone
    await until(lambda: node.pod("bye") is None)
    killing = [e for e in node.events("bye") if e["reason"] == "Killing"]
    assert [e["message"] for e in killing] == ["Stopping container notebook"]
    with pytest.raises(aiohttp.ClientConnectorError):
        await http_get(ip)


async def test_delete_with_grace_zero_stops_runtime(node: Node) -> None:
    node.create_pod("now")
    ip = (await node.running("now"))["status"]["podIP"]
    node.api.delete(node.pods, NS, "now", grace_period=0)
    assert node.pod("now") is None  # removed at once by the API

    async def refused() -> bool:
        try:
            await http_get(ip)
        except aiohttp.ClientConnectorError:
            return True
        return False

    deadline = asyncio.get_running_loop().time() + 5
    while not await refused():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)


async def test_unscheduled_pod_is_deleted_at_once(node: Node) -> None:
    volumes = [{"name": "v", "persistentVolumeClaim": {"claimName": "nope"}}]
    node.create_pod("stuck", volumes=volumes)
    await until(lambda: "FailedScheduling" in node.reasons("stuck"))
    node.api.delete(node.pods, NS, "stuck")
    assert node.pod("stuck") is None


# -- logs -------------------------------------------------------------------------------------


async def test_logs_show_start_and_requests(node: Node) -> None:
    node.create_pod("talk")
    pod = await node.running("talk")
    ip = pod["status"]["podIP"]
    await http_get(ip, "/one")
    await http_get(ip, "/two")
    lines = await collect(node.kubelet.logs(pod, "notebook"))
    assert lines[0].startswith("stub container notebook started")
    assert '"GET /one HTTP/1.1" 200' in lines[1] and lines[1].endswith("\n")
    assert '"GET /two HTTP/1.1" 200' in lines[2] and len(lines) == 3

    assert await collect(node.kubelet.logs(pod, "notebook", tail_lines=1)) == [lines[2]]
    stamped = await collect(node.kubelet.logs(pod, "notebook", timestamps=True, tail_lines=1))
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z " + re.escape(lines[2]), stamped[0]
    )


async def test_follow_streams_until_the_pod_stops(node: Node) -> None:
    node.create_pod("tail")
    pod = await node.running("tail")
    stream = node.kubelet.logs(pod, "notebook", follow=True, tail_lines=0)
    received: list[str] = []

    async def read() -> None:
        async for line in stream:
            received.append(line)

    reader = asyncio.create_task(read())
    await http_get(pod["status"]["podIP"], "/later")
    await until(lambda: received)
    assert "/later" in received[0]
    node.api.delete(node.pods, NS, "tail")
    await asyncio.wait_for(reader, 5)  # the stream ends when the container stops


async def test_logs_of_a_container_that_has_not_started(node: Node) -> None:
    pod = node.create_pod("early")
    # Unscheduled: the API answers with no lines.
    assert await collect(node.kubelet.logs(pod, "notebook")) == []
    pod = {**pod, "spec": {**pod["spec"], "nodeName": "local-node"}, "status": {"phase": "Pending"}}
    with pytest.raises(ApiError) as info:
        node.kubelet.logs(pod, "notebook")
    assert info.value.code == 400
    assert info.value.message == (
        'container "notebook" in pod "early" is waiting to start: ContainerCreating'
    )
    with pytest.raises(ApiError, match="previous terminated container"):
        node.kubelet.logs(await node.running("early"), "notebook", previous=True)


# -- exits, failures, restart -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "code", "phase"),
    [("Never", 1, "Failed"), ("OnFailure", 0, "Succeeded"), ("Never", 0, "Succeeded")],
)
async def test_container_exit_follows_restart_policy(
    node: Node, policy: str, code: int, phase: str
) -> None:
    node.create_pod("job", restartPolicy=policy)
    pod = await node.running("job")
    await node.runtime.crash(pod, "notebook", exit_code=code)

    def finished() -> dict[str, Any] | None:
        p = node.pod("job")
        return p if p and p["status"]["phase"] == phase else None

    pod = await until(finished)
    [cs] = pod["status"]["containerStatuses"]
    assert cs["state"]["terminated"]["exitCode"] == code
    assert cs["state"]["terminated"]["reason"] == ("Completed" if code == 0 else "Error")
    assert cs["ready"] is False
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"


async def test_crashed_container_is_restarted_with_always(node: Node) -> None:
    node.create_pod("svc")
    pod = await node.running("svc")
    await node.runtime.crash(pod, "notebook", exit_code=2)

    def restarted() -> dict[str, Any] | None:
        p = node.pod("svc")
        cs = p["status"]["containerStatuses"][0] if p else {}
        return p if cs.get("restartCount") == 1 and "running" in cs["state"] else None

    pod = await until(restarted)
    cs = pod["status"]["containerStatuses"][0]
    assert cs["lastState"]["terminated"]["exitCode"] == 2
    assert pod["status"]["phase"] == "Running"
    assert (await http_get(pod["status"]["podIP"]))[0] == 200
    previous = await collect(node.kubelet.logs(pod, "notebook", previous=True))
    assert previous[-1] == "stub container notebook exited with code 2\n"


async def test_container_that_cannot_listen_fails_the_pod(node: Node) -> None:
    twice = [{"containerPort": PORT}, {"containerPort": PORT}]
    node.create_pod(
        "clash",
        restartPolicy="Never",
        containers=[{"name": "notebook", "image": "busybox", "ports": twice}],
    )

    def failed() -> dict[str, Any] | None:
        p = node.pod("clash")
        return p if p and p["status"]["phase"] == "Failed" else None

    pod = await until(failed)
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 1
    lines = await collect(node.kubelet.logs(pod, "notebook"))
    assert "cannot listen on" in lines[-1]


async def test_init_containers_complete_first(node: Node) -> None:
    node.create_pod("init", initContainers=[{"name": "setup", "image": "busybox"}])
    pod = await node.running("init")
    [init] = pod["status"]["initContainerStatuses"]
    assert init["state"]["terminated"]["exitCode"] == 0
    assert init["state"]["terminated"]["reason"] == "Completed"
    initialized = next(c for c in pod["status"]["conditions"] if c["type"] == "Initialized")
    assert initialized["status"] == "True"
    fields = {e["involvedObject"].get("fieldPath") for e in node.events("init")}
    assert "spec.initContainers{setup}" in fields


class FailingRuntime(StubRuntime):
    async def start_pod(self, pod: dict[str, Any], pod_ip: str) -> dict[str, ContainerResult]:
        return {"notebook": ContainerResult.waiting("ErrImagePull", "pull access denied")}


async def test_runtime_failure_is_reported() -> None:
    api = Api(Store(), Registry())
    kubelet = Kubelet(api, FailingRuntime())
    await kubelet.start()
    try:
        node = Node(kubelet)
        node.create_pod("bad")

        def failed() -> list[dict[str, Any]]:
            return [e for e in node.events("bad") if e["reason"] == "Failed"]

        [event] = await until(failed)
        assert event["type"] == "Warning" and "pull access denied" in event["message"]
        pod = await until(lambda: (p := node.pod("bad")) and p["status"].get("podIP") and p)
        assert pod["status"]["phase"] == "Pending"
        waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
        assert waiting["reason"] == "ErrImagePull"
        with pytest.raises(ApiError, match="is waiting to start: image can't be pulled"):
            kubelet.logs(pod, "notebook")
    finally:
        await kubelet.stop()


async def test_restart_from_disk_resumes_the_node(tmp_path: Path) -> None:
    store = Store(journal=Journal(tmp_path, fsync=False))
    first = Kubelet(Api(store, Registry()), StubRuntime())
    await first.start()
    node = Node(first)
    node.create_pod("keep")
    ip = (await node.running("keep"))["status"]["podIP"]
    node.create_pod("going")
    await node.running("going")
    await first.stop()
    with pytest.raises(aiohttp.ClientConnectorError):
        await http_get(ip)  # the node is down; the pod object still says Running
    node.api.delete(node.pods, NS, "going")  # marked for deletion while the node is down
    assert node.pod("going") is not None
    node.create_pod("new")  # created while the node is down
    store.close()

    api = Api(Store(journal=Journal(tmp_path, fsync=False)), Registry())
    second = Kubelet(api, StubRuntime())
    await second.start()
    node = Node(second)
    try:
        assert (await until_ok(ip))[0] == 200  # the same pod IP serves again
        keep = node.pod("keep")
        assert keep is not None and keep["status"]["podIP"] == ip
        assert keep["status"]["phase"] == "Running"
        await until(lambda: node.pod("going") is None)
        new = await node.running("new")
        assert new["status"]["podIP"] not in (ip, "127.0.0.1")
    finally:
        await second.stop()
        api.store.close()


async def test_pod_with_finalizer_waits_for_it_after_stopping(node: Node) -> None:
    pod = node.create_pod("held")
    node.api.update(
        node.pods,
        NS,
        "held",
        {**pod, "metadata": {**pod["metadata"], "finalizers": ["example.com/hold"]}},
    )
    await node.running("held")
    node.api.delete(node.pods, NS, "held")

    def stopped() -> dict[str, Any] | None:
        p = node.pod("held")
        return p if p and p["status"]["phase"] == "Succeeded" else None

    held = await until(stopped)
    assert held["metadata"]["deletionGracePeriodSeconds"] == 0
    assert "terminated" in held["status"]["containerStatuses"][0]["state"]
    node.api.update(
        node.pods, NS, "held", {**held, "metadata": {**held["metadata"], "finalizers": []}}
    )
    assert node.pod("held") is None  # the last finalizer gone: removed by the API


async def until_ok(ip: str) -> tuple[int, Any]:
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        try:
            return await http_get(ip)
        except aiohttp.ClientConnectorError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.02)


def test_qos_class() -> None:
    def spec(*resources: dict[str, Any]) -> dict[str, Any]:
        return {"containers": [{"name": f"c{i}", "resources": r} for i, r in enumerate(resources)]}

    assert qos_class(spec({})) == "BestEffort"
    assert qos_class(spec({"requests": {"cpu": "100m"}})) == "Burstable"
    same = {"cpu": "1", "memory": "1Gi"}
    assert qos_class(spec({"limits": same})) == "Guaranteed"
    assert (
        qos_class(spec({"limits": same, "requests": {"cpu": "1000m", "memory": "1024Mi"}}))
        == "Guaranteed"
    )
    assert qos_class(spec({"limits": same, "requests": {"cpu": "500m"}})) == "Burstable"
    assert qos_class(spec({"limits": same}, {})) == "Burstable"
    assert qos_class(spec({"limits": {"cpu": "1"}})) == "Burstable"
