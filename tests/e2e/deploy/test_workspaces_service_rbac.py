"""The workspaces service's Role (examples/kubernetes/workspaces-service.yaml), enforced: the
service runs with a token of its own service account and does its whole job with exactly that
Role; without any one rule or verb, a named step fails and the cluster's request log shows the
403 that broke it.

The hub itself keeps the cluster admin's credentials here: only the service is under test. The
Role is evaluated on every request, so the write rules are taken away from the running service
one at a time (and given back); the read rule feeds the cache when the service starts, so that
case starts a service of its own.
"""

from __future__ import annotations

import copy
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from kubesim import LocalCluster
from tests.support.factories import day
from tests.support.hub import NAMESPACE
from tests.support.objects import events_about
from tests.support.workspaces import GROUPS, HUB_ADMINS, ServiceHub, module_api, seed, service_hub

pytestmark = [pytest.mark.hub, pytest.mark.asyncio(loop_scope="module")]
__all__ = ["module_api"]  # the fixture

MANIFEST = (
    Path(__file__).resolve().parents[3] / "examples" / "kubernetes" / "workspaces-service.yaml"
)


def manifests() -> dict[str, dict[str, Any]]:
    """The ServiceAccount, Role and RoleBinding, moved to the test namespace (the Secret of a
    legacy token is left out: the embedded cluster issues tokens through TokenRequest)."""
    docs = {d["kind"]: d for d in yaml.safe_load_all(MANIFEST.read_text()) if d}
    assert set(docs) == {"ServiceAccount", "Role", "RoleBinding", "Secret"}
    for doc in docs.values():
        doc["metadata"]["namespace"] = NAMESPACE
    [subject] = docs["RoleBinding"]["subjects"]
    subject["namespace"] = NAMESPACE
    assert subject["name"] == docs["ServiceAccount"]["metadata"]["name"]
    assert (
        docs["Secret"]["metadata"]["annotations"]["kubernetes.io/service-account.name"]
        == (subject["name"])
    )
    return docs


DOCS = manifests()
ROLE = DOCS["Role"]
ACCOUNT = DOCS["ServiceAccount"]["metadata"]["name"]
USER = f"system:serviceaccount:{NAMESPACE}:{ACCOUNT}"


async def deploy(api: ApiClient, cluster: LocalCluster, tmp: Path, role: dict[str, Any]) -> Path:
    """The account, the Role and its binding, as an admin applies them; a kubeconfig with a
    token of the account (TokenRequest, as `kubectl create token` gets one)."""
    rbac: Any = client.RbacAuthorizationV1Api(api)
    core: Any = client.CoreV1Api(api)
    await core.create_namespaced_service_account(NAMESPACE, DOCS["ServiceAccount"])
    await rbac.create_namespaced_role(NAMESPACE, role)
    await rbac.create_namespaced_role_binding(NAMESPACE, DOCS["RoleBinding"])
    made = await core.create_namespaced_service_account_token(
        ACCOUNT, NAMESPACE, {"spec": {"expirationSeconds": 3600}}
    )
    path = tmp / "workspaces-kubeconfig"
    path.write_text(cluster.kubeconfig_text(token=made.status.token, namespace=NAMESPACE))
    return path


async def set_role(api: ApiClient, role: dict[str, Any]) -> None:
    rbac: Any = client.RbacAuthorizationV1Api(api)
    await rbac.replace_namespaced_role(role["metadata"]["name"], NAMESPACE, role)


def refused(cluster: LocalCluster, since: int) -> list[tuple[str, str]]:
    """(verb, resource) of the service's requests the cluster refused since entry ``since``."""
    entries = list(cluster.requests.entries)[since:]
    return sorted({(r.verb, r.resource) for r in entries if r.user == USER and r.status == 403})


class StepFailed(AssertionError):
    pass


@pytest_asyncio.fixture(scope="class", loop_scope="module")
async def full(
    module_cluster: LocalCluster, module_api: ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServiceHub]:
    await seed(module_api)
    tmp = tmp_path_factory.mktemp("rbac")
    kubeconfig = await deploy(module_api, module_cluster, tmp, ROLE)
    async with service_hub(
        module_cluster, tmp, kubeconfig=kubeconfig, groups=GROUPS, admins=HUB_ADMINS
    ) as running:
        yield running


Step = Callable[[], Awaitable[None]]


def steps(service: ServiceHub, api: ApiClient, member: str) -> list[tuple[str, Step]]:
    """alice lists her workspaces, adds ``member`` (recorded as an event), reads the trail,
    changes and removes the member: every call the service makes to Kubernetes."""

    async def expect(method: str, path: str, status: int, body: Any = None) -> Any:
        got, answer = await service.call(method, path, "alice", body=body)
        if got != status:
            raise StepFailed(f"{method} {path}: {got} {answer}")
        return answer

    async def listed() -> None:
        answer = await expect("GET", "workspaces", 200)
        if {w["name"] for w in answer["workspaces"]} != {"ws1", "ws2"}:
            raise StepFailed(f"alice's workspaces: {answer}")

    async def add() -> None:
        await expect("POST", "workspaces/ws1/members", 201, {"username": member, "expires": day(9)})

    async def recorded() -> None:
        notes = [e["note"] for e in await events_about(api, "ws1") if e["reason"] == "MemberAdded"]
        if not any(f"added {member} " in n for n in notes):
            raise StepFailed(f"no MemberAdded event about {member}")

    async def trail() -> None:
        answer = await expect("GET", f"workspaces/ws1/events?user={member}", 200)
        if not answer["items"]:
            raise StepFailed("the trail is empty")

    async def change() -> None:
        await expect("PATCH", f"workspaces/ws1/members/{member}", 200, {"accessLevel": "viewer"})

    async def remove() -> None:
        await expect("DELETE", f"workspaces/ws1/members/{member}", 200)

    return [("list", listed), ("add", add), ("added_event", recorded), ("trail", trail),
            ("change", change), ("remove", remove)]  # fmt: skip


async def run(
    service: ServiceHub, api: ApiClient, cluster: LocalCluster, member: str
) -> tuple[str | None, dict[str, list[tuple[str, str]]]]:
    """The steps until one fails: (the failed step or None, the 403s of each step run)."""
    refusals = {}
    for name, step in steps(service, api, member):
        began = len(cluster.requests.entries)
        try:
            await step()
        except StepFailed as err:
            print(f"step {name} failed: {err}")
            refusals[name] = refused(cluster, began)
            return name, refusals
        refusals[name] = refused(cluster, began)
    return None, refusals


async def test_the_readme_shows_this_roles_rules() -> None:
    readme = (MANIFEST.parents[2] / "README.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", readme, re.DOTALL)]
    shown = [b["rules"] for b in blocks if isinstance(b, dict) and set(b) == {"rules"}]
    assert ROLE["rules"] in shown


class TestTheRole:
    async def test_the_service_does_its_job_with_exactly_its_role(
        self, full: ServiceHub, module_api: ApiClient, module_cluster: LocalCluster
    ) -> None:
        failed, refusals = await run(full, module_api, module_cluster, "ann")
        assert failed is None, refusals
        assert not any(refusals.values()), refusals
        mine = [r for r in module_cluster.requests.entries if r.user == USER]
        assert {(r.verb, r.resource) for r in mine} >= {
            ("list", "analyticsworkspaces"), ("list", "analyticsworkspacebindings"),
            ("create", "analyticsworkspacebindings"), ("patch", "analyticsworkspacebindings"),
            ("delete", "analyticsworkspacebindings"), ("create", "events"), ("list", "events"),
        }  # fmt: skip

    # Without this rule (or this verb of it), this step fails, with this 403 in the requests of
    # that step (or, for an event, of the step that recorded it: events are best effort, so
    # adding the member succeeds and the event is missing).
    BROKEN_BY = {
        "binding writes": (1, None, "add", ("create", "analyticsworkspacebindings"), "add"),
        "create bindings": (1, "create", "add", ("create", "analyticsworkspacebindings"), "add"),
        "patch bindings": (1, "patch", "change", ("patch", "analyticsworkspacebindings"), "change"),
        "delete bindings": (
            1,
            "delete",
            "remove",
            ("delete", "analyticsworkspacebindings"),
            "remove",
        ),
        "events": (2, None, "added_event", ("create", "events"), "add"),
        "create events": (2, "create", "added_event", ("create", "events"), "add"),
        "list events": (2, "list", "trail", ("list", "events"), "trail"),
    }

    async def test_every_rule_is_covered(self) -> None:
        assert len(ROLE["rules"]) == 3
        assert set(ROLE["rules"][1]["verbs"]) == {"create", "patch", "delete"}
        assert set(ROLE["rules"][2]["verbs"]) == {"create", "list"}

    @pytest.mark.parametrize("case", list(BROKEN_BY))
    async def test_without_a_rule_a_step_fails_with_its_403(
        self, full: ServiceHub, module_api: ApiClient, module_cluster: LocalCluster, case: str
    ) -> None:
        index, verb, step, refusal, where = self.BROKEN_BY[case]
        role = copy.deepcopy(ROLE)
        if verb is None:
            del role["rules"][index]
        else:
            role["rules"][index]["verbs"].remove(verb)
        await set_role(module_api, role)
        try:
            member = "m-" + case.replace(" ", "-")
            failed, refusals = await run(full, module_api, module_cluster, member)
        finally:
            await set_role(module_api, ROLE)
        assert failed == step, refusals
        assert refusal in refusals[where], refusals
        order = [name for name, _ in steps(full, module_api, member)]
        earlier = [s for s in order[: order.index(step)] if s != where]
        assert all(not refusals[s] for s in earlier), refusals
        # Clean up what the broken run left (as the admin, through the service).
        await full.call("DELETE", f"workspaces/ws1/members/{member}", "alice")


class TestWithoutTheReadRule:
    async def test_nothing_loads_and_the_list_is_refused(
        self, module_cluster: LocalCluster, module_api: ApiClient,
        tmp_path_factory: pytest.TempPathFactory,
    ) -> None:  # fmt: skip
        role = copy.deepcopy(ROLE)
        del role["rules"][0]
        await set_role(module_api, role)
        # A fresh service: its cache lists at start.
        tmp = tmp_path_factory.mktemp("rbac-read")
        kubeconfig = tmp / "kubeconfig"
        core: Any = client.CoreV1Api(module_api)
        request = {"spec": {"expirationSeconds": 3600}}
        made = await core.create_namespaced_service_account_token(ACCOUNT, NAMESPACE, request)
        token = made.status.token
        kubeconfig.write_text(module_cluster.kubeconfig_text(token=token, namespace=NAMESPACE))
        began = len(module_cluster.requests.entries)
        try:
            async with service_hub(
                module_cluster, tmp, kubeconfig=kubeconfig, sync_timeout=1
            ) as svc:
                status, answer = await svc.call("GET", "workspaces", "alice")
        finally:
            await set_role(module_api, ROLE)
        assert status == 503 and "still loading" in answer["message"], answer
        assert ("list", "analyticsworkspaces") in refused(module_cluster, began)
