# mypy: disable-error-code="no-untyped-call"
"""Deleting workloads through the synchronous `kubernetes` client: background, foreground and
orphan propagation down Deployment -> ReplicaSet -> Pod chains, and who may scale what under the
bootstrap `view` and `edit` roles."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubesim import LocalCluster
from tests.support.sync_client import configuration
from tests.support.workloads import deployment

NS = "default"


@pytest.fixture
def api(local_cluster: LocalCluster) -> Iterator[client.ApiClient]:
    with client.ApiClient(configuration(local_cluster)) as api_client:
        yield api_client


def eventually(check: Callable[[], Any], seconds: float = 10) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def rolled_out(apps: Any, name: str, replicas: int) -> bool:
    d: Any = apps.read_namespaced_deployment(name, NS)
    return bool(d.status.available_replicas == replicas and d.status.updated_replicas == replicas)


def counts(api: client.ApiClient, app: str) -> tuple[int, int]:
    apps: Any = client.AppsV1Api(api)
    core: Any = client.CoreV1Api(api)
    rss = apps.list_namespaced_replica_set(NS, label_selector=f"app={app}").items
    pods = core.list_namespaced_pod(NS, label_selector=f"app={app}").items
    return len(rss), len(pods)


def test_background_and_foreground_deletes_take_the_chain(api: client.ApiClient) -> None:
    apps: Any = client.AppsV1Api(api)
    for name in ("bg", "fg"):
        apps.create_namespaced_deployment(NS, deployment(name, replicas=2))
    eventually(lambda: rolled_out(apps, "bg", 2) and rolled_out(apps, "fg", 2))
    apps.delete_namespaced_deployment("bg", NS, body=client.V1DeleteOptions())
    eventually(lambda: counts(api, "bg") == (0, 0))
    # Foreground: the owner stays, marked, until its dependents are gone; then it goes too.
    answer = apps.delete_namespaced_deployment(
        "fg", NS, propagation_policy="Foreground", _preload_content=False
    )
    marked = json.loads(answer.data or "{}")
    assert marked["kind"] == "Deployment"
    assert marked["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert marked["metadata"]["deletionTimestamp"]
    eventually(lambda: counts(api, "fg") == (0, 0))

    def gone() -> bool:
        try:
            apps.read_namespaced_deployment("fg", NS)
        except ApiException as err:
            return bool(err.status == 404)
        return False

    eventually(gone)


def test_orphan_delete_leaves_the_replica_set_running(api: client.ApiClient) -> None:
    apps: Any = client.AppsV1Api(api)
    core: Any = client.CoreV1Api(api)
    apps.create_namespaced_deployment(NS, deployment("orphans", replicas=2))
    eventually(lambda: rolled_out(apps, "orphans", 2))
    apps.delete_namespaced_deployment("orphans", NS, propagation_policy="Orphan")
    [rs] = apps.list_namespaced_replica_set(NS, label_selector="app=orphans").items
    assert not rs.metadata.owner_references  # the reference to the deployment went
    pods = core.list_namespaced_pod(NS, label_selector="app=orphans").items
    assert len(pods) == 2 and all(p.metadata.owner_references[0].name == rs.metadata.name
                                  for p in pods)  # fmt: skip
    time.sleep(0.3)
    assert counts(api, "orphans") == (1, 2)  # nothing collects them later either
    # A new deployment with the same selector adopts the orphaned replica set.
    apps.create_namespaced_deployment(NS, deployment("orphans", replicas=2))
    adopted = eventually(lambda: apps.read_namespaced_replica_set(
        rs.metadata.name, NS).metadata.owner_references)  # fmt: skip
    assert adopted[0].kind == "Deployment" and adopted[0].controller is True


def test_view_reads_scale_and_edit_changes_it(
    local_cluster: LocalCluster, api: client.ApiClient
) -> None:
    core: Any = client.CoreV1Api(api)
    rbac: Any = client.RbacAuthorizationV1Api(api)
    apps: Any = client.AppsV1Api(api)
    apps.create_namespaced_deployment(NS, deployment("guarded", replicas=1))
    tokens = {}
    for role in ("view", "edit"):
        core.create_namespaced_service_account(NS, {"metadata": {"name": f"as-{role}"}})
        rbac.create_namespaced_role_binding(NS, {
            "metadata": {"name": f"as-{role}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": f"as-{role}", "namespace": NS}],
        })  # fmt: skip
        request = core.create_namespaced_service_account_token(f"as-{role}", NS, {"spec": {}})
        tokens[role] = request.status.token
    with client.ApiClient(configuration(local_cluster, tokens["view"])) as viewer:
        view_apps: Any = client.AppsV1Api(viewer)
        assert view_apps.read_namespaced_deployment_scale("guarded", NS).spec.replicas == 1
        with pytest.raises(ApiException) as info:
            view_apps.patch_namespaced_deployment_scale("guarded", NS, {"spec": {"replicas": 2}})
        body = json.loads(info.value.body or "{}")
        assert (info.value.status, body["reason"]) == (403, "Forbidden")
        assert body["message"] == (
            'deployments.apps "guarded" is forbidden: User "system:serviceaccount:default:'
            'as-view" cannot patch resource "deployments/scale" in API group "apps" in the '
            'namespace "default"'
        )
    with client.ApiClient(configuration(local_cluster, tokens["edit"])) as editor:
        edit_apps: Any = client.AppsV1Api(editor)
        edit_apps.patch_namespaced_deployment_scale("guarded", NS, {"spec": {"replicas": 2}})
    eventually(lambda: rolled_out(apps, "guarded", 2))
