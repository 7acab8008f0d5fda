"""start_cost_bench's cluster: `ClusterProcess` with a byte meter, windows of traffic, seeding
inside the cluster process and forced relists; calls made from the hub's loop without blocking it.

Bytes: the cluster process counts the body bytes of every response its API server sends (paired
with the request's `cluster.requests` record) and of every watch event it streams, as it writes
them (see start_cost_bench's docstring).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import parse_qs

from bench.cluster_process import ClusterProcess, serve
from lscsde_spawner.models import GROUP, VERSION
from tests.support.hub import NAMESPACE

STREAM_KEY = "lscsde_bench_key"  # request state: the "verb resource" a streamed body belongs to


def warn(text: str) -> None:
    """To the terminal, even while the hub's log (and stderr) go to its file."""
    print(f"warning: {text}", file=sys.__stderr__, flush=True)


class ByteMeter:
    """Response body bytes the API server sends: per answered request, and per stream write.

    Installed in the cluster process before the cluster starts (the server binds its handler
    when it is built). Both are only touched on the cluster's event loop.
    """

    def __init__(self) -> None:
        self.by_record: dict[int, tuple[Any, int]] = {}  # id(RequestRecord) -> (record, bytes)
        self.streamed: Counter[str] = Counter()  # "verb resource" -> bytes written to streams

    def install(self) -> None:
        from aiohttp import web

        from kubesim.apiserver import routing
        from kubesim.apiserver import server as srv

        meter = self
        handle = srv.ApiServer.handle
        write = web.StreamResponse.write

        async def counted_handle(server: Any, request: web.Request) -> web.StreamResponse:
            try:
                target = server.resolve(request.path)
                key = f"{routing.request_verb(request, target)} {target.resource}" if target else ""
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


def serve_cost_cluster(conn: Connection) -> None:
    """The cluster process: a LocalCluster, answering `CostCluster` calls until ("stop",)."""
    from kubesim import LocalCluster

    logging.basicConfig(level=logging.WARNING)
    meter = ByteMeter()
    meter.install()
    with LocalCluster(auth=False) as c:  # as cluster_process's: no tokens to carry
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
        serve(conn, c, ops)


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


def reflector_relist(verb: str, resource: str, query: str) -> bool:
    """KubeSpawner's pod and event reflectors list on their own schedule (every 30 s)."""
    if verb != "list" or resource not in ("pods", "events"):
        return False
    q = parse_qs(query)
    return "component=singleuser-server" in q.get("labelSelector", []) or any(
        "involvedObject.kind" in s for s in q.get("fieldSelector", [])
    )


class CostCluster(ClusterProcess):
    """A LocalCluster in a child process (`ClusterProcess`), with the calls this bench needs.
    Calls block: from the event loop, use `run()` (a thread of the bench's own)."""

    def __init__(self) -> None:
        super().__init__(target=serve_cost_cluster)
        self._pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="cluster-pipe")

    async def run(self, op: str, *args: Any) -> Any:
        """The call, in a thread of our own: the hub's loop never waits on the pipe, and the
        hub's default executor is left to the hub."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: self.call(op, *args))

    async def take(self) -> Traffic:
        """The window's traffic; starts a new window."""
        entries, streamed = await self.run("take")
        t = Traffic(streamed_bytes=Counter(streamed))
        for verb, resource, query, status, size in entries:
            key = f"{verb} {resource}"
            if not verb:
                continue  # discovery and health: no object touched
            if verb == "watch" or reflector_relist(verb, resource, query):
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
