"""The embedded cluster in a child process, so its work and memory are charged to no client.

The child runs `with LocalCluster(auth=False) as c:` (no tokens: clients name only the URL, and
access control costs nothing the numbers would carry), sends `(url, kubeconfig)`, then answers each
`ClusterProcess.call(op, *args)` with `("ok", value)` or `("error", why)` until `("stop",)`, which
it answers with `None`. `serve_cluster` answers the request counters; benches that need more
calls pass a `target` of their own that ends in `serve`.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from types import TracebackType
from typing import TYPE_CHECKING, Any

from kubernetes_asyncio import client

from bench.measuring import settled_rss_mib

if TYPE_CHECKING:
    from kubesim import LocalCluster


def client_configuration(url: str) -> client.Configuration:
    """A client configuration naming the cluster's URL (`kubesim.testing.client_configuration`
    builds the same from a `LocalCluster` in this process)."""
    cfg = client.Configuration()
    cfg.host = url
    return cfg


def serve(conn: Connection, cluster: LocalCluster, ops: Mapping[str, Callable[..., Any]]) -> None:
    """In the child: announce the cluster, then answer `ops` over `conn` until ("stop",)."""
    conn.send((cluster.url, str(cluster.kubeconfig)))
    while True:
        op, *args = conn.recv()
        if op == "stop":
            break
        try:
            conn.send(("ok", ops[op](*args)))
        except Exception as err:
            conn.send(("error", f"{op}: {err!r}"))
    conn.send(None)


def serve_cluster(conn: Connection) -> None:
    """The default child: the request counters (`summary`, `reset`) and its own memory (`rss`)."""
    from kubesim import LocalCluster

    logging.basicConfig(level=logging.WARNING)
    with LocalCluster(auth=False) as c:
        ops = {"summary": c.requests.summary, "reset": c.requests.reset, "rss": settled_rss_mib}
        serve(conn, c, ops)


class ClusterProcess:
    """A `LocalCluster` in a child process; its `requests` counters are read over a pipe.

    `target` runs in the child (see the module's docstring). Calls block, one at a time."""

    def __init__(self, target: Callable[[Connection], None] = serve_cluster) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=target, args=(child,), name="local-cluster")
        self._lock = threading.Lock()
        self.url = ""
        self.kubeconfig = ""

    def call(self, *msg: Any) -> Any:
        """Send `(op, *args)` to the child; its answer, or RuntimeError if the op failed."""
        with self._lock:
            self._conn.send(msg)
            reply = self._conn.recv()
        if reply is None:  # the answer to ("stop",)
            return None
        status, value = reply
        if status == "error":
            raise RuntimeError(value)
        return value

    def summary(self) -> dict[str, int]:
        s: dict[str, int] = self.call("summary")
        return s

    def reset(self) -> None:
        self.call("reset")

    def server_rss_mib(self) -> float:
        r: float = self.call("rss")
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
            self.call("stop")
        self._proc.join(30)
        if self._proc.is_alive():
            self._proc.terminate()
