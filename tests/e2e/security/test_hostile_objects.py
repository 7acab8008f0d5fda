"""Attack: one object whose shape breaks naive code (nesting 1,500 levels deep in a
preserve-unknown-fields part, a lone surrogate in its text) must affect only itself: every other
user's page and start keep working, and its own user still gets a page."""

from __future__ import annotations

import json

import aiohttp
import pytest
from kubernetes_asyncio.client.api_client import ApiClient

from kubesim import LocalCluster
from lscsde_spawner.models import GROUP, VERSION
from tests.support.factories import FUTURE, PAST, WS_IMAGE
from tests.support.hub import NAMESPACE, RunningHub, StartHub, login
from tests.support.objects import bind, post_start, start_hub, wait_for_spawns, workspace

pytestmark = pytest.mark.hub


def nested(depth: int) -> str:
    """JSON text nesting ``depth`` levels (built as text: json.dumps itself would recurse)."""
    return '{"x":' * depth + '"bottom"' + "}" * depth


async def spawn_page(hub: RunningHub, user: str) -> str:
    session = await login(hub, user)
    try:
        async with session.get(hub.url("hub/spawn")) as r:
            page = await r.text()
            assert r.status == 200, page[:300]
            return page
    finally:
        await session.close()


async def hostile_workspace(cluster: LocalCluster, name: str, display: str, jupyter: str) -> None:
    """Create a workspace from raw JSON text, as kubectl would send it."""
    spec = {
        "displayName": display,
        "description": "hostile",
        "validity": {"availableFrom": PAST, "expires": FUTURE},
    }
    head = json.dumps({"apiVersion": f"{GROUP}/{VERSION}", "kind": "AnalyticsWorkspace",
                       "metadata": {"name": name}, "spec": spec})  # fmt: skip
    body = head[:-2] + f', "jupyterWorkspace": {jupyter}}}}}'
    url = f"{cluster.url}/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/analyticsworkspaces"
    async with (
        aiohttp.ClientSession(headers=cluster.headers) as http,
        http.post(url, data=body, headers={"Content-Type": "application/json"}) as r,
    ):
        assert r.status == 201, await r.text()


@pytest.mark.usefixtures("crds")
async def test_a_deep_or_unencodable_workspace_affects_only_itself(
    hub_factory: StartHub, local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    # tolerations items are free-form (preserve-unknown-fields): the schema admits any depth.
    image = json.dumps(WS_IMAGE)
    deep = (
        f'{{"image": {image}, "tolerations": [{{"key": "nvidia.com/gpu", "x": {nested(1500)}}}]}}'
    )
    await hostile_workspace(local_cluster, "deep", "Deep", deep)
    # json.dumps writes the lone surrogate as the escape \ud800, as a hostile client would.
    await hostile_workspace(local_cluster, "lone", "Bob\ud800s", f'{{"image": {image}}}')
    await workspace(kube_client, "ws1")
    await workspace(kube_client, "bobs")
    await bind(kube_client, "b-alice", "ws1", "alice")
    await bind(kube_client, "b-deep", "deep", "bob")
    await bind(kube_client, "b-lone", "lone", "bob")
    await bind(kube_client, "b-bobs", "bobs", "bob")
    hub = await start_hub(hub_factory)
    for user in ("alice", "bob"):
        await hub.create_user(user)
    wait_for_spawns(hub)

    # Everyone's page renders; the deep workspace is not offered (it is malformed).
    assert 'value="ws1"' in await spawn_page(hub, "alice")
    page = await spawn_page(hub, "bob")
    assert 'value="bobs"' in page and 'value="deep"' not in page, page
    assert "Bob\ufffds" in page  # the lone surrogate became U+FFFD, as a real server would send
    got, body = await post_start(hub, "bob", {"profile": "deep"})
    assert got == 403 and "nests deeper than" in body, body
    got, body = await post_start(hub, "alice", {"profile": "ws1"})
    assert got in (201, 202), body
    await hub.wait_ready("alice")
