"""The hub's RBAC Role (examples/kubernetes/rbac.yaml), enforced: the hub runs as its service
account and does its whole job with exactly that Role.

The embedded cluster authorizes every request as the RBAC authorizer does. The Role and its
RoleBinding from rbac.yaml are applied to the test namespace, the binding's subject (service
account `hub`) is created and a token requested for it through the TokenRequest API, and the
hub's KubeSpawner is pointed at the cluster with a kubeconfig carrying that token, as a
deployment's hub pod would be. Then a real JupyterHub with WorkspaceSpawner spawns a workspace
(storage created and read, a data source mounted, the workspace's status written, a
ServerStarted event recorded), stops it (ServerStopped), spawns again, and has the server
revoked when its binding is deleted (AccessRevoked).

With the whole Role, every step succeeds and the cluster refuses the hub nothing. Without any
one of its rules, a named step fails, and the cluster's request log shows the 403 that broke it.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.config import kube_config
from kubespawner.clients import load_config

from kubesim import LocalCluster
from kubesim.apiserver.faults import RequestRecord
from lscsde_spawner.models import GROUP, VERSION
from lscsde_spawner.spawner import WorkspaceSpawner
from tests.support.factories import WS_IMAGE
from tests.support.hub import NAMESPACE, RunningHub, StartHub
from tests.support.objects import bind, datasource, delete, events_about, pods, workspace

pytestmark = pytest.mark.hub

RBAC = Path(__file__).resolve().parents[3] / "examples" / "kubernetes" / "rbac.yaml"
ACCOUNT = "hub"
HUB_USER = f"system:serviceaccount:{NAMESPACE}:{ACCOUNT}"
SETTLE = 10.0  # how long a step may take before it counts as failed


def manifests() -> tuple[dict[str, Any], dict[str, Any]]:
    """rbac.yaml's Role and RoleBinding, moved to the test namespace."""
    docs = [d for d in yaml.safe_load_all(RBAC.read_text()) if d]
    [role] = [d for d in docs if d["kind"] == "Role"]
    [binding] = [d for d in docs if d["kind"] == "RoleBinding"]
    role["metadata"]["namespace"] = binding["metadata"]["namespace"] = NAMESPACE
    for subject in binding["subjects"]:
        if subject["kind"] == "ServiceAccount":
            assert subject["name"] == ACCOUNT
            subject["namespace"] = NAMESPACE
    return cast(dict[str, Any], role), cast(dict[str, Any], binding)


ROLE, BINDING = manifests()


def describe(rule: dict[str, Any]) -> str:
    """A rule by its groups and first resource: `core/pods`, `xlscsde.nhs.uk/analyticsworkspaces+3`
    (and three more resources)."""
    groups = ",".join(g or "core" for g in rule["apiGroups"])
    first, *more = rule["resources"]
    return f"{groups}/{first}" + (f"+{len(more)}" if more else "")


# -- the cluster, as the hub's deployment sets it up --------------------------------------------


async def deploy_role(api: ApiClient, role: dict[str, Any]) -> str:
    """The Role, its RoleBinding and the service account, as an admin applies them; returns a
    token for the account (TokenRequest, as `kubectl create token hub` gets one)."""
    rbac: Any = client.RbacAuthorizationV1Api(api)  # takes plain dicts, whatever its stubs say
    await rbac.create_namespaced_role(NAMESPACE, role)
    await rbac.create_namespaced_role_binding(NAMESPACE, BINDING)
    core: Any = client.CoreV1Api(api)
    await core.create_namespaced_service_account(NAMESPACE, {"metadata": {"name": ACCOUNT}})
    request = {"spec": {"expirationSeconds": 3600}}
    made = await core.create_namespaced_service_account_token(ACCOUNT, NAMESPACE, request)
    token: str = made.status.token
    return token


def point_hub_at(
    cluster: LocalCluster, token: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub's kubeconfig: the cluster, with the service account's token (not the admin's).
    KubeSpawner loads it when the hub starts (and `k8s_api_host` names the same server)."""
    path = tmp_path / "hub-kubeconfig"
    path.write_text(cluster.kubeconfig_text(token=token, namespace=NAMESPACE))
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    monkeypatch.setattr(Configuration, "_default", None)
    load_config.cache_clear()


async def seed(api: ApiClient) -> None:
    """alice may use ws1: its own storage, additional storage and the data source hes."""
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
    await bind(api, "b1", "ws1", "alice")
    await datasource(api, "hes", "ws1")


# -- the steps ----------------------------------------------------------------------------------


class StepFailed(AssertionError):
    """A step did not do what it should, within SETTLE seconds."""


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise StepFailed(what)


async def reasons_about(api: ApiClient, name: str) -> list[str]:
    return [e["reason"] for e in await events_about(api, name)]


@dataclass
class Run:
    hub: RunningHub
    api: ApiClient  # the admin's client, for the test's own checks and changes
    cluster: LocalCluster

    async def spawn(self) -> None:
        """alice starts ws1; her server comes up."""
        await self.hub.start_server("alice", {"profile": "ws1"})
        try:
            await self.hub.wait_ready("alice", SETTLE)
        except AssertionError as err:
            raise StepFailed(f"spawn: {err}") from None

    async def workspace_status(self) -> None:
        """The spawn wrote ws1's status: provisioned, with its storage."""

        async def written() -> bool:
            got = await client.CustomObjectsApi(self.api).get_namespaced_custom_object(
                GROUP, VERSION, NAMESPACE, "analyticsworkspaces", "ws1"
            )
            return bool((got.get("status") or {}).get("statusText") == "Provisioned")

        await until(written, "ws1's status was not written")

    async def started_event(self) -> None:
        """The spawn recorded a ServerStarted event about ws1."""

        async def recorded() -> bool:
            return "ServerStarted" in await reasons_about(self.api, "ws1")

        await until(recorded, "no ServerStarted event about ws1")

    async def stop(self) -> None:
        """alice stops her server: the pod goes, a ServerStopped event says so."""
        await self.hub.api("DELETE", "users/alice/server", expect=(202, 204))

        async def stopped() -> bool:
            return "jupyter-alice" not in await pods(self.api)

        await until(stopped, "alice's pod is still there after the stop")

        async def recorded() -> bool:
            return "ServerStopped" in await reasons_about(self.api, "ws1")

        await until(recorded, "no ServerStopped event about ws1")

    async def revoke(self) -> None:
        """alice's binding is deleted while her server runs: the hub stops it and records an
        AccessRevoked event."""
        await delete(self.api, "analyticsworkspacebindings", "b1")

        async def stopped() -> bool:
            return "jupyter-alice" not in await pods(self.api)

        await until(stopped, "alice's pod still runs after her binding was deleted")

        async def recorded() -> bool:
            return "AccessRevoked" in await reasons_about(self.api, "ws1")

        await until(recorded, "no AccessRevoked event about ws1")


# The named steps, in order. A step's requests are those since its action began: the spawn's
# status patch and event are made while the server starts, and checked once it is up; the
# hub's own start belongs to the first spawn.
STEPS = ("spawn", "workspace_status", "started_event", "stop", "respawn", "revoke")
ACTION_OF = {"workspace_status": "spawn", "started_event": "spawn"}


def refused(entries: list[RequestRecord]) -> list[tuple[str, str]]:
    """(verb, resource) of every request of the hub's the cluster refused (403)."""
    return sorted({(r.verb, r.resource) for r in entries if r.user == HUB_USER and r.status == 403})


async def run_steps(
    hub_factory: StartHub,
    cluster: LocalCluster,
    api: ApiClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    role: dict[str, Any],
) -> tuple[str | None, dict[str, list[tuple[str, str]]]]:
    """Deploy with `role`, run the steps until one fails. Returns the failed step (None: all
    passed) and, for each step run, the requests of the hub's the cluster refused."""
    await seed(api)
    token = await deploy_role(api, role)
    point_hub_at(cluster, token, tmp_path, monkeypatch)
    cluster.requests.reset()
    hub = await hub_factory(spawner_class=WorkspaceSpawner)
    await hub.create_user("alice")
    run = Run(hub, api, cluster)
    actions = {
        "spawn": run.spawn,
        "workspace_status": run.workspace_status,
        "started_event": run.started_event,
        "stop": run.stop,
        "respawn": run.spawn,
        "revoke": run.revoke,
    }
    refusals: dict[str, list[tuple[str, str]]] = {}
    # Where each action's requests begin: the hub's start (its reflectors and cache) is the
    # first spawn's.
    began = {"spawn": 0}
    for step in STEPS:
        action = ACTION_OF.get(step, step)
        began.setdefault(action, len(cluster.requests.entries))
        try:
            await actions[step]()
        except StepFailed as err:
            print(f"step {step} failed: {err}")
            return step, refusals
        finally:
            refusals[step] = refused(list(cluster.requests.entries)[began[action] :])
    return None, refusals


async def test_the_hub_does_its_job_with_exactly_the_role(
    hub_factory: StartHub,
    local_cluster: LocalCluster,
    crds: ApiClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failed, refusals = await run_steps(
        hub_factory, local_cluster, crds, tmp_path, monkeypatch, ROLE
    )
    assert failed is None, f"step {failed} failed; refused: {refusals}"
    assert all(not r for r in refusals.values()), refusals
    hub_requests = [r for r in local_cluster.requests.entries if r.user == HUB_USER]
    assert hub_requests, "the hub made no request as its service account"
    # Only the service account: nothing reached the cluster as its admin on the hub's behalf.
    assert {r.user for r in local_cluster.requests.entries} <= {HUB_USER, "kubernetes-admin"}


# Removing each rule of the Role breaks this step, with this refusal among the step's 403s.
BROKEN_BY: dict[str, tuple[str, tuple[str, str]]] = {
    "core/pods": ("spawn", ("list", "pods")),
    "core/events": ("spawn", ("list", "events")),
    "core/persistentvolumeclaims": ("spawn", ("get", "persistentvolumeclaims")),
    "events.k8s.io/events": ("started_event", ("create", "events")),
    "xlscsde.nhs.uk/analyticsworkspaces+3": ("spawn", ("list", "analyticsworkspaces")),
    "xlscsde.nhs.uk/analyticsworkspaces/status": (
        "workspace_status",
        ("patch", "analyticsworkspaces/status"),
    ),
}


def test_every_rule_is_named_here() -> None:
    assert [describe(r) for r in ROLE["rules"]] == list(BROKEN_BY)


@pytest.mark.parametrize("rule", list(BROKEN_BY))
async def test_without_one_rule_a_step_fails_with_a_403(
    hub_factory: StartHub,
    local_cluster: LocalCluster,
    crds: ApiClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    rule: str,
) -> None:
    role = copy.deepcopy(ROLE)
    role["rules"] = [r for r in role["rules"] if describe(r) != rule]
    assert len(role["rules"]) == len(ROLE["rules"]) - 1
    step, refusal = BROKEN_BY[rule]
    failed, refusals = await run_steps(
        hub_factory, local_cluster, crds, tmp_path, monkeypatch, role
    )
    assert_broke(step, refusal, failed, refusals)


def assert_broke(
    step: str,
    refusal: tuple[str, str],
    failed: str | None,
    refusals: dict[str, list[tuple[str, str]]],
) -> None:
    """`step` failed, with `refusal` among its 403s; the steps before it passed without one
    (those of its own action aside)."""
    assert failed == step, f"expected {step} to fail; refused: {refusals}"
    action = ACTION_OF.get(step, step)
    earlier = [s for s in STEPS[: STEPS.index(step)] if ACTION_OF.get(s, s) != action]
    assert all(not refusals[s] for s in earlier), refusals
    assert refusal in refusals[step], refusals


async def test_without_deleting_pods_the_stop_fails_with_a_403(
    hub_factory: StartHub,
    local_cluster: LocalCluster,
    crds: ApiClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A verb, not a rule: the pods rule without `delete` lets alice start but not stop."""
    role = copy.deepcopy(ROLE)
    [pods_rule] = [r for r in role["rules"] if describe(r) == "core/pods"]
    pods_rule["verbs"].remove("delete")
    failed, refusals = await run_steps(
        hub_factory, local_cluster, crds, tmp_path, monkeypatch, role
    )
    assert_broke("stop", ("delete", "pods"), failed, refusals)
