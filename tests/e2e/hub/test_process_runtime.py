"""End to end with real single-user servers: WorkspaceSpawner, a real JupyterHub, and the
embedded cluster's process runtime running `jupyterhub-singleuser` for each pod.

What is checked is what a user gets: a Jupyter server reached through the Hub's proxy, whose
files in the workspace directory are the workspace PVC's directory, shared between users, and
whose data source is a read-only folder under data/ in its file browser.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from kubesim import LocalCluster
from kubesim.runtimes.process import ProcessRuntime
from tests.support.hub import NAMESPACE, RunningHub, StartHub
from tests.support.objects import bind, datasource, post_start, start_hub, workspace

pytestmark = [
    pytest.mark.hub,
    pytest.mark.skipif(sys.platform != "linux", reason="the process runtime needs Linux"),
]


@pytest.fixture
def local_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """This module's cluster runs real processes (kubesim.testing's does not)."""
    with LocalCluster(data_dir=tmp_path / "cluster", runtime="process") as cluster:
        yield cluster


def server_pids(runtime: ProcessRuntime, user: str) -> list[int]:
    """The processes podinit started for `user`'s pods (the servers themselves)."""
    pids = []
    for pod in runtime._pods.values():
        if user in pod.name:
            for c in pod.containers.values():
                assert c.process is not None
                pids += [
                    int(p)
                    for p in Path(f"/proc/{c.process.pid}/task/{c.process.pid}/children")
                    .read_text()
                    .split()
                ]
    return pids


def mountinfo(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/mountinfo").read_text().splitlines()


def claims_dir(cluster: LocalCluster) -> Path:
    assert cluster.kubelet is not None and isinstance(cluster.kubelet.runtime, ProcessRuntime)
    return cluster.kubelet.runtime.claims_dir


async def contents(
    hub: RunningHub, user: str, path: str, method: str = "GET", **kw: Any
) -> tuple[int, dict[str, Any]]:
    """The single-user server's contents API, through the proxy, as the admin service."""
    url = hub.url("user", user, "api/contents", path)
    async with hub.http.request(method, url, headers=hub.headers, **kw) as r:
        body: dict[str, Any] = (
            await r.json(content_type=None) if r.content_type == "application/json" else {}
        )
        return r.status, body


@pytest.mark.usefixtures("crds")
async def test_real_servers_share_the_workspace_and_cannot_write_data(
    hub_factory: StartHub, local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    await workspace(kube_client, "shared", jupyter={"image": "quay.io/jupyter/base-notebook"})
    await bind(kube_client, "alice-shared", "shared", "alice")
    await bind(kube_client, "bob-shared", "shared", "bob")
    await datasource(kube_client, "census", "shared", type="files")
    census_pvc = await client.CoreV1Api(kube_client).read_namespaced_persistent_volume_claim(
        "datasource-census", NAMESPACE
    )
    for _ in range(100):  # the claim binds a moment after it is created
        if census_pvc.spec.volume_name:
            break
        await asyncio.sleep(0.05)
        census_pvc = await client.CoreV1Api(kube_client).read_namespaced_persistent_volume_claim(
            "datasource-census", NAMESPACE
        )
    census = claims_dir(local_cluster) / census_pvc.spec.volume_name / "counts.csv"
    census.parent.mkdir(parents=True, exist_ok=True)
    census.write_text("region,count\nnorth,3\n")
    hub = await start_hub(
        hub_factory, uid=1000, gid=100, fs_gid=100, working_dir="/home/jovyan", start_timeout=60
    )
    for user in ("alice", "bob"):
        await hub.create_user(user)
    status, text = await post_start(hub, "alice", {"profile": "shared"})
    assert status in (201, 202), text
    await hub.wait_ready("alice", 60)

    # Alice writes through her server; the file is in the workspace PVC's directory.
    status, body = await contents(
        hub, "alice", "shared/notes.txt", "PUT",
        json={"type": "file", "format": "text", "content": "from alice"},
    )  # fmt: skip
    assert status == 201, body
    pvc = await client.CoreV1Api(kube_client).read_namespaced_persistent_volume_claim(
        "workspace-shared", NAMESPACE
    )
    on_disk = claims_dir(local_cluster) / pvc.spec.volume_name / "notes.txt"
    assert on_disk.read_text() == "from alice"

    # Bob's server, another process on another pod IP, sees it.
    status, text = await post_start(hub, "bob", {"profile": "shared"})
    assert status in (201, 202), text
    await hub.wait_ready("bob", 60)
    status, body = await contents(hub, "bob", "shared/notes.txt")
    assert (status, body.get("content")) == (200, "from alice")
    pods = await client.CoreV1Api(kube_client).list_namespaced_pod(NAMESPACE)
    ips = {p.metadata.name: p.status.pod_ip for p in pods.items}
    assert len(set(ips.values())) == 2, ips

    # The data source is mounted read-only in the server's own mount namespace.
    runtime = local_cluster.kubelet.runtime if local_cluster.kubelet else None
    assert isinstance(runtime, ProcessRuntime)
    server_pid = server_pids(runtime, "alice")[0]
    mounts = mountinfo(server_pid)
    data = [m for m in mounts if m.split()[4].endswith("/home/jovyan/data/census")]
    home = [m for m in mounts if m.split()[4].endswith("/home/jovyan/shared")]
    if runtime.isolation == "namespace":
        # Each mount may be listed under the host's path to the pod's root and under the
        # container's own: every listing must agree.
        assert data and all("ro" in m.split()[5].split(",") for m in data), data
        assert home and all("rw" in m.split()[5].split(",") for m in home), home
    else:
        assert not data, "links mode has no mounts"

    # The server's own file browser (its contents API) shows the data under data/, beside the
    # workspace's folder; a data file opens in place, and is read-only where the kernel says so.
    status, root = await contents(hub, "alice", "")
    assert status == 200, root
    assert {(c["name"], c["type"]) for c in root["content"]} >= {
        ("shared", "directory"), ("data", "directory")
    }  # fmt: skip
    status, folder = await contents(hub, "alice", "data")
    assert [c["name"] for c in folder["content"]] == ["census"]
    status, body = await contents(hub, "alice", "data/census/counts.csv")
    assert (status, body.get("content")) == (200, "region,count\nnorth,3\n"), body
    status, body = await contents(
        hub, "alice", "data/census/counts.csv", "PUT",
        json={"type": "file", "format": "text", "content": "changed"},
    )  # fmt: skip
    if runtime.isolation == "namespace":
        # The server asks the kernel (access(2) answers EROFS), so it refuses the save itself.
        assert (status, body.get("message")) == (
            403, "Permission denied: data/census/counts.csv"
        ), body  # fmt: skip
        status, model = await contents(hub, "alice", "data/census/counts.csv?content=0")
        assert model["writable"] is False, model
    assert census.read_text() == "region,count\nnorth,3\n"  # never changed on disk either way
    # Nothing reached the workspace's PVC but what alice saved there.
    assert sorted(p.name for p in on_disk.parent.iterdir()) == ["notes.txt"]

    # Stopping Alice's server ends its process: the pod goes, and so does its port.
    async with hub.http.delete(hub.url("hub/api/users/alice/server"), headers=hub.headers) as r:
        assert r.status in (202, 204)
    for _ in range(200):
        pods = await client.CoreV1Api(kube_client).list_namespaced_pod(NAMESPACE)
        if not any("alice" in p.metadata.name for p in pods.items):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("alice's pod was not deleted")
    assert on_disk.read_text() == "from alice"  # the workspace's files stay
