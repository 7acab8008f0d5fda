"""Claim-binding lookup benchmark: one user in 20 groups, 1,000 claim bindings, a synced cache.

Issue: "Measure a lookup with 1,000 claim bindings for a user in 20 groups, synced cache: it
stays 0 API requests and well under 1 ms." One embedded cluster (`LocalCluster`, in a thread of
this process) holds, created through the API:

- `--workspaces` AnalyticsWorkspaces (200);
- `--claim-bindings` claim-only AnalyticsWorkspaceBindings (1,000): 70% `groups EQUALS team-<k>`,
  20% `groups IN "team-<k>, team-<j>"`, 10% a positive group claim AND `department NOT EQUALS
  finance`, over 500 groups `team-0` .. `team-499`, each to a random workspace;
- `--user-bindings` username bindings (5,000) over 500 other users, as a namespace has.

The user `dana` is in 20 groups (`team-0`, `team-25`, ... `team-475`) and has the claim
`department: cardiology`. Side by side in one run, alternating, on the same synced
`WorkspaceCache`:

- `ours_page`: what the spawner does for the spawn page: `cache.snapshot_for(user, claims)` (the
  per-username index plus the claim index: the bindings one of the user's (claim, value) pairs
  names) then `access.decide(...)`; `ours_start`: for one start, `cache.workspace_view(user,
  ws, claims)` then `access.decide(...)`;
- `scan_page`: the same decision over every binding the cache holds (`access.decide` over all
  6,000), which is what a lookup without a claim index costs.

Both must permit the same workspaces (checked). API requests are counted on the cluster's own
request log during the timed lookups (watches aside): the synced cache must make none.

Run: `.venv/bin/python -m bench.claims_bench`. Writes bench/results/claims.json (gitignored).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from bench.measuring import percentile
from kubesim import LocalCluster
from kubesim.testing import client_configuration
from lscsde_spawner import access
from lscsde_spawner.claims import user_claims
from lscsde_spawner.kube.cache import WorkspaceCache
from lscsde_spawner.models import GROUP, VERSION
from tests.support import factories
from tests.support.crds import install_crds

RESULTS = Path(__file__).parent / "results" / "claims.json"
NS = "default"
USER = "dana"
GROUPS = 500
TODAY = datetime.now(UTC).date()


def workspace(i: int) -> dict[str, Any]:
    return factories.workspace(
        f"ws-{i}",
        display=f"Workspace {i}",
        description="bench",
        available="2020-01-01",
        expires="2099-12-31",
        image="quay.io/jupyter/base-notebook:2024-05-01",
    )


def binding(name: str, ws: int, **spec: Any) -> dict[str, Any]:
    """A binding of workspace `ws-<ws>`; `spec`: its username or claims."""
    return factories.binding(name, f"ws-{ws}", expires="2099-12-31", **spec)


def dataset(args: argparse.Namespace, rnd: random.Random) -> list[tuple[str, dict[str, Any]]]:
    out = [("analyticsworkspaces", workspace(i)) for i in range(args.workspaces)]
    for i in range(args.claim_bindings):
        ws, roll = rnd.randrange(args.workspaces), rnd.random()
        team = f"team-{rnd.randrange(GROUPS)}"
        if roll < 0.7:
            claims = [{"name": "groups", "operator": "EQUALS", "value": team}]
        elif roll < 0.9:
            other = f"team-{rnd.randrange(GROUPS)}"
            claims = [{"name": "groups", "operator": "IN", "value": f"{team}, {other}"}]
        else:
            claims = [
                {"name": "groups", "operator": "EQUALS", "value": team},
                {"name": "department", "operator": "NOT EQUALS", "value": "finance"},
            ]
        out.append(("analyticsworkspacebindings", binding(f"claim-{i}", ws, claims=claims)))
    for i in range(args.user_bindings):
        user = f"user-{i % 500}@example.org"
        ws = rnd.randrange(args.workspaces)
        out.append(("analyticsworkspacebindings", binding(f"user-{i}", ws, username=user)))
    return out


async def seed(api: ApiClient, objects: list[tuple[str, dict[str, Any]]]) -> None:
    custom: Any = client.CustomObjectsApi(api)
    sem = asyncio.Semaphore(32)

    async def create(plural: str, body: dict[str, Any]) -> None:
        async with sem:
            await custom.create_namespaced_custom_object(GROUP, VERSION, NS, plural, body)

    await asyncio.gather(*(create(p, b) for p, b in objects if p == "analyticsworkspaces"))
    await asyncio.gather(*(create(p, b) for p, b in objects if p != "analyticsworkspaces"))


def summary(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "median_ms": round(percentile(ms, 0.5), 4),
        "p95_ms": round(percentile(ms, 0.95), 4),
        "max_ms": round(max(ms), 4),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rnd = random.Random(args.seed)
    groups = [f"team-{k}" for k in range(0, GROUPS, GROUPS // 20)]
    claims = user_claims({"groups": groups, "department": "cardiology"})
    with LocalCluster() as cluster:
        async with ApiClient(client_configuration(cluster)) as api:
            await install_crds(api)
            objects = dataset(args, rnd)
            started = time.perf_counter()
            await seed(api, objects)
            seeded = time.perf_counter() - started
            cache = WorkspaceCache(api, NS)
            await cache.start()
            assert await cache.wait_synced(60), "the cache did not sync"
            total = len(cache.bindings())

            async def ours_page() -> access.AccessDecision:
                snap = await cache.snapshot_for(USER, claims)
                return access.decide(snap.workspaces, snap.bindings, USER, TODAY, claims=claims)

            async def scan_page() -> access.AccessDecision:
                everyone, workspaces = cache.bindings(), cache.workspaces()
                return access.decide(workspaces, everyone, USER, TODAY, claims=claims)

            expected = await ours_page()
            assert [p.name for p in expected.permitted] == [
                p.name for p in (await scan_page()).permitted
            ], "the index and the scan disagree"
            chosen = expected.permitted[0].name if expected.permitted else "ws-0"

            async def ours_start() -> access.AccessDecision:
                view = cache.workspace_view(USER, chosen, claims)
                return access.decide(view.workspaces, view.bindings, USER, TODAY, claims=claims)

            candidates = len((await cache.snapshot_for(USER, claims)).bindings)
            cluster.requests.reset()
            times: dict[str, list[float]] = {"ours_page": [], "scan_page": [], "ours_start": []}
            for _ in range(args.lookups):  # alternating, so drift hits all three alike
                for name, fn in (
                    ("ours_page", ours_page),
                    ("scan_page", scan_page),
                    ("ours_start", ours_start),
                ):
                    started = time.perf_counter()
                    await fn()
                    times[name].append(time.perf_counter() - started)
            requests = [r for r in cluster.requests.entries if r.verb and r.verb != "watch"]
            await cache.stop()
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.platform(),
        "python": platform.python_version(),
        "workspaces": args.workspaces,
        "claim_bindings": args.claim_bindings,
        "user_bindings": args.user_bindings,
        "bindings_in_cache": total,
        "user_groups": len(groups),
        "candidates_from_index": candidates,
        "permitted": len(expected.permitted),
        "seed_seconds": round(seeded, 1),
        "lookups": args.lookups,
        "api_requests_during_lookups": len(requests),
        **{name: summary(values) for name, values in times.items()},
    }
    ours = result["ours_page"]["median_ms"]
    result["scan_over_ours_median"] = round(result["scan_page"]["median_ms"] / ours, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=200)
    parser.add_argument("--claim-bindings", type=int, default=1000)
    parser.add_argument("--user-bindings", type=int, default=5000)
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result.items():
        print(f"{key:>30}: {value}")


if __name__ == "__main__":
    main()
