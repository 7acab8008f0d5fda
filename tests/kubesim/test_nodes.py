"""core/v1 Nodes: the simulated kubelet's registered node, through real clients."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from kubesim import LocalCluster
from kubesim.apiserver.discovery import KUBE_VERSION
from tests.support.kubectl import KUBECTL

NODE = "local-node"


async def test_kubelet_registers_its_node(kube_client: ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    nodes = await core.list_node()
    assert [n.metadata.name for n in nodes.items] == [NODE]
    node = await core.read_node(NODE)
    labels = node.metadata.labels
    assert labels["kubernetes.io/hostname"] == NODE
    assert labels["kubernetes.io/os"] == "linux"
    assert labels["kubernetes.io/arch"]
    status = node.status
    assert set(status.capacity) >= {"cpu", "memory", "pods", "ephemeral-storage"}
    assert set(status.allocatable) >= {"cpu", "memory", "pods", "ephemeral-storage"}
    conditions = {c.type: c for c in status.conditions}
    assert conditions["Ready"].status == "True"
    assert conditions["Ready"].reason == "KubeletReady"
    assert conditions["Ready"].message == "kubelet is posting ready status"
    for kind in ("MemoryPressure", "DiskPressure", "PIDPressure"):
        assert conditions[kind].status == "False"
    assert {a.type for a in status.addresses} == {"InternalIP", "Hostname"}
    assert status.node_info.kubelet_version == KUBE_VERSION
    assert status.node_info.container_runtime_version.startswith("kubesim-stub://")
    assert status.node_info.operating_system == "linux"
    assert status.daemon_endpoints.kubelet_endpoint.port == 10250
    assert (await core.read_node_status(NODE)).status.node_info.kubelet_version == KUBE_VERSION
    by_field = await core.list_node(field_selector=f"metadata.name={NODE}")
    assert len(by_field.items) == 1
    assert (await core.list_node(field_selector="spec.unschedulable=true")).items == []


def node(name: str, pod_cidr: str | None = None) -> client.V1Node:
    return client.V1Node(
        metadata=client.V1ObjectMeta(name=name), spec=client.V1NodeSpec(pod_cidr=pod_cidr)
    )


async def test_patch_and_validate_node(kube_client: ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    patched = await core.patch_node(NODE, {"metadata": {"labels": {"team": "blue"}}})
    assert patched.metadata.labels["team"] == "blue"
    assert patched.status.conditions  # a spec write leaves status alone
    cordoned = await core.patch_node(NODE, {"spec": {"unschedulable": True}})
    assert cordoned.spec.unschedulable is True
    found = await core.list_node(field_selector="spec.unschedulable=true")
    assert [n.metadata.name for n in found.items] == [NODE]
    bad: dict[str, Any] = {"spec": {"taints": [{"key": "bad key!", "effect": "Sometimes"}]}}
    with pytest.raises(ApiException) as err:
        await core.patch_node(NODE, bad)
    assert err.value.status == 422
    assert "spec.taints[0].key" in str(err.value.body)
    assert "spec.taints[0].effect" in str(err.value.body)
    with pytest.raises(ApiException) as err:
        await core.create_node(node("n2", "10.0.0.0"))
    assert err.value.status == 422 and "spec.podCIDRs[0]" in str(err.value.body)
    with pytest.raises(ApiException) as err:
        await core.create_node(node("Bad_Name"))
    assert err.value.status == 422
    made = await core.create_node(node("n2", "10.0.0.0/24"))
    assert made.spec.pod_cidrs == ["10.0.0.0/24"]
    await core.delete_node("n2")


async def test_watch_sees_the_heartbeat(
    local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    core = client.CoreV1Api(kube_client)
    listed = await core.list_node()
    before = listed.items[0].status.conditions[-1].last_heartbeat_time
    assert local_cluster.kubelet is not None
    kubelet = local_cluster.kubelet
    await asyncio.sleep(1.1)  # heartbeats are stamped to the second
    local_cluster.call(kubelet.heartbeat)
    events = []
    async with watch.Watch().stream(
        core.list_node, resource_version=listed.metadata.resource_version, timeout_seconds=5
    ) as stream:
        async for event in stream:
            events.append(event)
            break
    assert events[0]["type"] == "MODIFIED"
    ready = events[0]["object"].status.conditions[-1]
    assert ready.type == "Ready" and ready.last_heartbeat_time > before
    assert ready.last_transition_time <= before


@pytest.mark.kubectl
@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine")
def test_kubectl_get_and_describe_nodes(local_cluster: LocalCluster, tmp_path: Path) -> None:
    def kubectl(*args: str) -> str:
        assert KUBECTL is not None
        env = {"KUBECONFIG": str(local_cluster.kubeconfig), "HOME": str(tmp_path)}
        proc = subprocess.run(
            [KUBECTL, "--cache-dir", str(tmp_path / "cache"), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    lines = kubectl("get", "nodes").splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert lines[1].split()[:3] == [NODE, "Ready", "<none>"]
    assert lines[1].split()[-1] == KUBE_VERSION
    wide = kubectl("get", "no", "-o", "wide").splitlines()
    assert wide[0].split() == [
        "NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE",
        "KERNEL-VERSION", "CONTAINER-RUNTIME",
    ]  # fmt: skip
    assert "127.0.0.1" in wide[1] and "<none>" in wide[1] and "kubesim-stub://" in wide[1]
    doc = json.loads(kubectl("get", "node", NODE, "-o", "json"))
    assert doc["kind"] == "Node" and doc["status"]["nodeInfo"]["kubeletVersion"] == KUBE_VERSION
    described = kubectl("describe", "node", NODE)
    assert f"Name:               {NODE}" in described
    assert "KubeletReady" in described and "kubelet is posting ready status" in described
    assert "Capacity:" in described and "Allocatable:" in described
