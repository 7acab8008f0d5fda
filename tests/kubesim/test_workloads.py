"""Deployments, ReplicaSets and ReplicationControllers end to end through kubernetes_asyncio:
the real defaults, validation messages, the controllers' replica sets, pods, statuses and
events, rolling and recreate updates, history cleanup, adoption and the scale subresource."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from kubernetes_asyncio.client.api_client import ApiClient

from kubesim import LocalCluster
from kubesim.testing import client_configuration
from tests.support.kube import expect_status
from tests.support.workloads import (
    Obj,
    apps_api,
    body_of,
    condition,
    core_api,
    deployment,
    pod_template,
    replicaset,
    wait_for,
)

NS = "default"


@pytest_asyncio.fixture
async def api(module_cluster: LocalCluster) -> AsyncIterator[ApiClient]:
    async with ApiClient(client_configuration(module_cluster)) as api_client:
        yield api_client


async def read_deployment(api: ApiClient, name: str) -> Obj:
    return await body_of(apps_api(api).read_namespaced_deployment(name, NS, _preload_content=False))


async def replica_sets(api: ApiClient, app: str) -> list[Obj]:
    listed = await body_of(apps_api(api).list_namespaced_replica_set(
        NS, label_selector=f"app={app}", _preload_content=False))  # fmt: skip
    items: list[Obj] = listed["items"]
    return items


async def pods_of(api: ApiClient, app: str) -> list[Obj]:
    listed = await body_of(core_api(api).list_namespaced_pod(
        NS, label_selector=f"app={app}", _preload_content=False))  # fmt: skip
    return [p for p in listed["items"] if not p["metadata"].get("deletionTimestamp")]


async def events_about(api: ApiClient, name: str) -> list[tuple[str, str, str]]:
    listed = await core_api(api).list_namespaced_event(
        NS, field_selector=f"involvedObject.name={name}"
    )
    return [(e.reason, e.message, e.source.component) for e in listed.items]


def rolled_out(d: Obj) -> bool:
    status, want = d.get("status") or {}, d["spec"]["replicas"]
    return bool(
        status.get("observedGeneration") == d["metadata"]["generation"]
        and status.get("updatedReplicas", 0) == want
        and status.get("availableReplicas", 0) == want
        and status.get("replicas", 0) == want
        and (condition(d, "Progressing") or {}).get("reason") == "NewReplicaSetAvailable"
    )


async def test_deployment_rolls_out_through_a_replica_set(api: ApiClient) -> None:
    created = await body_of(apps_api(api).create_namespaced_deployment(
        NS, deployment("roll", replicas=3), _preload_content=False))  # fmt: skip
    # v1 defaulting, and the template defaulted as a pod spec but not as a pod.
    spec = created["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    assert created["status"] == {} and created["metadata"]["generation"] == 1
    template = spec["template"]
    assert template["metadata"]["creationTimestamp"] is None
    assert template["spec"]["restartPolicy"] == "Always"
    assert "enableServiceLinks" not in template["spec"]
    assert template["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"

    d = await wait_for(lambda: read_deployment(api, "roll"), rolled_out)
    assert d["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "1"}
    assert condition(d, "Available") is not None
    available = condition(d, "Available") or {}
    assert (available["reason"], available["message"]) == (
        "MinimumReplicasAvailable",
        "Deployment has minimum availability.",
    )
    [rs] = await replica_sets(api, "roll")
    digest = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"roll-{digest}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "roll", "pod-template-hash": digest}
    assert rs["metadata"]["annotations"] == {
        "deployment.kubernetes.io/revision": "1",
        "deployment.kubernetes.io/desired-replicas": "3",
        "deployment.kubernetes.io/max-replicas": "4",
    }
    [ref] = rs["metadata"]["ownerReferences"]
    assert ref == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "roll",
        "uid": d["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert rs["status"] == {"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 3,
                            "availableReplicas": 3, "observedGeneration": 1}  # fmt: skip
    pods = await pods_of(api, "roll")
    assert len(pods) == 3
    for pod in pods:
        assert pod["metadata"]["generateName"] == f"{rs['metadata']['name']}-"
        assert pod["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
        assert pod["spec"]["enableServiceLinks"] is True  # a pod gets the pod defaults
    events = await events_about(api, "roll")
    message = f"Scaled up replica set {rs['metadata']['name']} from 0 to 3"
    assert ("ScalingReplicaSet", message, "deployment-controller") in events
    created_pods = {m for r, m, c in await events_about(api, rs["metadata"]["name"])
                    if r == "SuccessfulCreate" and c == "replicaset-controller"}  # fmt: skip
    assert created_pods == {f"Created pod: {p['metadata']['name']}" for p in pods}


async def test_rolling_update_keeps_only_the_history_asked_for(api: ApiClient) -> None:
    await apps_api(api).create_namespaced_deployment(
        NS, deployment("hist", replicas=2, revisionHistoryLimit=1)
    )
    await wait_for(lambda: read_deployment(api, "hist"), rolled_out)
    for image in ("nginx:1.26", "nginx:1.27"):
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": image}]}}}}
        await apps_api(api).patch_namespaced_deployment("hist", NS, patch)
        d = await wait_for(lambda: read_deployment(api, "hist"), rolled_out)
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    rss = await wait_for(lambda: _as_obj(replica_sets(api, "hist")), lambda r: len(r["items"]) == 2)
    by_revision = {r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: r
                   for r in rss["items"]}  # fmt: skip
    assert sorted(by_revision) == ["2", "3"]  # revision 1 went: revisionHistoryLimit 1
    assert by_revision["3"]["spec"]["replicas"] == 2
    assert by_revision["3"]["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert by_revision["2"]["spec"]["replicas"] == 0
    assert {p["spec"]["containers"][0]["image"] for p in await pods_of(api, "hist")} == {
        "nginx:1.27"
    }
    progressing = condition(d, "Progressing") or {}
    name = by_revision["3"]["metadata"]["name"]
    assert progressing["message"] == f'ReplicaSet "{name}" has successfully progressed.'


async def _as_obj(items: Any) -> Obj:
    return {"items": await items}


async def test_recreate_scales_down_before_it_scales_up(api: ApiClient) -> None:
    body = deployment("recreate", replicas=2, strategy={"type": "Recreate"})
    created = await body_of(apps_api(api).create_namespaced_deployment(
        NS, body, _preload_content=False))  # fmt: skip
    assert created["spec"]["strategy"] == {"type": "Recreate"}  # no rollingUpdate defaulted
    await wait_for(lambda: read_deployment(api, "recreate"), rolled_out)
    patch = {"spec": {"template": {"metadata": {"labels": {"app": "recreate", "v": "2"}}}}}
    await apps_api(api).patch_namespaced_deployment("recreate", NS, patch)
    await wait_for(lambda: read_deployment(api, "recreate"), rolled_out)
    events = [m for r, m, _ in await events_about(api, "recreate") if r == "ScalingReplicaSet"]
    down = next(i for i, m in enumerate(events) if "Scaled down" in m and "from 2 to 0" in m)
    up_new = [i for i, m in enumerate(events) if "Scaled up" in m]
    assert len(up_new) == 2 and up_new[1] > down  # the new set only after the old one is down


async def test_scale_subresource_is_an_autoscaling_v1_scale(api: ApiClient) -> None:
    await apps_api(api).create_namespaced_deployment(NS, deployment("scaled", replicas=1))
    scale = await body_of(apps_api(api).read_namespaced_deployment_scale(
        "scaled", NS, _preload_content=False))  # fmt: skip
    assert scale["apiVersion"] == "autoscaling/v1" and scale["kind"] == "Scale"
    assert scale["spec"] == {"replicas": 1}
    assert scale["status"]["selector"] == "app=scaled"
    # A strategic merge patch (kubernetes_asyncio's default for a dict) is accepted here.
    await apps_api(api).patch_namespaced_deployment_scale("scaled", NS, {"spec": {"replicas": 3}})
    d = await wait_for(lambda: read_deployment(api, "scaled"), rolled_out)
    assert d["spec"]["replicas"] == 3 and d["metadata"]["generation"] == 2
    body = await expect_status(apps_api(api).replace_namespaced_deployment_scale(
        "scaled", NS, {"spec": {"replicas": -1}, "metadata": {"name": "scaled"}}), 422,
        "Invalid")  # fmt: skip
    assert body["message"] == (
        'Scale.autoscaling "scaled" is invalid: spec.replicas: Invalid value: -1: '
        "must be greater than or equal to 0"
    )
    assert body["details"]["kind"] == "Scale" and body["details"]["group"] == "autoscaling"


async def test_validation_speaks_as_the_real_server(api: ApiClient) -> None:
    body = deployment("bad")
    del body["spec"]["selector"]
    err = await expect_status(apps_api(api).create_namespaced_deployment(NS, body), 422, "Invalid")
    assert err["message"] == (
        'Deployment.apps "bad" is invalid: [spec.selector: Required value, '
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"bad"}: '
        "`selector` does not match template `labels`]"
    )
    body = deployment("bad")
    body["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    err = await expect_status(apps_api(api).create_namespaced_deployment(NS, body), 422, "Invalid")
    assert err["message"] == (
        'Deployment.apps "bad" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"bad"}: `selector` does not match template `labels`'
    )
    body = deployment("bad", replicas=-1)
    body["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    body["spec"]["strategy"] = {"rollingUpdate": {"maxUnavailable": "150%", "maxSurge": 0}}
    err = await expect_status(apps_api(api).create_namespaced_deployment(NS, body), 422, "Invalid")
    assert err["message"] == (
        'Deployment.apps "bad" is invalid: [spec.replicas: Invalid value: -1: must be greater '
        'than or equal to 0, spec.template.spec.restartPolicy: Unsupported value: "Never": '
        'supported values: "Always", spec.strategy.rollingUpdate.maxUnavailable: Invalid '
        'value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"150%"}: must not be greater '
        "than 100%]"
    )
    body = deployment("bad")
    body["spec"]["replicas"] = "3"
    err = await expect_status(
        apps_api(api).create_namespaced_deployment(NS, body), 400, "BadRequest"
    )
    assert err["message"] == (
        'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal '
        "string into Go struct field DeploymentSpec.spec.replicas of type int32"
    )
    # The selector of an apps/v1 object is immutable.
    await apps_api(api).create_namespaced_deployment(NS, deployment("fixed"))
    patch = {
        "spec": {
            "selector": {"matchLabels": {"app": "fixed", "tier": "x"}},
            "template": {"metadata": {"labels": {"app": "fixed", "tier": "x"}}},
        }
    }
    err = await expect_status(apps_api(api).patch_namespaced_deployment("fixed", NS, patch), 422,
                              "Invalid")  # fmt: skip
    assert err["message"] == (
        'Deployment.apps "fixed" is invalid: spec.selector: Invalid value: v1.LabelSelector'
        '{MatchLabels:map[string]string{"app":"fixed", "tier":"x"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
    )


async def test_replica_set_adopts_releases_and_replaces_pods(api: ApiClient) -> None:
    core = core_api(api)
    # An orphan that matches the selector before the replica set exists is adopted.
    orphan = {"metadata": {"name": "stray", "labels": {"app": "adopt"}},
              "spec": {"containers": [{"name": "main", "image": "nginx"}]}}  # fmt: skip
    await core.create_namespaced_pod(NS, orphan)
    rs = await body_of(apps_api(api).create_namespaced_replica_set(
        NS, replicaset("adopt", replicas=2), _preload_content=False))  # fmt: skip
    assert rs["status"] == {"replicas": 0}

    async def read_rs() -> Obj:
        return await body_of(apps_api(api).read_namespaced_replica_set(
            "adopt", NS, _preload_content=False))  # fmt: skip

    await wait_for(read_rs, lambda r: r["status"].get("readyReplicas") == 2)
    stray = await core.read_namespaced_pod("stray", NS)
    assert stray.metadata.owner_references[0].uid == rs["metadata"]["uid"]
    assert len(await pods_of(api, "adopt")) == 2  # the orphan counted: one pod made, not two
    # A pod relabelled out of the selector is released, and replaced.
    await core.patch_namespaced_pod("stray", NS, {"metadata": {"labels": {"app": "gone"}}})
    await wait_for(lambda: _as_obj(pods_of(api, "adopt")), lambda p: len(p["items"]) == 2)
    released = await core.read_namespaced_pod("stray", NS)
    assert not released.metadata.owner_references
    # Deleting a pod makes the set replace it.
    victim = (await pods_of(api, "adopt"))[0]["metadata"]["name"]
    await core.delete_namespaced_pod(victim, NS, grace_period_seconds=0)
    replaced = await wait_for(
        lambda: _as_obj(pods_of(api, "adopt")),
        lambda p: (
            len(p["items"]) == 2 and victim not in {i["metadata"]["name"] for i in p["items"]}
        ),
    )
    assert len(replaced["items"]) == 2
    await core.delete_namespaced_pod("stray", NS)


async def test_replication_controller_defaults_from_its_template(api: ApiClient) -> None:
    core = core_api(api)
    rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "legacy"},
          "spec": {"template": pod_template("legacy")}}  # fmt: skip
    created = await body_of(core.create_namespaced_replication_controller(
        NS, rc, _preload_content=False))  # fmt: skip
    assert created["spec"]["selector"] == {"app": "legacy"}
    assert created["metadata"]["labels"] == {"app": "legacy"}
    assert created["spec"]["replicas"] == 1 and created["status"] == {"replicas": 0}

    async def read_rc() -> Obj:
        return await body_of(core.read_namespaced_replication_controller(
            "legacy", NS, _preload_content=False))  # fmt: skip

    await wait_for(read_rc, lambda r: r["status"].get("availableReplicas") == 1)
    scale = await body_of(core.read_namespaced_replication_controller_scale(
        "legacy", NS, _preload_content=False))  # fmt: skip
    assert scale["status"] == {"replicas": 1, "selector": "app=legacy"}
    events = await events_about(api, "legacy")
    assert any(r == "SuccessfulCreate" and c == "replication-controller" for r, _, c in events)
    await core.delete_namespaced_replication_controller("legacy", NS)
    await wait_for(lambda: _as_obj(pods_of(api, "legacy")), lambda p: not p["items"])


async def test_malformed_bodies_get_the_decoders_and_validations_errors(api: ApiClient) -> None:
    create = apps_api(api).create_namespaced_deployment
    err = await expect_status(create(NS, {"metadata": {"name": "m"}, "spec": "nope"}), 400,
                              "BadRequest")  # fmt: skip
    assert err["message"].endswith(
        "json: cannot unmarshal string into Go struct field Deployment.spec of type "
        "v1.DeploymentSpec"
    )
    body = {"metadata": {"name": "m"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
                                                "template": []}}  # fmt: skip
    err = await expect_status(create(NS, body), 400, "BadRequest")
    assert err["message"].endswith(
        "cannot unmarshal array into Go struct field DeploymentSpec.spec.template of type "
        "v1.PodTemplateSpec"
    )
    # No template at all is the zero template: it matches no selector and has no containers.
    body = {"metadata": {"name": "m"}, "spec": {"selector": {"matchLabels": {"a": "b"}}}}
    err = await expect_status(create(NS, body), 422, "Invalid")
    assert err["message"] == (
        'Deployment.apps "m" is invalid: [spec.template.metadata.labels: Invalid value: '
        "map[string]string(nil): `selector` does not match template `labels`, "
        "spec.template.spec.containers: Required value]"
    )
    bad_selector = deployment("m")
    bad_selector["spec"]["selector"] = {"matchExpressions": [{"key": "app", "operator": "Near"}]}
    err = await expect_status(create(NS, bad_selector), 422, "Invalid")
    assert [c["field"] for c in err["details"]["causes"]] == [
        "spec.selector.matchExpressions[0].operator", "spec.selector"]  # fmt: skip
    assert err["details"]["causes"][1]["message"].endswith(": invalid label selector")
    # Nothing reached the store or the controllers.
    assert not await replica_sets(api, "m")
