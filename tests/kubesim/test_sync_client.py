# mypy: disable-error-code="no-untyped-call"
"""Conformance through the synchronous `kubernetes` client (kubernetes-client/python), beside the
kubernetes_asyncio and kubectl tests: its typed APIs, its `watch`, its dynamic client (which is
driven entirely by discovery), and the points of the fidelity issue: the published LSC-SDE CRDs,
the divergences that were fixed, and RBAC.

The cluster runs in a thread of its own, so these blocking calls never stall it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, dynamic, watch
from kubernetes.client.exceptions import ApiException

from kubesim import LocalCluster
from tests.support.published_crds import load_published_crds
from tests.support.sample_crds import GROUP, WIDGET_CRD, widget
from tests.support.sync_client import configuration

Obj = dict[str, Any]
LSCSDE = "xlscsde.nhs.uk"


@pytest.fixture
def api(local_cluster: LocalCluster) -> Iterator[client.ApiClient]:
    with client.ApiClient(configuration(local_cluster)) as api_client:
        yield api_client


def failure(call: Any, *args: Any, **kwargs: Any) -> tuple[int, Obj]:
    """The status code and Status body of a call that fails."""
    with pytest.raises(ApiException) as info:
        call(*args, **kwargs)
    return info.value.status, json.loads(info.value.body or "")


def install(api: client.ApiClient, crds: list[Obj]) -> None:
    """Create the CRDs; kubesim serves their kinds as soon as they are stored."""
    ext: Any = client.ApiextensionsV1Api(api)
    for crd in crds:
        ext.create_custom_resource_definition(crd)


# -- typed APIs, lists and watches ------------------------------------------------------------


def test_typed_crud_and_selectors(api: client.ApiClient) -> None:
    v1: Any = client.CoreV1Api(api)
    for i in range(5):
        labels = {"n": str(i), "even": str(i % 2 == 0)}
        v1.create_namespaced_config_map(
            "default", {"metadata": {"name": f"cm{i}", "labels": labels}}
        )
    even = v1.list_namespaced_config_map("default", label_selector="even=True,n!=0")
    assert [c.metadata.name for c in even.items] == ["cm2", "cm4"]
    named = v1.list_namespaced_config_map("default", field_selector="metadata.name=cm3")
    assert [c.metadata.name for c in named.items] == ["cm3"]

    # limit/continue pages through a consistent snapshot
    first = v1.list_namespaced_config_map("default", limit=2, label_selector="n")
    assert len(first.items) == 2 and first.metadata._continue
    v1.delete_namespaced_config_map("cm4", "default")
    rest = v1.list_namespaced_config_map(
        "default", limit=10, label_selector="n", _continue=first.metadata._continue
    )
    assert [c.metadata.name for c in first.items + rest.items] == [f"cm{i}" for i in range(5)]

    patched = v1.patch_namespaced_config_map("cm1", "default", {"data": {"k": "v"}})
    assert patched.data == {"k": "v"}
    gone = v1.delete_namespaced_config_map("cm1", "default", _preload_content=False)
    assert json.loads(gone.data)["status"] == "Success"
    code, body = failure(v1.read_namespaced_config_map, "cm1", "default")
    assert (code, body["reason"], body["message"]) == (
        404, "NotFound", 'configmaps "cm1" not found'
    )  # fmt: skip


def test_watch_resumes_from_a_resource_version(api: client.ApiClient) -> None:
    v1: Any = client.CoreV1Api(api)
    listed = v1.list_namespaced_config_map("default")
    v1.create_namespaced_config_map("default", {"metadata": {"name": "w1"}})
    v1.patch_namespaced_config_map("w1", "default", {"data": {"a": "1"}})
    v1.delete_namespaced_config_map("w1", "default")
    seen = []
    w = watch.Watch()
    for event in w.stream(
        v1.list_namespaced_config_map,
        "default",
        resource_version=listed.metadata.resource_version,
        timeout_seconds=5,
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:
            w.stop()
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]


def test_watch_of_an_expired_version_is_410_gone() -> None:
    """The client's watch raises on the in-stream ERROR event a compacted history gives."""
    with LocalCluster(history_size=10) as cluster, client.ApiClient(configuration(cluster)) as api:
        v1: Any = client.CoreV1Api(api)
        old = v1.create_namespaced_config_map("default", {"metadata": {"name": "old"}})
        for i in range(20):
            v1.create_namespaced_config_map("default", {"metadata": {"name": f"cm{i}"}})
        with pytest.raises(ApiException) as info:
            for _ in watch.Watch().stream(
                v1.list_namespaced_config_map,
                "default",
                resource_version=old.metadata.resource_version,
                timeout_seconds=5,
            ):
                pass
    assert info.value.status == 410


# -- the dynamic client: discovery, custom resources, scale -----------------------------------


def test_dynamic_client_finds_builtin_and_custom_kinds(api: client.ApiClient) -> None:
    install(api, [WIDGET_CRD])
    dyn = dynamic.DynamicClient(api)
    widgets = dyn.resources.get(api_version=f"{GROUP}/v1", kind="Widget")
    widgets.create(body=widget("w1"), namespace="default")
    assert [w.metadata.name for w in widgets.get(namespace="default").items] == ["w1"]
    # the scale subresource's selector is a string (or absent), never the object
    scale = widgets.subresources["scale"].get(name="w1", namespace="default")
    assert scale.kind == "Scale" and not isinstance(scale.status.get("selector"), dict)

    namespaces = dyn.resources.get(api_version="v1", kind="Namespace")
    assert "default" in [n.metadata.name for n in namespaces.get().items]
    nodes = dyn.resources.get(api_version="v1", kind="Node").get()
    assert [n.metadata.name for n in nodes.items] == ["local-node"]


# -- the published LSC-SDE CRDs (issue section 1) ---------------------------------------------


def test_published_crds_and_json_patch_as_the_field_sends_it(api: client.ApiClient) -> None:
    """The field's tools `replace` /status on objects with none; kube-apiserver's JSON patch
    (evanphx v4) adds the member, so must we."""
    install(api, load_published_crds())
    co: Any = client.CustomObjectsApi(api)
    body = {
        "apiVersion": f"{LSCSDE}/v1",
        "kind": "AnalyticsWorkspace",
        "metadata": {"name": "ws1"},
        "spec": {
            "displayName": "Workspace 1",
            "description": "The published CRD requires one.",
            "validity": {"availableFrom": "2024-01-01", "expires": "2030-12-31"},
            "jupyterWorkspace": {"image": "lscsde/notebook:0.1.0"},
        },
    }
    made = co.create_namespaced_custom_object(LSCSDE, "v1", "default", "analyticsworkspaces", body)
    assert "status" not in made  # the status subresource: a create never sets it
    patch = [{"op": "replace", "path": "/status", "value": {"statusText": "Available"}}]
    co.api_client.set_default_header("Content-Type", "application/json-patch+json")
    patched = co.patch_namespaced_custom_object_status(
        LSCSDE, "v1", "default", "analyticsworkspaces", "ws1", patch
    )
    assert patched["status"]["statusText"] == "Available"
    # categories: `krap` finds the kinds the chart lists under it
    krap: Any = client.ApisApi(api)
    assert krap.get_api_versions().groups  # discovery served
    resources: Any = client.CustomObjectsApi(api).get_api_resources(LSCSDE, "v1").resources
    assert {r.name for r in resources if r.categories and "krap" in r.categories} >= {
        "analyticsworkspaces",
        "analyticsdatasources",
        "analyticsdatasourcebindings",
    }


# -- the divergences that were fixed (issue section 2) -----------------------------------------


def test_create_with_a_resource_version_is_refused(api: client.ApiClient) -> None:
    v1: Any = client.CoreV1Api(api)
    code, body = failure(
        v1.create_namespaced_config_map,
        "default",
        {"metadata": {"name": "rv", "resourceVersion": "5"}},
    )
    assert (code, body["message"]) == (
        500, "resourceVersion should not be set on objects to be created"
    )  # fmt: skip


def test_invalid_causes_and_status_order(api: client.ApiClient) -> None:
    v1: Any = client.CoreV1Api(api)
    with pytest.raises(ApiException) as info:
        v1.create_namespaced_config_map("default", {"metadata": {"name": "Bad_Name"}})
    text = info.value.body or ""
    assert text.startswith('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure"')
    [cause] = json.loads(text)["details"]["causes"]
    assert cause["field"] == "metadata.name"
    assert not cause["message"].startswith("metadata.name")  # the field is named once


def test_empty_annotations_and_event_time_are_stored_as_a_real_server_stores_them(
    api: client.ApiClient,
) -> None:
    v1: Any = client.CoreV1Api(api)
    made = v1.create_namespaced_config_map(
        "default", {"metadata": {"name": "e", "annotations": {}}}, _preload_content=False
    )
    assert "annotations" not in json.loads(made.data)["metadata"]
    events: Any = client.EventsV1Api(api)
    event = events.create_namespaced_event(
        "default",
        {
            "metadata": {"name": "ev"},
            "eventTime": "2024-02-03T04:05:06.7Z",
            "reportingController": "test/sync",
            "reportingInstance": "sync-1",
            "action": "Tested",
            "reason": "Tested",
            "regarding": {"kind": "ConfigMap", "name": "e", "namespace": "default"},
            "type": "Normal",
        },
        _preload_content=False,
    )
    assert json.loads(event.data)["eventTime"] == "2024-02-03T04:05:06.700000Z"


# -- RBAC (issue section 4) --------------------------------------------------------------------


def test_service_account_tokens_and_rbac(local_cluster: LocalCluster) -> None:
    with client.ApiClient(configuration(local_cluster)) as admin:
        v1: Any = client.CoreV1Api(admin)
        v1.create_namespaced_service_account("default", {"metadata": {"name": "reader"}})
        rbac: Any = client.RbacAuthorizationV1Api(admin)
        rbac.create_namespaced_role(
            "default",
            {
                "metadata": {"name": "cm-reader"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
            },
        )
        rbac.create_namespaced_role_binding(
            "default",
            {
                "metadata": {"name": "reader"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                            "name": "cm-reader"},
                "subjects": [{"kind": "ServiceAccount", "name": "reader",
                              "namespace": "default"}],
            },
        )  # fmt: skip
        token = v1.create_namespaced_service_account_token(
            "reader", "default", {"spec": {"expirationSeconds": 600}}
        ).status.token

    with client.ApiClient(configuration(local_cluster, token)) as reader:
        as_reader: Any = client.CoreV1Api(reader)
        as_reader.list_namespaced_config_map("default")
        code, body = failure(as_reader.read_namespaced_config_map, "x", "default")
        assert (code, body["reason"]) == (403, "Forbidden")
        assert body["message"] == (
            'configmaps "x" is forbidden: User "system:serviceaccount:default:reader" cannot '
            'get resource "configmaps" in API group "" in the namespace "default"'
        )
        authz: Any = client.AuthorizationV1Api(reader)
        review = authz.create_self_subject_access_review(
            {"spec": {"resourceAttributes": {"verb": "list", "resource": "configmaps",
                                             "namespace": "default"}}}
        )  # fmt: skip
        assert review.status.allowed is True
        authn: Any = client.AuthenticationV1Api(reader)
        whoami = authn.create_self_subject_review({})
        assert whoami.status.user_info.username == "system:serviceaccount:default:reader"

    with client.ApiClient(configuration(local_cluster, "not-a-token")) as stranger:
        strange: Any = client.CoreV1Api(stranger)
        code, body = failure(strange.list_namespace)
        assert (code, body["reason"]) == (401, "Unauthorized")
