"""Fixtures for end-to-end tests: a real JupyterHub with KubeSpawner against an embedded cluster.

The Hub is `jupyterhub.tests.mocking.MockHub`, constructed directly rather than through
pytest-jupyterhub's `hub_app` fixture: a Hub restart test needs two Hubs, one after the other, on
one file database, and the second must keep the first one's users (`MockHub(test_clean_db=False)`,
a constructor argument that is not configurable, so `hub_app(config)` cannot set it). Its teardown
also only knows `MockHub.instance()`, one Hub per test.

Everything else is configured as in a real deployment: the Hub, configurable-http-proxy and
KubeSpawner are real; KubeSpawner talks to the embedded API server over HTTP (`k8s_api_host` and
`$KUBECONFIG`), and the simulated kubelet runs the pods and answers HTTP on their pod IPs.

Use `start_hub()` (the `hub_factory` fixture) to start a Hub; each test gets a fresh cluster. To
reuse these fixtures for another spawner class, pass `spawner_class` and its config section.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import pytest
import pytest_asyncio
from jupyterhub.tests.mocking import MockHub
from jupyterhub.user import User
from jupyterhub.utils import random_port, url_path_join
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.config import kube_config
from kubespawner import KubeSpawner
from kubespawner.clients import load_config
from traitlets.config import Config

from kubesim import LocalCluster

REPO = Path(__file__).resolve().parents[2]
CHP_BIN = REPO / "node_modules" / ".bin"
NAMESPACE = "default"
IMAGE = "quay.io/jupyter/base-notebook:latest"
SERVICE_NAME = "e2e-admin"
# What the Hub API client (a JupyterHub service) may do: manage users and their servers, follow
# spawn progress, and reach the servers through the proxy.
SERVICE_SCOPES = ["admin:users", "admin:servers", "access:servers"]


def ensure_chp_on_path() -> None:
    """MockHub starts `configurable-http-proxy`; use the project's npm copy if none is on PATH."""
    if shutil.which("configurable-http-proxy") is None and CHP_BIN.is_dir():
        os.environ["PATH"] = f"{CHP_BIN}{os.pathsep}{os.environ.get('PATH', '')}"


ensure_chp_on_path()


async def reset_kubespawner_globals() -> None:
    """Forget KubeSpawner's process-wide state, as a process restart would.

    Reflectors are class-wide (one per kind and namespace) and keep watching the cluster they
    were started against; `load_config()` is lru-cached and writes the global kubernetes_asyncio
    default configuration.
    """
    await KubeSpawner._stop_all_reflectors()
    KubeSpawner.reflectors.clear()
    load_config.cache_clear()
    Configuration.set_default(None)


def kubespawner_config(cluster: LocalCluster) -> dict[str, Any]:
    """KubeSpawner settings as a deployment would set them, aimed at `cluster`."""
    return {
        "k8s_api_host": cluster.url,
        "namespace": NAMESPACE,
        "image": IMAGE,
        "image_pull_policy": "IfNotPresent",
        "cmd": ["jupyterhub-singleuser"],
        "start_timeout": 30,
        "http_timeout": 30,
        "delete_grace_period": 1,
        "k8s_api_request_timeout": 5,
        "k8s_api_request_retry_timeout": 20,
        "cpu_limit": 1.0,
        "mem_limit": "1G",
    }


#: WorkspaceSpawner settings every test hub uses: no gc.freeze() (a test process starts many
#: hubs, and frozen garbage from one would outlive it).
WORKSPACE_SPAWNER_TEST_CONFIG = {"freeze_gc_after_sync": False}


def hub_config(
    cluster: LocalCluster,
    *,
    token: str,
    runtime_dir: Path,
    cleanup_servers: bool = True,
    spawner_class: str | type = KubeSpawner,
    spawner_config: dict[str, Any] | None = None,
    extra_config: Config | None = None,
) -> Config:
    """The Hub's config: KubeSpawner, a service token for the REST API, loopback URLs.
    `extra_config` is merged last (e.g. an authenticator, or more scopes for the service)."""
    c = Config()
    c.JupyterHub.spawner_class = spawner_class
    c.JupyterHub.bind_url = f"http://127.0.0.1:{random_port()}/"
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.cleanup_servers = cleanup_servers
    # Runtime files go to the test's directory, not the working directory.
    c.JupyterHub.cookie_secret_file = str(runtime_dir / "jupyterhub_cookie_secret")
    c.ConfigurableHTTPProxy.pid_file = str(runtime_dir / "jupyterhub-proxy.pid")
    # Answer POST .../server at once (202) so the progress stream can be followed, as the
    # spawn-pending page does; readiness is then polled through the REST API.
    c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0, "slow_stop_timeout": 10}
    c.JupyterHub.services = [{"name": SERVICE_NAME, "api_token": token}]
    c.JupyterHub.load_roles = [
        {"name": SERVICE_NAME, "scopes": SERVICE_SCOPES, "services": [SERVICE_NAME]}
    ]
    c.KubeSpawner = Config(kubespawner_config(cluster))
    c.WorkspaceSpawner = Config(WORKSPACE_SPAWNER_TEST_CONFIG)
    if spawner_config:
        section = spawner_class if isinstance(spawner_class, str) else spawner_class.__name__
        c[section.rsplit(".", 1)[-1]].merge(Config(spawner_config))
    if extra_config:
        c.merge(extra_config)
    return c


class HubApiError(AssertionError):
    """A Hub REST call answered with an unexpected status."""


class RunningHub:
    """A started MockHub, with a REST client authenticated as the admin service."""

    def __init__(self, app: MockHub, token: str, http: aiohttp.ClientSession) -> None:
        self.app = app
        self.token = token
        self.http = http
        self.stopped = False

    @property
    def public_url(self) -> str:
        """The proxy's public URL (what users open)."""
        return str(self.app.bind_url)

    def url(self, *path: str) -> str:
        joined: str = url_path_join(self.public_url, *path)  # jupyterhub.utils is untyped
        return joined

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def user(self, name: str) -> User:
        return self.app.users[name]

    async def api(
        self, method: str, path: str, *, body: Any = None, expect: tuple[int, ...] = (200,)
    ) -> Any:
        """Call the Hub REST API through the proxy; return the decoded JSON body (or None)."""
        url = self.url("hub/api", path)
        async with self.http.request(method, url, headers=self.headers, json=body) as r:
            text = await r.text()
            if r.status not in expect:
                raise HubApiError(f"{method} {path}: {r.status} (expected {expect}): {text}")
            return json.loads(text) if text else None

    async def create_user(self, name: str) -> dict[str, Any]:
        user: dict[str, Any] = await self.api("POST", f"users/{name}", expect=(201,))
        return user

    async def start_server(self, name: str, user_options: dict[str, Any] | None = None) -> int:
        """POST .../server; returns the status (202: pending, 201: already up)."""
        url = self.url("hub/api", f"users/{name}/server")
        body = {"user_options": user_options} if user_options is not None else None
        async with self.http.post(url, headers=self.headers, json=body) as r:
            if r.status not in (201, 202):
                raise HubApiError(f"start {name}: {r.status}: {await r.text()}")
            return r.status

    async def server_model(self, name: str) -> dict[str, Any] | None:
        """The user's default server as GET /users/{name} reports it, or None."""
        model = await self.api("GET", f"users/{name}")
        servers: dict[str, Any] = model.get("servers") or {}
        return servers.get("")

    async def wait_ready(self, name: str, seconds: float = 30) -> dict[str, Any]:
        """Poll the REST API until the default server is ready; fail on a failed spawn."""
        server: dict[str, Any] | None = None
        try:
            async with asyncio.timeout(seconds):
                while True:
                    server = await self.server_model(name)
                    if server and server.get("ready"):
                        return server
                    future = self.user(name).spawner._spawn_future
                    if server is None and future is not None and future.done():
                        raise AssertionError(f"spawn of {name} failed: {future.exception()!r}")
                    await asyncio.sleep(0.2)
        except TimeoutError:
            raise AssertionError(f"server of {name} not ready after {seconds}s: {server}") from None

    async def progress(self, name: str, seconds: float = 30) -> list[dict[str, Any]]:
        """Follow GET .../server/progress (an event stream) to its end; return every event."""
        url = self.url("hub/api", f"users/{name}/server/progress")
        events: list[dict[str, Any]] = []
        async with (
            asyncio.timeout(seconds),
            self.http.get(url, headers=self.headers) as r,
        ):
            if r.status != 200:
                raise HubApiError(f"progress {name}: {r.status}: {await r.text()}")
            assert r.headers["Content-Type"].startswith("text/event-stream")
            async for raw in r.content:
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue  # keepalive blank lines
                event = json.loads(line[len("data:") :])
                events.append(event)
                if event.get("ready") or event.get("failed"):
                    break
        return events

    async def stop(self, *, cleanup_servers: bool | None = None) -> None:
        """Shut the Hub down completely before returning, as its process exiting would.

        `MockHub.stop()` would schedule a second shutdown on the loop that cancels every task,
        including those of a Hub started after it, so shut down as `JupyterHub.stop()` does but
        awaiting `shutdown_cancel_tasks()`: cleanup (the servers, unless `cleanup_servers` is
        False; the proxy), then every other task of the loop is cancelled (KubeSpawner's
        reflectors, its shared API clients). Then KubeSpawner's class-wide state is reset, so the
        next Hub starts like a new process. Idempotent.
        """
        if self.stopped:
            return
        self.stopped = True
        app = self.app
        if cleanup_servers is not None:
            app.cleanup_servers = cleanup_servers
        try:
            if app.http_server:
                app.http_server.stop()
            if app.metrics_collector:
                app.metrics_collector.stop()
            for pc in app._periodic_callbacks.values():
                pc.stop()
            app.log.handlers = []
            await app.shutdown_cancel_tasks()
        finally:
            app._stop_called = True
            app._atexit_ran = True
            if getattr(app, "db", None) is not None:
                app.db.close()
            if getattr(app, "db_file", None) is not None:
                app.db_file.close()
            await reset_kubespawner_globals()


class StartHub(Protocol):
    def __call__(
        self,
        *,
        db_url: str | None = None,
        fresh_db: bool = True,
        cleanup_servers: bool = True,
        spawner_class: str | type = KubeSpawner,
        spawner_config: dict[str, Any] | None = None,
        extra_config: Config | None = None,
    ) -> Awaitable[RunningHub]: ...


@pytest.fixture
def kube_env(local_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch) -> LocalCluster:
    """Point kubernetes_asyncio's global config loading at `local_cluster` for this test.

    kubernetes_asyncio read `$KUBECONFIG` when it was imported, so its default location is
    patched too; KubeSpawner's `load_config()` then loads this kubeconfig (and `k8s_api_host`).
    """
    kubeconfig = str(local_cluster.kubeconfig)
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", kubeconfig)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)  # not in-cluster
    monkeypatch.setattr(Configuration, "_default", None)
    load_config.cache_clear()
    return local_cluster


@pytest_asyncio.fixture
async def hub_factory(
    kube_env: LocalCluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[StartHub]:
    """`await start_hub(...)` starts a MockHub spawning into the test's cluster.

    db_url: a file database to share between Hubs (default: MockHub's temporary one);
    fresh_db=False keeps the users and servers a previous Hub left in it (a restart);
    extra_config: more Hub config, merged last (see `hub_config`).
    Every Hub still running at teardown is stopped (and its servers with it, unless it was
    started with cleanup_servers=False), then KubeSpawner's reflectors are stopped and its global
    client config forgotten. Stopping a Hub cancels every other task of the event loop, as
    JupyterHub's shutdown does: don't leave tasks of your own running across it.
    """
    hubs: list[RunningHub] = []
    token = secrets.token_hex(32)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))

    async def start_hub(
        *,
        db_url: str | None = None,
        fresh_db: bool = True,
        cleanup_servers: bool = True,
        spawner_class: str | type = KubeSpawner,
        spawner_config: dict[str, Any] | None = None,
        extra_config: Config | None = None,
    ) -> RunningHub:
        # MockHub.initialize() takes its database from here, ignoring JupyterHub.db_url.
        if db_url:
            monkeypatch.setenv("JUPYTERHUB_TEST_DB_URL", db_url)
        else:
            monkeypatch.delenv("JUPYTERHUB_TEST_DB_URL", raising=False)
        config = hub_config(
            kube_env,
            token=token,
            runtime_dir=tmp_path,
            cleanup_servers=cleanup_servers,
            spawner_class=spawner_class,
            spawner_config=spawner_config,
            extra_config=extra_config,
        )
        app = MockHub(config=config, test_clean_db=fresh_db)
        hub = RunningHub(app, token, http)
        hubs.append(hub)
        await app.initialize([])
        await app.start()
        return hub

    try:
        yield start_hub
    finally:
        errors: list[BaseException] = []
        for hub in reversed(hubs):
            try:
                await hub.stop()
            except Exception as e:  # stop the others anyway
                errors.append(e)
        await reset_kubespawner_globals()
        await http.close()
        if errors:
            raise errors[0]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A file database in the test's directory, so a second Hub can open what the first wrote."""
    return f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}"


async def login(hub: RunningHub, user: str) -> aiohttp.ClientSession:
    """A browser-like session logged in as `user` (MockHub's authenticator: password = name)."""
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.get(hub.url("hub/login")) as r:
        page = await r.text()
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page)
    assert xsrf, page[:300]
    data = {"username": user, "password": user, "_xsrf": xsrf.group(1)}
    async with session.post(hub.url("hub/login"), data=data, allow_redirects=False) as r:
        assert r.status == 302, await r.text()
    return session


async def post_spawn_form(hub: RunningHub, user: str, profile: str) -> str:
    """Log in as `user`, fetch the spawn page and submit it as a browser without JavaScript
    would (a plain POST of the chosen radio value). Returns the spawn page's HTML."""
    session = await login(hub, user)
    try:
        async with session.get(hub.url("hub/spawn")) as r:
            page = await r.text()
            assert r.status == 200, page[:500]
        token = next(c.value for c in session.cookie_jar if c.key == "_xsrf")
        data = {"profile": profile, "_xsrf": token}
        async with session.post(hub.url("hub/spawn"), data=data, allow_redirects=False) as r:
            assert r.status in (200, 302), await r.text()
    finally:
        await session.close()
    return page
