"""Attack: revoke a grant while a start is under way, and send oversized or unknown options.

The grant is proved again just before the pod is created, so a revocation seen by then refuses
the start and leaves nothing but an already-ensured workspace PVC. user_options are refused
(400) unless they are exactly what the spawner uses, and refused options are not kept."""

from __future__ import annotations

import asyncio

import pytest
from jupyterhub import orm
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from kubesim import LocalCluster
from lscsde_spawner.models import GROUP, VERSION
from tests.support.hub import NAMESPACE, RunningHub, StartHub
from tests.support.objects import (
    alice_with_ws1,
    create_pvc,
    datasource,
    pods,
    post_start,
    pvcs,
    stop_and_wait,
    wait_for_spawns,
)

pytestmark = pytest.mark.hub


async def delete_soon(api: ApiClient, plural: str, name: str, after: float) -> None:
    await asyncio.sleep(after)
    await client.CustomObjectsApi(api).delete_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, plural, name
    )


@pytest.mark.parametrize(
    ("plural", "name", "text"),
    [
        ("analyticsworkspacebindings", "b1", "Access to workspace 'ws1' ended during the start"),
        ("analyticsdatasourcebindings", "hes-ws1", "Data source(s) hes were detached"),
    ],
)
@pytest.mark.usefixtures("crds")
async def test_a_revocation_during_the_start_refuses_it(
    hub_factory: StartHub,
    local_cluster: LocalCluster,
    kube_client: ApiClient,
    plural: str,
    name: str,
    text: str,
) -> None:
    hub = await alice_with_ws1(hub_factory, kube_client)
    await datasource(kube_client, "hes", "ws1")
    await hub.create_user("alice")
    wait_for_spawns(hub)
    # Slow PVC reads: the start spends about a second on storage before creating the pod (its
    # reads run concurrently, so each takes that long), well after the revocation at 0.5 s.
    local_cluster.faults.delay(1.0, verb="get", path="persistentvolumeclaims")
    revoke = asyncio.create_task(delete_soon(kube_client, plural, name, after=0.5))
    got, body = await post_start(hub, "alice", {"profile": "ws1"})
    await revoke
    assert got == 403, body
    assert text in body
    assert await pods(kube_client) == []
    assert set(await pvcs(kube_client)) <= {"workspace-ws1", "datasource-hes"}
    # Nothing was created after the revocation was seen: no pod request reached the API.
    assert local_cluster.requests.count("create", "pods") == 0


async def stored_options(hub: RunningHub, user: str) -> object:
    db = hub.app.db
    db.expire_all()
    row = db.query(orm.Spawner).join(orm.User).filter(orm.User.name == user).one()
    return row.user_options


@pytest.mark.parametrize(
    ("options", "text"),
    [
        ({"profile": "ws1", "junk": "x" * 8_000_000}, "Unknown user_options 'junk'"),
        ({"profile": "ws1", "image": "evil/miner:latest"}, "Unknown user_options 'image'"),
        ({"profile": "ws1" + " " * 5000}, "at most 4096 are accepted"),
    ],
    ids=["8MB", "unknown-key", "oversized"],
)
@pytest.mark.usefixtures("crds")
async def test_unknown_or_oversized_options_are_refused_and_not_kept(
    hub_factory: StartHub, kube_client: ApiClient, options: dict[str, object], text: str
) -> None:
    hub = await alice_with_ws1(hub_factory, kube_client)
    await hub.create_user("alice")
    wait_for_spawns(hub)
    got, body = await post_start(hub, "alice", {"profile": "ws1"})
    assert got in (201, 202), body
    await hub.wait_ready("alice")
    await stop_and_wait(hub, kube_client, "alice")

    got, body = await post_start(hub, "alice", options)
    assert got == 400, body[:300]
    assert text in body
    assert len(body) < 2000  # the refusal does not echo the input back
    assert await stored_options(hub, "alice") == {"profile": "ws1"}  # the last good ones
    assert await pods(kube_client) == []


@pytest.mark.usefixtures("crds")
async def test_a_claim_planted_between_the_check_and_the_create_is_refused(
    hub_factory: StartHub, local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    hub = await alice_with_ws1(hub_factory, kube_client)
    await hub.create_user("alice")
    wait_for_spawns(hub)
    # Our create of workspace-ws1 is held for a second; meanwhile someone else makes the claim.
    held = local_cluster.faults.delay(1.0, verb="create", path="persistentvolumeclaims", times=1)

    async def plant() -> None:
        for _ in range(500):  # the hold is counted on the cluster's own thread
            if held.hits:
                break
            await asyncio.sleep(0.01)
        await create_pvc(kube_client, "workspace-ws1")

    planting = asyncio.create_task(plant())
    got, body = await post_start(hub, "alice", {"profile": "ws1"})
    await planting
    assert got == 403, body
    assert "kubectl label pvc workspace-ws1" in body
    assert await pods(kube_client) == []
