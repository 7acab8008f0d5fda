"""Bad input, fault injection, request counting and durability of the embedded API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from kubesim import LocalCluster
from kubesim.testing import client_configuration
from tests.support.kube import expect_status
from tests.support.sample_crds import GROUP, WIDGET_CRD, widget

CM_URL = "/api/v1/namespaces/default/configmaps"


@pytest.mark.parametrize(
    ("method", "path", "body", "ctype", "code", "reason", "words"),
    [
        ("POST", CM_URL, b"{not json", "application/json", 400, "BadRequest", "json"),
        ("POST", CM_URL, b"[1, 2]", "application/json", 400, "BadRequest", "JSON object"),
        ("POST", CM_URL, b"a: b", "text/plain", 415, "UnsupportedMediaType", "text/plain"),
        ("POST", CM_URL, b'{"metadata":{"name":"UPPER"}}', "application/json", 422, "Invalid",
         "metadata.name"),
        ("POST", CM_URL, b'{"kind":"Secret","metadata":{"name":"x"}}', "application/json", 400,
         "BadRequest", "kind"),
        ("GET", "/api/v1/namespaces/default/gizmos", None, None, 404, "NotFound",
         "could not find the requested resource"),
        ("GET", "/apis/nope.example.com/v1/things", None, None, 404, "NotFound", "could not find"),
        ("PUT", CM_URL, b"{}", "application/json", 405, "MethodNotAllowed", "does not allow"),
        ("POST", CM_URL + "/x", b"{}", "application/json", 405, "MethodNotAllowed", "not allow"),
        ("PATCH", CM_URL + "/x", b"{}", "application/apply-patch+yaml", 422, "Invalid",
         "fieldManager: Required value: is required for apply patch"),
        ("GET", CM_URL + "?labelSelector=a%20in%20(", None, None, 400, "BadRequest",
         "unable to parse requirement"),
        ("GET", CM_URL + "?watch=maybe", None, None, 400, "BadRequest", "watch"),
        ("GET", CM_URL + "?limit=ten", None, None, 400, "BadRequest", "limit"),
    ],
)  # fmt: skip
async def test_bad_requests_get_status_and_the_server_keeps_serving(
    module_cluster: LocalCluster,
    method: str,
    path: str,
    body: bytes | None,
    ctype: str | None,
    code: int,
    reason: str,
    words: str,
) -> None:
    headers = {"Content-Type": ctype} if ctype else {}
    async with aiohttp.ClientSession(headers=module_cluster.headers) as http:
        resp = await http.request(method, module_cluster.url + path, data=body, headers=headers)
        status = json.loads(await resp.text())
        assert (resp.status, status["kind"], status["reason"]) == (code, "Status", reason), status
        assert words.lower() in status["message"].lower(), status["message"]
        health = await http.get(module_cluster.url + "/healthz")
        assert health.status == 200


async def test_invalid_custom_resource_is_rejected_and_nothing_stored(
    kube_client: ApiClient,
) -> None:
    await client.ApiextensionsV1Api(kube_client).create_custom_resource_definition(
        cast(Any, WIDGET_CRD)
    )
    co = client.CustomObjectsApi(kube_client)
    body = widget("broken")
    body["spec"]["colour"] = 7  # not a string, as the schema requires
    await expect_status(
        co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", body), 422, "Invalid"
    )
    # Strategic merge patch is not defined for custom resources.
    await co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", widget("fine"))
    untyped: Any = co  # takes _content_type, unlike its stubs
    await expect_status(
        untyped.patch_namespaced_custom_object(
            GROUP, "v1", "default", "widgets", "fine", {"spec": {"colour": "green"}},
            _content_type="application/strategic-merge-patch+json",
        ),
        415,
        "UnsupportedMediaType",
    )  # fmt: skip
    listed = await co.list_namespaced_custom_object(GROUP, "v1", "default", "widgets")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["fine"]


async def test_fault_injection_fails_the_next_n_matching_requests(
    local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    v1 = client.CoreV1Api(kube_client)
    local_cluster.faults.fail(status=500, verb="create", path="/configmaps$", times=2)
    for _ in range(2):
        await expect_status(
            v1.create_namespaced_config_map("default", cast(Any, {"metadata": {"name": "f"}})),
            500,
            "InternalError",
        )
    # Other verbs are untouched, and the third create goes through.
    await v1.list_namespaced_config_map("default")
    await v1.create_namespaced_config_map("default", cast(Any, {"metadata": {"name": "f"}}))
    local_cluster.faults.fail(status=403, verb="create", path="persistentvolumeclaims")
    body = await expect_status(
        v1.create_namespaced_persistent_volume_claim(
            "default", cast(Any, {"metadata": {"name": "q"}})
        ),
        403,
        "Forbidden",
    )
    assert "injected" in body["message"]


async def test_fault_injection_latency(local_cluster: LocalCluster, kube_client: ApiClient) -> None:
    import time

    v1 = client.CoreV1Api(kube_client)
    local_cluster.faults.delay(0.3, verb="list", times=1)
    start = time.monotonic()
    await v1.list_namespaced_config_map("default")
    assert time.monotonic() - start >= 0.3


async def test_request_counter_counts_by_verb_and_resource(
    local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    v1 = client.CoreV1Api(kube_client)
    local_cluster.requests.reset()
    await v1.create_namespaced_config_map("default", cast(Any, {"metadata": {"name": "c1"}}))
    await v1.read_namespaced_config_map("c1", "default")
    await v1.read_namespaced_config_map("c1", "default")
    await v1.list_namespaced_config_map("default")
    assert local_cluster.requests.count("create", "configmaps") == 1
    assert local_cluster.requests.count("get", "configmaps") == 2
    assert local_cluster.requests.count("list") == 1
    assert local_cluster.requests.count() == 4


async def test_data_dir_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "cluster"
    with LocalCluster(data_dir=data) as first:
        async with ApiClient(client_configuration(first)) as api:
            v1 = client.CoreV1Api(api)
            await client.ApiextensionsV1Api(api).create_custom_resource_definition(
                cast(Any, WIDGET_CRD)
            )
            await v1.create_namespaced_config_map(
                "default", cast(Any, {"metadata": {"name": "kept"}})
            )
            await v1.create_namespaced_config_map(
                "default", cast(Any, {"metadata": {"name": "dropped"}})
            )
            await v1.delete_namespaced_config_map("dropped", "default")
            made = await client.CustomObjectsApi(api).create_namespaced_custom_object(
                GROUP, "v1", "default", "widgets", widget("persisted")
            )
            last_rv = int(made["metadata"]["resourceVersion"])
    assert (data / "kubeconfig").exists()
    with LocalCluster(data_dir=data) as second:
        async with ApiClient(client_configuration(second)) as api:
            v1 = client.CoreV1Api(api)
            names = {
                c.metadata.name for c in (await v1.list_namespaced_config_map("default")).items
            }
            assert "kept" in names and "dropped" not in names
            got = await client.CustomObjectsApi(api).get_namespaced_custom_object(
                GROUP, "v1", "default", "widgets", "persisted"
            )
            assert got["spec"]["colour"] == "red"
            new = await v1.create_namespaced_config_map(
                "default", cast(Any, {"metadata": {"name": "after"}})
            )
            assert int(new.metadata.resource_version) > last_rv
