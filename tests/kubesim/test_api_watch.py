"""Watch semantics: resume, selectors, timeouts, bookmarks, 410 Expired, cut streams."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import aiohttp
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from kubesim import LocalCluster
from kubesim.testing import client_configuration


def cm(name: str, **labels: str) -> Any:
    """A ConfigMap body as a plain dict (Any: the client sends dicts as they are, but its stubs
    ask for a V1ConfigMap)."""
    return {"metadata": {"name": name, "labels": labels}}


async def collect(
    v1: client.CoreV1Api, n: int, seconds: int = 5, **kwargs: Any
) -> list[tuple[str, str]]:
    """The first n (type, name) events of a config-map watch in `default`."""
    out: list[tuple[str, str]] = []
    w = watch.Watch()
    async with w.stream(
        v1.list_namespaced_config_map, "default", timeout_seconds=seconds, **kwargs
    ) as stream:
        async for event in stream:
            obj = event["object"]
            name = obj.metadata.name if hasattr(obj, "metadata") else obj["metadata"]["name"]
            out.append((event["type"], name))
            if len(out) >= n:
                break
    return out


async def test_watch_from_resource_version_sends_only_later_changes(kube_client: ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    await v1.create_namespaced_config_map("default", cm("before"))
    rv = (await v1.list_namespaced_config_map("default")).metadata.resource_version
    watcher = asyncio.create_task(collect(v1, 3, resource_version=rv))
    await asyncio.sleep(0.2)
    await v1.create_namespaced_config_map("default", cm("after"))
    await v1.patch_namespaced_config_map("after", "default", {"data": {"k": "v"}})
    await v1.delete_namespaced_config_map("after", "default")
    assert await asyncio.wait_for(watcher, 5) == [
        ("ADDED", "after"),
        ("MODIFIED", "after"),
        ("DELETED", "after"),
    ]


async def test_watch_without_resource_version_starts_with_current_state(
    kube_client: ApiClient,
) -> None:
    v1 = client.CoreV1Api(kube_client)
    await v1.create_namespaced_config_map("default", cm("existing"))
    events = await collect(v1, 1, label_selector="")
    assert events == [("ADDED", "existing")] or ("ADDED", "existing") in events


async def test_objects_entering_and_leaving_a_selector(kube_client: ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    await v1.create_namespaced_config_map("default", cm("mover", app="other"))
    rv = (await v1.list_namespaced_config_map("default")).metadata.resource_version
    watcher = asyncio.create_task(collect(v1, 2, resource_version=rv, label_selector="app=mine"))
    await asyncio.sleep(0.2)
    await v1.patch_namespaced_config_map(
        "mover", "default", {"metadata": {"labels": {"app": "mine"}}}
    )
    await v1.patch_namespaced_config_map("mover", "default", {"metadata": {"labels": {"app": "x"}}})
    assert await asyncio.wait_for(watcher, 5) == [("ADDED", "mover"), ("DELETED", "mover")]


async def test_timeout_seconds_ends_the_stream(kube_client: ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    rv = (await v1.list_namespaced_config_map("default")).metadata.resource_version
    start = time.monotonic()
    events = await asyncio.wait_for(collect(v1, 10, seconds=1, resource_version=rv), 10)
    assert events == []
    assert 0.9 <= time.monotonic() - start < 5


async def test_too_old_resource_version_gets_410_in_stream() -> None:
    with LocalCluster(history_size=5) as cluster:
        async with ApiClient(client_configuration(cluster)) as api:
            v1 = client.CoreV1Api(api)
            first = await v1.create_namespaced_config_map("default", cm("old"))
            for i in range(10):
                await v1.create_namespaced_config_map("default", cm(f"churn{i}"))
            w = watch.Watch()
            try:
                async with w.stream(
                    v1.list_namespaced_config_map, "default",
                    resource_version=first.metadata.resource_version, timeout_seconds=2,
                ) as stream:  # fmt: skip
                    async for _ in stream:
                        pass
            except ApiException as err:
                assert err.status == 410
            else:
                raise AssertionError("expected 410 Expired")


async def test_bookmarks_only_when_asked() -> None:
    with LocalCluster(bookmark_interval=0.2) as cluster:
        async with ApiClient(client_configuration(cluster)) as api:
            v1 = client.CoreV1Api(api)
            rv = (await v1.list_namespaced_config_map("default")).metadata.resource_version
            # _preload_content=False answers the raw response, not the model the stubs name.
            resp = cast(aiohttp.ClientResponse, await v1.list_namespaced_config_map(
                "default", watch=True, resource_version=rv, timeout_seconds=1,
                allow_watch_bookmarks=True, _preload_content=False,
            ))  # fmt: skip
            text = (await resp.read()).decode()
            assert '"type":"BOOKMARK"' in text
            resp = cast(aiohttp.ClientResponse, await v1.list_namespaced_config_map(
                "default", watch=True, resource_version=rv, timeout_seconds=1,
                _preload_content=False,
            ))  # fmt: skip
            assert "BOOKMARK" not in (await resp.read()).decode()


async def test_many_watchers_and_a_client_that_leaves(local_cluster: LocalCluster) -> None:
    async with ApiClient(client_configuration(local_cluster)) as api:
        v1 = client.CoreV1Api(api)
        rv = (await v1.list_namespaced_config_map("default")).metadata.resource_version
        watchers = [asyncio.create_task(collect(v1, 1, resource_version=rv)) for _ in range(50)]
        await asyncio.sleep(0.5)
        # One client goes away mid-stream; the server must not mind.
        watchers[0].cancel()
        await v1.create_namespaced_config_map("default", cm("broadcast"))
        results = await asyncio.gather(*watchers[1:])
        assert all(r == [("ADDED", "broadcast")] for r in results)
        assert (await v1.read_namespaced_config_map("broadcast", "default")).metadata.name


async def test_cut_watches_end_open_streams(local_cluster: LocalCluster) -> None:
    async with ApiClient(client_configuration(local_cluster)) as api:
        v1 = client.CoreV1Api(api)
        rv = (await v1.list_namespaced_config_map("default")).metadata.resource_version
        watcher = asyncio.create_task(collect(v1, 5, seconds=30, resource_version=rv))
        await asyncio.sleep(0.3)
        cut = await asyncio.to_thread(local_cluster.faults.cut_watches, "configmaps")
        assert cut == 1
        assert await asyncio.wait_for(watcher, 5) == []
