"""Bodies as kube-apiserver decodes them: nested up to 10,000 levels, lone surrogates replaced.

Deep bodies are written and read as text (aiohttp): the clients' own json would recurse.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, cast

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from kubesim import LocalCluster
from kubesim.registry import deepjson
from kubesim.testing import client_configuration
from tests.support.sample_crds import GROUP, WIDGET_CRD, widget

WIDGETS = f"/apis/{GROUP}/v1/namespaces/default/widgets"
MERGE = "application/merge-patch+json"


def deep_widget(name: str, depth: int) -> str:
    """A widget nesting `depth` levels in all: the object, spec, then spec.extra (free-form)."""
    text = json.dumps(widget(name, extra={"deep": "HERE"}), separators=(",", ":"))
    inner = '{"a":' * (depth - 3) + '"bottom"' + "}" * (depth - 3)
    return text.replace('"HERE"', inner)


def depth_of(value: Any) -> int:
    depth, level = 0, [value]
    while level:
        depth += 1
        level = [
            v
            for node in level
            for v in (node.values() if isinstance(node, dict) else node)
            if isinstance(v, (dict, list))
        ]
    return depth


async def send(
    http: aiohttp.ClientSession, method: str, url: str, body: str | None = None,
    ctype: str = "application/json",
) -> tuple[int, Any]:  # fmt: skip
    resp = await http.request(method, url, data=body, headers={"Content-Type": ctype})
    return resp.status, read(await resp.text())


def read(text: str | bytes) -> Any:
    # A List or a watch event of a 10,000-level object nests deeper than that itself.
    return deepjson.loads(text if isinstance(text, str) else text.decode(), max_depth=None)


async def test_objects_nested_10000_levels_are_stored_and_served(
    local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    await client.ApiextensionsV1Api(kube_client).create_custom_resource_definition(
        cast(Any, WIDGET_CRD)
    )
    base = local_cluster.url + WIDGETS
    async with aiohttp.ClientSession(headers=local_cluster.headers) as http:
        watch = await http.get(base + "?watch=true&timeoutSeconds=5")
        status, made = await send(http, "POST", base, deep_widget("deep", 10_000))
        assert status == 201, made
        assert depth_of(made) == 10_000

        status, got = await send(http, "GET", f"{base}/deep")
        assert (status, depth_of(got)) == (200, 10_000)
        status, listed = await send(http, "GET", base)
        assert [depth_of(o) for o in listed["items"]] == [10_000]
        event = read(await watch.content.readuntil(b"\n"))
        assert event["type"] == "ADDED" and depth_of(event["object"]) == 10_000
        watch.close()

        # Writes keep the deep part: merge and JSON patches, an update, the status.
        status, patched = await send(
            http, "PATCH", f"{base}/deep", '{"spec":{"colour":"green"}}', MERGE
        )
        assert (status, patched["spec"]["colour"], depth_of(patched)) == (200, "green", 10_000)
        ops = '[{"op":"replace","path":"/spec/colour","value":"red"}]'
        status, patched = await send(
            http, "PATCH", f"{base}/deep", ops, "application/json-patch+json"
        )
        assert (status, patched["spec"]["colour"], depth_of(patched)) == (200, "red", 10_000)
        patched["metadata"]["labels"] = {"edited": "yes"}
        status, updated = await send(http, "PUT", f"{base}/deep", deepjson.dumps(patched))
        assert (status, updated["metadata"]["labels"]) == (200, {"edited": "yes"})
        status, same = await send(http, "PUT", f"{base}/deep", deepjson.dumps(updated))
        assert status == 200  # an identical update changes nothing
        assert same["metadata"]["resourceVersion"] == updated["metadata"]["resourceVersion"]
        status, _ = await send(
            http, "PATCH", f"{base}/deep/status", '{"status":{"state":"ok"}}', MERGE
        )
        assert status == 200
        # A deep patch is decoded and merged too (its string at level 9,000 ends the chain).
        status, patched = await send(
            http, "PATCH", f"{base}/deep", deep_widget("deep", 9_000), MERGE
        )
        assert (status, depth_of(patched)) == (200, 9_000)

        status, gone = await send(http, "DELETE", f"{base}/deep")
        assert (status, gone["status"], gone["details"]["name"]) == (200, "Success", "deep")
        assert (await http.get(local_cluster.url + "/healthz")).status == 200


async def test_deeper_than_10000_levels_is_a_bad_request(
    local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    await client.ApiextensionsV1Api(kube_client).create_custom_resource_definition(
        cast(Any, WIDGET_CRD)
    )
    base = local_cluster.url + WIDGETS
    async with aiohttp.ClientSession(headers=local_cluster.headers) as http:
        for body in (deep_widget("deep", 10_001), "[" * 50_000 + "]" * 50_000):
            status, out = await send(http, "POST", base, body)
            assert (status, out["kind"], out["reason"]) == (400, "Status", "BadRequest"), out
            assert "exceeded max depth of 10000" in out["message"]
        huge_number = json.dumps(widget("n")).replace('"red"', "9" * 5_000)  # json.loads refuses
        status, out = await send(http, "POST", base, huge_number)
        assert (status, out["reason"]) == (400, "BadRequest")
        await send(http, "POST", base, json.dumps(widget("w")))
        too_deep_patch = '{"spec":{"extra":' + '{"a":' * 10_000 + "1" + "}" * 10_002
        status, out = await send(http, "PATCH", f"{base}/w", too_deep_patch, MERGE)
        assert (status, out["reason"]) == (400, "BadRequest")
        status, listed = await send(http, "GET", base)
        assert [o["metadata"]["name"] for o in listed["items"]] == ["w"]


async def test_lone_surrogates_are_replaced_as_the_api_server_does(
    local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    await client.ApiextensionsV1Api(kube_client).create_custom_resource_definition(
        cast(Any, WIDGET_CRD)
    )
    base = local_cluster.url + WIDGETS
    raw = r'"\ud800 \udc00 \ud83d\ude00 \ude00\ud83d"'
    want = "\ufffd \ufffd \U0001f600 \ufffd\ufffd"
    body = json.dumps(widget("s", extra={"note": "X", "k\udfff": 1})).replace('"X"', raw)
    async with aiohttp.ClientSession(headers=local_cluster.headers) as http:
        status, made = await send(http, "POST", base, body)
        assert status == 201, made
        assert made["spec"]["extra"] == {"note": want, "k\ufffd": 1}
        text = await (await http.get(f"{base}/s")).text()
        assert json.loads(text)["spec"]["extra"]["note"] == want
        status, patched = await send(
            http, "PATCH", f"{base}/s", '{"spec":{"extra":{"note":"\\udbff!"}}}', MERGE
        )
        assert patched["spec"]["extra"]["note"] == "\ufffd!"
        yaml_body = "apiVersion: example.lscsde.test/v1\nkind: Widget\nmetadata: {name: y}\n"
        yaml_body += 'spec: {colour: red, until: "2030-01-31", extra: {note: "\\ud800"}}\n'
        status, made = await send(http, "POST", base, yaml_body, "application/yaml")
        assert (status, made["spec"]["extra"]["note"]) == (201, "\ufffd")


async def test_a_deep_object_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "cluster"
    for round_ in range(2):
        with LocalCluster(data_dir=data, kubelet=False) as cluster:
            async with (
                ApiClient(client_configuration(cluster)) as api,
                aiohttp.ClientSession(headers=cluster.headers) as http,
            ):
                base = cluster.url + WIDGETS
                if round_ == 0:
                    ext = client.ApiextensionsV1Api(api)
                    await ext.create_custom_resource_definition(cast(Any, WIDGET_CRD))
                    await asyncio.sleep(0)
                    status, _ = await send(http, "POST", base, deep_widget("deep", 5_000))
                    assert status == 201
                else:
                    status, got = await send(http, "GET", f"{base}/deep")
                    assert (status, depth_of(got)) == (200, 5_000)
