"""One spawner at one namespace size: a fresh hub, and the steps of start_cost_bench's docstring
measured on it (first sync, starts, refusals, idle, flood, relist, a full collection)."""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import aiohttp
from jupyterhub.app import JupyterHub
from kubespawner import KubeSpawner

from bench.hub_loop import Ticker
from bench.load_process import LoadProcess, auth_header
from bench.measuring import percentile_ms
from bench.spawn_bench import start_hub, wait_stopped
from bench.start_cost_cluster import CostCluster, Traffic, traffic_report
from tests.support.hub import RunningHub, login

START = {"profile": "plain"}
REFUSED = {"profile": "nosuch"}  # no such workspace (ours: 404) / profile (vanilla: 500)
# The paths our cache may watch (KubeSpawner watches only pods and events).
CACHE_WATCHES = r"^/apis/xlscsde\.nhs\.uk/|/persistentvolumeclaims$"


async def post_start(
    http: aiohttp.ClientSession, hub: RunningHub, user: str, token: str, options: Any
) -> tuple[int, str]:
    """A start by `user` with their own token, through the REST API: (status, body)."""
    url = hub.url("hub/api", f"users/{user}/server")
    async with http.post(url, headers=auth_header(token), json={"user_options": options}) as r:
        return r.status, await r.text()


@contextlib.contextmanager
def hub_log_file(path: Path) -> Iterator[Callable[[Awaitable[RunningHub]], Awaitable[RunningHub]]]:
    """The hub's log goes to `path`, not the terminal, at a deployment's level (MockHub's
    default is DEBUG): it still formats every line, as it would in the field. Yields `adopt`,
    to await the hub's start with: the proxy it starts inherits `path` as its stderr, and the
    root logger's handler (which MockHub sets up; its own logger has none) writes to `path`."""
    moved: list[logging.StreamHandler[Any]] = []
    with path.open("a") as stream, contextlib.redirect_stderr(stream):

        async def adopt(starting: Awaitable[RunningHub]) -> RunningHub:
            # configurable-http-proxy, a child process, writes to the fds it inherits
            sys.stdout.flush()
            saved = [os.dup(1), os.dup(2)]
            os.dup2(stream.fileno(), 1)
            os.dup2(stream.fileno(), 2)
            try:
                hub = await starting
            finally:
                for fd, copy in enumerate(saved, start=1):
                    os.dup2(copy, fd)
                    os.close(copy)
            hub.app.log.setLevel(logging.INFO)
            for h in logging.getLogger().handlers:
                if type(h) is logging.StreamHandler:
                    h.setStream(stream)
                    moved.append(h)
            return hub

        try:
            yield adopt
        finally:
            for h in moved:
                h.setStream(sys.stderr)


async def run_spawner(
    size: int,
    label: str,
    spawner_class: type,
    spawner_config: dict[str, Any],
    cluster: CostCluster,
    load: LoadProcess,
    http: aiohttp.ClientSession,
    runtime_dir: Path,
    users: dict[str, list[str]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """One spawner at one size, in a fresh hub against `cluster`; its results."""
    ticker = Ticker()
    out: dict[str, Any] = {"label": label, "spawner": spawner_class.__name__, "bindings": size}
    with hub_log_file(runtime_dir / "hub.log") as adopt:
        # spawn_bench's start_hub reads only the cluster's url and kubeconfig: duck-typed.
        hub = await adopt(
            start_hub(cast(Any, cluster), http, runtime_dir, spawner_class, spawner_config)
        )
        # POST .../server answers when the spawn ends: a refusal is the response's status,
        # and a start's wall time is not rounded up to a readiness poll.
        hub.app.tornado_application.settings["slow_spawn_timeout"] = 30
        # MockHub polls the proxy for activity every 2 s, tens of milliseconds of loop work
        # each time; a deployment does it every 5 minutes (JupyterHub's default).
        activity = hub.app._periodic_callbacks.get("last_activity")
        if activity is not None:
            default = JupyterHub.class_traits()["last_activity_interval"].default_value
            activity.callback_time = 1000 * default
        try:
            await measure(hub, spawner_class, cluster, load, http, ticker, users, args, out)
        finally:
            await ticker.stop()
            await hub.stop()
    return out


async def measure(
    hub: RunningHub,
    spawner_class: type,
    cluster: CostCluster,
    load: LoadProcess,
    http: aiohttp.ClientSession,
    ticker: Ticker,
    users: dict[str, list[str]],
    args: argparse.Namespace,
    out: dict[str, Any],
) -> None:
    """Steps 1 to 8 of start_cost_bench's docstring, on a started hub; fills `out`."""
    quiet = args.quiet
    tokens: dict[str, str] = {}
    for name in [u for group in users.values() for u in group]:
        await hub.create_user(name)
        tokens[name] = hub.user(name).new_api_token(note="start-cost bench")
    await cluster.settle(quiet)
    await cluster.take()
    ticker.start()
    starters = users["starters"]

    # 1. first sync: the first spawn page after the hub started
    session = await login(hub, starters[0])
    try:
        async with ticker.window() as stalls:
            t0 = time.perf_counter()
            async with session.get(hub.url("hub/spawn")) as r:
                page = await r.text()
                assert r.status == 200, page[:300]
            wall = time.perf_counter() - t0

            def cache_listed(seen: dict[str, int]) -> bool:
                return spawner_class is KubeSpawner or bool(
                    seen.get("list analyticsworkspacebindings")
                )

            await cluster.settle(quiet, cache_listed)
    finally:
        await session.close()
    first = await cluster.take()
    out["first_sync"] = {
        "stall_max_ms": stalls.max_ms,
        "stall_hub_cpu_max_ms": stalls.busy_max_ms,
        "gc_max_ms": stalls.gc_max_ms,
        "page_s": round(wall, 3),
        **traffic_report([first]),
    }

    # 2. warm-up start (reflectors start), then 3. the measured starts
    starts: list[Traffic] = []
    start_s: list[float] = []
    start_stalls: list[float] = []
    start_gc: list[float] = []
    start_cpu: list[float] = []
    for i, user in enumerate(starters):
        async with ticker.window() as stalls:
            t0 = time.perf_counter()
            status = await hub.start_server(user, START)
            await hub.wait_ready(user)
            wall = time.perf_counter() - t0
            await cluster.settle(quiet)
        traffic = await cluster.take()
        if i:
            starts.append(traffic)
            start_s.append(wall)
            start_stalls.append(stalls.max_ms)
            start_gc.append(stalls.gc_max_ms)
            start_cpu.append(stalls.busy_max_ms)
        else:
            out["warmup_start"] = {"status": status, "s": round(wall, 3), "requests": traffic.n}
        await hub.api("DELETE", f"users/{user}/server", expect=(202, 204))
        await wait_stopped(hub, user)
        await cluster.settle(quiet)
        await cluster.take()
    out["start"] = {
        "n": len(starts),
        "wall_p50_s": round(statistics.median(start_s), 3),
        "wall_s": [round(s, 3) for s in start_s],
        "stall_max_ms": max(start_stalls),
        "stall_p50_of_max_ms": statistics.median(start_stalls),
        "stall_max_ms_each": start_stalls,
        "stall_hub_cpu_max_ms": max(start_cpu),
        "gc_max_ms": max(start_gc),
        **traffic_report(starts),
    }

    # 4. refused starts, one at a time, by an ordinary user with their own token
    refuser = users["flooders"][0]
    refused: list[Traffic] = []
    refused_s: list[float] = []
    refused_stalls: list[float] = []
    refused_gc: list[float] = []
    refused_cpu: list[float] = []
    answers: Counter[int] = Counter()
    for _ in range(args.refusals):
        async with ticker.window() as stalls:
            t0 = time.perf_counter()
            status, _text = await post_start(http, hub, refuser, tokens[refuser], REFUSED)
            refused_s.append(time.perf_counter() - t0)
            answers[status] += 1
            await cluster.settle(quiet)
        refused.append(await cluster.take())
        refused_stalls.append(stalls.max_ms)
        refused_gc.append(stalls.gc_max_ms)
        refused_cpu.append(stalls.busy_max_ms)
    out["refused"] = {
        "n": len(refused),
        "hub_answers": dict(answers),
        "wall_p50_s": round(statistics.median(refused_s), 3),
        "stall_max_ms": max(refused_stalls),
        "stall_max_ms_each": refused_stalls,
        "stall_hub_cpu_max_ms": max(refused_cpu),
        "gc_max_ms": max(refused_gc),
        **traffic_report(refused),
    }

    # 5. idle, then 6. the flood, with the bystander polling throughout
    bystander = users["bystander"][0]
    by_url = hub.url("hub/api", f"users/{bystander}")
    for phase, flooders, seconds in (
        ("idle", [], args.idle),
        ("flood", users["flooders"], args.flood),
    ):
        spec = {
            "seconds": seconds,
            "interval": args.bystander_interval,
            "options": REFUSED,
            "bystander": (by_url, tokens[bystander]),
            "flooders": [(hub.url("hub/api", f"users/{u}/server"), tokens[u]) for u in flooders],
        }
        async with ticker.window() as stalls:
            result = await load.run(spec)
            await cluster.settle(quiet)
        traffic = await cluster.take()
        lat = result["bystander"]["seconds"]
        attempts = sum(f["attempts"] for f in result["flooders"])
        flood_answers: Counter[int] = Counter()
        for f in result["flooders"]:
            flood_answers.update({int(k): v for k, v in f["statuses"].items()})
        out[phase] = {
            "seconds": seconds,
            "stall_max_ms": stalls.max_ms,
            "stall_hub_cpu_max_ms": stalls.busy_max_ms,
            "stall_p99_ms": stalls.p99_ms,
            "gc_max_ms": stalls.gc_max_ms,
            "bystander": {
                "requests": len(lat),
                "p50_ms": percentile_ms(lat, 0.50),
                "p99_ms": percentile_ms(lat, 0.99),
                "max_ms": round(max(lat, default=0.0) * 1000, 1),
                "failed": result["bystander"]["failed"],
            },
            "refused_starts": attempts,
            "refused_starts_per_s": round(attempts / seconds, 1),
            "hub_answers": dict(flood_answers),
            "requests": traffic.n,
            "requests_per_refused_start": round(traffic.n / attempts, 2) if attempts else None,
            "response_bytes": traffic.bytes,
            "requests_by_verb_resource": dict(traffic.requests),
        }

    # 7. a forced relist of the cache (ours only: vanilla has no cache)
    if spawner_class is not KubeSpawner:
        async with ticker.window() as stalls:
            cut = await cluster.run("force_relist", CACHE_WATCHES)

            def relisted(seen: dict[str, int]) -> bool:
                return bool(seen.get("list analyticsworkspacebindings"))

            waited = await cluster.settle(quiet, relisted)
        await cluster.run("clear_faults")
        traffic = await cluster.take()
        out["relist"] = {
            "watches_cut": cut,
            "stall_max_ms": stalls.max_ms,
            "stall_hub_cpu_max_ms": stalls.busy_max_ms,
            "gc_max_ms": stalls.gc_max_ms,
            "settled_s": round(waited, 2),
            **traffic_report([traffic]),
        }

    # 8. a full garbage collection, timed: Python runs them on its own now and then, and each
    # walks every object the hub keeps (a cache of parsed bindings among them). The fastest of
    # three: the first also frees garbage, and any can be preempted on a busy machine.
    pauses = []
    for _ in range(3):
        t0 = time.perf_counter()
        gc.collect()
        pauses.append(time.perf_counter() - t0)
    out["full_gc_ms"] = round(min(pauses) * 1000, 1)
    out["gc_objects"] = len(gc.get_objects())
