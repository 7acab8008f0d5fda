"""End to end: WorkspaceSpawner in a real JupyterHub against the embedded cluster.

Workspaces, bindings and data sources are created through the Kubernetes API; what the tests
check is what the Hub answers and what reached the cluster.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import aiohttp
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from kubesim import LocalCluster
from lscsde_spawner.models import GROUP, VERSION
from lscsde_spawner.spawner import WorkspaceSpawner
from tests.support.factories import WS_IMAGE, day
from tests.support.hub import NAMESPACE, StartHub, post_spawn_form
from tests.support.objects import (
    alice_with_ws1,
    bind,
    datasource,
    pods,
    post_start,
    pvcs,
    start_hub,
    stop_and_wait,
    wait_for_spawns,
    workspace,
)

pytestmark = pytest.mark.hub

FULL = {
    "image": WS_IMAGE,
    "resources": {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"cpu": "2", "memory": "1Gi", "nvidia.com/gpu": "1"},
    },
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "nodeSelector": {"accelerator": "nvidia-t4"},
    "extraLabels": {"project": "diabetes"},
    "defaultUri": "/lab/tree/ws1/analysis.ipynb",  # wins over the workspace folder
    "additionalStorage": [
        {
            "mountPath": "/mnt/shared",
            "persistentVolumeClaim": "shared-ref",
            "storageClassName": "standard",
        }
    ],
}


@pytest.mark.usefixtures("crds")
async def test_rest_start_builds_workspace_pod_and_storage(
    hub_factory: StartHub, local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    await workspace(kube_client, "ws1", jupyter=FULL)
    await bind(kube_client, "b1", "ws1", "alice")
    await datasource(kube_client, "hes", "ws1", type="databricks")
    hub = await start_hub(hub_factory)
    await hub.create_user("alice")
    assert await hub.start_server("alice", {"profile": "ws1"}) == 202
    await hub.wait_ready("alice")

    pod = await client.CoreV1Api(kube_client).read_namespaced_pod("jupyter-alice", NAMESPACE)
    [c] = pod.spec.containers
    assert c.image == WS_IMAGE
    assert pod.metadata.labels["xlscsde.nhs.uk/workspace"] == "ws1"
    assert pod.metadata.labels["project"] == "diabetes"
    assert pod.spec.node_selector == {"accelerator": "nvidia-t4"}
    assert any(t.key == "nvidia.com/gpu" for t in pod.spec.tolerations)
    assert c.resources.limits["nvidia.com/gpu"] == "1"
    assert hub.user("alice").spawner.default_url == "/lab/tree/ws1/analysis.ipynb"
    mounts = {m.mount_path: m for m in c.volume_mounts}
    assert "/home/jovyan/ws1" in mounts
    assert "/mnt/shared" in mounts
    assert mounts["/home/jovyan/data/hes"].read_only is True
    claims = {
        v.persistent_volume_claim.claim_name for v in pod.spec.volumes if v.persistent_volume_claim
    }
    assert {"workspace-ws1", "shared-ref", "datasource-hes"} <= claims
    assert "workspace-ws1" in await pvcs(kube_client)

    got = await client.CustomObjectsApi(kube_client).get_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, "analyticsworkspaces", "ws1"
    )
    assert got["status"]["statusText"] == "Provisioned"
    assert got["status"]["persistentVolumeClaim"] == "workspace-ws1"

    # Stop and start again: the PVC is reused, not created twice.
    await stop_and_wait(hub, kube_client, "alice")
    assert await hub.start_server("alice", {"profile": "ws1"}) == 202
    await hub.wait_ready("alice")
    creates = [
        r
        for r in local_cluster.requests.entries
        if r.verb == "create" and r.resource == "persistentvolumeclaims" and r.status == 201
    ]
    assert len(creates) == 3  # datasource-hes (the test), workspace-ws1, shared-ref; once each

    # Raw JSON: the kubelet's own events lack eventTime, which the client model rejects.
    # _preload_content=False answers the raw response, not the model the stubs name.
    resp = cast(
        aiohttp.ClientResponse,
        await client.EventsV1Api(kube_client).list_namespaced_event(
            NAMESPACE, _preload_content=False
        ),
    )
    items = (await resp.json())["items"]
    about = [e for e in items if (e.get("regarding") or {}).get("name") == "ws1"]
    reasons = [e["reason"] for e in about]
    assert "ServerStarted" in reasons and "ServerStopped" in reasons
    assert any("alice" in e.get("note", "") and "jupyter-alice" in e.get("note", "") for e in about)


@pytest.mark.parametrize(
    ("options", "status", "text"),
    [
        ({"profile": "bobs"}, 403, "not granted"),
        ({"profile": "old"}, 403, "expired"),
        ({"profile": "later"}, 403, "available from"),
        ({"profile": "vm"}, 403, "virtual-machine"),
        ({"profile": "nosuch"}, 404, "does not exist"),
        ({"profile": "../x"}, 400, "not a valid workspace name"),
        ({"profile": 5}, 400, "must be a workspace name"),
        ({"profile": ["ws1"]}, 400, "must be a workspace name"),
        ({}, 400, "Name a workspace"),
    ],
)
@pytest.mark.usefixtures("crds")
async def test_forged_starts_are_refused(
    hub_factory: StartHub, kube_client: ApiClient, options: Any, status: int, text: str
) -> None:
    await workspace(kube_client, "ws1")
    await workspace(kube_client, "ws2")
    await workspace(kube_client, "bobs")
    await workspace(kube_client, "old", expires=day(-1))
    await workspace(kube_client, "later", available=day(5))
    await workspace(kube_client, "vm", vm=True)
    for ws in ("ws1", "ws2", "old", "later", "vm"):
        await bind(kube_client, f"alice-{ws}", ws, "alice")
    await bind(kube_client, "bob-bobs", "bobs", "bob")
    hub = await start_hub(hub_factory)
    await hub.create_user("alice")
    wait_for_spawns(hub)
    got, body = await post_start(hub, "alice", options)
    assert got == status, body
    assert text in body
    assert await pods(kube_client) == []
    assert await pvcs(kube_client) == []
    # _preload_content=False answers the raw response, not the model the stubs name.
    resp = cast(
        aiohttp.ClientResponse,
        await client.EventsV1Api(kube_client).list_namespaced_event(
            NAMESPACE, _preload_content=False
        ),
    )
    reasons = [e["reason"] for e in (await resp.json())["items"]]
    assert "ServerStarted" not in reasons and "ServerStopped" not in reasons


@pytest.mark.usefixtures("crds")
async def test_workspace_deleted_after_listing_is_404(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    hub = await alice_with_ws1(hub_factory, kube_client)
    await hub.create_user("alice")
    spawner = hub.user("alice").spawner
    assert [p["slug"] for p in await spawner._workspace_profiles()] == ["ws1"]
    await client.CustomObjectsApi(kube_client).delete_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, "analyticsworkspaces", "ws1"
    )
    wait_for_spawns(hub)
    got, body = await post_start(hub, "alice", {"profile": "ws1"})
    assert got == 404, body
    assert await pods(kube_client) == [] and await pvcs(kube_client) == []


@pytest.mark.usefixtures("crds")
async def test_pvc_failure_fails_spawn_without_pod(
    hub_factory: StartHub, local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    hub = await alice_with_ws1(hub_factory, kube_client)
    await hub.create_user("alice")
    local_cluster.faults.fail(status=500, verb="create", path="persistentvolumeclaims")
    wait_for_spawns(hub)
    got, body = await post_start(hub, "alice", {"profile": "ws1"})
    assert got == 500, body
    assert "Storage for workspace 'ws1' failed" in body
    assert await pods(kube_client) == []


@pytest.mark.usefixtures("crds")
async def test_named_server_and_single_workspace_default(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    await workspace(kube_client, "ws1")
    await bind(kube_client, "b1", "ws1", "alice")
    hub = await hub_factory(spawner_class=WorkspaceSpawner)
    hub.app.allow_named_servers = True
    hub.app.tornado_application.settings["allow_named_servers"] = True
    await hub.create_user("alice")
    wait_for_spawns(hub)
    got, body = await post_start(hub, "alice", {"profile": "ws1"}, server="analysis")
    assert got in (201, 202), body
    for _ in range(100):
        if "jupyter-alice--analysis" in await pods(kube_client):
            break
        await asyncio.sleep(0.1)
    assert "jupyter-alice--analysis" in await pods(kube_client)
    # Exactly one workspace permitted and none named: that one is used.
    got, body = await post_start(hub, "alice", {})
    assert got in (201, 202), body


@pytest.mark.usefixtures("crds")
async def test_form_lists_exactly_the_users_workspaces(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    await workspace(kube_client, "plus")
    await workspace(kube_client, "dash")
    await bind(kube_client, "b-plus", "plus", "joe+a@x.com")
    await bind(kube_client, "b-dash", "dash", "joe-a@x.com")
    hub = await start_hub(hub_factory)
    for name in ("joe+a@x.com", "joe-a@x.com", "nobody"):
        await hub.api("POST", "users", body={"usernames": [name]}, expect=(201,))
    plus = hub.user("joe+a@x.com").spawner
    dash = hub.user("joe-a@x.com").spawner
    assert [p["slug"] for p in await plus._workspace_profiles()] == ["plus"]
    assert [p["slug"] for p in await dash._workspace_profiles()] == ["dash"]
    form = await hub.user("nobody").spawner._render_form()
    assert "no workspaces available" in form
    nobody = hub.user("nobody").spawner
    nobody.no_workspaces_message = "Ask <b>the data team</b>"
    assert "Ask &lt;b&gt;the data team&lt;/b&gt;" in await nobody._render_form()
    rendered = await plus._render_form()
    assert 'value="plus"' in rendered and 'value="dash"' not in rendered
    assert "<script>alert" not in rendered


@pytest.mark.usefixtures("crds")
async def test_progress_reports_storage(
    hub_factory: StartHub, local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    hub = await alice_with_ws1(hub_factory, kube_client)
    # Keep the spawn pending for a progress poll (as in the vanilla KubeSpawner progress test).
    local_cluster.faults.delay(1.5, verb="watch", path=r"/namespaces/default/pods$", times=1)
    await hub.create_user("alice")
    assert await hub.start_server("alice", {"profile": "ws1"}) == 202
    events = await hub.progress("alice")
    messages = [e.get("message", "") for e in events]
    assert any(
        "Created PersistentVolumeClaim workspace-ws1 for workspace ws1" in m for m in messages
    )
    assert events[-1]["ready"] is True


@pytest.mark.usefixtures("crds")
async def test_second_start_forgets_previous_workspace_settings(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    await workspace(kube_client, "big", jupyter=FULL | {"additionalStorage": []})
    await workspace(kube_client, "plain")
    await bind(kube_client, "b-big", "big", "alice")
    await bind(kube_client, "b-plain", "plain", "alice")
    hub = await start_hub(hub_factory)
    await hub.create_user("alice")
    assert await hub.start_server("alice", {"profile": "big"}) == 202
    await hub.wait_ready("alice")
    await stop_and_wait(hub, kube_client, "alice")
    assert await hub.start_server("alice", {"profile": "plain"}) == 202
    await hub.wait_ready("alice")
    pod = await client.CoreV1Api(kube_client).read_namespaced_pod("jupyter-alice", NAMESPACE)
    assert pod.metadata.labels["xlscsde.nhs.uk/workspace"] == "plain"
    assert "project" not in pod.metadata.labels
    assert not pod.spec.node_selector
    assert "nvidia.com/gpu" not in (pod.spec.containers[0].resources.limits or {})
    # No defaultUri: the workspace's folder (workspace_default_url), not the first's URL.
    assert hub.user("alice").spawner.default_url == "/lab/tree/plain"
    mounts = [m.mount_path for m in pod.spec.containers[0].volume_mounts]
    assert "/home/jovyan/plain" in mounts and "/home/jovyan/big" not in mounts


@pytest.mark.usefixtures("crds")
async def test_spawn_page_renders_the_form(hub_factory: StartHub, kube_client: ApiClient) -> None:
    await workspace(kube_client, "ws1")
    await workspace(kube_client, "ws2")
    await bind(kube_client, "b1", "ws1", "alice")
    await bind(kube_client, "b2", "ws2", "alice")
    hub = await start_hub(hub_factory)
    await hub.create_user("alice")
    # Submitting the form (no JavaScript: a plain POST of the radio value) starts ws2.
    page = await post_spawn_form(hub, "alice", "ws2")
    await hub.wait_ready("alice")
    live = await client.CoreV1Api(kube_client).read_namespaced_pod("jupyter-alice", NAMESPACE)
    assert live.metadata.labels["xlscsde.nhs.uk/workspace"] == "ws2"
    assert 'value="ws1"' in page and 'value="ws2"' in page, page[page.find("<form") :][:2000]
    assert "&lt;script&gt;alert(" in page and "<script>alert(" not in page


@pytest.mark.usefixtures("crds")
async def test_form_post_of_a_limits_only_workspace(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    """Limits only: the pod's limits are the workspace's; requests are left to the admin's
    config (none here), so the API server defaults them to the limits, as a real one does."""
    limits_only = {"image": WS_IMAGE, "resources": {"limits": {"cpu": "1500m", "memory": "2Gi"}}}
    await workspace(kube_client, "lim", jupyter=limits_only)
    await bind(kube_client, "b-lim", "lim", "carol")
    hub = await start_hub(hub_factory)
    await hub.create_user("carol")
    await post_spawn_form(hub, "carol", "lim")
    await hub.wait_ready("carol")
    pod = await client.CoreV1Api(kube_client).read_namespaced_pod("jupyter-carol", NAMESPACE)
    c = pod.spec.containers[0]
    assert c.image == WS_IMAGE
    # Memory reaches KubeSpawner as bytes (2Gi), which the server keeps in decimal form.
    assert c.resources.limits == {"cpu": "1500m", "memory": str(2 * 1024**3)}
    assert c.resources.requests == {"cpu": "1500m", "memory": str(2 * 1024**3)}
