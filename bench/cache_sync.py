"""The cache's one-off sync: timed, and measured in a fresh process for its memory."""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import time
from multiprocessing.connection import Connection

from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from bench.access_data import NS, PLURALS
from bench.cluster_process import client_configuration
from bench.measuring import settled_rss_mib
from lscsde_spawner.kube.cache import WorkspaceCache
from lscsde_spawner.models import GROUP, VERSION


async def sync_cache(api: ApiClient) -> tuple[WorkspaceCache, float]:
    """A `WorkspaceCache` of the namespace, started and synced; and the seconds that took."""
    cache = WorkspaceCache(api, NS)
    start = time.perf_counter()
    await cache.start()
    if not await cache.wait_synced(timeout=120):
        raise RuntimeError("the cache did not sync within 120 s")
    return cache, time.perf_counter() - start


def cache_memory(conn: Connection, url: str, trace: bool) -> None:
    """Sync one cache in a process that does nothing else; send back what it grew by.

    Without `trace`: the RSS delta (after a full collection and malloc_trim on both sides).
    With `trace`: the Python heap the synced cache holds (tracemalloc), and the peak during sync.
    """
    import tracemalloc

    async def main() -> dict[str, float]:
        async with ApiClient(client_configuration(url)) as api:
            # warm the client's code paths and connection first, so they are not counted
            custom = client.CustomObjectsApi(api)
            for plural in PLURALS:
                await custom.list_namespaced_custom_object(GROUP, VERSION, NS, plural, limit=1)
            if trace:
                tracemalloc.start()
            gc.collect()
            traced_before = tracemalloc.get_traced_memory()[0] if trace else 0
            rss_before = settled_rss_mib()
            cache, seconds = await sync_cache(api)
            out = {"sync_seconds": seconds}
            if trace:
                gc.collect()
                current, peak = tracemalloc.get_traced_memory()
                out["traced_mib"] = (current - traced_before) / 2**20
                out["traced_peak_mib"] = (peak - traced_before) / 2**20
                tracemalloc.stop()
            else:
                out["rss_delta_mib"] = settled_rss_mib() - rss_before
            await cache.stop()
            return out

    try:
        conn.send(asyncio.run(main()))
    except Exception as err:
        conn.send({"error": repr(err)})
        raise


def measure_cache_memory(url: str, trace: bool) -> dict[str, float]:
    """`cache_memory` against the cluster at `url`, in a fresh process; what it sent back."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=cache_memory, args=(child, url, trace), name="cache-memory")
    proc.start()
    try:
        if not parent.poll(180):
            raise RuntimeError("the cache memory measurement did not finish within 180 s")
        result = parent.recv()
        if "error" in result:
            raise RuntimeError(f"the cache memory measurement failed: {result['error']}")
        return dict(result)
    finally:
        proc.join(30)
