"""Start-cost benchmark: what a start costs the hub at 10 and at 10,001 workspace bindings.

Issue: "starts that cost the same at 10 or 10,000 bindings". For each namespace size (`--bindings`,
the total number of AnalyticsWorkspaceBindings) and each spawner, side by side in one run:

- `vanilla`: KubeSpawner with spawn_bench's static one-entry profile_list (`vanilla_config()`);
- `ours`: WorkspaceSpawner, every bench user bound to workspace `plain` (no data sources, no
  additional storage); the other bindings belong to 500 other users, over `--workspaces` others.

Each runs in a fresh, real JupyterHub (spawn_bench's `start_hub`: MockHub, configurable-http-proxy),
against a LocalCluster running in its OWN process, so the API server's CPU is not charged to the
hub. A ticker task in the hub's event loop wakes every 5 ms; how late it wakes is how long the
loop was held ("stall"), reported with how much of it the hub's process spent on a CPU (the rest:
another process had the core) and the garbage-collection pauses that fell in the window.
Measured, in this order, on one hub:

1. first sync: the first GET /hub/spawn after the hub started (our cache starts and syncs);
2. one warm-up start and stop (reflectors start; not reported as a start);
3. `--starts` starts, one user each (REST POST .../server, waited until ready, then stopped):
   API requests by verb/resource, response bytes, wall time, worst stall;
4. `--refusals` refused starts (`{"profile": "nosuch"}`) by an ordinary user (own token);
5. idle: the bystander's GET /hub/api/users/bystander latency with nothing else going on;
6. flood: two ordinary users loop on refused starts for `--flood` seconds while the bystander
   keeps polling; the load runs in a third process, so only the hub's own work is in its loop;
7. relist (ours only): every watch of the cache is cut and its next watch answered 410 Gone,
   which an informer must answer with a full relist (the same work as the periodic resync);
8. one full garbage collection of the hub's process, timed (it grows with what the hub keeps).

Every window lasts until the action is done AND the hub has made no API request (watches aside)
for `--quiet` seconds, so work the action set off in the background is counted too.

Bytes: the cluster process counts the body bytes of every response its API server sends (paired
with the request's `cluster.requests` record) and of every watch event it streams, as it writes
them. Counting on the server sees every client the hub uses, whatever the spawner's code does
(an aiohttp trace on the hub's client sessions would miss bodies streamed with
`_preload_content=False`: aiohttp reports chunks only from `ClientResponse.read()`). Headers and
chunk framing (~200 bytes a response) are not counted.

Run: `.venv/bin/python -m bench.start_cost_bench [--bindings 10 10001] [--starts 5] [--flood 8]`.
Writes bench/results/start_cost.json (gitignored).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import aiohttp
from kubespawner import KubeSpawner

import lscsde_spawner
from bench.load_process import LoadProcess
from bench.measuring import machine
from bench.spawn_bench import point_kube_config_at, vanilla_config
from bench.start_cost_cluster import CostCluster
from bench.start_cost_hub import run_spawner
from bench.start_cost_namespace import bench_users, setup_namespace
from bench.start_cost_report import TARGETS, print_table, verdict
from lscsde_spawner.spawner import WorkspaceSpawner
from tests.support.hub import ensure_chp_on_path

RESULTS = Path(__file__).parent / "results" / "start_cost.json"


def code_under_test() -> dict[str, Any]:
    """Which spawner code ran: its path and a digest of the files the fix is expected to touch."""
    root = Path(lscsde_spawner.__file__).parent
    digest = hashlib.sha256()
    for path in sorted([root / "spawner.py", *sorted((root / "kube").glob("*.py"))]):
        digest.update(path.read_bytes())
    return {"package": str(root), "spawner_and_kube_sha256": digest.hexdigest()[:16]}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every size in `args.bindings`, a fresh cluster each; both spawners at each size."""
    ensure_chp_on_path()
    logging.getLogger().setLevel(logging.WARNING)
    users = bench_users(args.starts)
    everyone = [u for group in users.values() for u in group]
    out: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "code": code_under_test(),
        "parameters": {k: v for k, v in vars(args).items() if k != "out"},
        "targets": TARGETS,
        "sizes": [],
    }
    with LoadProcess() as load, tempfile.TemporaryDirectory() as tmp:
        for size in args.bindings:
            with CostCluster() as cluster:
                point_kube_config_at(cast(Any, cluster))
                dataset = await setup_namespace(cluster, everyone, size, args.workspaces, args.seed)
                print(f"{size} bindings: namespace ready in {dataset['seconds']} s", flush=True)
                runs = []
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
                    for label, cls, cfg in (
                        ("vanilla", KubeSpawner, vanilla_config()),
                        # The production default (the test hubs turn it off).
                        ("ours", WorkspaceSpawner, {"freeze_gc_after_sync": True}),
                    ):
                        runtime = Path(tmp) / f"{size}-{label}"
                        runtime.mkdir()
                        t0 = time.perf_counter()
                        runs.append(
                            await run_spawner(
                                size, label, cls, cfg, cluster, load, http, runtime, users, args
                            )
                        )
                        print(f"  {label}: {time.perf_counter() - t0:.0f} s", flush=True)
                        gc.unfreeze()  # what one hub froze must not speed up the next one's GC
            out["sizes"].append({"bindings": size, "dataset": dataset, "runs": runs})
    out["verdict"] = verdict(out)
    out["machine"]["load_average_1m_at_end"] = os.getloadavg()[0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--bindings", type=int, nargs="+", default=[10, 10_001],
        help="total AnalyticsWorkspaceBindings in the namespace, one run per value",
    )  # fmt: skip
    parser.add_argument(
        "--workspaces", type=int, default=10,
        help="other users' workspaces (the same at every size: only the bindings grow)",
    )  # fmt: skip
    parser.add_argument("--starts", type=int, default=5, help="measured starts per spawner")
    parser.add_argument("--refusals", type=int, default=3, help="single refused starts measured")
    parser.add_argument("--flood", type=float, default=8.0, help="seconds of refused-start flood")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds of idle bystander")
    parser.add_argument("--bystander-interval", type=float, default=0.025)
    parser.add_argument(
        "--quiet", type=float, default=0.5,
        help="a window ends once the hub has made no API request for this long",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.perf_counter()
    out = asyncio.run(run(args))
    out["seconds"] = round(time.perf_counter() - started)
    print()
    print_table(out)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nwrote {args.out} ({out['seconds']} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
