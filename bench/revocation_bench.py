"""Revocation benchmark: from a grant ending to the server being stopped, with N servers running.

One real JupyterHub (MockHub, configurable-http-proxy, `WorkspaceSpawner`; configured by
tests/support/hub.py's `hub_config`, as spawn_bench's hub) against one embedded cluster
(`LocalCluster`, stub runtime, in a thread of this process, as spawn_bench's). N users
(`--servers`, 50 by default), each bound to a workspace shared by all of them. Three rounds, each
starting all N servers through the REST API (POST /users/{u}/server, all at once, then waited
for until the REST API lists every one ready) and then ending their grants:

1. `binding-deleted (one at a time)`: each user's AnalyticsWorkspaceBinding is deleted, one
   after another; each revocation is measured on its own, and after each the other users'
   pods are checked to be still there (a revocation stops only its own server);
2. `workspace-deleted (all at once)`: the shared AnalyticsWorkspace is deleted;
3. `workspace-expired (all at once)`: the shared workspace's `validity.expires` is patched to
   yesterday.

For every server the bench records the seconds from just before the revoking API call until:

- `pod_gone`: the pod left the cluster's store (a subscription to the store's pod changes,
  timed on the cluster's own thread as the pod goes: no polling, no API request);
- `spawner_inactive`: the hub's spawner is no longer `active` (read in-process every 5 ms; it is
  what the REST API's server listing is made of, without the round trip);
- `route_gone`: configurable-http-proxy no longer has the user's route (its REST API, polled);
- `rest_unlisted`: the hub's REST API no longer lists the user's default server (GET
  /hub/api/users/{u} for one user, GET /hub/api/users?state=active paged for many, polled).

Resolution: the route and REST checks are polled and timed when their answer arrives, so those
figures are upper bounds, late by up to one round trip plus the pause between polls: 10 ms for
one server; 50 ms when every server stops at once (listing all users every 10 ms would take a
good share of the busy hub's loop), when the hub also answers later. `spawner_inactive` is the
tighter figure for when the hub stopped listing the server.

Kubernetes API requests: every request the API server answered in the revocation's window (from
the revoking call to the next one, or 1 s after the last server stopped), minus the bench's own
revoking call. The bench makes no other API request inside a window. Watches (long-running, logged
when they end) are counted apart. Before round 2's revocation, a change that keeps every grant
(the workspace's description edited) is timed the same way: the sweep it sets off re-checks all N
running servers and must make no request and stop nobody. `RunningServers.sweep` is wrapped to
time the sweeps (instrumentation only; the rule is unchanged).

Run: `.venv/bin/python -m bench.revocation_bench [--servers 50]`. Writes
bench/results/revocation.json (gitignored).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import os
import platform
import secrets
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from jupyterhub.tests.mocking import MockHub
from kubernetes_asyncio.client.api_client import ApiClient

from bench.measuring import percentile
from bench.spawn_bench import point_kube_config_at
from kubesim import LocalCluster
from kubesim.apiserver.store import DELETED, Subscription
from kubesim.testing import client_configuration
from lscsde_spawner.revocation import DEBOUNCE, RunningServers
from lscsde_spawner.spawner import WorkspaceSpawner
from tests.support.crds import install_crds
from tests.support.factories import day
from tests.support.hub import NAMESPACE, RunningHub, ensure_chp_on_path, hub_config
from tests.support.objects import bind, delete, events_about, patch, workspace

RESULTS = Path(__file__).parent / "results" / "revocation.json"
WS = "analyticsworkspaces"
WSB = "analyticsworkspacebindings"
POD_POLL = 0.005
REST_POLL = 0.010  # one server: GET /hub/api/users/{u} and the proxy's routes, 10 ms apart
REST_POLL_MANY = 0.050  # all at once: listing every user costs the busy hub more; poll less
SETTLE = 1.0  # after the last server stopped, requests still count for this long
STOP_TIMEOUT = 60.0
MARKS = ("pod_gone", "spawner_inactive", "route_gone", "rest_unlisted")


# -- the hub ---------------------------------------------------------------------------------


async def start_quiet_hub(
    cluster: LocalCluster, http: aiohttp.ClientSession, runtime_dir: Path
) -> RunningHub:
    """spawn_bench's `start_hub`, with the hub and the proxy logging warnings only: the bench
    polls the REST API and the proxy's routes, and MockHub logs at debug level by default,
    which would cost the hub's event loop (the one that stops the servers) log lines per poll.
    A deployment's own warnings (two per revoked server) are still written."""
    token = secrets.token_hex(32)
    config = hub_config(
        cluster, token=token, runtime_dir=runtime_dir, spawner_class=WorkspaceSpawner
    )
    config.ConfigurableHTTPProxy.log_level = "warn"
    app = MockHub(config=config, test_clean_db=True)
    hub = RunningHub(app, token, http)
    await app.initialize([])
    # MockHub logs at debug level whatever is configured, mostly through tornado's loggers.
    for logger in (app.log, logging.getLogger("tornado"), logging.getLogger("oauthlib")):
        logger.setLevel(logging.WARNING)
    await app.start()
    return hub


# -- sweep instrumentation ------------------------------------------------------------------


@dataclass
class Sweep:
    began: float  # time.time()
    seconds: float
    servers: int


SWEEPS: list[Sweep] = []


def time_sweeps() -> None:
    """Record when each RunningServers sweep began, how long it took and over how many servers."""
    original = RunningServers.sweep
    if getattr(original, "_bench_timed", False):
        return

    @functools.wraps(original)
    async def timed(self: RunningServers, *args: Any, **kwargs: Any) -> None:
        began, t0, n = time.time(), time.perf_counter(), len(self)
        try:
            await original(self, *args, **kwargs)
        finally:
            SWEEPS.append(Sweep(began, time.perf_counter() - t0, n))

    timed._bench_timed = True  # type: ignore[attr-defined]
    RunningServers.sweep = timed  # type: ignore[method-assign]


# -- observing the servers ------------------------------------------------------------------


class PodDeletions:
    """When each pod left the cluster's store: a subscription to the store's pod changes,
    consumed on the cluster's own loop (its thread), so the time is taken as the pod goes,
    whatever the hub's loop is doing, and the bench makes no API request for it."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.at: dict[str, float] = {}  # pod name -> time.monotonic() of its last deletion
        self._task: asyncio.Future[None] | None = None  # the consumer, on the cluster's loop
        api = cluster.api
        assert api is not None

        def subscribe() -> None:
            sub = api.store.subscribe(("", "pods"), NAMESPACE)
            self._task = asyncio.ensure_future(self._consume(sub))  # on the cluster's loop

        cluster.call(subscribe)

    async def _consume(self, sub: Subscription) -> None:
        while (change := await sub.queue.get()) is not None:
            if change.type == DELETED:
                self.at[change.obj["metadata"]["name"]] = time.monotonic()

    async def gone(self, pods: dict[str, str], marks: dict[str, float], t0: float) -> None:
        pending = dict(pods)
        while pending:
            for user, pod in list(pending.items()):
                when = self.at.get(pod)
                if when is not None and when >= t0:
                    marks[user] = when - t0
                    del pending[user]
            if pending:
                await asyncio.sleep(POD_POLL)


def pods_in_store(cluster: LocalCluster) -> set[str]:
    """The pod names in the cluster's store, read on its loop (no API request)."""
    api = cluster.api
    assert api is not None

    def names() -> set[str]:
        return {p["metadata"]["name"] for p in api.store.items(("", "pods"), NAMESPACE)}

    return cluster.call(names)


async def users_listed(hub: RunningHub, *, ready: bool = False) -> set[str]:
    """Users whose default server the hub's REST API lists (ready ones only, if `ready`)."""
    found: set[str] = set()
    offset, limit = 0, 200
    while True:
        page = await hub.api("GET", f"users?state=active&offset={offset}&limit={limit}")
        for user in page:
            server = (user.get("servers") or {}).get("")
            if server is not None and (server.get("ready") or not ready):
                found.add(user["name"])
        if len(page) < limit:
            return found
        offset += limit


async def routed_users(hub: RunningHub) -> set[str]:
    """Users whose default server has a route in configurable-http-proxy."""
    routes = await hub.app.proxy.get_all_routes()
    return {
        r["data"]["user"]
        for r in routes.values()
        if r["data"].get("user") and not r["data"].get("server_name")
    }


async def until_all(
    pending: set[str],
    marks: dict[str, float],
    t0: float,
    present: Callable[[], Awaitable[set[str]]],
    pause: float,
) -> None:
    """Record, for every user in `pending`, the first time `present()` no longer holds them."""
    pending = set(pending)
    while pending:
        now_there = await present()
        seen = time.monotonic() - t0
        for user in pending - now_there:
            marks[user] = seen
        pending &= now_there
        if pending:
            await asyncio.sleep(pause)


async def watch_stops(
    hub: RunningHub, deletions: PodDeletions, pods: dict[str, str], t0: float
) -> dict[str, dict[str, float]]:
    """Seconds from t0 until each user's pod is gone, spawner inactive, route gone and server no
    longer listed by the REST API (see MARKS)."""
    users = set(pods)
    marks: dict[str, dict[str, float]] = {m: {} for m in MARKS}
    pause = REST_POLL if len(users) == 1 else REST_POLL_MANY

    async def listed() -> set[str]:
        if len(users) == 1:
            (user,) = users
            return {user} if await hub.server_model(user) is not None else set()
        return await users_listed(hub)

    # Resolved once: `hub.user(name)` queries the hub's database.
    spawners = {u: hub.user(u).spawner for u in users}

    async def active() -> set[str]:
        return {u for u, spawner in spawners.items() if spawner.active}

    async def routed() -> set[str]:
        return await routed_users(hub) & users

    try:
        async with asyncio.timeout(STOP_TIMEOUT):
            await asyncio.gather(
                deletions.gone(pods, marks["pod_gone"], t0),
                until_all(users, marks["route_gone"], t0, routed, pause),
                until_all(users, marks["spawner_inactive"], t0, active, POD_POLL),
                until_all(users, marks["rest_unlisted"], t0, listed, pause),
            )
    except TimeoutError:
        left = {m: sorted(users - set(v)) for m, v in marks.items()}
        raise AssertionError(
            f"still running {STOP_TIMEOUT}s after the revocation: {left}"
        ) from None
    return {u: {m: marks[m][u] for m in MARKS} for u in sorted(users)}


# -- requests --------------------------------------------------------------------------------


def requests_between(
    cluster: LocalCluster, since: float, until: float, own: str
) -> tuple[Counter[str], Counter[str]]:
    """(hub requests, watches) logged in [since, until), less the bench's own call `own`."""
    counted: Counter[str] = Counter()
    watches: Counter[str] = Counter()
    for rec in list(cluster.requests.entries):
        if not rec.verb or not since <= rec.time < until:
            continue  # discovery, health; or another window
        key = f"{rec.verb} {rec.resource}"
        (watches if rec.verb == "watch" else counted)[key] += 1
    if counted[own] < 1:
        raise AssertionError(f"the bench's own {own!r} is not in its window: {dict(counted)}")
    counted[own] -= 1
    return +counted, watches


# -- the rounds ------------------------------------------------------------------------------


def pod_names(hub: RunningHub, users: list[str]) -> dict[str, str]:
    return {u: hub.user(u).spawner.pod_name for u in users}


async def start_all(hub: RunningHub, users: list[str], profile: str) -> float:
    """Start every user's server at once through the REST API; wait until all are ready."""
    t0 = time.monotonic()
    await asyncio.gather(*(hub.start_server(u, {"profile": profile}) for u in users))
    async with asyncio.timeout(120):
        while True:
            ready = await users_listed(hub, ready=True)
            if ready >= set(users):
                return time.monotonic() - t0
            for u in set(users) - ready:
                future = hub.user(u).spawner._spawn_future
                if future is not None and future.done() and future.exception():
                    raise AssertionError(f"spawn of {u} failed: {future.exception()!r}")
            await asyncio.sleep(0.2)


def latency_summary(per_server: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    out = {}
    for m in MARKS:
        values = [s[m] for s in per_server]
        out[m] = {
            "p50_s": round(statistics.median(values), 3),
            "p95_s": round(percentile(values, 0.95), 3),
            "max_s": round(max(values), 3),
            "min_s": round(min(values), 3),
        }
    return out


# What a hub request in a revocation window is for. The re-check reads the grant's objects from
# the watch-fed cache: a request for them would show up as `reads of grant objects`.
STOP_KEYS = {"delete pods", "create events"}
RELIST_KEYS = {"list pods", "list events"}  # KubeSpawner's reflectors relist every 10-30 s
GRANT_KINDS = (
    "analyticsworkspaces",
    "analyticsworkspacebindings",
    "analyticsdatasources",
    "analyticsdatasourcebindings",
)


def purpose(key: str) -> str:
    verb, resource = key.split(" ", 1)
    if key in STOP_KEYS:
        return "stop (pod delete, AccessRevoked + ServerStopped events)"
    if key in RELIST_KEYS:
        return "KubeSpawner reflector relists (background)"
    if verb in ("get", "list") and resource.split("/")[0] in GRANT_KINDS:
        return "re-check: reads of grant objects"
    return "other"


def per_revocation(samples: list[Counter[str]], revocations: int) -> dict[str, Any]:
    total: Counter[str] = Counter()
    for s in samples:
        total += s
    per_window = [sum(s.values()) for s in samples]
    by_purpose: Counter[str] = Counter()
    for key, n in total.items():
        by_purpose[purpose(key)] += n
    by_purpose["re-check: reads of grant objects"] += 0
    return {
        "per_revocation_mean": round(sum(total.values()) / revocations, 2),
        "per_window": per_window,
        "by_purpose_per_revocation": {
            k: round(v / revocations, 2) for k, v in sorted(by_purpose.items())
        },
        "breakdown_per_revocation": {
            k: round(v / revocations, 2) for k, v in sorted(total.items())
        },
    }


@dataclass
class Bench:
    hub: RunningHub
    cluster: LocalCluster
    api: ApiClient
    users: list[str]
    deletions: PodDeletions
    rounds: list[dict[str, Any]] = field(default_factory=list)

    async def revocation_events(self, ws: str) -> int:
        events = await events_about(self.api, ws)
        return sum(1 for e in events if e["reason"] == "AccessRevoked")

    async def one_at_a_time(self, ws: str) -> None:
        """Round 1: delete each user's binding in turn; measure each revocation alone."""
        for u in self.users:
            await bind(self.api, f"{ws}-{u}", ws, u)
        start_s = await start_all(self.hub, self.users, ws)
        await asyncio.sleep(1)  # the starts' status patches and events have settled
        pods = pod_names(self.hub, self.users)
        per_server: list[dict[str, float]] = []
        samples: list[Counter[str]] = []
        watches: Counter[str] = Counter()
        collateral = 0
        calls: list[float] = []  # time.time() of each revoking call: the windows' bounds
        for i, u in enumerate(self.users):
            calls.append(time.time())
            t0 = time.monotonic()
            await delete(self.api, WSB, f"{ws}-{u}")
            marks = await watch_stops(self.hub, self.deletions, {u: pods[u]}, t0)
            per_server.append(marks[u])
            await asyncio.sleep(0.1)  # let the stop finish before the next revocation
            still = pods_in_store(self.cluster)
            collateral += sum(1 for v in self.users[i + 1 :] if pods[v] not in still)
        await asyncio.sleep(SETTLE)
        for since, until in zip(calls, [*calls[1:], time.time()], strict=True):
            counted, w = requests_between(self.cluster, since, until, f"delete {WSB}")
            samples.append(counted)
            watches += w
        self.rounds.append(
            {
                "label": "binding-deleted (one at a time)",
                "revoking_call": f"DELETE {WSB}/{ws}-<user>, one per server, in turn",
                "servers": len(self.users),
                "start_all_s": round(start_s, 2),
                "latency": latency_summary(per_server),
                "requests": per_revocation(samples, len(self.users)),
                "watches_ended_in_windows": dict(watches),
                "other_servers_stopped": collateral,
                "access_revoked_events": await self.revocation_events(ws),
                "per_server_s": per_server,
            }
        )

    async def keep_grant(self, ws: str) -> dict[str, Any]:
        """A change that keeps every grant: its sweep re-checks all servers, makes no request."""
        before = len(SWEEPS)
        since = time.time()
        await patch(self.api, WS, ws, {"spec": {"description": "edited, still granted"}})
        await asyncio.sleep(DEBOUNCE + 1.0)
        counted, watches = requests_between(self.cluster, since, time.time(), f"patch {WS}")
        sweeps = SWEEPS[before:]
        running = pods_in_store(self.cluster)
        return {
            "change": f"PATCH {WS}/{ws} spec.description (every grant kept)",
            "hub_requests": sum(counted.values()),
            "breakdown": dict(counted),
            "watches_ended_in_window": dict(watches),
            "sweeps": len(sweeps),
            "sweep_servers": [s.servers for s in sweeps],
            "sweep_ms": [round(s.seconds * 1000, 2) for s in sweeps],
            "sweep_began_after_call_s": [round(s.began - since, 3) for s in sweeps],
            "servers_still_running": sum(
                1 for p in pod_names(self.hub, self.users).values() if p in running
            ),
        }

    async def all_at_once(
        self,
        label: str,
        ws: str,
        call: str,
        revoke: Callable[[], Awaitable[None]],
        own: str,
        *,
        control: bool = False,
    ) -> None:
        """Rounds 2 and 3: one change to the shared workspace revokes every server."""
        await workspace(self.api, ws)
        for u in self.users:
            await bind(self.api, f"{ws}-{u}", ws, u)
        start_s = await start_all(self.hub, self.users, ws)
        await asyncio.sleep(1)
        kept = await self.keep_grant(ws) if control else None
        pods = pod_names(self.hub, self.users)
        before = len(SWEEPS)
        since, t0 = time.time(), time.monotonic()
        await revoke()
        marks = await watch_stops(self.hub, self.deletions, pods, t0)
        await asyncio.sleep(SETTLE)
        counted, watches = requests_between(self.cluster, since, time.time(), own)
        sweeps = SWEEPS[before:]
        per_server = list(marks.values())
        result: dict[str, Any] = {
            "label": label,
            "revoking_call": call,
            "servers": len(self.users),
            "start_all_s": round(start_s, 2),
            "latency": latency_summary(per_server),
            "requests": per_revocation([counted], len(self.users)),
            "watches_ended_in_window": dict(watches),
            "sweeps": [
                {
                    "began_after_call_s": round(s.began - since, 3),
                    "seconds": round(s.seconds, 3),
                    "servers": s.servers,
                }
                for s in sweeps
            ],
            "access_revoked_events": await self.revocation_events(ws),
            "per_server_s": per_server,
        }
        if kept is not None:
            result["control"] = kept
        self.rounds.append(result)


# -- main ------------------------------------------------------------------------------------


def print_table(rounds: list[dict[str, Any]]) -> None:
    head = (
        f"{'revocation':<34}{'n':>4}  {'seconds from the call until':<20}"
        f"{'p50':>8}{'p95':>8}{'max':>8}{'hub req/rev':>13}"
    )
    print(head)
    print("-" * len(head))
    for r in rounds:
        for i, m in enumerate(MARKS):
            lat = r["latency"][m]
            first = f"{r['label']:<34}{r['servers']:>4}" if i == 0 else " " * 38
            req = f"{r['requests']['per_revocation_mean']:>13.2f}" if i == 0 else ""
            print(
                f"{first}  {m:<20}{lat['p50_s']:>8.3f}{lat['p95_s']:>8.3f}{lat['max_s']:>8.3f}{req}"
            )
    print()
    for r in rounds:
        print(f"{r['label']}: hub requests per revocation:")
        for k, v in r["requests"]["by_purpose_per_revocation"].items():
            print(f"    {k:<60}{v:>6.2f}")
        kinds = r["requests"]["breakdown_per_revocation"]
        print("      by kind: " + ", ".join(f"{k} {v:.2f}" for k, v in kinds.items()))
        print(
            f"    AccessRevoked events: {r['access_revoked_events']}; "
            f"starting all {r['servers']} took {r['start_all_s']} s"
        )
        if "other_servers_stopped" in r:
            print(f"    other users' servers stopped along the way: {r['other_servers_stopped']}")
        if r.get("sweeps"):
            first = r["sweeps"][0]
            print(
                f"    first sweep began {first['began_after_call_s']} s after the call, "
                f"over {first['servers']} servers, took {first['seconds']} s (including the stops)"
            )
        if "control" in r:
            c = r["control"]
            print(
                f"    control ({c['change']}): {c['hub_requests']} hub requests, "
                f"{c['sweeps']} sweep(s) over {c['sweep_servers']} servers in {c['sweep_ms']} ms, "
                f"{c['servers_still_running']} servers still running"
            )


async def main(servers: int) -> dict[str, Any]:
    ensure_chp_on_path()
    logging.getLogger().setLevel(logging.WARNING)
    time_sweeps()
    users = [f"user{i:03d}" for i in range(servers)]
    began = time.monotonic()
    load_before = os.getloadavg()
    with LocalCluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        point_kube_config_at(cluster)
        async with (
            ApiClient(client_configuration(cluster)) as api,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http,
        ):
            await install_crds(api)
            await workspace(api, "ws-seq")
            hub = await start_quiet_hub(cluster, http, Path(tmp))
            try:
                for u in users:
                    await hub.create_user(u)
                bench = Bench(hub, cluster, api, users, PodDeletions(cluster))
                await bench.one_at_a_time("ws-seq")
                await bench.all_at_once(
                    "workspace-deleted (all at once)",
                    "ws-del",
                    f"DELETE {WS}/ws-del",
                    lambda: delete(api, WS, "ws-del"),
                    f"delete {WS}",
                    control=True,
                )
                await bench.all_at_once(
                    "workspace-expired (all at once)",
                    "ws-exp",
                    f"PATCH {WS}/ws-exp spec.validity.expires = yesterday",
                    lambda: patch(api, WS, "ws-exp", {"spec": {"validity": {"expires": day(-1)}}}),
                    f"patch {WS}",
                )
            finally:
                await hub.stop()
    out = {
        "method": (
            f"{servers} users, one REST-started server each, bound to a shared workspace; per "
            "server, seconds from the revoking API call until its pod left the store, its "
            "spawner is inactive, its proxy route is gone and the hub's REST API no longer "
            "lists it; hub API requests counted per revocation window, less the bench's own "
            "revoking call"
        ),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "wall_s": round(time.monotonic() - began, 1),
        "debounce_s": DEBOUNCE,
        "rounds": bench.rounds,
    }
    print_table(bench.rounds)
    print(f"\nwhole run: {out['wall_s']} s; 1-min load {out['loadavg_before_after']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--servers", type=int, default=50, help="servers running, one per user")
    args = parser.parse_args()
    asyncio.run(main(args.servers))
