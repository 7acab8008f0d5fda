"""Discovery and OpenAPI v3 documents of the embedded API server."""

from __future__ import annotations

import copy
import json
import os
import re
from typing import Any

import pytest

from kubesim.apiserver import discovery, openapi
from kubesim.registry.resources import ALL_VERBS, Registry
from tests.support.sample_crds import crd_manifest

GROUP = "xlscsde.nhs.uk"

# Versions listed v1beta1 first on purpose: the preferred version is chosen by Kubernetes
# version priority, not by the order in the CRD.
WORKSPACE_CRD: dict[str, Any] = crd_manifest(
    GROUP,
    "analyticsworkspaces",
    "AnalyticsWorkspace",
    [
        {
            "name": "v1beta1",
            "served": True,
            "storage": False,
            "schema": {
                "openAPIV3Schema": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                }
            },
        },
        {
            "name": "v1",
            "served": True,
            "storage": True,
            "subresources": {
                "status": {},
                "scale": {
                    "specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas",
                },
            },
            "schema": {
                "openAPIV3Schema": {
                    "type": "object",
                    "description": "An analytics workspace.",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["displayName"],
                            "properties": {
                                "displayName": {"type": "string"},
                                "replicas": {"type": "integer"},
                            },
                        },
                        "status": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        },
                    },
                }
            },
        },
        {"name": "v1alpha1", "served": False, "storage": False},
    ],
    listKind="AnalyticsWorkspaceList",
    shortNames=["aw"],
    categories=["all", "lscsde"],
)

CLUSTER_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "projects.alpha.example.org"},
    "spec": {
        "group": "alpha.example.org",
        "scope": "Cluster",
        "names": {"plural": "projects", "singular": "project", "kind": "Project"},
        "versions": [{"name": "v2", "served": True, "storage": True}],
    },
}


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    reg.set_crd(copy.deepcopy(WORKSPACE_CRD))
    return reg


def _resources(doc: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    assert doc is not None
    return {r["name"]: r for r in doc["resources"]}


# -- /version, /api -----------------------------------------------------------------------------


def test_version_names_a_kubectl_minor_that_is_installed() -> None:
    info = discovery.version_info()
    assert info["major"] == "1"
    assert info["gitVersion"] == discovery.KUBE_VERSION
    assert info["gitVersion"].startswith(f"v1.{info['minor']}.")
    assert set(info) == {
        "major", "minor", "gitVersion", "gitCommit", "gitTreeState", "buildDate", "goVersion",
        "compiler", "platform",
    }  # fmt: skip
    assert re.fullmatch(r"[0-9a-f]{40}", info["gitCommit"])
    sdk = "/usr/lib/google-cloud-sdk/bin"
    if os.path.isdir(sdk):
        assert os.path.exists(f"{sdk}/kubectl.1.{info['minor']}")


def test_api_versions() -> None:
    assert discovery.api_versions("127.0.0.1:6443") == {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}
        ],
    }


# -- /apis ----------------------------------------------------------------------------------------


# In the real server's order (the aggregator's group priorities).
BUILTIN_GROUPS = [
    "apiregistration.k8s.io",  # the aggregator's own group comes first
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "batch",
    "rbac.authorization.k8s.io",
    "apiextensions.k8s.io",
]


def test_group_list_has_builtin_groups_then_crd_groups() -> None:
    reg = Registry()
    names = [g["name"] for g in discovery.api_group_list(reg)["groups"]]
    assert names == BUILTIN_GROUPS

    reg.set_crd(copy.deepcopy(WORKSPACE_CRD))
    reg.set_crd(copy.deepcopy(CLUSTER_CRD))
    doc = discovery.api_group_list(reg)
    assert doc["kind"] == "APIGroupList"
    assert doc["apiVersion"] == "v1"
    names = [g["name"] for g in doc["groups"]]
    # CRD groups tie on priority; the aggregator then orders by APIService name,
    # "<version>.<group>": "v1.xlscsde.nhs.uk" < "v2.alpha.example.org".
    assert names == [*BUILTIN_GROUPS, GROUP, "alpha.example.org"]
    workspace = doc["groups"][len(BUILTIN_GROUPS)]
    assert workspace["versions"] == [
        {"groupVersion": f"{GROUP}/v1", "version": "v1"},
        {"groupVersion": f"{GROUP}/v1beta1", "version": "v1beta1"},
    ]
    assert workspace["preferredVersion"] == {"groupVersion": f"{GROUP}/v1", "version": "v1"}


def test_group_disappears_with_its_crd(registry: Registry) -> None:
    assert discovery.api_group(registry, GROUP) == {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": GROUP,
        "versions": [
            {"groupVersion": f"{GROUP}/v1", "version": "v1"},
            {"groupVersion": f"{GROUP}/v1beta1", "version": "v1beta1"},
        ],
        "preferredVersion": {"groupVersion": f"{GROUP}/v1", "version": "v1"},
    }
    registry.remove_crd(WORKSPACE_CRD["metadata"]["name"])
    assert discovery.api_group(registry, GROUP) is None
    assert discovery.api_resource_list(registry, GROUP, "v1") is None
    assert GROUP not in [g["name"] for g in discovery.api_group_list(registry)["groups"]]
    assert discovery.api_group(registry, "") is None  # the core group is not under /apis


def test_kube_version_priority() -> None:
    versions = ["v1alpha1", "foo", "v1", "v2beta1", "v1beta2", "bar", "v1beta1", "v2", "v10"]
    assert sorted(versions, key=discovery.kube_version_key) == [
        "v10", "v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "bar", "foo",
    ]  # fmt: skip


# -- resource lists -------------------------------------------------------------------------------


def test_core_resource_list(registry: Registry) -> None:
    doc = discovery.api_resource_list(registry, "", "v1")
    assert doc is not None
    assert doc["kind"] == "APIResourceList"
    assert doc["groupVersion"] == "v1"
    names = [r["name"] for r in doc["resources"]]
    assert names == sorted(names)
    res = _resources(doc)
    assert res["pods"] == {
        "name": "pods",
        "singularName": "pod",
        "namespaced": True,
        "kind": "Pod",
        "verbs": ALL_VERBS,
        "shortNames": ["po"],
        "categories": ["all"],
        "storageVersionHash": discovery.storage_version_hash("", "v1", "Pod"),
    }
    assert res["pods/log"] == {
        "name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"],
    }  # fmt: skip
    assert res["pods/status"]["verbs"] == ["get", "patch", "update"]
    assert res["namespaces"]["namespaced"] is False
    assert "deletecollection" not in res["namespaces"]["verbs"]  # as on a real server
    assert res["configmaps"]["shortNames"] == ["cm"]
    assert "categories" not in res["configmaps"]
    assert "secrets/status" not in res


def test_storage_version_hash_is_stable_and_shared_by_event_views(registry: Registry) -> None:
    core = _resources(discovery.api_resource_list(registry, "", "v1"))["events"]
    new = _resources(discovery.api_resource_list(registry, "events.k8s.io", "v1"))["events"]
    assert core["storageVersionHash"] == new["storageVersionHash"]
    assert re.fullmatch(r"[A-Za-z0-9+/]{11}=", core["storageVersionHash"])
    again = _resources(discovery.api_resource_list(Registry(), "", "v1"))["events"]
    assert again["storageVersionHash"] == core["storageVersionHash"]


def test_crd_resource_list_with_subresources(registry: Registry) -> None:
    doc = discovery.api_resource_list(registry, GROUP, "v1")
    assert doc is not None
    assert doc["groupVersion"] == f"{GROUP}/v1"
    res = _resources(doc)
    assert list(res) == [
        "analyticsworkspaces", "analyticsworkspaces/scale", "analyticsworkspaces/status",
    ]  # fmt: skip
    main = res["analyticsworkspaces"]
    assert main["kind"] == "AnalyticsWorkspace"
    assert main["singularName"] == "analyticsworkspace"
    assert main["verbs"] == ALL_VERBS
    assert main["shortNames"] == ["aw"]
    assert main["categories"] == ["all", "lscsde"]
    assert res["analyticsworkspaces/status"] == {
        "name": "analyticsworkspaces/status", "singularName": "", "namespaced": True,
        "kind": "AnalyticsWorkspace", "verbs": ["get", "patch", "update"],
    }  # fmt: skip
    assert res["analyticsworkspaces/scale"] == {
        "name": "analyticsworkspaces/scale", "singularName": "", "namespaced": True,
        "group": "autoscaling", "version": "v1", "kind": "Scale",
        "verbs": ["get", "patch", "update"],
    }  # fmt: skip
    # v1beta1 has no subresources; v1alpha1 is not served.
    assert list(_resources(discovery.api_resource_list(registry, GROUP, "v1beta1"))) == [
        "analyticsworkspaces"
    ]
    assert discovery.api_resource_list(registry, GROUP, "v1alpha1") is None


# -- content negotiation -------------------------------------------------------------------------

KUBECTL_DISCOVERY_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (KUBECTL_DISCOVERY_ACCEPT, "application/json"),
        ("application/json, */*", "application/json"),
        ("", "application/json"),
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", None),
        ("application/vnd.kubernetes.protobuf", None),
        ("application/json;q=0", None),
    ],
)
def test_discovery_content_type(accept: str | None, expected: str | None) -> None:
    assert discovery.discovery_content_type(accept) == expected


# -- OpenAPI v3 -----------------------------------------------------------------------------------


def _hash_of(index: dict[str, Any], key: str) -> str:
    url = index["paths"][key]["serverRelativeURL"]
    m = re.fullmatch(rf"/openapi/v3/{re.escape(key)}\?hash=([0-9A-F]{{128}})", url)
    assert m, url
    return m.group(1)


def test_openapi_index_lists_every_group_version(registry: Registry) -> None:
    index = openapi.openapi_v3_index(registry)
    assert set(index["paths"]) == {
        "api", "apis", "api/v1", "apis/events.k8s.io/v1", "apis/apiextensions.k8s.io/v1",
        "apis/apiregistration.k8s.io/v1", "apis/apps/v1", "apis/batch/v1",
        "apis/authentication.k8s.io/v1", "apis/authorization.k8s.io/v1",
        "apis/rbac.authorization.k8s.io/v1", f"apis/{GROUP}/v1", f"apis/{GROUP}/v1beta1",
    }  # fmt: skip
    for key in index["paths"]:
        doc = openapi.openapi_v3_path_document(registry, key)
        assert doc is not None
        assert _hash_of(index, key) == openapi.openapi_v3_hash(doc)


def test_openapi_hash_is_stable_and_follows_the_crd(registry: Registry) -> None:
    first = openapi.openapi_v3_index(registry)
    other = Registry()
    other.set_crd(copy.deepcopy(WORKSPACE_CRD))
    assert openapi.openapi_v3_index(other) == first  # deterministic across registries

    changed = copy.deepcopy(WORKSPACE_CRD)
    spec_props = changed["spec"]["versions"][1]["schema"]["openAPIV3Schema"]["properties"]
    spec_props["spec"]["properties"]["size"] = {"type": "string"}
    registry.set_crd(changed)
    second = openapi.openapi_v3_index(registry)
    assert _hash_of(second, f"apis/{GROUP}/v1") != _hash_of(first, f"apis/{GROUP}/v1")
    assert _hash_of(second, f"apis/{GROUP}/v1beta1") == _hash_of(first, f"apis/{GROUP}/v1beta1")
    assert _hash_of(second, "api/v1") == _hash_of(first, "api/v1")

    registry.remove_crd(WORKSPACE_CRD["metadata"]["name"])
    assert f"apis/{GROUP}/v1" not in openapi.openapi_v3_index(registry)["paths"]


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in ("get", "put", "post", "patch", "delete")
    ]


def _supports_query_param(doc: dict[str, Any], gvk: dict[str, str], param: str) -> bool:
    """kubectl's supportsQueryParamV3: the first PATCH operation for the kind decides."""
    for item in doc["paths"].values():
        op = item.get("patch")
        if op is None or op.get("x-kubernetes-group-version-kind") != gvk:
            continue
        return any(p["name"] == param and p["in"] == "query" for p in op["parameters"])
    raise AssertionError(f"no PATCH operation for {gvk}")


@pytest.mark.parametrize(
    ("group", "version", "kind"),
    [
        ("", "v1", "Pod"),
        ("", "v1", "Namespace"),
        ("", "v1", "ConfigMap"),
        ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        ("events.k8s.io", "v1", "Event"),
        (GROUP, "v1", "AnalyticsWorkspace"),
        (GROUP, "v1beta1", "AnalyticsWorkspace"),
    ],
)
def test_every_write_declares_field_validation(
    registry: Registry, group: str, version: str, kind: str
) -> None:
    doc = openapi.openapi_v3_document(registry, group, version)
    assert doc is not None
    gvk = {"group": group, "kind": kind, "version": version}
    assert _supports_query_param(doc, gvk, "fieldValidation")
    writes = [(p, m, op) for p, m, op in _operations(doc) if m in ("put", "post", "patch")]
    assert writes
    for path, method, op in writes:
        names = {p["name"] for p in op["parameters"] if p["in"] == "query"}
        assert {"fieldValidation", "fieldManager", "dryRun"} <= names, (path, method)
        assert isinstance(op["x-kubernetes-group-version-kind"], dict)
        if method == "patch":
            assert "force" in names
            # kubectl would compute a strategic merge patch from these sketch schemas otherwise.
            assert "application/strategic-merge-patch+json" not in op["requestBody"]["content"]


def test_crd_document_schemas(registry: Registry) -> None:
    doc = openapi.openapi_v3_document(registry, GROUP, "v1")
    assert doc is not None
    assert doc["openapi"].startswith("3.0")
    schemas = doc["components"]["schemas"]
    kind = schemas["uk.nhs.xlscsde.v1.AnalyticsWorkspace"]
    assert kind["x-kubernetes-group-version-kind"] == [
        {"group": GROUP, "kind": "AnalyticsWorkspace", "version": "v1"}
    ]
    assert kind["description"] == "An analytics workspace."
    props = kind["properties"]
    assert props["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    ]
    assert props["apiVersion"]["type"] == "string"
    assert props["kind"]["type"] == "string"
    assert props["spec"]["required"] == ["displayName"]
    assert "name" in schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]
    list_schema = schemas["uk.nhs.xlscsde.v1.AnalyticsWorkspaceList"]
    assert list_schema["x-kubernetes-group-version-kind"][0]["kind"] == "AnalyticsWorkspaceList"
    assert list_schema["properties"]["items"]["items"] == {
        "$ref": "#/components/schemas/uk.nhs.xlscsde.v1.AnalyticsWorkspace"
    }
    assert schemas["io.k8s.api.autoscaling.v1.Scale"]["x-kubernetes-group-version-kind"] == [
        {"group": "autoscaling", "kind": "Scale", "version": "v1"}
    ]
    # Every $ref resolves inside the document.
    refs = re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(doc))
    assert refs
    assert set(refs) <= set(schemas)
    # The CRD's own schema in the registry is left alone.
    rt = registry.get(GROUP, "v1", "analyticsworkspaces")
    assert rt is not None and rt.schema is not None
    assert "metadata" not in rt.schema["properties"]


def test_crd_document_paths(registry: Registry) -> None:
    doc = openapi.openapi_v3_document(registry, GROUP, "v1")
    assert doc is not None
    base = f"/apis/{GROUP}/v1/namespaces/{{namespace}}/analyticsworkspaces"
    assert set(doc["paths"]) == {
        f"/apis/{GROUP}/v1/analyticsworkspaces", base, base + "/{name}",
        base + "/{name}/status", base + "/{name}/scale",
    }  # fmt: skip
    assert set(doc["paths"][base]) == {"parameters", "get", "post", "delete"}
    assert set(doc["paths"][base + "/{name}"]) == {"parameters", "get", "put", "patch", "delete"}
    assert set(doc["paths"][base + "/{name}/status"]) == {"parameters", "get", "put", "patch"}
    every = doc["paths"][f"/apis/{GROUP}/v1/analyticsworkspaces"]["get"]
    assert every["operationId"] == "listXlscsdeNhsUkV1AnalyticsWorkspaceForAllNamespaces"
    assert every["x-kubernetes-action"] == "list"
    patch = doc["paths"][base + "/{name}"]["patch"]
    assert patch["operationId"] == "patchXlscsdeNhsUkV1NamespacedAnalyticsWorkspace"
    scale = doc["paths"][base + "/{name}/scale"]["get"]
    assert scale["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/io.k8s.api.autoscaling.v1.Scale"
    }
    # kubectl explain finds the kind from an operation on the collection or item path.
    assert doc["paths"][base]["get"]["x-kubernetes-group-version-kind"] == {
        "group": GROUP, "kind": "AnalyticsWorkspace", "version": "v1",
    }  # fmt: skip
    path_params = {p["name"] for p in doc["paths"][base + "/{name}"]["parameters"]}
    assert path_params == {"name", "namespace", "pretty"}


def test_cluster_scoped_and_core_paths(registry: Registry) -> None:
    registry.set_crd(copy.deepcopy(CLUSTER_CRD))
    doc = openapi.openapi_v3_document(registry, "alpha.example.org", "v2")
    assert doc is not None
    assert set(doc["paths"]) == {
        "/apis/alpha.example.org/v2/projects", "/apis/alpha.example.org/v2/projects/{name}",
    }  # fmt: skip
    # A CRD version without a schema still publishes its kind, open-ended.
    schema = doc["components"]["schemas"]["org.example.alpha.v2.Project"]
    assert schema == {
        "type": "object",
        "x-kubernetes-group-version-kind": [
            {"group": "alpha.example.org", "kind": "Project", "version": "v2"}
        ],
    }

    core = openapi.openapi_v3_document(registry, "", "v1")
    assert core is not None
    log = core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"]
    assert log["operationId"] == "readCoreV1NamespacedPodLog"
    assert "text/plain" in log["responses"]["200"]["content"]
    assert "/api/v1/namespaces/{name}/status" in core["paths"]
    pod = core["components"]["schemas"]["io.k8s.api.core.v1.Pod"]
    assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Pod", "version": "v1"}]
    assert {"apiVersion", "kind", "metadata", "spec", "status"} <= set(pod["properties"])
    crd = openapi.openapi_v3_document(registry, "apiextensions.k8s.io", "v1")
    assert crd is not None
    assert (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"
        in crd["components"]["schemas"]
    )


def test_openapi_documents_are_fresh_and_serializable(registry: Registry) -> None:
    doc = openapi.openapi_v3_document(registry, "", "v1")
    assert doc is not None
    before = openapi.openapi_v3_json(doc)
    doc["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"].clear()
    again = openapi.openapi_v3_document(registry, "", "v1")
    assert again is not None
    assert openapi.openapi_v3_json(again) == before
    assert json.loads(before)["info"]["version"] == discovery.KUBE_VERSION
    assert openapi.openapi_v3_document(registry, "nope.example", "v1") is None
    assert openapi.openapi_v3_path_document(registry, "apis/nope.example/v1") is None
    for key in ("api", "apis"):
        root = openapi.openapi_v3_path_document(registry, key)
        assert root is not None
        assert list(root["paths"]) == [f"/{key}/"]
