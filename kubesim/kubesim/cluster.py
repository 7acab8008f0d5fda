"""Start and stop an embedded cluster: API server, simulated kubelet, kubeconfig.

The cluster runs its own event loop in a background thread, so test code, a JupyterHub under test
and blocking subprocesses (kubectl) can all talk to it while it serves.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import yaml
from aiohttp import web

from kubesim.apiserver.access import AccessControl
from kubesim.apiserver.api import Api
from kubesim.apiserver.authn import ADMIN_USER, TokenIssuer
from kubesim.apiserver.faults import Faults, RequestLog
from kubesim.apiserver.journal import Journal
from kubesim.apiserver.rbac_policy import ensure_bootstrap_policy
from kubesim.apiserver.server import ApiServer
from kubesim.apiserver.store import Store
from kubesim.apiserver.tls import ServingCertificate, make_serving_certificate
from kubesim.node.kubelet import Kubelet
from kubesim.node.streams import KubeletStreams
from kubesim.node.workloads import ControllerManager
from kubesim.registry.resources import Registry
from kubesim.runtimes.base import ContainerRuntime
from kubesim.runtimes.process import DEFAULT_COMMANDS, ProcessRuntime
from kubesim.runtimes.stub import StubRuntime

T = TypeVar("T")
CONTEXT = "lscsde-local"
RUNTIMES = ("stub", "process")


def kubeconfig_yaml(
    url: str,
    namespace: str = "default",
    token: str | None = None,
    ca_data: str | None = None,
) -> str:
    """A kubeconfig for the embedded cluster on loopback: plain HTTP without credentials, or
    HTTPS (`ca_data`: the CA, base64) with a bearer token, the admin's (`kubernetes-admin` in
    `system:masters`) unless another is given."""
    user = {"token": token} if token else {}
    cluster: dict[str, str] = {"server": url}
    if ca_data:
        cluster["certificate-authority-data"] = ca_data
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": CONTEXT, "cluster": cluster}],
            "users": [{"name": ADMIN_USER if token else CONTEXT, "user": user}],
            "contexts": [
                {
                    "name": CONTEXT,
                    "context": {
                        "cluster": CONTEXT,
                        "user": ADMIN_USER if token else CONTEXT,
                        "namespace": namespace,
                    },
                }
            ],
            "current-context": CONTEXT,
            "preferences": {},
        },
        sort_keys=False,
    )


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (it holds credentials)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    path.chmod(0o600)  # an existing file keeps its mode through os.open


class LocalCluster:
    """An embedded Kubernetes API with a simulated kubelet.

    Use `with LocalCluster() as c:` or `async with LocalCluster() as c:`; then `c.url`,
    `c.kubeconfig`, `c.requests` (request log and counters) and `c.faults` (fault injection).

    `runtime="stub"` (the default) answers HTTP on container ports; `runtime="process"` runs
    each container's command as a local process (runtimes/process.py), only for the commands in
    `allowed_commands`; PVC directories and pod roots go under `data_dir` (or a temporary
    directory). `isolation` is "auto", "namespace" or "links" (runtimes/podinit.py).

    Access control is on (`auth=True`), as on a real cluster: every request needs a bearer
    token, and RBAC decides what it may do (apiserver/access.py). The kubeconfig carries the
    admin's token (`c.token`; `c.headers` for a raw HTTP client), which may do anything;
    ServiceAccount tokens come from the TokenRequest API (`kubectl create token`) and get what
    their bindings grant. With `auth=False` no token is needed and every request is allowed.
    With a `data_dir`, the admin token and the ServiceAccount signing key survive restarts.

    The workload controllers of kube-controller-manager (Deployments, ReplicaSets, StatefulSets,
    DaemonSets, Jobs, CronJobs, ReplicationControllers: node/workloads.py) run unless
    `controllers=False`.

    The API is served over plain HTTP at `c.url` and, with access control, over HTTPS at
    `c.secure_url` (`secure_port`), which the kubeconfig names: client-go (kubectl) sends a
    token only over TLS. Its CA is new at every start (`c.tls`; in the kubeconfig).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        data_dir: str | os.PathLike[str] | None = None,
        kubeconfig: str | os.PathLike[str] | None = None,
        kubelet: bool = True,
        history_size: int = 50_000,
        bookmark_interval: float = 60.0,
        fsync: bool = True,
        runtime: str = "stub",
        allowed_commands: tuple[str, ...] = DEFAULT_COMMANDS,
        isolation: str = "auto",
        auth: bool = True,
        secure_port: int = 0,
        controllers: bool = True,
    ) -> None:
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}")
        self.host = host
        self.port = port
        self.data_dir = Path(data_dir) if data_dir else None
        self._kubeconfig_arg = Path(kubeconfig) if kubeconfig else None
        self.with_kubelet = kubelet
        self.history_size = history_size
        self.bookmark_interval = bookmark_interval
        self.fsync = fsync
        self.runtime_name = runtime
        self.allowed_commands = allowed_commands
        self.isolation = isolation
        self.auth = auth
        self.token = ""  # the admin's bearer token, once started with auth
        self.secure_port = secure_port
        self.secure_url = ""
        self.tls: ServingCertificate | None = None
        self.requests = RequestLog()
        self.faults = Faults()
        self.url = ""
        self.kubeconfig = Path()
        self.api: Api | None = None
        self.server: ApiServer | None = None
        self.kubelet: Kubelet | None = None
        self.with_controllers = controllers
        self.controllers: ControllerManager | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None

    # -- running in the current loop (CLI) ---------------------------------------------------

    async def start_here(self) -> None:
        """Start serving on the running event loop."""
        self._loop = asyncio.get_running_loop()
        journal = Journal(self.data_dir, fsync=self.fsync) if self.data_dir else None
        store = Store(history_size=self.history_size, journal=journal)
        self.api = Api(store, Registry())
        ensure_bootstrap_policy(self.api)
        access = self._access_control(store)
        if self.with_kubelet:
            runtime = self._runtime()
            grace = 5.0 if isinstance(runtime, ProcessRuntime) else 0.0
            self.kubelet = Kubelet(self.api, runtime, shutdown_grace=grace)
        self.server = ApiServer(
            self.api,
            logs=self.kubelet,
            streams=KubeletStreams(self.kubelet) if self.kubelet is not None else None,
            faults=self.faults,
            requests=self.requests,
            bookmark_interval=self.bookmark_interval,
            access=access,
        )
        self.faults.cutter = self._cut_watches_threadsafe
        self._runner = web.AppRunner(
            self.server.app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=1.0,
            # End a watch as soon as its client goes away, as a real server does.
            handler_cancellation=True,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]  # the one the system chose, for port 0
        self.url = f"http://{self.host}:{self.port}"
        self.server.address = f"{self.host}:{self.port}"
        if self.auth:
            self.tls = make_serving_certificate(self.host)
            secure = web.TCPSite(
                self._runner, self.host, self.secure_port, ssl_context=self.tls.server_context()
            )
            await secure.start()
            self.secure_port = self._runner.addresses[-1][1]
            self.secure_url = f"https://{self.host}:{self.secure_port}"
        if self.kubelet is not None:
            await self.kubelet.start()
        if self.with_controllers:
            # kube-controller-manager's workload controllers (node/workloads.py)
            self.controllers = ControllerManager(self.api)
            await self.controllers.start()
        self._write_kubeconfig()

    def _access_control(self, store: Store) -> AccessControl:
        """Access control with an admin token and a ServiceAccount signing key, kept in
        `data_dir/auth.json` when there is a data directory."""
        saved: dict[str, str] = {}
        path = self.data_dir / "auth.json" if self.data_dir else None
        if path is not None and path.exists():
            saved = json.loads(path.read_text())
        token = saved.get("adminToken") or secrets.token_hex(32)
        key = bytes.fromhex(saved["signingKey"]) if "signingKey" in saved else None
        issuer = TokenIssuer(key) if key else TokenIssuer()
        if path is not None and not saved:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_private(path, json.dumps({"adminToken": token, "signingKey": issuer.key.hex()}))
        self.token = token if self.auth else ""
        return AccessControl(store, enforce=self.auth, admin_token=token, issuer=issuer)

    @property
    def headers(self) -> dict[str, str]:
        """The admin's Authorization header, for raw HTTP clients ({} without auth)."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _runtime(self) -> ContainerRuntime:
        if self.runtime_name == "stub":
            return StubRuntime()
        api = self.api
        assert api is not None

        def lookup(plural: str, namespace: str, name: str) -> dict[str, Any] | None:
            return api.store.get(("", plural), namespace, name)

        return ProcessRuntime(
            self.data_dir,
            lookup,
            allowed_commands=self.allowed_commands,
            isolation=self.isolation,
        )

    async def stop_here(self) -> None:
        if self.controllers is not None:
            await self.controllers.stop()
        if self.kubelet is not None:
            await self.kubelet.stop()
        if self.api is not None:
            self.api.store.close()  # ends open watches so the runner can shut down
        if self._runner is not None:
            await self._runner.cleanup()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _write_kubeconfig(self) -> None:
        if self._kubeconfig_arg is not None:
            path = self._kubeconfig_arg
        elif self.data_dir is not None:
            path = self.data_dir / "kubeconfig"
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="lscsde-cluster-")
            path = Path(self._tmp.name) / "kubeconfig"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, self.kubeconfig_text())
        self.kubeconfig = path

    def kubeconfig_text(self, token: str | None = None, namespace: str = "default") -> str:
        """A kubeconfig for this cluster, as its admin or with another bearer token (a
        ServiceAccount's): HTTPS with the cluster's CA when it has access control."""
        if self.tls is None:
            return kubeconfig_yaml(self.url, namespace)
        return kubeconfig_yaml(
            self.secure_url, namespace, token=token or self.token, ca_data=self.tls.ca_data
        )

    # -- running in a background thread (tests) ----------------------------------------------

    def start(self) -> LocalCluster:
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()

        async def main() -> None:
            self._stop = asyncio.Event()
            try:
                await self.start_here()
            except BaseException as err:
                ready.set_exception(err)
                return
            ready.set_result(None)
            await self._stop.wait()
            await self.stop_here()

        self._thread = threading.Thread(
            target=asyncio.run, args=(main(),), name="lscsde-local-cluster", daemon=True
        )
        self._thread.start()
        ready.result(timeout=30)
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None or self._stop is None:
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        self._thread = None

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the cluster's loop (the store is not thread-safe) and return it."""
        assert self._loop is not None
        if self._thread is None or threading.current_thread() is self._thread:
            return fn(*args)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as err:
                future.set_exception(err)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=30)

    def _cut_watches_threadsafe(self, pattern: re.Pattern[str]) -> int:
        assert self.server is not None
        return self.call(self.server.cut_watches, pattern)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> LocalCluster:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
