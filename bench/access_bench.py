"""Access benchmark: one user's permitted workspaces, ours versus lscsde-workspace-mgmt 0.1.14.

Both run side by side, in one process and against one embedded cluster holding 1,000
AnalyticsWorkspaces and 10,000 AnalyticsWorkspaceBindings, one user bound to 50 of them:

- ours: the synced `WorkspaceCache.snapshot_for(user)` + `access.decide(...)`, the whole lookup
  the spawner does per page view; also its cold path (before the cache has synced) and the
  cache's one-off sync cost (requests, seconds, and memory, measured in fresh processes);
- theirs: `AnalyticsWorkspaceManager.get_permitted_workspaces(namespace, username)` from
  lscsde-workspace-mgmt 0.1.14 (what the field spawner calls), with its own kubernetes_asyncio
  client loaded from the cluster's kubeconfig.

The cluster runs in a child process (`with LocalCluster(auth=False) as c:` there), so the
server's work and memory are charged to neither client, as with a real API server; the child answers
`c.requests.count/summary/reset` over a pipe. The two lookups alternate, so any drift on the
machine touches both alike.

Run: `make bench-access`, or `.venv/bin/pip install -e '.[bench]'` then
`.venv/bin/python -m bench.access_bench`. Writes bench/results/access.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes_asyncio.client.api_client import ApiClient

from bench.access_data import (
    COLLIDING_USER,
    NS,
    USER,
    field_label,
    make_dataset,
    seed,
)
from bench.access_lookups import Side, classify, ended_watches, measure, our_lookup
from bench.access_report import ratios, table
from bench.cache_sync import measure_cache_memory, sync_cache
from bench.cluster_process import ClusterProcess, client_configuration
from bench.measuring import machine, settled_rss_mib
from bench.old_tool import (
    OLD_TOOL,
    check_old_label_format,
    old_tool_client,
    require_old_tool,
    their_lookup,
)
from lscsde_spawner.access import today_in
from lscsde_spawner.kube.cache import WorkspaceCache
from tests.support.crds import install_crds

log = logging.getLogger("access_bench")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole measurement, in the order of the module's docstring; the results."""
    require_old_tool()

    today = today_in("UTC")
    ds = make_dataset(
        args.workspaces, args.bindings, args.user_bindings, args.users, today, args.seed
    )
    check_old_label_format([USER, COLLIDING_USER, "user0001.researcher@example.nhs.uk"])
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(["kubernetes_asyncio", OLD_TOOL]),
        "parameters": {
            "workspaces": len(ds.workspaces),
            "bindings": len(ds.bindings),
            "user_bindings": args.user_bindings,
            "users": ds.users,
            "lookups": args.lookups,
            "warmup": args.warmup,
            "cold_lookups": args.cold_lookups,
            "seed": args.seed,
            "user": USER,
            "user_field_label": field_label(USER),
            "today_utc": today.isoformat(),
        },
    }
    with ClusterProcess() as cluster:
        # ours: a configuration naming the URL; theirs: the kubeconfig, as in the field
        async with ApiClient(client_configuration(cluster.url)) as api:
            await install_crds(api)
            results["seed_seconds"] = await seed(api, ds)
            # the raw objects are in the cluster now; holding them here would only add to
            # every garbage collection either tool's lookups trigger
            ds.workspaces.clear()
            ds.bindings.clear()
            gc.collect()

            # -- ours, cold: before the cache has synced every lookup lists the four kinds;
            # by default all bindings (labels are not trusted), or, with trust_user_label,
            # only those carrying our own label for the user
            cold: dict[str, Side] = {}
            for key, trust in (("ours_cold", False), ("ours_cold_user_label", True)):
                side = cold[key] = Side(key)
                lookup = our_lookup(WorkspaceCache(api, NS, trust_user_label=trust), today)
                for _ in range(args.cold_lookups):
                    await measure(side, lookup, cluster)
                results[key] = side.report()

            # -- ours: the cache's one-off sync (its memory: in fresh processes, below)
            cluster.reset()
            cache, sync_seconds = await sync_cache(api)
            sync_requests = cluster.summary()
            results["cache_sync"] = {
                "seconds": sync_seconds,
                "requests": sum(v for k, v in sync_requests.items() if not k.startswith("watch ")),
                "requests_by_verb_resource": sync_requests,
                "objects_cached": {
                    "workspaces": len(cache.workspaces()),
                    "parse_errors": len(cache.errors()),
                },
            }
            ours = our_lookup(cache, today)

            # -- theirs: lscsde-workspace-mgmt, its own client from the kubeconfig
            async with await old_tool_client(cluster.kubeconfig) as old_api:
                theirs = their_lookup(old_api, NS, USER, log)
                warm_ours, warm_theirs = Side("warm-up"), Side("warm-up")
                for _ in range(args.warmup):
                    await measure(warm_ours, ours, cluster)
                    await measure(warm_theirs, theirs, cluster)

                # side by side: alternate, so drift on the machine touches both alike
                mine, old = Side("ours"), Side("theirs")
                for _ in range(args.lookups):
                    await measure(mine, ours, cluster)
                    await measure(old, theirs, cluster)

            # a watch is logged when it ends: stopping the cache ends them (one per kind)
            cluster.reset()
            await cache.stop()
            watches = await ended_watches(cluster, expected=4)
            results["cache_sync"]["watches_opened"] = sum(watches.values())
            results["cache_sync"]["watches_by_resource"] = watches
            fresh = measure_cache_memory(cluster.url, trace=False)
            traced = measure_cache_memory(cluster.url, trace=True)
            results["cache_sync"]["rss_delta_mib"] = fresh["rss_delta_mib"]
            results["cache_sync"]["python_heap_mib"] = traced["traced_mib"]
            results["cache_sync"]["python_heap_peak_during_sync_mib"] = traced["traced_peak_mib"]
            results["cache_sync"]["seconds_in_a_fresh_process"] = fresh["sync_seconds"]
        results["ours"] = mine.report()
        results["theirs"] = old.report()
        results["agreement"] = classify(mine.result, old.result, ds)
        results["agreement"]["cold_equals_synced"] = all(
            sorted(side.result) == sorted(mine.result) for side in cold.values()
        )
        results["server_rss_mib"] = cluster.server_rss_mib()
        results["client_rss_mib"] = settled_rss_mib()
    results["ratios"] = ratios(results)
    results["machine"]["load_average_1m_at_end"] = os.getloadavg()[0]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=1000)
    parser.add_argument("--bindings", type=int, default=10_000)
    parser.add_argument("--user-bindings", type=int, default=50)
    parser.add_argument("--users", type=int, default=500, help="other users sharing the rest")
    parser.add_argument("--lookups", type=int, default=100, help="timed lookups per side")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--cold-lookups", type=int, default=50)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", default="bench/results/access.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    results = asyncio.run(run(args))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, default=str) + "\n")
    for line in table(results):
        print(line)
    print(f"results written to {args.out}")


if __name__ == "__main__":
    main()
