"""Embedded API benchmark: list and watch throughput with 10,000 objects, and memory.

Run: `make bench` (or `.venv/bin/python -m bench.localcluster_bench --objects 10000`).
The comparison measured side by side in one run: following changes by watch versus re-listing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any, cast

import aiohttp
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.api_client import ApiClient

from bench.measuring import rss_mib
from kubesim import LocalCluster
from kubesim.testing import client_configuration

NS = "default"


def config_map(i: int) -> Any:
    """A ConfigMap body as a plain dict (Any: the client sends dicts as they are, but its stubs
    ask for a V1ConfigMap)."""
    return {
        "metadata": {"name": f"obj-{i:05d}", "labels": {"shard": str(i % 100), "bench": "yes"}},
        "data": {"payload": "x" * 200, "index": str(i)},
    }


async def timed(fn: Any, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - start)
    return out


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


async def run(objects: int, runs: int) -> dict[str, Any]:
    results: dict[str, Any] = {"objects": objects}
    rss_empty = rss_mib()
    async with LocalCluster() as cluster, ApiClient(client_configuration(cluster)) as api:
        v1 = client.CoreV1Api(api)
        sem = asyncio.Semaphore(32)

        async def create(i: int) -> None:
            async with sem:
                await v1.create_namespaced_config_map(NS, config_map(i))

        start = time.perf_counter()
        await asyncio.gather(*(create(i) for i in range(objects)))
        elapsed = time.perf_counter() - start
        results["create_per_s"] = objects / elapsed
        results["rss_mib_after_create"] = rss_mib()
        results["rss_mib_per_1000_objects"] = (rss_mib() - rss_empty) / objects * 1000

        # With _preload_content=False a call answers the raw response, not the model its stubs name.
        async def full_list() -> None:
            out = cast(
                aiohttp.ClientResponse,
                await v1.list_namespaced_config_map(NS, _preload_content=False),
            )
            await out.read()

        t = await timed(full_list, runs)
        results["list_all_p50_s"] = statistics.median(t)
        results["list_all_p95_s"] = p(t, 0.95)
        results["list_objects_per_s"] = objects / statistics.median(t)

        async def paged_list() -> None:
            token: str | None = None
            while True:
                kw: dict[str, Any] = {"_continue": token} if token else {}
                resp = cast(
                    aiohttp.ClientResponse,
                    await v1.list_namespaced_config_map(
                        NS, limit=500, _preload_content=False, **kw
                    ),
                )
                token = json.loads(await resp.read())["metadata"].get("continue")
                if not token:
                    break

        t = await timed(paged_list, max(1, runs // 2))
        results["list_paged_500_p50_s"] = statistics.median(t)

        async def selected_list() -> None:
            out = cast(
                aiohttp.ClientResponse,
                await v1.list_namespaced_config_map(
                    NS, label_selector="shard=7", _preload_content=False
                ),
            )
            await out.read()

        t = await timed(selected_list, runs)
        results["list_selector_1pct_p50_s"] = statistics.median(t)

        # Watch from scratch: the initial ADDED events for every object.
        async def initial_watch() -> None:
            seen = 0
            resp = cast(
                aiohttp.ClientResponse,
                await v1.list_namespaced_config_map(
                    NS, watch=True, timeout_seconds=60, _preload_content=False
                ),
            )
            async for line in resp.content:
                if line.strip():
                    seen += 1
                    if seen >= objects:
                        resp.release()
                        return

        t = await timed(initial_watch, max(1, runs // 2))
        results["watch_initial_events_per_s"] = objects / statistics.median(t)

        # Live changes fanned out to 10 watchers, versus learning them by re-listing.
        changes = min(2000, objects)
        rv = (await v1.list_namespaced_config_map(NS, limit=1)).metadata.resource_version
        received = [0] * 10
        ready = asyncio.Event()

        async def watcher(k: int) -> None:
            w = watch.Watch()
            async with w.stream(
                v1.list_namespaced_config_map, NS, resource_version=rv, timeout_seconds=120
            ) as stream:
                async for _ in stream:
                    received[k] += 1
                    if received[k] >= changes:
                        return

        tasks = [asyncio.create_task(watcher(k)) for k in range(10)]
        await asyncio.sleep(0.5)
        ready.set()
        start = time.perf_counter()
        for i in range(changes):
            await v1.patch_namespaced_config_map(f"obj-{i:05d}", NS, {"data": {"index": "m"}})
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
        results["watch_live_events_delivered_per_s"] = changes * 10 / elapsed
        results["watch_live_changes_per_s"] = changes / elapsed
        # The alternative: a client that polls with a full list to notice one change.
        results["relist_to_learn_one_change_s"] = results["list_all_p50_s"]
        results["watch_to_learn_one_change_s"] = elapsed / changes
        results["watch_vs_relist_ratio"] = (
            results["relist_to_learn_one_change_s"] / results["watch_to_learn_one_change_s"]
        )
        results["requests"] = cluster.requests.summary()
        results["rss_mib_end"] = rss_mib()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", default="bench/results/localcluster.json")
    args = parser.parse_args()
    results = asyncio.run(run(args.objects, args.runs))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    for key, value in results.items():
        if key != "requests":
            print(f"{key:40s} {value:12.3f}" if isinstance(value, float) else f"{key:40s} {value}")
    print(f"results written to {args.out} (pid {os.getpid()})")


if __name__ == "__main__":
    main()
