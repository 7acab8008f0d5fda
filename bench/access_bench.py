"""Access benchmark: one user's permitted workspaces, ours versus lscsde-workspace-mgmt 0.1.14.

Both run side by side, in one process and against one embedded cluster holding 1,000
AnalyticsWorkspaces and 10,000 AnalyticsWorkspaceBindings, one user bound to 50 of them:

- ours: the synced `WorkspaceCache.snapshot_for(user)` + `access.decide(...)`, the whole lookup
  the spawner does per page view; also its cold path (before the cache has synced) and the
  cache's one-off sync cost (requests, seconds, and memory, measured in fresh processes);
- theirs: `AnalyticsWorkspaceManager.get_permitted_workspaces(namespace, username)` from
  lscsde-workspace-mgmt 0.1.14 (what the field spawner calls), with its own kubernetes_asyncio
  client loaded from the cluster's kubeconfig.

The cluster runs in a child process (`with LocalCluster() as c:` there), so the server's work and
memory are charged to neither client, as with a real API server; the child answers
`c.requests.count/summary/reset` over a pipe. The two lookups alternate, so any drift on the
machine touches both alike.

Run: `make bench-access`, or `.venv/bin/pip install -e '.[bench]'` then
`.venv/bin/python -m bench.access_bench`. Writes bench/results/access.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import json
import logging
import multiprocessing
import os
import platform
import random
import re
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import metadata
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from lscsde_spawner.access import decide, today_in
from lscsde_spawner.crds import load_crds
from lscsde_spawner.kube.cache import WorkspaceCache
from lscsde_spawner.usernames import USER_LABEL, username_label

NS = "default"
GROUP, VERSION = "xlscsde.nhs.uk", "v1"
# the kinds the cache lists and watches
PLURALS = (
    "analyticsworkspaces",
    "analyticsworkspacebindings",
    "analyticsdatasources",
    "analyticsdatasourcebindings",
)
FIELD_LABEL = "xlscsde.nhs.uk/username"  # written by lscsde-workspace-mgmt and the field tools
OLD_TOOL = "lscsde-workspace-mgmt"
OLD_TOOL_VERSION = "0.1.14"

# The measured user, and another user whose username differs only in a character the field
# label folds away: lscsde-workspace-mgmt labels both bindings identically.
USER = "mary-jane.smith@example.nhs.uk"
COLLIDING_USER = "mary_jane.smith@example.nhs.uk"

log = logging.getLogger("access_bench")


def field_label(username: str) -> str:
    """The `xlscsde.nhs.uk/username` value lscsde-workspace-mgmt 0.1.14 derives (lossy).

    A port of `models.KubernetesHelper.format_as_label`: casefold, then every run of characters
    outside [0-9a-z.] becomes `___`. Checked against the installed package at run time.
    """
    return re.sub("[^0-9a-z.]+", "___", username.casefold())


# -- the data set ------------------------------------------------------------------------------


@dataclass
class Dataset:
    workspaces: list[dict[str, Any]]
    bindings: list[dict[str, Any]]
    user_workspaces: list[str]  # every workspace the user has a binding for
    permitted_today: set[str]  # ground truth under the field rule (crd-reference.md)
    not_usable_today: dict[str, str]  # bound, but outside the dates: workspace -> why
    colliding: dict[str, str]  # another user's grants that share the user's field label
    users: int = 0


def workspace_obj(i: int, today: date) -> dict[str, Any]:
    name = f"ws-{i:04d}"
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AnalyticsWorkspace",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "displayName": f"Study {i:04d}: cohort analysis",
            "description": (
                f"Workspace {i} for an approved study.\n"
                "Pseudonymised extracts only; outputs go through disclosure control."
            ),
            "validity": {
                "availableFrom": (today - timedelta(days=365)).isoformat(),
                "expires": (today + timedelta(days=365)).isoformat(),
            },
            "jupyterWorkspace": {
                "image": f"ghcr.io/lsc-sde/jupyter-datascience:1.{i % 7}.0",
                "extraLabels": {"project": f"p{i % 50:02d}"},
                "defaultUri": "/lab",
                "resources": {
                    "requests": {"cpu": "1", "memory": "4Gi"},
                    "limits": {"cpu": "2", "memory": "8Gi"},
                },
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": [
                    {
                        "key": "workload",
                        "operator": "Equal",
                        "value": "jupyter",
                        "effect": "NoSchedule",
                    }
                ],
                "persistentVolumeClaim": {
                    "name": f"{name}-shared",
                    "storageClassName": "managed-csi",
                },
            },
        },
        "status": {"statusText": "Provisioned", "persistentVolumeClaim": f"{name}-shared"},
    }


def binding_spec(workspace: str, username: str, expires: date) -> dict[str, Any]:
    return {
        "workspace": workspace,
        "username": username,
        "expires": expires.isoformat(),
        "comments": "Approved by the data access committee",
        "replicas": 0,
    }


def make_dataset(
    n_workspaces: int, n_bindings: int, user_bindings: int, n_users: int, today: date, seed: int
) -> Dataset:
    """Workspaces `ws-NNNN`; the user bound to every (n_workspaces // user_bindings)-th one.

    Among the user's bindings a few sit at the date boundaries, as in the field: two bindings
    expired (30 days ago, yesterday), one workspace expired yesterday, one workspace not available
    until next week, one binding ending today (still usable today). One binding belongs to a
    user whose field label collides with the measured user's. The rest are spread over
    `n_users` other users, 10% of them expired.

    Every binding carries the field label lscsde-workspace-mgmt writes and queries, and our own
    `USER_LABEL` (used only by the cold path with `trust_user_label`).
    """
    if user_bindings < 5 or n_workspaces < 2 * user_bindings:
        raise SystemExit("need at least 5 user bindings and 2 workspaces per user binding")
    rng = random.Random(seed)
    workspaces = [workspace_obj(i, today) for i in range(n_workspaces)]
    step = n_workspaces // user_bindings
    mine = [i * step for i in range(user_bindings)]
    grants: list[tuple[str, str, date]] = []  # (workspace, username, expires)
    not_usable: dict[str, str] = {}
    for k, i in enumerate(mine):
        ws = workspaces[i]
        name = ws["metadata"]["name"]
        expires = today + timedelta(days=30 + k)
        if k == 0:
            expires = today - timedelta(days=30)
            not_usable[name] = "binding expired 30 days ago"
        elif k == 1:
            expires = today - timedelta(days=1)
            not_usable[name] = "binding expired yesterday"
        elif k == 2:
            ws["spec"]["validity"]["expires"] = (today - timedelta(days=1)).isoformat()
            not_usable[name] = "workspace expired yesterday"
        elif k == 3:
            ws["spec"]["validity"]["availableFrom"] = (today + timedelta(days=7)).isoformat()
            not_usable[name] = "workspace not available until next week"
        elif k == 4:
            expires = today  # the last day: still usable
        grants.append((name, USER, expires))
    user_workspaces = [workspaces[i]["metadata"]["name"] for i in mine]
    permitted = set(user_workspaces) - set(not_usable)

    colliding_ws = workspaces[1]["metadata"]["name"]  # not one of the user's
    grants.append((colliding_ws, COLLIDING_USER, today + timedelta(days=60)))
    colliding = {colliding_ws: f"granted to {COLLIDING_USER}, not to {USER}"}

    others = [f"user{k:04d}.researcher@example.nhs.uk" for k in range(n_users)]
    for j in range(n_bindings - len(grants)):
        if j % 10 == 0:
            expires = today - timedelta(days=rng.randrange(1, 180))
        else:
            expires = today + timedelta(days=rng.randrange(0, 400))
        grants.append((f"ws-{rng.randrange(n_workspaces):04d}", others[j % n_users], expires))
    rng.shuffle(grants)
    bindings = [
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "AnalyticsWorkspaceBinding",
            "metadata": {
                "name": f"awsb-{n:05d}",
                "namespace": NS,
                "labels": {
                    FIELD_LABEL: field_label(username),
                    USER_LABEL: username_label(username),
                },
            },
            "spec": binding_spec(ws_name, username, expires),
        }
        for n, (ws_name, username, expires) in enumerate(grants)
    ]
    return Dataset(
        workspaces=workspaces,
        bindings=bindings,
        user_workspaces=user_workspaces,
        permitted_today=permitted,
        not_usable_today=not_usable,
        colliding=colliding,
        users=n_users + 2,
    )


# -- the cluster, in a child process -----------------------------------------------------------


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def settled_rss_mib() -> float:
    """RSS after a full collection and handing freed heap back to the OS."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_mib()


def _serve_cluster(conn: Connection) -> None:
    from kubesim import LocalCluster

    logging.basicConfig(level=logging.WARNING)
    with LocalCluster() as c:
        conn.send((c.url, str(c.kubeconfig)))
        while True:
            (op,) = conn.recv()
            if op == "stop":
                break
            if op == "summary":
                conn.send(c.requests.summary())
            elif op == "reset":
                c.requests.reset()
                conn.send(None)
            elif op == "rss":
                conn.send(settled_rss_mib())
    conn.send(None)


class ClusterProcess:
    """A `LocalCluster` in a child process; its `requests` counters are read over a pipe.

    `target` runs in the child: it sends `(url, kubeconfig)`, then answers each message sent by
    `_call` until ("stop",), which it answers too (other benches serve more operations)."""

    def __init__(self, target: Callable[[Connection], None] = _serve_cluster) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=target, args=(child,), name="local-cluster")
        self.url = ""
        self.kubeconfig = ""

    def _call(self, *msg: Any) -> Any:
        self._conn.send(msg)
        return self._conn.recv()

    def summary(self) -> dict[str, int]:
        s: dict[str, int] = self._call("summary")
        return s

    def reset(self) -> None:
        self._call("reset")

    def server_rss_mib(self) -> float:
        r: float = self._call("rss")
        return r

    def __enter__(self) -> ClusterProcess:
        self._proc.start()
        if not self._conn.poll(60):
            raise RuntimeError("the embedded cluster did not start within 60 s")
        self.url, self.kubeconfig = self._conn.recv()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(OSError, EOFError):
            self._call("stop")
        self._proc.join(30)
        if self._proc.is_alive():
            self._proc.terminate()


# -- the cache's memory, in a fresh process ----------------------------------------------------


def _cache_memory(conn: Connection, url: str, trace: bool) -> None:
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
            cache = WorkspaceCache(api, NS)
            start = time.perf_counter()
            await cache.start()
            if not await cache.wait_synced(timeout=120):
                raise RuntimeError("the cache did not sync within 120 s")
            seconds = time.perf_counter() - start
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
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_cache_memory, args=(child, url, trace), name="cache-memory")
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


# -- measuring ---------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


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


# -- the two tools -----------------------------------------------------------------------------


def client_configuration(url: str) -> client.Configuration:
    """Ours: the same configuration `kubesim.testing.client_configuration` builds."""
    cfg = client.Configuration()
    cfg.host = url
    return cfg


async def old_tool_client(kubeconfig: str) -> ApiClient:
    """A kubernetes_asyncio client as a field deployment gets one: from a kubeconfig."""
    cfg = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    return ApiClient(cfg)


def check_old_label_format(usernames: list[str]) -> None:
    from lscsde_workspace_mgmt.models import KubernetesHelper

    helper = KubernetesHelper()
    for name in usernames:
        theirs = helper.format_as_label(name)
        if theirs != field_label(name):
            raise SystemExit(f"label format drifted: {name!r}: {theirs!r} != {field_label(name)!r}")


# -- the run -----------------------------------------------------------------------------------


async def apply_crds(api: ApiClient) -> None:
    ext = client.ApiextensionsV1Api(api)
    for crd in load_crds():
        await ext.create_custom_resource_definition(cast(Any, crd))  # a dict serialises as is
    custom = client.CustomObjectsApi(api)
    deadline = time.monotonic() + 30
    for plural in PLURALS:
        while True:
            try:
                await custom.list_namespaced_custom_object(GROUP, VERSION, NS, plural, limit=1)
                break
            except ApiException:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)


async def seed(api: ApiClient, ds: Dataset) -> float:
    custom = client.CustomObjectsApi(api)
    sem = asyncio.Semaphore(32)
    merge_patch: dict[str, Any] = {"_content_type": "application/merge-patch+json"}

    async def create(plural: str, obj: dict[str, Any]) -> None:
        async with sem:
            body = {k: v for k, v in obj.items() if k != "status"}
            await custom.create_namespaced_custom_object(GROUP, VERSION, NS, plural, body)
            if "status" in obj:
                await custom.patch_namespaced_custom_object_status(
                    GROUP,
                    VERSION,
                    NS,
                    plural,
                    obj["metadata"]["name"],
                    {"status": obj["status"]},
                    **merge_patch,
                )

    start = time.perf_counter()
    await asyncio.gather(*(create("analyticsworkspaces", w) for w in ds.workspaces))
    await asyncio.gather(*(create("analyticsworkspacebindings", b) for b in ds.bindings))
    return time.perf_counter() - start


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = ["git", "-C", str(Path(__file__).parent)]
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if commit and dirty:
            commit += "+uncommitted changes"
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "load_average_1m_at_start": os.getloadavg()[0],  # other work on the machine
        "python": platform.python_version(),
        "platform": platform.platform(),
        "kubernetes_asyncio": metadata.version("kubernetes_asyncio"),
        OLD_TOOL: metadata.version(OLD_TOOL),
        "git_commit": commit,
    }


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


def our_lookup(cache: WorkspaceCache, today: date) -> Callable[[], Awaitable[list[str]]]:
    """What the spawner does per page view: the user's snapshot, then the policy."""

    async def lookup() -> list[str]:
        snap = await cache.snapshot_for(USER)
        decision = decide(snap.workspaces, snap.bindings, USER, today, malformed=snap.malformed)
        return [p.workspace.name for p in decision.permitted]

    return lookup


async def run(args: argparse.Namespace) -> dict[str, Any]:
    try:
        from lscsde_workspace_mgmt.managers import AnalyticsWorkspaceManager
    except ImportError:
        raise SystemExit(
            f"needs {OLD_TOOL}=={OLD_TOOL_VERSION}: .venv/bin/pip install -e '.[bench]'"
        ) from None
    if metadata.version(OLD_TOOL) != OLD_TOOL_VERSION:
        raise SystemExit(f"needs {OLD_TOOL}=={OLD_TOOL_VERSION}, not {metadata.version(OLD_TOOL)}")

    today = today_in("UTC")
    ds = make_dataset(
        args.workspaces, args.bindings, args.user_bindings, args.users, today, args.seed
    )
    check_old_label_format([USER, COLLIDING_USER, "user0001.researcher@example.nhs.uk"])
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
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
            await apply_crds(api)
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
            cache = WorkspaceCache(api, NS)
            start = time.perf_counter()
            await cache.start()
            if not await cache.wait_synced(timeout=120):
                raise SystemExit("the cache did not sync within 120 s")
            sync_seconds = time.perf_counter() - start
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
                manager = AnalyticsWorkspaceManager(old_api, log)

                async def theirs() -> list[str]:
                    items = await manager.get_permitted_workspaces(NS, USER)
                    return [item["slug"] for item in items]

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


async def ended_watches(cluster: ClusterProcess, expected: int) -> dict[str, int]:
    """The watches the server has logged as ended, once `expected` have (or after 5 s)."""
    deadline = time.monotonic() + 5
    while True:
        watches = {k: v for k, v in cluster.summary().items() if k.startswith("watch ")}
        if sum(watches.values()) >= expected or time.monotonic() > deadline:
            return watches
        await asyncio.sleep(0.1)


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def ratios(r: dict[str, Any]) -> dict[str, float | None]:
    o, t, c = r["ours"], r["theirs"], r["ours_cold"]
    return {
        "latency_p50_theirs_over_ours": _ratio(t["latency_ms"]["p50"], o["latency_ms"]["p50"]),
        "latency_p95_theirs_over_ours": _ratio(t["latency_ms"]["p95"], o["latency_ms"]["p95"]),
        "requests_per_lookup_theirs": t["requests_per_lookup"],
        "requests_per_lookup_ours": o["requests_per_lookup"],
        "requests_theirs_over_ours": _ratio(t["requests_per_lookup"], o["requests_per_lookup"]),
        "latency_p50_theirs_over_ours_cold": _ratio(t["latency_ms"]["p50"], c["latency_ms"]["p50"]),
        "requests_theirs_over_ours_cold": _ratio(
            t["requests_per_lookup"], c["requests_per_lookup"]
        ),
        "sync_requests_in_theirs_lookups": _ratio(
            r["cache_sync"]["requests"], t["requests_per_lookup"]
        ),
        "sync_seconds_in_theirs_lookups": _ratio(
            r["cache_sync"]["seconds"] * 1000, t["latency_ms"]["p50"]
        ),
    }


# -- output ------------------------------------------------------------------------------------


COLUMNS = (
    ("ours", "ours: synced cache"),
    ("theirs", f"{OLD_TOOL} {OLD_TOOL_VERSION}"),
    ("ours_cold", "ours cold: all bindings"),
    ("ours_cold_user_label", "ours cold: our label"),
)


def table(r: dict[str, Any]) -> Iterator[str]:
    p = r["parameters"]
    yield (
        f"{p['workspaces']} workspaces, {p['bindings']} bindings, {p['users']} users; "
        f"{p['user']} bound to {p['user_bindings']}; {p['lookups']} lookups per side "
        f"({p['cold_lookups']} cold); {r['machine']['cpus']} CPUs, {r['date']}, load average "
        f"{r['machine']['load_average_1m_at_start']:.2f} -> "
        f"{r['machine']['load_average_1m_at_end']:.2f}"
    )
    sides = [r[key] for key, _ in COLUMNS]

    def row(label: str, cells: Iterator[str]) -> str:
        return f"{label:34s}" + "".join(f"{c:>30s}" for c in cells)

    yield row("", (title for _, title in COLUMNS))
    yield row("latency p50 (ms)", (f"{s['latency_ms']['p50']:.3f}" for s in sides))
    yield row("latency p95 (ms)", (f"{s['latency_ms']['p95']:.3f}" for s in sides))
    yield row("API requests per lookup", (f"{s['requests_per_lookup']:.2f}" for s in sides))
    kinds = sorted({k for s in sides for k in s["requests_per_lookup_by_verb_resource"]})
    for kind in kinds:
        yield row(
            "  " + kind,
            (f"{s['requests_per_lookup_by_verb_resource'].get(kind, 0):.2f}" for s in sides),
        )
    yield row("workspaces shown", (str(s["workspaces_shown"]) for s in sides))
    c = r["cache_sync"]
    by_kind = ", ".join(f"{k}: {v}" for k, v in c["requests_by_verb_resource"].items())
    yield (
        f"cache sync, once per process: {c['seconds'] * 1000:.0f} ms, {c['requests']} requests "
        f"({by_kind}) + {c['watches_opened']} watches"
    )
    yield (
        f"cache memory (fresh process): RSS +{c['rss_delta_mib']:.1f} MiB; Python heap held "
        f"{c['python_heap_mib']:.1f} MiB (peak +{c['python_heap_peak_during_sync_mib']:.1f} MiB "
        "during sync)"
    )
    q = r["ratios"]

    def x(v: float | None) -> str:
        return f"x{v:,.0f}" if v is not None else "ours makes none"

    yield (
        f"theirs / ours (synced): latency p50 {x(q['latency_p50_theirs_over_ours'])}, "
        f"p95 {x(q['latency_p95_theirs_over_ours'])}; requests per lookup "
        f"{q['requests_per_lookup_theirs']:.0f} vs {q['requests_per_lookup_ours']:.0f} "
        f"({x(q['requests_theirs_over_ours'])})"
    )
    yield (
        f"theirs / ours (cold, all bindings): latency p50 "
        f"x{q['latency_p50_theirs_over_ours_cold']:.2f}; requests "
        f"x{q['requests_theirs_over_ours_cold']:.1f}"
    )
    a = r["agreement"]
    yield (
        f"same set: {a['same_set']} (ours {a['ours_count']}, theirs {a['theirs_count']}, "
        f"bound {a['bound_workspaces']}); ours follows the rule: {a['ours_matches_rule']}; "
        f"cold = synced: {a['cold_equals_synced']}"
    )
    for name, why in a["theirs_only"].items():
        yield f"  only theirs shows {name}: {why}"
    for name in a["ours_only"]:
        yield f"  only ours shows {name}"


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
