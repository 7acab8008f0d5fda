"""StatefulSets, DaemonSets and their ControllerRevisions end to end through kubernetes_asyncio:
ordered pods with stable names and claims, one daemon pod per node, rolling updates, history,
status and the real validation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from kubernetes_asyncio.client.api_client import ApiClient

from kubesim import LocalCluster
from kubesim.testing import client_configuration
from tests.support.kube import expect_status
from tests.support.workloads import (
    Obj,
    apps_api,
    body_of,
    core_api,
    daemonset,
    statefulset,
    wait_for,
)

NS = "default"


@pytest_asyncio.fixture
async def api(module_cluster: LocalCluster) -> AsyncIterator[ApiClient]:
    async with ApiClient(client_configuration(module_cluster)) as api_client:
        yield api_client


async def pods_of(api: ApiClient, app: str) -> Obj:
    listed = await body_of(core_api(api).list_namespaced_pod(
        NS, label_selector=f"app={app}", _preload_content=False))  # fmt: skip
    listed["items"] = [p for p in listed["items"] if not p["metadata"].get("deletionTimestamp")]
    return listed


def names(listed: Obj) -> list[str]:
    return sorted(p["metadata"]["name"] for p in listed["items"])


async def test_statefulset_pods_claims_and_revisions(api: ApiClient) -> None:
    apps, core = apps_api(api), core_api(api)
    claim = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
             "resources": {"requests": {"storage": "1Gi"}}}}  # fmt: skip
    body = statefulset("db", replicas=2, volumeClaimTemplates=[claim])
    body["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "data", "mountPath": "/data"}]  # fmt: skip
    created = await body_of(apps.create_namespaced_stateful_set(NS, body, _preload_content=False))
    spec = created["spec"]
    assert (spec["podManagementPolicy"], spec["revisionHistoryLimit"]) == ("OrderedReady", 10)
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain", "whenScaled": "Retain"}  # fmt: skip
    template = spec["volumeClaimTemplates"][0]
    assert (template["apiVersion"], template["kind"]) == ("v1", "PersistentVolumeClaim")
    assert template["status"] == {"phase": "Pending"}
    assert template["spec"]["volumeMode"] == "Filesystem"
    assert created["status"] == {"replicas": 0, "availableReplicas": 0}

    async def read() -> Obj:
        return await body_of(apps.read_namespaced_stateful_set("db", NS, _preload_content=False))

    sts = await wait_for(read, lambda s: s["status"].get("availableReplicas") == 2)
    status = sts["status"]
    assert status["currentRevision"] == status["updateRevision"]
    assert status["collisionCount"] == 0 and status["observedGeneration"] == 1
    pods = await pods_of(api, "db")
    assert names(pods) == ["db-0", "db-1"]
    db0 = next(p for p in pods["items"] if p["metadata"]["name"] == "db-0")
    assert db0["metadata"]["labels"] == {
        "app": "db",
        "controller-revision-hash": status["updateRevision"],
        "statefulset.kubernetes.io/pod-name": "db-0",
        "apps.kubernetes.io/pod-index": "0",
    }
    assert (db0["spec"]["hostname"], db0["spec"]["subdomain"]) == ("db-0", "db")
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}} in db0[
        "spec"]["volumes"]  # fmt: skip
    pvcs = await core.list_namespaced_persistent_volume_claim(NS, label_selector="app=db")
    assert sorted(p.metadata.name for p in pvcs.items) == ["data-db-0", "data-db-1"]
    revisions = await apps.list_namespaced_controller_revision(NS, label_selector="app=db")
    [revision] = revisions.items
    assert revision.metadata.name == status["updateRevision"] and revision.revision == 1
    assert revision.data["spec"]["template"]["$patch"] == "replace"
    events = await core.list_namespaced_event(NS, field_selector="involvedObject.name=db")
    messages = [e.message for e in events.items]
    assert messages.index("create Pod db-0 in StatefulSet db successful") < messages.index(
        "create Pod db-1 in StatefulSet db successful")  # fmt: skip
    assert "create Claim data-db-0 Pod db-0 in StatefulSet db success" in messages

    # A template change rolls the pods over to a second revision, highest ordinal first.
    patch = {"spec": {"template": {"metadata": {"annotations": {"v": "2"}}}}}
    await apps.patch_namespaced_stateful_set("db", NS, patch)
    sts = await wait_for(
        read,
        lambda s: (
            s["status"].get("updatedReplicas") == 2
            and s["status"].get("readyReplicas") == 2
            and s["status"]["currentRevision"] == s["status"]["updateRevision"]
        ),
    )
    assert sts["status"]["updateRevision"] != status["updateRevision"]
    revisions = await apps.list_namespaced_controller_revision(NS, label_selector="app=db")
    assert sorted(r.revision for r in revisions.items) == [1, 2]
    # Scaling down removes the highest ordinal; its claim stays (whenScaled: Retain).
    await apps.patch_namespaced_stateful_set_scale("db", NS, {"spec": {"replicas": 1}})
    await wait_for(lambda: pods_of(api, "db"), lambda p: names(p) == ["db-0"])
    pvcs = await core.list_namespaced_persistent_volume_claim(NS, label_selector="app=db")
    assert len(pvcs.items) == 2


async def test_statefulset_validation(api: ApiClient) -> None:
    apps = apps_api(api)
    body = statefulset("Bad.Name")
    err = await expect_status(apps.create_namespaced_stateful_set(NS, body), 422, "Invalid")
    assert err["message"].startswith(
        'StatefulSet.apps "Bad.Name" is invalid: metadata.name: '
        'Invalid value: "Bad.Name": a lowercase RFC 1123 label'
    )
    await apps.create_namespaced_stateful_set(NS, statefulset("fixed", replicas=0))
    err = await expect_status(apps.patch_namespaced_stateful_set(
        "fixed", NS, {"spec": {"serviceName": "other"}}), 422, "Invalid")  # fmt: skip
    assert err["message"] == (
        'StatefulSet.apps "fixed" is invalid: spec: Forbidden: updates to statefulset spec for '
        "fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
        "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
    )


async def test_daemonset_runs_one_pod_on_the_node(api: ApiClient) -> None:
    apps = apps_api(api)
    created = await body_of(apps.create_namespaced_daemon_set(
        NS, daemonset("agent"), _preload_content=False))  # fmt: skip
    assert created["spec"]["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }
    assert created["metadata"]["annotations"] == {"deprecated.daemonset.template.generation": "1"}
    assert created["status"] == {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                                 "desiredNumberScheduled": 0, "numberReady": 0}  # fmt: skip

    async def read() -> Obj:
        return await body_of(apps.read_namespaced_daemon_set("agent", NS, _preload_content=False))

    ds = await wait_for(read, lambda d: d["status"].get("numberAvailable") == 1)
    assert ds["status"] == {"currentNumberScheduled": 1, "numberMisscheduled": 0,
                            "desiredNumberScheduled": 1, "numberReady": 1,
                            "observedGeneration": 1, "updatedNumberScheduled": 1,
                            "numberAvailable": 1}  # fmt: skip
    [pod] = (await pods_of(api, "agent"))["items"]
    assert pod["spec"]["nodeName"] == "local-node"
    terms = pod["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]  # fmt: skip
    assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                        "values": ["local-node"]}]}]  # fmt: skip
    tolerated = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]}
    assert ("node.kubernetes.io/unschedulable", "NoSchedule") in tolerated
    digest = pod["metadata"]["labels"]["controller-revision-hash"]
    assert pod["metadata"]["labels"]["pod-template-generation"] == "1"
    # An update replaces the pod and bumps the template generation.
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.26"}]}}}
    }
    await apps.patch_namespaced_daemon_set("agent", NS, patch)
    ds = await wait_for(
        read,
        lambda d: (
            d["status"].get("updatedNumberScheduled") == 1
            and d["status"].get("observedGeneration") == 2
            and d["status"].get("numberAvailable") == 1
        ),
    )
    assert ds["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == "2"
    [pod] = (await wait_for(lambda: pods_of(api, "agent"), lambda p: len(p["items"]) == 1
                            and p["items"][0]["metadata"]["labels"]["controller-revision-hash"]
                            != digest))["items"]  # fmt: skip
    assert pod["metadata"]["labels"]["pod-template-generation"] == "2"
    # A template that no selector can match is refused, as on a real server.
    bad = daemonset("nomatch")
    del bad["spec"]["selector"]
    err = await expect_status(apps.create_namespaced_daemon_set(NS, bad), 422, "Invalid")
    assert err["message"] == (
        'DaemonSet.apps "nomatch" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"nomatch"}: `selector` does not match template `labels`'
    )
