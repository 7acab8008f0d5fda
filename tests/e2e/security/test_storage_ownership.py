"""Attack: a workspace author names a PVC that is not the workspace's.

Whoever writes an AnalyticsWorkspace must not be able to mount the hub's database, a user's home,
another workspace's storage or a data source's PVC writable. The PVC itself must say whose it is;
every check runs before anything is created; status never names the claim."""

from __future__ import annotations

from typing import Any, cast

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from lscsde_spawner.models import GROUP, VERSION
from lscsde_spawner.models.workspace import WORKSPACE_LABEL
from lscsde_spawner.storage import DATASOURCE_LABEL
from tests.support import factories
from tests.support.factories import WS_IMAGE
from tests.support.hub import NAMESPACE, RunningHub, StartHub
from tests.support.objects import (
    bind,
    create,
    create_pvc,
    datasource,
    pods,
    post_start,
    pvcs,
    start_hub,
    wait_for_spawns,
    workspace,
)

pytestmark = pytest.mark.hub


async def victims(api: ApiClient) -> None:
    """What an attacker would like to mount: the hub's database, bob's home, another
    workspace's storage and a data source's PVC."""
    await create_pvc(api, "hub-db-dir", {"component": "hub"})
    await create_pvc(api, "claim-bob", {"component": "singleuser-storage"})
    await create_pvc(api, "workspace-other", {WORKSPACE_LABEL: "other"})
    await datasource(api, "hes", "other")  # attached to another workspace, labelled for hes


async def alice_hub(hub_factory: StartHub, api: ApiClient, **config: Any) -> RunningHub:
    hub = await start_hub(hub_factory, **config)
    await hub.create_user("alice")
    wait_for_spawns(hub)
    return hub


def jupyter(**fields: Any) -> dict[str, Any]:
    return {"image": WS_IMAGE, **fields}


TARGETS = ["hub-db-dir", "claim-bob", "workspace-other", "datasource-hes"]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("where", ["spec", "additional", "additional-with-class"])
@pytest.mark.usefixtures("crds")
async def test_a_workspace_cannot_name_someone_elses_pvc(
    hub_factory: StartHub, kube_client: ApiClient, target: str, where: str
) -> None:
    await victims(kube_client)
    if where == "spec":
        spec = jupyter(persistentVolumeClaim={"name": target})
    else:
        extra: dict[str, Any] = {"mountPath": "/mnt/x", "persistentVolumeClaim": target}
        if where == "additional-with-class":
            extra["storageClassName"] = "standard"  # "create it if missing" proves nothing
        spec = jupyter(additionalStorage=[extra])
    await workspace(kube_client, "ws1", jupyter=spec)
    await bind(kube_client, "b1", "ws1", "alice")
    before = await pvcs(kube_client)
    hub = await alice_hub(hub_factory, kube_client)

    got, body = await post_start(hub, "alice", {"profile": "ws1"})
    assert got == 403, body
    assert f"kubectl label pvc {target} -n {NAMESPACE} {WORKSPACE_LABEL}=ws1" in body
    assert await pods(kube_client) == []
    assert await pvcs(kube_client) == before  # nothing created, not even workspace-ws1


@pytest.mark.usefixtures("crds")
async def test_status_never_names_the_claim(hub_factory: StartHub, kube_client: ApiClient) -> None:
    await victims(kube_client)
    await workspace(kube_client, "ws1")
    await bind(kube_client, "b1", "ws1", "alice")
    custom: Any = client.CustomObjectsApi(kube_client)  # takes _content_type, unlike its stubs
    await custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, NAMESPACE, "analyticsworkspaces", "ws1",
        {"status": {"persistentVolumeClaim": "hub-db-dir"}},
        _content_type="application/merge-patch+json",
    )  # fmt: skip
    hub = await alice_hub(hub_factory, kube_client)
    got, body = await post_start(hub, "alice", {"profile": "ws1"})
    assert got in (201, 202), body
    await hub.wait_ready("alice")
    pod = await client.CoreV1Api(kube_client).read_namespaced_pod("jupyter-alice", NAMESPACE)
    claims = {v.persistent_volume_claim.claim_name for v in pod.spec.volumes
              if v.persistent_volume_claim}  # fmt: skip
    assert claims == {"workspace-ws1"}
    made = await client.CoreV1Api(kube_client).read_namespaced_persistent_volume_claim(
        "workspace-ws1", NAMESPACE
    )
    assert made.metadata.labels[WORKSPACE_LABEL] == "ws1"
    got_ws = await custom.get_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, "analyticsworkspaces", "ws1"
    )
    assert got_ws["status"]["persistentVolumeClaim"] == "workspace-ws1"  # the checked claim


@pytest.mark.usefixtures("crds")
async def test_a_datasource_pvc_needs_its_own_label_and_is_mounted_read_only(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    await workspace(kube_client, "ws1")
    await bind(kube_client, "b1", "ws1", "alice")
    # A data source annotated to point at bob's home: the PVC does not say it holds census.
    annotations = {"xlscsde.nhs.uk/persistent-volume-claim": "claim-bob"}
    await create(kube_client, factories.datasource("census", annotations=annotations))
    await create(kube_client, factories.datasource_binding("census-ws1", "ws1", "census"))
    await create_pvc(kube_client, "claim-bob", {"component": "singleuser-storage"})
    hub = await alice_hub(hub_factory, kube_client)
    got, body = await post_start(hub, "alice", {"profile": "ws1"})
    assert got == 403, body
    assert f"kubectl label pvc claim-bob -n {NAMESPACE} {DATASOURCE_LABEL}=census" in body
    assert await pvcs(kube_client) == ["claim-bob"]  # the workspace PVC was not created

    # The admin adopts it (as the message says): then it is mounted, read-only.
    await client.CoreV1Api(kube_client).patch_namespaced_persistent_volume_claim(
        "claim-bob", NAMESPACE, cast(Any, {"metadata": {"labels": {DATASOURCE_LABEL: "census"}}})
    )
    got, body = await post_start(hub, "alice", {"profile": "ws1"})
    assert got in (201, 202), body
    await hub.wait_ready("alice")
    pod = await client.CoreV1Api(kube_client).read_namespaced_pod("jupyter-alice", NAMESPACE)
    [c] = pod.spec.containers
    mount = next(m for m in c.volume_mounts if m.mount_path == "/home/jovyan/data/census")
    volume = next(v for v in pod.spec.volumes if v.name == mount.name)
    assert mount.read_only is True and volume.persistent_volume_claim.read_only is True


@pytest.mark.usefixtures("crds")
async def test_a_missing_datasource_pvc_fails_before_anything_is_created(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    await workspace(kube_client, "ws1")
    await bind(kube_client, "b1", "ws1", "alice")
    await datasource(kube_client, "hes", "ws1")
    await client.CoreV1Api(kube_client).delete_namespaced_persistent_volume_claim(
        "datasource-hes", NAMESPACE
    )
    hub = await alice_hub(hub_factory, kube_client)
    got, body = await post_start(hub, "alice", {"profile": "ws1"})
    assert got == 503, body
    assert "data source 'hes' (PVC 'datasource-hes') does not exist" in body
    assert await pods(kube_client) == []
    assert "workspace-ws1" not in await pvcs(kube_client)


@pytest.mark.usefixtures("crds")
async def test_the_admin_can_adopt_existing_storage(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    await create_pvc(kube_client, "legacy-ws1", {"lscsde.example/adopted": "yes"})
    await workspace(
        kube_client, "ws1", jupyter=jupyter(persistentVolumeClaim={"name": "legacy-ws1"})
    )
    await bind(kube_client, "b1", "ws1", "alice")
    hub = await alice_hub(
        hub_factory, kube_client, trusted_claim_selector="lscsde.example/adopted=yes"
    )
    got, body = await post_start(hub, "alice", {"profile": "ws1"})
    assert got in (201, 202), body
    await hub.wait_ready("alice")
    pod = await client.CoreV1Api(kube_client).read_namespaced_pod("jupyter-alice", NAMESPACE)
    assert "legacy-ws1" in {
        v.persistent_volume_claim.claim_name for v in pod.spec.volumes if v.persistent_volume_claim
    }
