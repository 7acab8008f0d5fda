"""Custom resources: dynamic serving, validation, pruning, status and scale subresources."""

from __future__ import annotations

import copy
from typing import Any, cast

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from kubesim import LocalCluster
from tests.support.kube import expect_status
from tests.support.sample_crds import GROUP, WIDGET_CRD, widget

MERGE = "application/merge-patch+json"


async def install(api: ApiClient) -> client.CustomObjectsApi:
    await client.ApiextensionsV1Api(api).create_custom_resource_definition(cast(Any, WIDGET_CRD))
    return client.CustomObjectsApi(api)


async def test_crd_is_served_and_discoverable(
    kube_client: ApiClient, local_cluster: LocalCluster
) -> None:
    async with aiohttp.ClientSession(headers=local_cluster.headers) as http:
        groups = await (await http.get(local_cluster.url + "/apis")).json()
        assert GROUP not in {g["name"] for g in groups["groups"]}
        await install(kube_client)
        groups = await (await http.get(local_cluster.url + "/apis")).json()
        assert GROUP in {g["name"] for g in groups["groups"]}
        resources = await (await http.get(f"{local_cluster.url}/apis/{GROUP}/v1")).json()
        names = {r["name"] for r in resources["resources"]}
        assert {"widgets", "widgets/status", "widgets/scale"} <= names
    crd = await client.ApiextensionsV1Api(kube_client).read_custom_resource_definition(
        f"widgets.{GROUP}"
    )
    established = {c.type: c.status for c in crd.status.conditions}
    assert established["Established"] == "True"


async def test_custom_object_crud_and_defaults(kube_client: ApiClient) -> None:
    co = await install(kube_client)
    made = await co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", widget("w1"))
    assert made["spec"]["replicas"] == 0  # schema default applied
    assert made["metadata"]["generation"] == 1
    got = await co.get_namespaced_custom_object(GROUP, "v1", "default", "widgets", "w1")
    assert got["spec"]["colour"] == "red"
    untyped: Any = co  # takes _content_type, unlike its stubs
    patched = await untyped.patch_namespaced_custom_object(
        GROUP, "v1", "default", "widgets", "w1", {"spec": {"colour": "green"}},
        _content_type=MERGE,
    )  # fmt: skip
    assert patched["spec"]["colour"] == "green" and patched["metadata"]["generation"] == 2
    listed = await co.list_namespaced_custom_object(GROUP, "v1", "default", "widgets")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["w1"]
    assert listed["items"][0]["kind"] == "Widget"
    await co.delete_namespaced_custom_object(GROUP, "v1", "default", "widgets", "w1")
    await expect_status(
        co.get_namespaced_custom_object(GROUP, "v1", "default", "widgets", "w1"), 404, "NotFound"
    )


async def test_update_needs_a_resource_version(kube_client: ApiClient) -> None:
    co = await install(kube_client)
    made = await co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", widget("w"))
    stale = dict(made)
    fresh = await co.replace_namespaced_custom_object(
        GROUP, "v1", "default", "widgets", "w", {**made, "spec": {**made["spec"], "size": 3}}
    )
    assert fresh["spec"]["size"] == 3
    await expect_status(
        co.replace_namespaced_custom_object(GROUP, "v1", "default", "widgets", "w", stale),
        409,
        "Conflict",
    )
    no_rv = {**fresh, "metadata": {"name": "w"}}
    await expect_status(
        co.replace_namespaced_custom_object(GROUP, "v1", "default", "widgets", "w", no_rv),
        422,
        "Invalid",
    )


async def test_schema_violations_name_the_field(kube_client: ApiClient) -> None:
    co = await install(kube_client)
    cases = [
        ({"colour": "blue", "until": "2030-01-01"}, "spec.colour"),
        ({"colour": "red"}, "spec.until"),
        ({"colour": "red", "until": "2030-02-30"}, "spec.until"),
        ({"colour": "red", "until": "2030-01-01", "replicas": "many"}, "spec.replicas"),
        ({"colour": "red", "until": "2030-01-01", "size": 1.5}, "spec.size"),
    ]
    for spec, field in cases:
        body = {**widget("bad"), "spec": spec}
        status = await expect_status(
            co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", body),
            422,
            "Invalid",
        )
        assert field in status["message"], (spec, status["message"])
    # int-or-string accepts both.
    for size in (3, "3Gi"):
        body = widget(f"size-{size}".lower(), size=size)
        await co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", body)


async def test_unknown_fields_are_pruned_unless_preserved(kube_client: ApiClient) -> None:
    co = await install(kube_client)
    body = widget("prune", extra={"anything": {"goes": 1}})
    body["spec"]["unknown"] = "dropped"
    made = await co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", body)
    assert "unknown" not in made["spec"]
    assert made["spec"]["extra"] == {"anything": {"goes": 1}}
    # fieldValidation=Strict turns the unknown field into an error.
    body["metadata"]["name"] = "strict"
    status = await expect_status(
        co.create_namespaced_custom_object(
            GROUP, "v1", "default", "widgets", body, field_validation="Strict"
        ),
        400,
        "BadRequest",
    )
    assert "spec.unknown" in status["message"]


async def test_status_subresource_semantics(kube_client: ApiClient) -> None:
    co = await install(kube_client)
    body = widget("st")
    body["status"] = {"state": "ignored-on-create"}
    made = await co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", body)
    assert "status" not in made
    untyped: Any = co  # takes _content_type, unlike its stubs
    # Writes to /status change only status.
    out = await untyped.patch_namespaced_custom_object_status(
        GROUP, "v1", "default", "widgets", "st",
        {"status": {"state": "ready"}, "spec": {"colour": "green"}}, _content_type=MERGE,
    )  # fmt: skip
    assert out["status"] == {"state": "ready"} and out["spec"]["colour"] == "red"
    assert out["metadata"]["generation"] == 1
    # Writes to the main resource ignore status.
    out = await untyped.patch_namespaced_custom_object(
        GROUP, "v1", "default", "widgets", "st",
        {"status": {"state": "hacked"}, "spec": {"colour": "green"}}, _content_type=MERGE,
    )  # fmt: skip
    assert out["status"] == {"state": "ready"} and out["spec"]["colour"] == "green"


async def test_scale_subresource(kube_client: ApiClient) -> None:
    co = await install(kube_client)
    await co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", widget("sc"))
    scale = await co.get_namespaced_custom_object_scale(GROUP, "v1", "default", "widgets", "sc")
    # autoscaling/v1: spec.replicas and status.selector are omitempty, and without a
    # labelSelectorPath there is no selector at all (not the object the empty path names).
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert (scale["spec"], scale["status"]) == ({}, {"replicas": 0})
    untyped: Any = co  # takes _content_type, unlike its stubs
    patched = await untyped.patch_namespaced_custom_object_scale(
        GROUP, "v1", "default", "widgets", "sc", {"spec": {"replicas": 2}}, _content_type=MERGE
    )
    assert (patched["spec"], patched["status"]) == ({"replicas": 2}, {"replicas": 0})
    got = await co.get_namespaced_custom_object(GROUP, "v1", "default", "widgets", "sc")
    assert got["spec"]["replicas"] == 2
    assert patched["metadata"]["resourceVersion"] == got["metadata"]["resourceVersion"]
    replaced = await co.replace_namespaced_custom_object_scale(
        GROUP, "v1", "default", "widgets", "sc", {**patched, "spec": {"replicas": 3}}
    )
    assert replaced["spec"] == {"replicas": 3}
    # The old resourceVersion is the PUT's precondition.
    await expect_status(
        co.replace_namespaced_custom_object_scale(
            GROUP, "v1", "default", "widgets", "sc", {**patched, "spec": {"replicas": 4}}
        ),
        409,
        "Conflict",
    )
    # Replicas go through the object's own validation (ValidateScaleSpec), on its path.
    status = await expect_status(
        untyped.patch_namespaced_custom_object_scale(
            GROUP, "v1", "default", "widgets", "sc", {"spec": {"replicas": -1}},
            _content_type=MERGE,
        ),
        422,
        "Invalid",
    )  # fmt: skip
    assert status["message"] == (
        f'Widget.{GROUP} "sc" is invalid: .spec.replicas: Invalid value: -1: '
        "should be a non-negative integer"
    )
    # A Scale whose replicas are not an int32 does not decode.
    status = await expect_status(
        co.replace_namespaced_custom_object_scale(
            GROUP, "v1", "default", "widgets", "sc", {**replaced, "spec": {"replicas": "5"}}
        ),
        400,
        "BadRequest",
    )
    assert status["message"] == (
        'Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal string '
        "into Go struct field ScaleSpec.spec.replicas of type int32"
    )


def selector_crd() -> dict[str, Any]:
    """Widgets whose scale has a labelSelectorPath, and whose replicas have no default."""
    crd = copy.deepcopy(WIDGET_CRD)
    version = crd["spec"]["versions"][0]
    version["subresources"]["scale"]["labelSelectorPath"] = ".status.selector"
    props = version["schema"]["openAPIV3Schema"]["properties"]
    del props["spec"]["properties"]["replicas"]["default"]
    props["status"]["properties"]["selector"] = {"x-kubernetes-preserve-unknown-fields": True}
    return crd


async def test_scale_selector_is_the_string_at_its_path(kube_client: ApiClient) -> None:
    await client.ApiextensionsV1Api(kube_client).create_custom_resource_definition(
        cast(Any, selector_crd())
    )
    co = client.CustomObjectsApi(kube_client)
    untyped: Any = co
    await co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", widget("s"))
    # Without spec replicas, a GET of the scale is the real server's 500...
    status = await expect_status(
        co.get_namespaced_custom_object_scale(GROUP, "v1", "default", "widgets", "s"),
        500,
        "InternalError",
    )
    why = 'the spec replicas field ".spec.replicas" does not exist'
    assert status["message"] == f"Internal error occurred: {why}"
    assert status["details"] == {"causes": [{"message": why}]}
    # ...and a patch that leaves them unset is refused.
    status = await expect_status(
        untyped.patch_namespaced_custom_object_scale(
            GROUP, "v1", "default", "widgets", "s", {"metadata": {}}, _content_type=MERGE
        ),
        400,
        "BadRequest",
    )
    assert status["message"] == 'the spec replicas field ".spec.replicas" cannot be empty'
    scale = await untyped.patch_namespaced_custom_object_scale(
        GROUP, "v1", "default", "widgets", "s", {"spec": {"replicas": 1}}, _content_type=MERGE
    )
    assert scale["status"] == {"replicas": 0}  # no selector yet: the empty string, omitted
    await untyped.patch_namespaced_custom_object_status(
        GROUP, "v1", "default", "widgets", "s",
        {"status": {"replicas": 1, "selector": "app=s"}}, _content_type=MERGE,
    )  # fmt: skip
    scale = await co.get_namespaced_custom_object_scale(GROUP, "v1", "default", "widgets", "s")
    assert scale["status"] == {"replicas": 1, "selector": "app=s"}
    # The path must hold a string (ValidateScaleStatus), whatever the schema allows.
    status = await expect_status(
        untyped.patch_namespaced_custom_object_status(
            GROUP, "v1", "default", "widgets", "s",
            {"status": {"selector": {"matchLabels": {"app": "s"}}}}, _content_type=MERGE,
        ),
        422,
        "Invalid",
    )  # fmt: skip
    assert status["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "": .status.selector accessor error: '
            "map[matchLabels:map[app:s]] is of the type map[string]interface {}, "
            "expected string",
            "field": ".status.selector",
        }
    ]


async def test_deleting_the_crd_deletes_its_objects(
    kube_client: ApiClient, local_cluster: LocalCluster
) -> None:
    co = await install(kube_client)
    await co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", widget("gone"))
    ext = client.ApiextensionsV1Api(kube_client)
    await ext.delete_custom_resource_definition(f"widgets.{GROUP}")
    await expect_status(
        co.list_namespaced_custom_object(GROUP, "v1", "default", "widgets"), 404, "NotFound"
    )
    await install(kube_client)
    listed = await co.list_namespaced_custom_object(GROUP, "v1", "default", "widgets")
    assert listed["items"] == []


async def test_invalid_crd_is_rejected(kube_client: ApiClient) -> None:
    bad: Any = {**WIDGET_CRD, "metadata": {"name": "wrong-name.example.com"}}
    status = await expect_status(
        client.ApiextensionsV1Api(kube_client).create_custom_resource_definition(bad),
        422,
        "Invalid",
    )
    assert "metadata.name" in status["message"]
