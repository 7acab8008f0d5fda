"""Access lookups, timed one at a time with the API requests each made; whether the tools agree."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bench.access_data import USER, Dataset
from bench.cluster_process import ClusterProcess
from bench.measuring import percentile
from lscsde_spawner.access import decide
from lscsde_spawner.kube.cache import WorkspaceCache


@dataclass
class Side:
    """Latencies and API requests of one way of looking up the user's workspaces."""

    label: str
    seconds: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    by_kind: Counter[str] = field(default_factory=Counter)
    background: Counter[str] = field(default_factory=Counter)
    result: list[str] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        n = len(self.seconds)
        ms = [s * 1000 for s in self.seconds]
        return {
            "lookups": n,
            "latency_ms": {
                "p50": statistics.median(ms),
                "p95": percentile(ms, 0.95),
                "mean": statistics.fmean(ms),
                "min": min(ms),
                "max": max(ms),
            },
            "requests_per_lookup": sum(self.requests) / n,
            "requests_per_lookup_min_max": [min(self.requests), max(self.requests)],
            "requests_per_lookup_by_verb_resource": {
                k: v / n for k, v in sorted(self.by_kind.items())
            },
            "background_requests_during_lookups": dict(self.background),
            "workspaces_shown": len(self.result),
        }


async def measure(
    side: Side,
    lookup: Callable[[], Awaitable[list[str]]],
    cluster: ClusterProcess,
) -> None:
    """One lookup, timed, with the API requests the server answered while it ran.

    A watch is logged by the server when it ends, so watch records seen in the window are the
    cache's background reconnects, not part of the lookup: kept apart in `background`.
    """
    cluster.reset()
    start = time.perf_counter()
    side.result = await lookup()
    side.seconds.append(time.perf_counter() - start)
    summary = cluster.summary()
    n = 0
    for key, count in summary.items():
        if key.startswith("watch "):
            side.background[key] += count
        else:
            side.by_kind[key] += count
            n += count
    side.requests.append(n)


def our_lookup(cache: WorkspaceCache, today: date) -> Callable[[], Awaitable[list[str]]]:
    """What the spawner does per page view: the user's snapshot, then the policy."""

    async def lookup() -> list[str]:
        snap = await cache.snapshot_for(USER)
        decision = decide(snap.workspaces, snap.bindings, USER, today, malformed=snap.malformed)
        return [p.workspace.name for p in decision.permitted]

    return lookup


def classify(ours: list[str], theirs: list[str], ds: Dataset) -> dict[str, Any]:
    """Do both show the same workspaces, and where not, why (from the data set's ground truth)."""
    o, t = set(ours), set(theirs)
    reasons = {**ds.not_usable_today, **ds.colliding}
    return {
        "same_set": o == t,
        "ours_count": len(o),
        "theirs_count": len(t),
        "ours_only": sorted(o - t),
        "theirs_only": {name: reasons.get(name, "unexplained") for name in sorted(t - o)},
        "ours_matches_rule": o == ds.permitted_today,
        "theirs_is_rule_plus_explained": t - o <= set(reasons) and o <= t,
        "bound_workspaces": len(ds.user_workspaces),
        "permitted_today_by_rule": len(ds.permitted_today),
    }


async def ended_watches(cluster: ClusterProcess, expected: int) -> dict[str, int]:
    """The watches the server has logged as ended, once `expected` have (or after 5 s)."""
    deadline = time.monotonic() + 5
    while True:
        watches = {k: v for k, v in cluster.summary().items() if k.startswith("watch ")}
        if sum(watches.values()) >= expected or time.monotonic() > deadline:
            return watches
        await asyncio.sleep(0.1)
