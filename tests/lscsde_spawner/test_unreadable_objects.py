"""One object, whatever its shape, affects only itself: through the embedded API server.

A workspace nested 1,500 levels deep (the API server accepts 10,000) beside good ones: the
cache syncs and keeps following the watch, the clients list and get, and only that object is
reported. Deep bodies are sent and patched as text (aiohttp), since the test's own json.dumps
would recurse. What a server that does not clean up would send (lone surrogates, objects over
3 MiB) is put straight into the emulator's store, past its request decoding.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from kubernetes_asyncio.client.api_client import ApiClient

from kubesim import LocalCluster
from lscsde_spawner.kube import MalformedObject, workspace_bindings, workspaces
from lscsde_spawner.kube.cache import WorkspaceCache
from lscsde_spawner.models import GROUP, VERSION, AnalyticsWorkspace, Unreadable
from tests.support.cache import MERGE, NS, WS, WSB, Objects, bindings_of, eventually, running
from tests.support.factories import binding, workspace

DEPTH = 1_500
TOO_DEEP = "nests deeper than 100 levels"


def deep(ws: dict[str, Any], levels: int = DEPTH) -> str:
    """A workspace as JSON text, with a toleration (free-form in the CRD) nesting `levels`
    levels (the CRD of bindings has no free-form part: see `nested` for those)."""
    ws["spec"]["jupyterWorkspace"]["tolerations"] = [{"key": "gpu", "x": "__DEEP__"}]
    text = json.dumps(ws, separators=(",", ":"))
    return text.replace('"__DEEP__"', '{"a":' * levels + "1" + "}" * levels)


def nested(levels: int = DEPTH) -> dict[str, Any]:
    value: dict[str, Any] = {"a": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


class Raw:
    """Requests with bodies as text and answers left unread: for what json would choke on."""

    def __init__(self, cluster: LocalCluster, http: aiohttp.ClientSession) -> None:
        self.base = f"{cluster.url}/apis/{GROUP}/{VERSION}/namespaces/{NS}"
        self.http = http

    async def create(self, plural: str, text: str) -> None:
        async with self.http.post(
            f"{self.base}/{plural}", data=text, headers={"Content-Type": "application/json"}
        ) as resp:
            assert resp.status == 201, await resp.text()

    async def patch(self, plural: str, name: str, patch: dict[str, Any]) -> None:
        async with self.http.patch(
            f"{self.base}/{plural}/{name}", data=json.dumps(patch),
            headers={"Content-Type": MERGE},
        ) as resp:  # fmt: skip
            assert resp.status == 200, await resp.text()


def store_as_is(cluster: LocalCluster, plural: str, obj: dict[str, Any]) -> None:
    """Put `obj` in the emulator's store untouched, as a server that does not clean up would
    hold it (the emulator's decoding, like the real server's, replaces lone surrogates)."""
    api = cluster.api
    assert api is not None
    obj = {**obj, "metadata": {**obj["metadata"], "namespace": NS, "uid": obj["metadata"]["name"]}}

    def put() -> None:
        rt = api.registry.get(GROUP, VERSION, plural)
        assert rt is not None
        api.store.put(rt.storage_key, obj)

    cluster.call(put)


@pytest_asyncio.fixture
async def raw(local_cluster: LocalCluster, crds: ApiClient) -> AsyncIterator[Raw]:
    async with aiohttp.ClientSession(headers=local_cluster.headers) as http:
        yield Raw(local_cluster, http)


def errors_of(cache: WorkspaceCache) -> set[tuple[str, str, str]]:
    return {(e.kind, e.name, e.reason) for e in cache.errors()}


# -- the cache ------------------------------------------------------------------------------------


async def test_the_cache_syncs_and_reports_only_the_deep_workspace(
    local_cluster: LocalCluster, kube_client: ApiClient, raw: Raw,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.WARNING, logger="lscsde_spawner.kube.cache")
    objects = Objects(kube_client)
    await objects.create(WS, workspace("ws1"))
    await raw.create(WS, deep(workspace("deep")))
    await objects.create(WSB, binding("b1", "ws1", "alice"))
    async with running(kube_client) as cache:
        assert await cache.wait_synced(5)  # the list of workspaces is read, item by item
        assert set(cache.workspaces()) == {"ws1"}
        assert errors_of(cache) == {("AnalyticsWorkspace", "deep", TOO_DEEP)}
        snap = await cache.snapshot_for("alice")
        assert set(snap.workspaces) == {"ws1"} and bindings_of(snap) == {"b1"}
        assert [e.name for e in snap.malformed] == ["deep"]

        # The watch goes on: a deep binding (its user is still read), then other changes.
        deep_binding = binding("deep-bob", "ws1", "bob")
        deep_binding["spec"]["futureField"] = nested()
        store_as_is(local_cluster, WSB, deep_binding)
        await objects.create(WS, workspace("ws2"))
        await eventually(lambda: "ws2" in cache.workspaces() and len(cache.errors()) == 2)
        deep_bob = next(e for e in cache.errors() if e.name == "deep-bob")
        assert (deep_bob.username, deep_bob.workspace, deep_bob.reason) == ("bob", "ws1", TOO_DEEP)
        assert [e.name for e in (await cache.snapshot_for("alice")).malformed] == ["deep"]
        assert {e.name for e in (await cache.snapshot_for("bob")).malformed} == {"deep", "deep-bob"}

        # A new version of the deep workspace is logged again; deleting it clears the error.
        await raw.patch(WS, "deep", {"spec": {"displayName": "Still deep"}})
        await eventually(lambda: sum("deep" in r.getMessage() for r in caplog.records) == 3)
        await workspaces(kube_client, NS).delete("deep")
        await workspace_bindings(kube_client, NS).delete("deep-bob")  # its answer is not read
        await eventually(lambda: not cache.errors())
        assert set(cache.workspaces()) == {"ws1", "ws2"}
        assert all(kind.failures == 0 for kind in cache._kinds.values())
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "AnalyticsWorkspace default/deep " in m]) == 2, messages
    assert not [m for m in messages if "Cannot list/watch" in m], messages


async def test_direct_queries_before_sync_skip_the_deep_workspace(
    kube_client: ApiClient, raw: Raw
) -> None:
    await Objects(kube_client).create(WS, workspace("ws1"))
    await raw.create(WS, deep(workspace("deep"), 9_995))  # 10,000 in all: the server's limit
    snap = await WorkspaceCache(kube_client, NS).snapshot_for("alice")
    assert not snap.from_cache and set(snap.workspaces) == {"ws1"}
    assert [(e.name, e.reason) for e in snap.malformed] == [("deep", TOO_DEEP)]


# -- the clients ----------------------------------------------------------------------------------


async def test_the_clients_report_the_deep_workspace(kube_client: ApiClient, raw: Raw) -> None:
    await Objects(kube_client).create(WS, workspace("ws1"))
    await raw.create(WS, deep(workspace("deep")))
    c = workspaces(kube_client, NS)

    listed = await c.list()
    assert [w.name for w in listed.items] == ["ws1"]
    assert [(e.kind, e.namespace, e.name, e.reason) for e in listed.errors] == [
        ("AnalyticsWorkspace", NS, "deep", TOO_DEEP)]  # fmt: skip
    items = (await c.list_raw())["items"]
    assert [type(o) for o in items] == [Unreadable, dict]  # sorted by name: deep, ws1
    with pytest.raises(MalformedObject) as info:
        await c.get("deep")
    assert (info.value.error.name, info.value.error.reason) == ("deep", TOO_DEEP)
    assert (await c.get("ws1")).name == "ws1"
    # A write whose answer is the deep object: applied, and reported as malformed.
    with pytest.raises(MalformedObject):
        await c.patch_status("deep", {"statusText": "Seen"})
    await c.delete("deep")
    assert [w.name for w in (await c.list()).items] == ["ws1"]
    assert not (await c.list()).errors


# -- what a server that does not clean up would send ----------------------------------------------


async def test_lone_surrogates_and_huge_objects_from_the_server(
    local_cluster: LocalCluster, kube_client: ApiClient, raw: Raw
) -> None:
    lone = workspace("lone")
    lone["spec"]["displayName"] = "Study \ud800 of \udfff\U0001f600"
    huge = workspace("huge")
    huge["spec"]["description"] = "x" * (3 * 1024 * 1024)
    store_as_is(local_cluster, WS, lone)
    async with running(kube_client) as cache:
        assert await cache.wait_synced(5)
        shown = cache.workspaces()["lone"].spec.display_name
        assert shown == "Study \ufffd of \ufffd\U0001f600"
        shown.encode("utf-8")  # what the spawn page does with it
        store_as_is(local_cluster, WS, huge)  # over the watch
        await eventually(lambda: bool(cache.errors()))
        assert errors_of(cache) == {("AnalyticsWorkspace", "huge", "is larger than 3 MiB")}
    c = workspaces(kube_client, NS)
    assert (await c.get("lone")).spec.display_name == "Study \ufffd of \ufffd\U0001f600"
    listed = await c.list()
    assert [w.name for w in listed.items] == ["lone"]
    assert [(e.name, e.reason) for e in listed.errors] == [("huge", "is larger than 3 MiB")]
    assert isinstance(listed.items[0], AnalyticsWorkspace)
