"""Load on the hub from a process of its own: ordinary users flooding it with starts, and a
bystander polling its own user model meanwhile, with the latency of every request."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import multiprocessing
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any, cast

import aiohttp


async def load(spec: dict[str, Any]) -> dict[str, Any]:
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
                async with http.post(url, headers=auth_header(token), json=body) as r:
                    await r.read()
                seconds.append(time.perf_counter() - t0)
                statuses[r.status] += 1
            return {"attempts": len(seconds), "statuses": dict(statuses), "seconds": seconds}

        async def bystander(url: str, token: str) -> dict[str, Any]:
            seconds: list[float] = []
            failed: Counter[int] = Counter()
            while loop.time() < end:
                t0 = time.perf_counter()
                async with http.get(url, headers=auth_header(token)) as r:
                    await r.read()
                seconds.append(time.perf_counter() - t0)
                if r.status != 200:
                    failed[r.status] += 1
                await asyncio.sleep(spec["interval"])
            return {"seconds": seconds, "failed": dict(failed)}

        floods = [flood(url, token) for url, token in spec["flooders"]]
        results = await asyncio.gather(bystander(*spec["bystander"]), *floods)
    return {"bystander": results[0], "flooders": results[1:]}


def auth_header(token: str) -> dict[str, str]:
    """The header a JupyterHub API token goes in."""
    return {"Authorization": f"token {token}"}


def serve_load(conn: Connection) -> None:
    """The load process: runs each spec it is sent with `load` until it is sent None."""
    while (spec := conn.recv()) is not None:
        try:
            conn.send(("ok", asyncio.run(load(spec))))
        except Exception as err:
            conn.send(("error", repr(err)))


class LoadProcess:
    """The flooders and the bystander, in a process of their own: their client work is not
    the hub's, and a stalled hub loop cannot delay the requests they send."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=serve_load, args=(child,), name="load")
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
        """`load(spec)` in the load process; the hub's loop never waits on the pipe."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._run, spec)
