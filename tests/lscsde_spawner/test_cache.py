"""The watch-fed workspace cache against the embedded API: convergence, faults, zero-call reads."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import pytest_asyncio
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from kubesim import LocalCluster
from kubesim.testing import client_configuration
from lscsde_spawner.kube import cache as cache_module
from lscsde_spawner.kube.cache import WorkspaceCache
from lscsde_spawner.usernames import USER_LABEL, exact, username_label
from tests.support.cache import (
    DS,
    DSB,
    NS,
    WS,
    WSB,
    Objects,
    bindings_of,
    eventually,
    running,
)
from tests.support.crds import install_crds
from tests.support.factories import (
    BAD_CLAIM,
    GROUP_CLAIM,
    binding,
    claim,
    datasource,
    datasource_binding,
    workspace,
)


@pytest_asyncio.fixture
async def objects(crds: ApiClient) -> Objects:
    return Objects(crds)


@pytest_asyncio.fixture
async def cache(kube_client: ApiClient, objects: Objects) -> AsyncIterator[WorkspaceCache]:
    async with running(kube_client) as c:
        assert await c.wait_synced(5)
        yield c


@asynccontextmanager
async def own_cluster(**kw: Any) -> AsyncIterator[tuple[LocalCluster, ApiClient, Objects]]:
    """A cluster of its own (made with `kw`), with the CRDs installed."""
    with LocalCluster(**kw) as cluster:
        async with ApiClient(client_configuration(cluster)) as api:
            await install_crds(api)
            yield cluster, api, Objects(api)


# -- sharing and lifecycle ----------------------------------------------------------------------


async def test_shared_is_one_per_namespace_and_loop(local_cluster: LocalCluster) -> None:
    made: list[ApiClient] = []

    def factory() -> ApiClient:
        made.append(ApiClient(client_configuration(local_cluster)))
        return made[-1]

    a = WorkspaceCache.shared(factory, NS)
    assert WorkspaceCache.shared(factory, NS) is a
    other = WorkspaceCache.shared(factory, "other")
    assert other is not a and len(made) == 2

    async def in_another_loop() -> bool:
        cache = WorkspaceCache.shared(factory, NS)
        await cache.stop()
        return cache is not a

    assert await asyncio.to_thread(asyncio.run, in_another_loop())
    await a.stop()  # closes the client it was made with; the next lookup makes a new cache
    assert WorkspaceCache.shared(factory, NS) is not a
    for cache in (WorkspaceCache.shared(factory, NS), other):
        await cache.stop()


async def test_a_cache_cancelled_from_outside_is_replaced(
    local_cluster: LocalCluster, objects: Objects
) -> None:
    """JupyterHub's shutdown cancels every task; a later hub in the loop gets a live cache."""
    cache = WorkspaceCache.shared(lambda: ApiClient(client_configuration(local_cluster)), NS)
    await cache.start()
    for task in cache._tasks:
        task.cancel()
    await asyncio.gather(*cache._tasks, return_exceptions=True)
    fresh = WorkspaceCache.shared(lambda: ApiClient(client_configuration(local_cluster)), NS)
    assert fresh is not cache
    await fresh.start()
    assert await fresh.wait_synced(5)
    await fresh.stop()


async def test_stop_cancels_watches_cleanly(kube_client: ApiClient, objects: Objects) -> None:
    cache = WorkspaceCache(kube_client, NS)
    await cache.start()
    await cache.start()  # idempotent
    assert await cache.wait_synced(5)
    tasks = list(cache._tasks)
    assert len(tasks) == 5  # the four kinds and the namespace's PVCs
    await cache.stop()
    assert all(t.done() for t in tasks) and not cache.synced


# -- convergence --------------------------------------------------------------------------------


async def test_converges_on_create_update_delete(cache: WorkspaceCache, objects: Objects) -> None:
    await objects.create(WS, workspace("ws1"))
    await objects.create(WSB, binding("b1", "ws1", "Alice@Example.org"))
    await objects.create(
        WSB, binding("b-claims", "ws1", claims=[GROUP_CLAIM])
    )  # no username: in no user's list
    await objects.create(DS, datasource("d1"))
    await objects.create(DSB, datasource_binding("db1", "ws1", "d1"))
    await eventually(lambda: len(cache._kinds[WSB].items) == 2 and "db1" in str(
        cache.datasource_bindings_for("ws1")))  # fmt: skip

    snap = await cache.snapshot_for("alice@example.org")  # the hub's name for that user
    assert snap.from_cache and bindings_of(snap) == {"b1"}
    assert set(snap.workspaces) == {"ws1"} and set(snap.datasources) == {"d1"}
    assert [b.name for b in snap.datasource_bindings] == ["db1"]
    assert [b.name for b in cache.datasource_bindings_for("ws1")] == ["db1"]

    # An edit of the username moves the binding between users.
    await objects.patch(WSB, "b1", {"spec": {"username": "bob"}})
    await eventually(lambda: ("user", "bob") in cache._kinds[WSB].index)
    assert bindings_of(await cache.snapshot_for("alice@example.org")) == set()
    assert bindings_of(await cache.snapshot_for("bob")) == {"b1"}
    users = {key for key in cache._kinds[WSB].index if key[0] == "user"}
    assert users == {("user", "bob")}  # the old entry is gone, not left empty

    await objects.patch(DSB, "db1", {"spec": {"workspace": "ws2"}})
    await eventually(lambda: cache.datasource_bindings_for("ws1") == [])
    assert [b.name for b in cache.datasource_bindings_for("ws2")] == ["db1"]

    await objects.delete(WSB, "b1")
    await objects.delete(WS, "ws1")
    await eventually(lambda: not cache.workspaces())
    assert bindings_of(await cache.snapshot_for("bob")) == set()


async def test_exact_matching(kube_client: ApiClient, objects: Objects) -> None:
    await objects.create(WSB, binding("b1", username="Alice"))
    async with running(kube_client, normalize=exact) as cache:
        assert await cache.wait_synced(5)
        assert bindings_of(await cache.snapshot_for("Alice")) == {"b1"}
        assert bindings_of(await cache.snapshot_for("alice")) == set()


async def test_index_uses_the_hubs_rule_and_merges_nothing_more(
    kube_client: ApiClient, objects: Objects
) -> None:
    for i, name in enumerate(["Straße", "strasse", "\u017fam", "zoe\u0308", "zo\u00eb"]):
        await objects.create(WSB, binding(f"b{i}", username=name))
    async with running(kube_client) as cache:  # JupyterHub's default rule: lower()
        assert await cache.wait_synced(5)
        assert bindings_of(await cache.snapshot_for("straße")) == {"b0"}
        assert bindings_of(await cache.snapshot_for("strasse")) == {"b1"}
        assert bindings_of(await cache.snapshot_for("sam")) == set()
        assert bindings_of(await cache.snapshot_for("zo\u00eb")) == {"b4"}
        assert bindings_of(await cache.snapshot_for("zoe\u0308")) == {"b3"}


async def test_resumes_after_a_watch_drop(
    cache: WorkspaceCache, objects: Objects, local_cluster: LocalCluster
) -> None:
    await objects.create(WSB, binding("b1", username="alice"))
    await eventually(lambda: "b1" in cache._kinds[WSB].items)
    local_cluster.requests.reset()
    assert local_cluster.faults.cut_watches(WSB) == 1
    await objects.create(WSB, binding("b2", username="alice"))
    await objects.delete(WSB, "b1")
    await eventually(lambda: set(cache._kinds[WSB].items) == {"b2"})
    # Resumed from the last resourceVersion: a new watch, no relist.
    assert local_cluster.requests.count("watch", WSB) >= 1
    assert local_cluster.requests.count("list", WSB) == 0


async def test_relists_after_410_gone(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lscsde_spawner.kube.cache")
    async with own_cluster(history_size=5) as (cluster, api, objects):
        await objects.create(WSB, binding("b0", username="alice"))
        async with running(api) as cache:
            assert await cache.wait_synced(5)
            await objects.create(
                WSB, binding("b1", username="alice")
            )  # an event: rv moves past the list's
            await eventually(lambda: "b1" in cache._kinds[WSB].items)
            cluster.requests.reset()
            # The reconnect waits while 20 changes push our resourceVersion out of history.
            cluster.faults.delay(0.5, verb="watch", path=WSB, times=1)
            assert cluster.faults.cut_watches(WSB) == 1
            for i in range(10):
                await objects.create(WSB, binding(f"c{i}", username="carol"))
            await objects.patch(WSB, "b1", {"spec": {"username": "dave"}})
            await objects.delete(WSB, "b0")
            for i in range(9):
                await objects.patch(WSB, "c0", {"spec": {"comments": f"edit {i}"}})

            want = {f"c{i}" for i in range(10)}
            await eventually(lambda: bindings_of_sync(cache, "carol") == want)
            assert bindings_of(await cache.snapshot_for("dave")) == {"b1"}
            assert bindings_of(await cache.snapshot_for("alice")) == set()
            assert cache._kinds[WSB].items["c0"].spec.comments == "edit 8"
            assert cluster.requests.count("list", WSB) >= 1  # the 410 made it relist
            assert any("expired" in r.getMessage() for r in caplog.records)


def bindings_of_sync(cache: WorkspaceCache, user: str) -> set[str]:
    return set(cache._kinds[WSB].index.get(("user", user), {}))


async def test_bookmarks_advance_the_resource_version() -> None:
    async with (
        own_cluster(bookmark_interval=0.1) as (cluster, api, objects),
        running(api) as cache,
    ):
        assert await cache.wait_synced(5)
        before = int(cache._kinds[WSB].resource_version or 0)
        await objects.create(WS, workspace("ws1"))  # another kind: bindings see bookmarks
        await eventually(lambda: int(cache._kinds[WSB].resource_version or 0) > before)
        assert cache._kinds[WSB].failures == 0
        cluster.requests.reset()
        await objects.create(WSB, binding("b1", username="alice"))
        await eventually(lambda: "b1" in cache._kinds[WSB].items)
        assert cluster.requests.count("list") == 0


async def test_backs_off_on_list_errors_then_recovers(
    kube_client: ApiClient, objects: Objects, local_cluster: LocalCluster,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    await objects.create(WSB, binding("b1", username="alice"))
    local_cluster.faults.fail(status=500, verb="list", path=WSB, times=4)
    caplog.set_level(logging.INFO, logger="lscsde_spawner.kube.cache")
    async with running(kube_client) as cache:
        assert await cache.wait_synced(5)
        assert bindings_of(await cache.snapshot_for("alice")) == {"b1"}
    assert local_cluster.requests.count("list", WSB) == 5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings  # once per failure streak, not per retry
    assert WSB in warnings[0].getMessage() and "500" in warnings[0].getMessage()
    assert any("recovered after 4 failures" in r.getMessage() for r in caplog.records)


async def test_backoff_grows_with_jitter_and_is_capped(
    kube_client: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = WorkspaceCache(kube_client, NS, backoff_initial=1, backoff_max=8)
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    for _ in range(6):
        await cache._failed(WSB, cache._kinds[WSB], RuntimeError("boom"))
    monkeypatch.undo()
    caps = [1, 2, 4, 8, 8, 8]
    assert all(cap / 2 <= s <= cap for s, cap in zip(slept, caps, strict=True)), slept


# -- malformed objects --------------------------------------------------------------------------


async def test_malformed_objects_are_reported_and_isolated(
    cache: WorkspaceCache, objects: Objects, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="lscsde_spawner.kube.cache")
    await objects.create(WS, workspace("broken", persistentVolumeClaim={"name": "Not_A_PVC"}))
    await objects.create(WS, workspace("ws1"))
    await objects.create(WSB, binding("b1", username="alice"))
    await objects.create(WSB, binding("bad-alice", username="Alice", claims=[BAD_CLAIM]))
    await objects.create(WSB, binding("bad-bob", username="bob", claims=[BAD_CLAIM]))
    await eventually(lambda: len(cache.errors()) == 3 and "b1" in cache._kinds[WSB].items)

    snap = await cache.snapshot_for("alice")
    assert set(snap.workspaces) == {"ws1"} and bindings_of(snap) == {"b1"}
    # Alice sees her own broken binding and the broken workspace, not Bob's binding.
    assert {(e.kind, e.name) for e in snap.malformed} == {
        ("AnalyticsWorkspace", "broken"), ("AnalyticsWorkspaceBinding", "bad-alice")}  # fmt: skip
    assert "Not_A_PVC" in next(e.reason for e in snap.malformed if e.name == "broken")
    assert len([r for r in caplog.records if "broken" in r.getMessage()]) == 1

    fix = {"spec": {"jupyterWorkspace": {"persistentVolumeClaim": {"name": "broken-pvc"}}}}
    await objects.patch(WS, "broken", fix)
    await objects.delete(WSB, "bad-alice")
    await eventually(lambda: {e.name for e in cache.errors()} == {"bad-bob"})
    assert set(cache.workspaces()) == {"broken", "ws1"}


async def test_resync_relists_without_repeating_log_lines(
    kube_client: ApiClient, objects: Objects, local_cluster: LocalCluster,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.WARNING, logger="lscsde_spawner.kube.cache")
    await objects.create(WSB, binding("bad", username="bob", claims=[BAD_CLAIM]))
    async with running(kube_client, resync_seconds=0.5) as cache:
        assert await cache.wait_synced(5)
        await eventually(lambda: local_cluster.requests.count("list", WSB) >= 3)
        assert [e.name for e in cache.errors()] == ["bad"]
    assert len([r for r in caplog.records if "bad" in r.getMessage()]) == 1


# -- reads --------------------------------------------------------------------------------------


async def test_no_api_calls_once_synced(
    cache: WorkspaceCache, objects: Objects, local_cluster: LocalCluster
) -> None:
    await objects.create(WS, workspace("ws1"))
    await objects.create(WSB, binding("b1", username="alice"))
    await eventually(lambda: "b1" in cache._kinds[WSB].items)
    local_cluster.requests.reset()
    for _ in range(100):
        snap = await cache.snapshot_for("alice")
        assert bindings_of(snap) == {"b1"}
    assert local_cluster.requests.count("get") + local_cluster.requests.count("list") == 0


async def test_snapshots_are_copies(cache: WorkspaceCache, objects: Objects) -> None:
    await objects.create(WS, workspace("ws1"))
    await objects.create(WSB, binding("b1", username="alice"))
    await eventually(lambda: "b1" in cache._kinds[WSB].items and bool(cache.workspaces()))
    snap = await cache.snapshot_for("alice")
    snap.workspaces.clear()
    snap.bindings.clear()
    again = await cache.snapshot_for("alice")
    assert set(again.workspaces) == {"ws1"} and bindings_of(again) == {"b1"}


async def test_direct_queries_before_sync(
    kube_client: ApiClient, objects: Objects, local_cluster: LocalCluster
) -> None:
    mine = {USER_LABEL: username_label("alice")}
    await objects.create(WS, workspace("ws1"))
    await objects.create(WSB, binding("labelled", username="Alice", labels=mine))
    await objects.create(WSB, binding("unlabelled", username="alice"))
    await objects.create(WSB, binding("stale-label", username="mallory", labels=mine))
    await objects.create(WSB, binding("bad-bob", username="bob", claims=[BAD_CLAIM]))
    await objects.create(DS, datasource("d1"))
    await objects.create(DSB, datasource_binding("db1", "ws1", "d1"))

    cache = WorkspaceCache(kube_client, NS)  # never started: not synced
    snap = await cache.snapshot_for("alice")
    assert not snap.from_cache
    assert bindings_of(snap) == {"labelled", "unlabelled"}  # spec.username decides, not labels
    assert set(snap.workspaces) == {"ws1"} and set(snap.datasources) == {"d1"}
    assert [b.name for b in snap.datasource_bindings] == ["db1"] and snap.malformed == []
    assert cache.errors() == []  # direct queries leave the cache alone

    # Trusting the label narrows the query; spec.username still decides.
    local_cluster.requests.reset()
    trusting = WorkspaceCache(kube_client, NS, trust_user_label=True)
    assert bindings_of(await trusting.snapshot_for("alice")) == {"labelled"}
    # Claim bindings carry no user label: one more list finds them (and only them).
    assert local_cluster.requests.count("list", WSB) == 2
    await objects.create(WSB, binding("team", claims=[GROUP_CLAIM]))
    claims = {"group": ("x",)}
    assert bindings_of(await trusting.snapshot_for("alice", claims)) == {"labelled", "team"}
    assert bindings_of(await cache.snapshot_for("alice", claims)) == {
        "labelled", "unlabelled", "team"}  # fmt: skip
    assert bindings_of(await cache.snapshot_for("alice", {"group": ("y",)})) == {
        "labelled", "unlabelled"}  # fmt: skip


async def test_stop_before_sync_is_clean(
    kube_client: ApiClient, objects: Objects, local_cluster: LocalCluster
) -> None:
    local_cluster.faults.fail(status=503, verb="list", path=WSB, times=None)
    cache = WorkspaceCache(kube_client, NS, backoff_initial=0.05)
    await cache.start()
    assert not await cache.wait_synced(0.3)
    await cache.stop()
    assert all(t.done() for t in asyncio.all_tasks() if t.get_name().startswith("lscsde-cache"))


# -- what a start and a running server ask of the cache ----------------------------------------


async def test_workspace_view_holds_only_what_decides_one_grant(
    cache: WorkspaceCache, objects: Objects
) -> None:
    for ws in ("ws1", "ws2"):
        await objects.create(WS, workspace(ws))
    await objects.create(WSB, binding("b1", "ws1", "alice"))
    await objects.create(WSB, binding("b2", "ws2", "alice"))
    await objects.create(WSB, binding("b3", "ws1", "bob"))
    await objects.create(DS, datasource("d1"))
    await objects.create(DS, datasource("d2"))
    await objects.create(DSB, datasource_binding("db1", "ws1", "d1"))
    await objects.create(DSB, datasource_binding("db2", "ws2", "d2"))
    await eventually(lambda: len(cache.datasource_bindings_for("ws2")) == 1)
    view = cache.workspace_view("alice", "ws1")
    assert set(view.workspaces) == {"ws1"}
    assert bindings_of(view) == {"b1"}  # not b2 (another workspace), not b3 (bob's)
    assert [b.name for b in view.datasource_bindings] == ["db1"]
    assert set(view.datasources) == {"d1"} and view.malformed == []
    assert cache.workspace_view("alice", "nosuch").workspaces == {}
    assert bindings_of(cache.workspace_view("", "ws1")) == set()


async def test_listeners_hear_each_change_after_sync(
    cache: WorkspaceCache, objects: Objects
) -> None:
    heard: list[int] = []
    cache.add_listener(lambda: heard.append(1))
    await objects.create(WSB, binding("b1", username="alice"))
    await eventually(lambda: len(heard) >= 1)
    before = len(heard)
    await objects.delete(WSB, "b1")
    await eventually(lambda: len(heard) > before)


async def test_claims_are_cached_with_their_labels(
    cache: WorkspaceCache, kube_client: ApiClient
) -> None:
    body: Any = {  # a plain dict: the client sends it as it is, whatever its stubs ask for
        "metadata": {"name": "workspace-ws1", "labels": {"xlscsde.nhs.uk/workspace": "ws1"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    await eventually(lambda: cache.claims_synced)
    await client.CoreV1Api(kube_client).create_namespaced_persistent_volume_claim(NS, body)
    await eventually(lambda: cache.claim("workspace-ws1") is not None)
    found = cache.claim("workspace-ws1")
    assert found is not None and found.metadata.labels == {"xlscsde.nhs.uk/workspace": "ws1"}
    assert not found.being_deleted and cache.claim("other") is None


async def test_lists_page_by_page_and_a_relist_keeps_unchanged_models(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cache_module, "LIST_PAGE", 4)
    async with own_cluster(history_size=5) as (cluster, api, objects):
        for i in range(10):
            await objects.create(WSB, binding(f"b{i}", username=f"user{i}"))
        cluster.requests.reset()
        async with running(api) as cache:
            assert await cache.wait_synced(5)
            assert len(cache._kinds[WSB].items) == 10
            pages = [r for r in cluster.requests.entries if r.verb == "list" and r.resource == WSB]
            assert len(pages) == 3 and all("limit=4" in r.query for r in pages)
            before = dict(cache._kinds[WSB].items)
            await objects.patch(WSB, "b3", {"spec": {"comments": "changed"}})
            await eventually(lambda: cache._kinds[WSB].items["b3"] is not before["b3"])
            changed = cache._kinds[WSB].items["b3"]
            # Force a relist: unchanged objects keep their models, the changed one its new one.
            cluster.faults.fail(status=410, verb="watch", path=WSB, times=1)
            cluster.faults.cut_watches(WSB)
            await eventually(lambda: cluster.requests.count("list", WSB) >= 6)
            await eventually(lambda: len(cache._kinds[WSB].items) == 10)
            now = cache._kinds[WSB].items
            assert all(now[n] is before[n] for n in before if n != "b3")
            assert now["b3"] is changed


async def test_claim_bindings_are_indexed_apart_from_users(
    cache: WorkspaceCache, objects: Objects, caplog: pytest.LogCaptureFixture
) -> None:
    await objects.create(WS, workspace("ws1"))
    await objects.create(WSB, binding("team", claims=[claim("groups", "EQUALS", "t1")]))
    await objects.create(WSB, binding("either", claims=[claim("groups", "IN", "t2, t3")]))
    await objects.create(WSB, binding("neg", claims=[claim("groups", "NOT IN", "t9")]))
    await objects.create(
        WSB, binding("both", username="Ann", claims=[claim("groups", "EQUALS", "t1")])
    )
    await objects.create(WSB, binding("broken", claims=[claim("groups", "NOT_EQUALS", "x")]))
    await objects.create(WSB, binding("broken-pos", claims=[
        claim("groups", "EQUALS", "t1"), claim("site", "NOT INCLUDED", "x")]))  # fmt: skip
    await eventually(lambda: len(cache.bindings()) == 6)

    index = cache._kinds[WSB].index
    assert set(index) == {
        ("claim", "groups", "t1"), ("claim", "groups", "t2"), ("claim", "groups", "t3"),
        ("negative",), ("user", "ann"), ("workspace", "ws1"),
    }  # fmt: skip
    # Every binding is also under its workspace (the workspaces service's member lists).
    assert len(index[("workspace", "ws1")]) == 6
    assert set(index[("claim", "groups", "t1")]) == {"team", "broken-pos"}
    # A username binding is found by its user only, whatever its claims say.
    assert bindings_of(await cache.snapshot_for("bob", {"groups": ("t1",)})) == {
        "team", "broken-pos", "neg"}  # fmt: skip
    assert bindings_of(await cache.snapshot_for("ann")) == {"both"}
    assert bindings_of(await cache.snapshot_for("ann", {"groups": ("t3",)})) == {
        "both", "either", "neg"}  # fmt: skip
    assert bindings_of(await cache.snapshot_for("", {"groups": ("t1",)})) == set()
    view = cache.workspace_view("bob", "ws1", {"groups": ("t2",)})
    assert bindings_of(view) == {"either", "neg"}
    # The broken operators are logged (once per version), naming the field.
    logged = [r.getMessage() for r in caplog.records if "grants nothing" in r.getMessage()]
    assert any("broken " in m and "operator 'NOT_EQUALS'" in m for m in logged), logged
    assert any("broken-pos" in m and "spec.claims[1].operator 'NOT INCLUDED'" in m for m in logged)

    # An edit moves a binding between index keys and leaves no empty key behind.
    await objects.patch(WSB, "team", {"spec": {"claims": [claim("groups", "EQUALS", "t7")]}})
    await eventually(lambda: ("claim", "groups", "t7") in cache._kinds[WSB].index)
    assert set(cache._kinds[WSB].index[("claim", "groups", "t1")]) == {"broken-pos"}
    await objects.delete(WSB, "broken-pos")
    await eventually(lambda: ("claim", "groups", "t1") not in cache._kinds[WSB].index)
    await objects.delete(WSB, "neg")
    await eventually(lambda: ("negative",) not in cache._kinds[WSB].index)
