"""The hub's RBAC Role (examples/kubernetes/rbac.yaml) is exactly what WorkspaceSpawner needs.

A real JupyterHub with WorkspaceSpawner runs against the embedded cluster: a user is granted a
workspace with its own storage, additional storage and a data source, renders the spawn page,
starts the workspace from the form, the hub restarts, the new hub stops the server, and the user
is deleted. Every Kubernetes API request the hub made on the way is taken from the cluster's
request log and checked against the Role: each must be allowed, and each permission the Role
grants must have been used.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from kubernetes_asyncio.client.api_client import ApiClient

from kubesim import LocalCluster
from kubesim.apiserver.faults import RequestRecord
from lscsde_spawner.spawner import WorkspaceSpawner
from tests.support.factories import WS_IMAGE
from tests.support.hub import RunningHub, StartHub, post_spawn_form
from tests.support.objects import bind, datasource, workspace

pytestmark = pytest.mark.hub

RBAC = Path(__file__).resolve().parents[3] / "examples" / "kubernetes" / "rbac.yaml"

# WorkspaceSpawner's defaults: KubeSpawner's own PVC deletion is off unless configured.
SPAWNER_CONFIG: dict[str, Any] = {}

# Permissions the hub needs on paths this test cannot reach, with the reason. Empty: every
# permission in the Role is exercised below. (The rarer paths use the same permissions: a PVC
# created concurrently by another spawn, a 409 then a GET; a refused start, lists only; a data
# source PVC that is missing, a GET.)
NEEDED_BUT_NOT_EXERCISED: dict[tuple[str, str, str], str] = {}


@dataclass(frozen=True)
class Permission:
    group: str  # "" is the core group
    resource: str  # plural, or plural/subresource
    verb: str

    def __str__(self) -> str:
        return f"{self.verb} {self.group or 'core'}/{self.resource}"


def load_role() -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(RBAC.read_text()) if d]
    [role] = [d for d in docs if d["kind"] == "Role"]
    return cast(dict[str, Any], role)


def granted(role: dict[str, Any]) -> set[Permission]:
    """Every (group, resource, verb) the Role grants; wildcards are refused outright."""
    out = set()
    for rule in role["rules"]:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], f"wildcard in {field}: {rule}"
        assert not rule.get("resourceNames"), "resourceNames are not used"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    out.add(Permission(group, resource, verb))
    return out


def api_group(path: str) -> str:
    """The API group of a resource path: /api/v1/... is core (""), /apis/{group}/{v}/..."""
    parts = [p for p in path.split("/") if p]
    return "" if parts[0] == "api" else parts[1]


def requested(entries: list[RequestRecord]) -> dict[Permission, int]:
    counts: dict[Permission, int] = {}
    for rec in entries:
        assert rec.verb, f"a non-resource request: {rec.method} {rec.path}"
        perm = Permission(api_group(rec.path), rec.resource, rec.verb)
        counts[perm] = counts.get(perm, 0) + 1
    return counts


async def flush_watches(cluster: LocalCluster) -> None:
    """A watch is logged when it ends: end the open ones so they are counted."""
    cluster.faults.cut_watches()
    await asyncio.sleep(0.5)


async def wait_stopped(hub: RunningHub, user: str, seconds: float = 30) -> None:
    async with asyncio.timeout(seconds):
        while True:
            if await hub.server_model(user) is None:
                return
            await asyncio.sleep(0.1)


async def seed(api: ApiClient) -> None:
    """The test's own set-up, before the hub runs: none of it is counted."""
    jupyter = {
        "image": WS_IMAGE,
        "additionalStorage": [
            {
                "mountPath": "/mnt/shared",
                "persistentVolumeClaim": "shared-ws1",
                "storageClassName": "standard",
            }
        ],
    }
    await workspace(api, "ws1", jupyter=jupyter)
    await bind(api, "alice-ws1", "ws1", "alice")
    await datasource(api, "hes", "ws1")


@pytest.mark.usefixtures("crds")
async def test_role_is_exactly_what_the_hub_uses(
    hub_factory: StartHub, sqlite_url: str, local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    await seed(kube_client)
    local_cluster.requests.reset()  # from here on, only the hubs talk to the cluster

    # Hub 1: the spawn page (the watch-fed cache) and a start from the form (fresh reads, PVCs,
    # the pod, the workspace status, an event). Hub 1 then goes away leaving the server running.
    hub1 = await hub_factory(
        db_url=sqlite_url,
        cleanup_servers=False,
        spawner_class=WorkspaceSpawner,
        spawner_config=SPAWNER_CONFIG,
    )
    await hub1.create_user("alice")
    page = await post_spawn_form(hub1, "alice", "ws1")
    assert 'value="ws1"' in page
    await hub1.wait_ready("alice")
    await flush_watches(local_cluster)
    await hub1.stop()

    # Hub 2 (a restart): it finds the server, stops it (reading the workspace by name, as it has
    # no memory of the start), and the user is deleted.
    hub2 = await hub_factory(
        db_url=sqlite_url,
        fresh_db=False,
        spawner_class=WorkspaceSpawner,
        spawner_config=SPAWNER_CONFIG,
    )
    assert hub2.user("alice").running
    await hub2.api("DELETE", "users/alice/server", expect=(202, 204))
    await wait_stopped(hub2, "alice")
    await hub2.api("DELETE", "users/alice", expect=(204,))
    await flush_watches(local_cluster)
    entries = list(local_cluster.requests.entries)

    used = requested(entries)
    allowed = granted(load_role())
    summary = "\n".join(f"  {n:4d}  {p}" for p, n in sorted(used.items(), key=str))
    print(f"requests the hubs made ({len(entries)}):\n{summary}")

    denied = sorted(str(p) for p in used if p not in allowed)
    assert not denied, f"the hub made requests the Role does not allow: {denied}\n{summary}"
    unused = {p for p in allowed if p not in used}
    unexplained = sorted(
        str(p) for p in unused if (p.group, p.resource, p.verb) not in NEEDED_BUT_NOT_EXERCISED
    )
    assert not unexplained, f"the Role grants permissions the hub never used: {unexplained}"
    stale = [k for k in NEEDED_BUT_NOT_EXERCISED if Permission(*k) in used]
    assert not stale, f"exercised after all, drop them from NEEDED_BUT_NOT_EXERCISED: {stale}"

    # The run did what it claims: storage made, the data source read, the status written.
    done = {(r.verb, r.resource) for r in entries if r.status in (200, 201)}
    assert {
        ("create", "persistentvolumeclaims"),
        ("create", "pods"),
        ("create", "events"),
        ("patch", "analyticsworkspaces/status"),
        ("get", "analyticsworkspaces"),
        ("delete", "pods"),
    } <= done
    pvc_reads = [
        r.path.rsplit("/", 1)[-1]
        for r in entries
        if r.verb == "get" and r.resource == "persistentvolumeclaims"
    ]
    assert {"workspace-ws1", "shared-ws1", "datasource-hes"} <= set(pvc_reads)


async def test_deleting_a_user_deletes_no_pvc(
    hub_factory: StartHub, local_cluster: LocalCluster
) -> None:
    """Why the Role has no PVC delete: WorkspaceSpawner turns KubeSpawner's `delete_pvc` (which
    deletes `claim-<user>` with the user) off by default; workspace data is never the hub's to
    delete."""
    hub = await hub_factory(spawner_class=WorkspaceSpawner)
    await hub.create_user("alice")
    assert hub.user("alice").spawner.delete_pvc is False  # the default server's spawner exists
    local_cluster.requests.reset()
    await hub.api("DELETE", "users/alice", expect=(204,))
    assert [r for r in local_cluster.requests.entries if r.verb == "delete"] == []
