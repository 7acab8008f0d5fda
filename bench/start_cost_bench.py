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
import concurrent.futures
import contextlib
import gc
import hashlib
import json
import logging
import multiprocessing
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs

import aiohttp
from jupyterhub.app import JupyterHub
from kubespawner import KubeSpawner

import lscsde_spawner
from bench.access_bench import (
    FIELD_LABEL,
    ClusterProcess,
    apply_crds,
    binding_spec,
    client_configuration,
    field_label,
    percentile,
    workspace_obj,
)
from bench.spawn_bench import (
    FUTURE,
    PAST,
    WS_IMAGE,
    create_cr,
    point_kube_config_at,
    start_hub,
    vanilla_config,
    wait_stopped,
)
from lscsde_spawner.models import GROUP, VERSION
from lscsde_spawner.spawner import WorkspaceSpawner
from lscsde_spawner.usernames import USER_LABEL, username_label
from tests.hub.conftest import NAMESPACE, RunningHub, ensure_chp_on_path, login

RESULTS = Path(__file__).parent / "results" / "start_cost.json"
TICK = 0.005  # the ticker's period: stalls shorter than this are not seen
START = {"profile": "plain"}
REFUSED = {"profile": "nosuch"}  # no such workspace (ours: 404) / profile (vanilla: 500)
WORKSPACE = "plain"
OTHER_USERS = 500  # owners of the filler bindings
# The paths our cache may watch (KubeSpawner watches only pods and events).
CACHE_WATCHES = r"^/apis/xlscsde\.nhs\.uk/|/persistentvolumeclaims$"
STREAM_KEY = "lscsde_bench_key"  # request state: the "verb resource" a streamed body belongs to
TARGETS = {"stall_ms": 50.0, "bystander_p99_ms": 100.0, "extra_requests_per_start": 3.0}


def warn(text: str) -> None:
    """To the terminal, even while the hub's log (and stderr) go to its file."""
    print(f"warning: {text}", file=sys.__stderr__, flush=True)


# -- the cluster, in its own process -----------------------------------------------------------


class _ByteMeter:
    """Response body bytes the API server sends: per answered request, and per stream write.

    Installed in the cluster process before the cluster starts (the server binds its handler
    when it is built). Both are only touched on the cluster's event loop.
    """

    def __init__(self) -> None:
        self.by_record: dict[int, tuple[Any, int]] = {}  # id(RequestRecord) -> (record, bytes)
        self.streamed: Counter[str] = Counter()  # "verb resource" -> bytes written to streams

    def install(self) -> None:
        from aiohttp import web

        from kubesim.apiserver import server as srv

        meter = self
        handle = srv.ApiServer.handle
        write = web.StreamResponse.write

        async def counted_handle(server: Any, request: web.Request) -> web.StreamResponse:
            try:
                target = server._resolve(request.path)
                key = f"{srv._verb(request, target)} {target.resource}" if target else ""
            except Exception:  # an unknown path: the server answers it with its own error
                key = ""
            request[STREAM_KEY] = key
            response = await handle(server, request)
            if key and isinstance(response, web.Response):
                body = response.body
                size = len(body) if isinstance(body, bytes | bytearray) else 0
                # The server logged this request last, with nothing awaited since.
                entries = server.requests.entries
                if entries and entries[-1].path == request.path:
                    meter.by_record[id(entries[-1])] = (entries[-1], size)
            return response

        async def counted_write(self: web.StreamResponse, data: Any) -> None:
            request = self._req
            key = request.get(STREAM_KEY) if request is not None else None
            if key:  # watch events and logs of the API server, not the pods' own HTTP
                meter.streamed[key] += len(data)
            await write(self, data)

        srv.ApiServer.handle = counted_handle  # type: ignore[method-assign, assignment]
        web.StreamResponse.write = counted_write  # type: ignore[method-assign]


def _serve_cluster(conn: Connection) -> None:
    """The cluster process: a LocalCluster, answering `CostCluster` calls until ("stop",)."""
    from kubesim import LocalCluster

    logging.basicConfig(level=logging.WARNING)
    meter = _ByteMeter()
    meter.install()
    with LocalCluster() as c:
        assert c.api is not None

        def take() -> tuple[list[tuple[str, str, str, int, int]], dict[str, int]]:
            out = [
                (r.verb, r.resource, r.query, r.status, meter.by_record.get(id(r), (r, 0))[1])
                for r in c.requests.entries
            ]
            streamed = dict(meter.streamed)
            c.requests.reset()
            meter.by_record.clear()
            meter.streamed.clear()
            return out, streamed

        def peek() -> dict[str, int]:
            seen = (r for r in c.requests.entries if r.verb and r.verb != "watch")
            return dict(Counter(f"{r.verb} {r.resource}" for r in seen))

        def seed(plural: str, objs: list[dict[str, Any]]) -> int:
            assert c.api is not None
            rt = c.api.registry.get(GROUP, VERSION, plural)
            assert rt is not None, plural
            for obj in objs:
                c.api.create(rt, NAMESPACE, obj)
            return len(objs)

        def force_relist(path: str) -> int:
            # Answer 410 Gone to the next watch of every watcher cut here: an informer must
            # then relist. The rule is armed before the cut, so no reconnect slips past it.
            rule = c.faults.fail(status=410, verb="watch", path=path, times=None)
            cut = c.faults.cut_watches(path)
            rule.times = cut
            return cut

        ops: dict[str, Callable[..., Any]] = {
            "take": lambda: c.call(take),
            "peek": lambda: c.call(peek),
            "seed": lambda plural, objs: c.call(seed, plural, objs),
            "force_relist": force_relist,
            "clear_faults": c.faults.clear,
        }
        conn.send((c.url, str(c.kubeconfig)))
        while True:
            op, *args = conn.recv()
            if op == "stop":
                break
            try:
                conn.send(("ok", ops[op](*args)))
            except Exception as err:
                conn.send(("error", f"{op}: {err!r}"))
    conn.send(None)


@dataclass
class Traffic:
    """What the API server answered in one window.

    `requests`/`body_bytes`: what the action cost. `background`: the hub's standing traffic
    (watches, which the server logs when they end, and KubeSpawner's reflector relists), kept
    apart. `streamed_bytes`: watch events sent to the hub's watchers during the window.
    """

    requests: Counter[str] = field(default_factory=Counter)
    body_bytes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    background: Counter[str] = field(default_factory=Counter)
    background_bytes: int = 0
    streamed_bytes: Counter[str] = field(default_factory=Counter)

    @property
    def n(self) -> int:
        return sum(self.requests.values())

    @property
    def bytes(self) -> int:
        return sum(self.body_bytes.values())


def _reflector_relist(verb: str, resource: str, query: str) -> bool:
    """KubeSpawner's pod and event reflectors list on their own schedule (every 30 s)."""
    if verb != "list" or resource not in ("pods", "events"):
        return False
    q = parse_qs(query)
    return "component=singleuser-server" in q.get("labelSelector", []) or any(
        "involvedObject.kind" in s for s in q.get("fieldSelector", [])
    )


class CostCluster(ClusterProcess):
    """A LocalCluster in a child process (access_bench's ClusterProcess), with the calls this
    bench needs. Calls block: from the event loop, use `run()` (a thread of the bench's own)."""

    def __init__(self) -> None:
        super().__init__(target=_serve_cluster)
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="cluster-pipe")

    def _call(self, *msg: Any) -> Any:
        with self._lock:
            self._conn.send(msg)
            reply = self._conn.recv()
        if reply is None:  # the answer to ("stop",)
            return None
        status, value = reply
        if status == "error":
            raise RuntimeError(value)
        return value

    async def run(self, op: str, *args: Any) -> Any:
        """The call, in a thread of our own: the hub's loop never waits on the pipe, and the
        hub's default executor is left to the hub."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: self._call(op, *args))

    async def take(self) -> Traffic:
        """The window's traffic; starts a new window."""
        entries, streamed = await self.run("take")
        t = Traffic(streamed_bytes=Counter(streamed))
        for verb, resource, query, status, size in entries:
            key = f"{verb} {resource}"
            if not verb:
                continue  # discovery and health: no object touched
            if verb == "watch" or _reflector_relist(verb, resource, query):
                t.background[key] += 1
                t.background_bytes += size
                continue
            t.requests[key] += 1
            t.body_bytes[key] += size
            t.statuses[status] += 1
        return t

    async def settle(
        self,
        quiet: float,
        until: Callable[[dict[str, int]], bool] = lambda _: True,
        limit: float = 60.0,
    ) -> float:
        """Wait until `until(requests so far)` holds and the hub has made no API request (watches
        aside) for `quiet` seconds. Returns the seconds waited."""
        loop = asyncio.get_running_loop()
        begun = loop.time()
        last = await self.run("peek")
        quiet_since = loop.time()
        while loop.time() - begun < limit:
            await asyncio.sleep(0.05)
            now = await self.run("peek")
            if now != last:
                last, quiet_since = now, loop.time()
            elif until(now) and loop.time() - quiet_since >= quiet:
                return loop.time() - begun
        warn(f"the hub was still calling the API after {limit:.0f} s: {last}")
        return loop.time() - begun

    def __enter__(self) -> CostCluster:
        super().__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        self._pool.shutdown(wait=False)


# -- the data set ------------------------------------------------------------------------------


def bench_users(starts: int) -> dict[str, list[str]]:
    return {
        "starters": [f"start{i}" for i in range(starts + 1)],  # start0: the warm-up start
        "flooders": ["flood0", "flood1"],
        "bystander": ["bystander"],
    }


def binding_obj(name: str, workspace: str, username: str, expires: date) -> dict[str, Any]:
    """A binding as the field tools write it (access_bench's shape, with both labels)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AnalyticsWorkspaceBinding",
        "metadata": {
            "name": name,
            "labels": {FIELD_LABEL: field_label(username), USER_LABEL: username_label(username)},
        },
        "spec": binding_spec(workspace, username, expires),
    }


def filler(
    n_bindings: int, n_workspaces: int, today: date, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Other users' workspaces and bindings (10% expired), as access_bench builds them."""
    rng = random.Random(seed)
    workspaces = []
    for i in range(n_workspaces):
        ws = workspace_obj(i, today)
        ws.pop("status", None)  # a status is written through its subresource, not at create
        workspaces.append(ws)
    bindings = []
    for j in range(n_bindings):
        days = -rng.randrange(1, 180) if j % 10 == 0 else rng.randrange(0, 400)
        bindings.append(
            binding_obj(
                f"awsb-{j:05d}",
                f"ws-{rng.randrange(n_workspaces):04d}",
                f"user{j % OTHER_USERS:04d}.researcher@example.nhs.uk",
                today + timedelta(days=days),
            )
        )
    return workspaces, bindings


async def setup_namespace(
    cluster: CostCluster, users: list[str], n_bindings: int, n_workspaces: int, seed: int
) -> dict[str, Any]:
    """CRDs, workspace `plain` bound to every bench user, then filler up to `n_bindings`
    bindings in all. The filler is created inside the cluster process (no HTTP): seconds for
    10,000 objects instead of tens of seconds."""
    from kubernetes_asyncio.client.api_client import ApiClient

    if n_bindings < len(users):
        raise SystemExit(f"--bindings {n_bindings}: the bench's own users need {len(users)}")
    today = datetime.now(UTC).date()
    started = time.perf_counter()
    async with ApiClient(client_configuration(cluster.url)) as api:
        await apply_crds(api)
        spec = {
            "displayName": WORKSPACE,
            "description": WORKSPACE,
            "validity": {"availableFrom": PAST, "expires": FUTURE},
            "jupyterWorkspace": {"image": WS_IMAGE},
        }
        await create_cr(api, "analyticsworkspaces", "AnalyticsWorkspace", WORKSPACE, spec)
    far = date.fromisoformat(FUTURE)
    own = [binding_obj(f"bench-{u}", WORKSPACE, u, far) for u in users]
    workspaces, bindings = filler(n_bindings - len(own), n_workspaces, today, seed)
    await cluster.run("seed", "analyticsworkspaces", workspaces)
    everything = own + bindings
    for i in range(0, len(everything), 1000):
        await cluster.run("seed", "analyticsworkspacebindings", everything[i : i + 1000])
    await cluster.take()  # set-up traffic is nobody's
    return {
        "bindings": len(everything),
        "bench_user_bindings": len(own),
        "workspaces": len(workspaces) + 1,
        "seconds": round(time.perf_counter() - started, 2),
    }


# -- the hub's event loop ----------------------------------------------------------------------


@dataclass
class Stalls:
    """How late the ticker woke, each time, during one window (seconds). `busy`: how much of
    each lateness the hub's process spent on a CPU, in any of its threads: the loop's own work,
    or a worker thread holding the GIL the loop waits for. The rest of a lateness the process
    was not running at all: another process had the core (a busy machine), not the hub's doing.
    `gc`: the process's garbage collections meanwhile, which stall the loop whatever code made
    the garbage."""

    late: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)
    gc: list[float] = field(default_factory=list)

    @property
    def busy_max_ms(self) -> float:
        return round(max(self.busy, default=0.0) * 1000, 1)

    @property
    def gc_max_ms(self) -> float:
        return round(max(self.gc, default=0.0) * 1000, 1)

    @property
    def max_ms(self) -> float:
        return round(max(self.late, default=0.0) * 1000, 1)

    @property
    def p99_ms(self) -> float:
        return round(percentile(self.late, 0.99) * 1000, 1) if len(self.late) > 1 else self.max_ms


class Ticker:
    """A task in the hub's event loop that sleeps `period` again and again. Anything that holds
    the loop (parsing, a blocking call) makes it wake late by as long as it held it."""

    def __init__(self, period: float = TICK) -> None:
        self.period = period
        self._open: list[Stalls] = []
        self._task: asyncio.Task[None] | None = None
        self._gc_started = 0.0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="bench-ticker")
        gc.callbacks.append(self._on_gc)

    async def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        pause = time.perf_counter() - self._gc_started
        for window in self._open:
            window.gc.append(pause)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.period
            cpu = time.process_time()
            await asyncio.sleep(self.period)
            late = max(0.0, loop.time() - due)
            busy = min(late, time.process_time() - cpu)
            for window in self._open:
                window.late.append(late)
                window.busy.append(busy)

    @contextlib.asynccontextmanager
    async def window(self) -> AsyncIterator[Stalls]:
        stalls = Stalls()
        self._open.append(stalls)
        try:
            yield stalls
        finally:
            await asyncio.sleep(3 * self.period)  # the wake-up a last stall delayed lands in it
            self._open.remove(stalls)


# -- load: ordinary users flooding, a bystander polling (a process of its own) -----------------


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    """Flooders POST refused starts back to back; the bystander GETs itself every `interval`."""
    loop = asyncio.get_running_loop()
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        end = loop.time() + spec["seconds"]

        async def flood(url: str, token: str) -> dict[str, Any]:
            statuses: Counter[int] = Counter()
            seconds: list[float] = []
            body = {"user_options": spec["options"]}
            while loop.time() < end:
                t0 = time.perf_counter()
                async with http.post(url, headers=_auth(token), json=body) as r:
                    await r.read()
                seconds.append(time.perf_counter() - t0)
                statuses[r.status] += 1
            return {"attempts": len(seconds), "statuses": dict(statuses), "seconds": seconds}

        async def bystander(url: str, token: str) -> dict[str, Any]:
            seconds: list[float] = []
            failed: Counter[int] = Counter()
            while loop.time() < end:
                t0 = time.perf_counter()
                async with http.get(url, headers=_auth(token)) as r:
                    await r.read()
                seconds.append(time.perf_counter() - t0)
                if r.status != 200:
                    failed[r.status] += 1
                await asyncio.sleep(spec["interval"])
            return {"seconds": seconds, "failed": dict(failed)}

        floods = [flood(url, token) for url, token in spec["flooders"]]
        results = await asyncio.gather(bystander(*spec["bystander"]), *floods)
    return {"bystander": results[0], "flooders": results[1:]}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


def _serve_load(conn: Connection) -> None:
    while (spec := conn.recv()) is not None:
        try:
            conn.send(("ok", asyncio.run(_load(spec))))
        except Exception as err:
            conn.send(("error", repr(err)))


class LoadProcess:
    """The flooders and the bystander, in a process of their own: their client work is not
    the hub's, and a stalled hub loop cannot delay the requests they send."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve_load, args=(child,), name="load")
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="load-pipe")

    def __enter__(self) -> LoadProcess:
        self._proc.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self._proc.join(30)
        if self._proc.is_alive():
            self._proc.terminate()
        self._pool.shutdown(wait=False)

    def _run(self, spec: dict[str, Any]) -> dict[str, Any]:
        self._conn.send(spec)
        status, value = self._conn.recv()
        if status == "error":
            raise RuntimeError(f"load: {value}")
        return cast(dict[str, Any], value)

    async def run(self, spec: dict[str, Any]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._run, spec)


# -- one spawner at one size -------------------------------------------------------------------


def ms(seconds: list[float], q: float) -> float:
    return round(percentile(seconds, q) * 1000, 1) if seconds else 0.0


def traffic_report(samples: list[Traffic]) -> dict[str, Any]:
    """Means per action over `samples`."""
    n = len(samples)
    keys = sorted({k for t in samples for k in t.requests})
    streamed = sorted({k for t in samples for k in t.streamed_bytes})
    return {
        "requests": round(sum(t.n for t in samples) / n, 2),
        "requests_min_max": [min(t.n for t in samples), max(t.n for t in samples)],
        "requests_by_verb_resource": {
            k: round(sum(t.requests[k] for t in samples) / n, 2) for k in keys
        },
        "response_bytes": round(sum(t.bytes for t in samples) / n),
        "response_bytes_by_verb_resource": {
            k: round(sum(t.body_bytes[k] for t in samples) / n) for k in keys
        },
        "watch_bytes": round(sum(sum(t.streamed_bytes.values()) for t in samples) / n),
        "watch_bytes_by_resource": {
            k: round(sum(t.streamed_bytes[k] for t in samples) / n) for k in streamed
        },
        "statuses": dict(sum((t.statuses for t in samples), Counter())),
        "background_requests": dict(sum((t.background for t in samples), Counter())),
    }


async def post_start(
    http: aiohttp.ClientSession, hub: RunningHub, user: str, token: str, options: Any
) -> tuple[int, str]:
    url = hub.url("hub/api", f"users/{user}/server")
    async with http.post(url, headers=_auth(token), json={"user_options": options}) as r:
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
    """Steps 1 to 7 of the module's docstring, on a started hub; fills `out`."""
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
                "p50_ms": ms(lat, 0.50),
                "p99_ms": ms(lat, 0.99),
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


# -- the run -----------------------------------------------------------------------------------


def code_under_test() -> dict[str, Any]:
    """Which spawner code ran: its path and a digest of the files the fix is expected to touch."""
    root = Path(lscsde_spawner.__file__).parent
    digest = hashlib.sha256()
    for path in sorted([root / "spawner.py", *sorted((root / "kube").glob("*.py"))]):
        digest.update(path.read_bytes())
    return {"package": str(root), "spawner_and_kube_sha256": digest.hexdigest()[:16]}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    ensure_chp_on_path()
    logging.getLogger().setLevel(logging.WARNING)
    users = bench_users(args.starts)
    everyone = [u for group in users.values() for u in group]
    out: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1m_at_start": os.getloadavg()[0],
            "python": platform.python_version(),
        },
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


def verdict(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Ours against the issue's targets, at each size."""
    res: dict[str, dict[str, Any]] = {}
    stall_limit = TARGETS["stall_ms"]
    for size in out["sizes"]:
        runs = {r["label"]: r for r in size["runs"]}
        ours, vanilla = runs["ours"], runs["vanilla"]
        extra = ours["start"]["requests"] - vanilla["start"]["requests"]
        phases = ("start", "refused", "flood", "first_sync", "relist")
        stalls = {p: ours[p]["stall_max_ms"] for p in phases}
        cpu = {p: ours[p]["stall_hub_cpu_max_ms"] for p in phases}
        p99 = ours["flood"]["bystander"]["p99_ms"]
        res[str(size["bindings"])] = {
            "extra_requests_per_start": round(extra, 2),
            "extra_requests_ok": extra <= TARGETS["extra_requests_per_start"],
            "stalls_ms": stalls,
            "stalls_ok": {k: v <= stall_limit for k, v in stalls.items()},
            "stalls_hub_cpu_ms": cpu,
            "stalls_hub_cpu_ok": {k: v <= stall_limit for k, v in cpu.items()},
            "gc_max_ms": {p: ours[p]["gc_max_ms"] for p in phases},
            "bystander_p99_ms": p99,
            "bystander_p99_ok": p99 < TARGETS["bystander_p99_ms"],
        }
    return res


# -- the report --------------------------------------------------------------------------------


def _kib(n: float) -> str:
    return f"{n / 1024:.1f}"


def _worst_gc(r: dict[str, Any]) -> float:
    phases = ("start", "refused", "flood", "first_sync", "relist", "idle")
    return max(r[p]["gc_max_ms"] for p in phases if r.get(p))


def _stall(r: dict[str, Any], phase: str) -> str:
    """Worst lateness of the ticker, and (in brackets) the most of one lateness the hub process
    spent on a CPU: the rest it was not running at all (a busy machine)."""
    if not r.get(phase):
        return "-"
    return f"{r[phase]['stall_max_ms']:.0f} ({r[phase]['stall_hub_cpu_max_ms']:.0f})"


def _p(phase: dict[str, Any]) -> str:
    return f"{phase['bystander']['p50_ms']:.0f}/{phase['bystander']['p99_ms']:.0f}"


ROWS: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("start: API requests", lambda r: f"{r['start']['requests']:.1f}"),
    ("start: KiB read (bodies)", lambda r: _kib(r["start"]["response_bytes"])),
    ("start: KiB streamed to watches", lambda r: _kib(r["start"]["watch_bytes"])),
    ("start: wall p50 s", lambda r: f"{r['start']['wall_p50_s']:.3f}"),
    ("refused: hub answer", lambda r: "/".join(map(str, r["refused"]["hub_answers"]))),
    ("refused: API requests", lambda r: f"{r['refused']['requests']:.1f}"),
    ("refused: KiB read", lambda r: _kib(r["refused"]["response_bytes"])),
    ("refused: wall p50 s", lambda r: f"{r['refused']['wall_p50_s']:.3f}"),
    ("stall ms (hub CPU): start", lambda r: _stall(r, "start")),
    ("stall ms (hub CPU): refused", lambda r: _stall(r, "refused")),
    ("stall ms (hub CPU): flood", lambda r: _stall(r, "flood")),
    ("stall ms (hub CPU): first sync", lambda r: _stall(r, "first_sync")),
    ("stall ms (hub CPU): relist", lambda r: _stall(r, "relist")),
    ("stall ms (hub CPU): idle", lambda r: _stall(r, "idle")),
    ("GC pause ms: worst in the above", _worst_gc),
    ("full GC ms (gc.collect() at end)", lambda r: r["full_gc_ms"]),
    ("flood: refused starts/s", lambda r: r["flood"]["refused_starts_per_s"]),
    ("flood: API requests/refusal", lambda r: r["flood"]["requests_per_refused_start"]),
    ("bystander ms p50/p99: idle", lambda r: _p(r["idle"])),
    ("bystander ms p50/p99: flood", lambda r: _p(r["flood"])),
    ("first sync: API requests", lambda r: r["first_sync"]["requests"]),
    ("first sync: KiB read", lambda r: _kib(r["first_sync"]["response_bytes"])),
]


def print_table(out: dict[str, Any]) -> None:
    runs = [r for s in out["sizes"] for r in s["runs"]]
    names = "".join(f"{r['label'] + '@' + str(r['bindings']):>16}" for r in runs)
    print(f"{'':<34}{names}")
    print("-" * (34 + len(names)))
    for name, cell in ROWS:
        print(f"{name:<34}" + "".join(f"{cell(r)!s:>16}" for r in runs))
    print()
    keys = sorted({k for r in runs for k in r["start"]["requests_by_verb_resource"]})
    print(f"{'mean API requests per start':<34}{names}")
    for k in keys:
        cells = (r["start"]["requests_by_verb_resource"].get(k, 0) for r in runs)
        print(f"{k:<34}" + "".join(f"{c:>16}" for c in cells))
    print()
    limit = TARGETS["stall_ms"]
    for size, v in out["verdict"].items():
        bad = [k for k, ok in v["stalls_ok"].items() if not ok] or ["none"]
        busy = [k for k, ok in v["stalls_hub_cpu_ok"].items() if not ok] or ["none"]
        print(
            f"ours@{size}: +{v['extra_requests_per_start']} requests/start vs vanilla "
            f"({'ok' if v['extra_requests_ok'] else 'over'}, target <= +3); "
            f"bystander p99 in the flood {v['bystander_p99_ms']} ms "
            f"({'ok' if v['bystander_p99_ok'] else 'over'}, target < 100)\n"
            f"    stalls over {limit:.0f} ms: {', '.join(bad)}; "
            f"over {limit:.0f} ms of hub CPU: {', '.join(busy)}"
        )


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
