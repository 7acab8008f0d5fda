"""A real hub with the workspaces service enabled (``lscsde_spawner.service.configure``), for the
service's end-to-end tests: MockHub and configurable-http-proxy, WorkspaceSpawner, and the
service as the managed process the hub starts, all against one embedded cluster.

``service_hub`` is an async context manager, so a module can keep one hub for all its tests
(a hub and its service take a few seconds to start). Users get hub API tokens made in-process
(``token``), and ``call`` reaches the service's REST API through the proxy as they would.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from jupyterhub.tests.mocking import MockHub
from jupyterhub.utils import random_port
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.config import kube_config
from kubespawner.clients import load_config
from traitlets.config import Config

from kubesim import LocalCluster
from kubesim.testing import client_configuration
from lscsde_spawner.service import configure
from lscsde_spawner.spawner import WorkspaceSpawner
from tests.support.crds import install_crds
from tests.support.hub import SERVICE_NAME, RunningHub, hub_config, reset_kubespawner_globals

PREFIX = "/services/workspaces/"
READY_WITHIN = 60.0


@dataclass
class ServiceHub:
    """A running hub whose workspaces service answers through its proxy."""

    hub: RunningHub
    tokens: dict[str, str] = field(default_factory=dict)

    def url(self, path: str = "") -> str:
        return self.hub.url(PREFIX.lstrip("/"), path)

    async def token(self, user: str) -> str:
        """A hub API token of ``user`` (made once, in-process; the user is created if needed).
        Like a token from the hub's token page, it carries the user's own permissions."""
        if user not in self.tokens:
            await self.hub.api("POST", f"users/{user}", expect=(201, 409))
            self.tokens[user] = self.hub.app.users[user].new_api_token(note="test")
        return self.tokens[user]

    async def call(
        self,
        method: str,
        path: str,
        user: str | None,
        *,
        body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One REST call to the service as ``user`` (None: no credentials); (status, JSON)."""
        sent = dict(headers or {})
        if user is not None:
            sent["Authorization"] = f"token {await self.token(user)}"
        payload = (
            data if data is not None else (json.dumps(body).encode() if body is not None else None)
        )
        async with self.hub.http.request(
            method, self.url(f"api/{path}"), headers=sent, data=payload
        ) as r:
            text = await r.text()
            try:
                return r.status, json.loads(text) if text else None
            except ValueError:
                return r.status, text


async def _wait_up(hub: RunningHub, url: str) -> None:
    """Until the proxy routes to the service and it answers (any status but 503/502)."""
    deadline = asyncio.get_running_loop().time() + READY_WITHIN
    while asyncio.get_running_loop().time() < deadline:
        try:
            async with hub.http.get(url) as r:
                if r.status not in (404, 502, 503) or "no such API endpoint" in await r.text():
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"the workspaces service did not come up at {url}")


@asynccontextmanager
async def service_hub(
    cluster: LocalCluster,
    tmp: Path,
    *,
    kubeconfig: Path | None = None,
    groups: dict[str, list[str]] | None = None,
    admins: tuple[str, ...] = (),
    extra: Config | None = None,
    sync_timeout: float | None = None,
) -> AsyncIterator[ServiceHub]:
    """A hub with WorkspaceSpawner and the workspaces service (its Kubernetes credentials from
    ``kubeconfig``, else the cluster admin's), ``groups`` loaded and ``admins`` hub admins."""
    with pytest.MonkeyPatch.context() as mp:
        path = str(cluster.kubeconfig)
        mp.setenv("KUBECONFIG", path)
        mp.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", path)
        mp.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        mp.delenv("JUPYTERHUB_TEST_DB_URL", raising=False)
        mp.setattr(Configuration, "_default", None)
        load_config.cache_clear()
        token = secrets.token_hex(32)
        config = hub_config(
            cluster, token=token, runtime_dir=tmp, spawner_class=WorkspaceSpawner,
            extra_config=extra,
        )  # fmt: skip
        configure(
            config,
            url=f"http://127.0.0.1:{random_port()}",
            kubeconfig=str(kubeconfig or cluster.kubeconfig),
            sync_timeout=sync_timeout,
        )
        # The test's own service may also read metrics and make tokens.
        config.JupyterHub.load_roles = [
            *config.JupyterHub.load_roles,
            {"name": "e2e-extra", "scopes": ["read:metrics"], "services": [SERVICE_NAME]},
        ]
        if groups:
            config.JupyterHub.load_groups = {g: {"users": list(u)} for g, u in groups.items()}
        if admins:
            config.Authenticator.admin_users = set(admins)
        app = MockHub(config=config, test_clean_db=True)
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        hub = RunningHub(app, token, http)
        try:
            await app.initialize([])
            await app.start()
            await _wait_up(hub, hub.url(PREFIX.strip("/"), "api/none"))
            yield ServiceHub(hub)
        finally:
            try:
                await hub.stop()
            finally:
                await reset_kubespawner_globals()
                await http.close()


# -- the sample every service test starts from ---------------------------------------------------

#: Who is what in ws1: alice its admin, bob a member, vic a viewer; dave an admin through the
#: group `leads`; root a hub admin without a grant; carol nobody. ws2 is alice's alone.
GROUPS = {"leads": ["dave"]}
HUB_ADMINS = ("root",)


async def seed(api: Any) -> None:
    """The sample (see GROUPS): workspaces ws1 (with the data source hes) and ws2."""
    from lscsde_spawner import levels
    from tests.support import factories
    from tests.support.objects import create, datasource, workspace

    await workspace(api, "ws1")
    await workspace(api, "ws2")
    await datasource(api, "hes", "ws1")

    def level(name: str) -> dict[str, str]:
        return {levels.ANNOTATION: name}

    leads = [factories.claim("groups", "EQUALS", "leads")]
    for body in (
        factories.binding("alice-ws1", "ws1", "alice", annotations=level("admin")),
        factories.binding("bob-ws1", "ws1", "bob", comments="statistician"),
        factories.binding("vic-ws1", "ws1", "vic", annotations=level("viewer")),
        factories.binding("leads-ws1", "ws1", claims=leads, annotations=level("admin")),
        factories.binding("alice-ws2", "ws2", "alice"),
    ):
        await create(api, body)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_api(module_cluster: LocalCluster) -> AsyncIterator[ApiClient]:
    """The module cluster's admin client, with the CRDs installed."""
    async with ApiClient(client_configuration(module_cluster)) as api:
        await install_crds(api)
        yield api


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(
    module_cluster: LocalCluster, module_api: ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServiceHub]:
    """One hub with the workspaces service for the module, over the sample (``seed``)."""
    await seed(module_api)
    tmp = tmp_path_factory.mktemp("hub")
    async with service_hub(module_cluster, tmp, groups=GROUPS, admins=HUB_ADMINS) as running:
        yield running


__all__ = [
    "GROUPS",
    "HUB_ADMINS",
    "PREFIX",
    "ServiceHub",
    "module_api",
    "seed",
    "service",
    "service_hub",
]
