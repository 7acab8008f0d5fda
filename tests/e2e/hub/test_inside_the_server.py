"""End to end: what a server knows of its workspace, and what the hub's pages say of it.

A real JupyterHub (MockHub, configurable-http-proxy) with WorkspaceSpawner against the embedded
cluster. Checked where it lands: the pod the API server stores (its environment, its mounts, the
default URL the server is given) and the HTML the hub serves to the logged-in user (home page and
spawn page), including after the grant changes while the server runs.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from traitlets.config import Config

from lscsde_spawner.environment import plain_text
from lscsde_spawner.spawner import WorkspaceSpawner
from tests.support import factories
from tests.support.factories import day
from tests.support.hub import NAMESPACE, RunningHub, StartHub, login
from tests.support.objects import bind, create, datasource, patch, pvcs, start_hub

pytestmark = pytest.mark.hub

# Markup for the pages, a $(VAR) reference for the kubelet and braces for str.format().
HOSTILE = "Cardiac <b>imaging</b> $(JUPYTERHUB_API_TOKEN) {username}\n"


async def home_pages_hub(hub_factory: StartHub, **settings: Any) -> RunningHub:
    """A hub with named servers and the home page enabled, as the README's one line does."""
    extra = Config()
    WorkspaceSpawner.enable_home_page(extra)
    extra.JupyterHub.allow_named_servers = True
    hub = await hub_factory(
        spawner_class=WorkspaceSpawner, spawner_config=settings, extra_config=extra
    )
    return hub


async def page(session: aiohttp.ClientSession, hub: RunningHub, path: str) -> str:
    async with session.get(hub.url(path)) as r:
        text = await r.text()
        assert r.status == 200, text[:500]
        return text


async def pod_of(api: ApiClient, name: str = "jupyter-alice") -> Any:
    return await client.CoreV1Api(api).read_namespaced_pod(name, NAMESPACE)


@pytest.mark.usefixtures("crds")
async def test_the_server_knows_its_workspace_and_the_pages_show_it(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    await create(kube_client, factories.workspace("cardiac", display=HOSTILE, expires=day(20)))
    await bind(kube_client, "alice-cardiac", "cardiac", "alice", expires=day(5))
    await datasource(kube_client, "hes", "cardiac")
    await datasource(kube_client, "echo.v2", "cardiac")
    hub = await home_pages_hub(hub_factory)
    await hub.create_user("alice")
    assert await hub.start_server("alice", {"profile": "cardiac"}) == 202
    await hub.wait_ready("alice")

    # -- what reached the cluster -----------------------------------------------------------
    pod = await pod_of(kube_client)
    [c] = pod.spec.containers
    env = {e.name: e.value for e in c.env}
    paths = {"echo.v2": "/home/jovyan/data/echo.v2", "hes": "/home/jovyan/data/hes"}
    shown = plain_text(HOSTILE)
    assert {k: v for k, v in env.items() if k.startswith("LSCSDE_")} == {
        "LSCSDE_WORKSPACE": "cardiac",
        # $ doubled: the kubelet's $(VAR) expansion gives the container the text as written.
        "LSCSDE_WORKSPACE_DISPLAY_NAME": shown.replace("$", "$$"),
        "LSCSDE_WORKSPACE_EXPIRES": day(5),  # the binding's end, before the workspace's
        "LSCSDE_WORKSPACE_PATH": "/home/jovyan/cardiac",
        "LSCSDE_DATASOURCES": "echo.v2,hes",
        "LSCSDE_DATASOURCE_PATHS": json.dumps(paths),
        "LSCSDE_DATASOURCE_ECHO_V2_PATH": paths["echo.v2"],
        "LSCSDE_DATASOURCE_HES_PATH": paths["hes"],
    }
    spawner = hub.user("alice").spawner
    assert env["JUPYTERHUB_API_TOKEN"] == spawner.api_token  # the hub's own, untouched
    # It opens in the workspace's folder: the workspace sets no defaultUri.
    assert env["JUPYTERHUB_DEFAULT_URL"] == "/lab/tree/cardiac"
    # The data are read-only folders under data/, beside the workspace's folder.
    mounts = {m.mount_path: m for m in c.volume_mounts}
    volumes = {v.name: v for v in pod.spec.volumes}
    for path in paths.values():
        assert mounts[path].read_only is True
        assert volumes[mounts[path].name].persistent_volume_claim.read_only is True
    assert not mounts["/home/jovyan/cardiac"].read_only
    assert await pvcs(kube_client) == [
        "datasource-echo.v2", "datasource-hes", "workspace-cardiac"
    ]  # fmt: skip

    # -- what alice sees -------------------------------------------------------------------
    session = await login(hub, "alice")
    try:
        home = await page(session, hub, "hub/home")
        assert 'id="lscsde-running"' in home
        assert "Stop My Server" in home  # JupyterHub's own page, extended
        assert "Cardiac &lt;b&gt;imaging&lt;/b&gt;" in home and "<b>imaging" not in home
        assert "(5 days left)" in home and 'datetime="' + day(5) + '"' in home
        assert 'data-workspace="cardiac"' in home

        # The spawn page of another server lists this one too (and still offers the form).
        spawn = await page(session, hub, "hub/spawn/alice/second")
        assert 'id="lscsde-running"' in spawn and "(5 days left)" in spawn
        assert 'value="cardiac"' in spawn

        # The binding is extended while the server runs: the pages follow within a sweep.
        await patch(
            kube_client,
            "analyticsworkspacebindings",
            "alice-cardiac",
            {"spec": {"expires": day(30)}},
        )
        for _ in range(50):
            home = await page(session, hub, "hub/home")
            if "(20 days left)" in home:  # now the workspace's own end comes first
                break
            await asyncio.sleep(0.2)
        assert "(20 days left)" in home, home[home.find("lscsde-running") :][:800]
    finally:
        await session.close()


@pytest.mark.usefixtures("crds")
async def test_the_workspaces_own_url_wins_and_the_admin_can_turn_things_off(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    await create(kube_client, factories.workspace("ws1", defaultUri="/rstudio/"))
    await create(kube_client, factories.workspace("ws2"))
    await bind(kube_client, "b1", "ws1", "alice")
    await bind(kube_client, "b2", "ws2", "bob")
    hub = await start_hub(
        hub_factory, environment_prefix="", workspace_default_url="", default_url="/tree"
    )
    for user, ws in (("alice", "ws1"), ("bob", "ws2")):
        await hub.create_user(user)
        assert await hub.start_server(user, {"profile": ws}) == 202
        await hub.wait_ready(user)
    alice = {e.name: e.value for e in (await pod_of(kube_client)).spec.containers[0].env}
    bob = {
        e.name: e.value for e in (await pod_of(kube_client, "jupyter-bob")).spec.containers[0].env
    }
    assert alice["JUPYTERHUB_DEFAULT_URL"] == "/rstudio/"  # the workspace's defaultUri
    assert bob["JUPYTERHUB_DEFAULT_URL"] == "/tree"  # no folder URL: KubeSpawner's default_url
    assert not [k for k in {**alice, **bob} if k.startswith("LSCSDE_")]
    # Without enable_home_page the hub's home page is its own.
    session = await login(hub, "alice")
    try:
        home = await page(session, hub, "hub/home")
        assert "lscsde-running" not in home and "Stop My Server" in home
    finally:
        await session.close()
