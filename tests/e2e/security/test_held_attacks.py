"""Attacks that already held before the hardening, kept as a regression suite: hostile content
in a workspace (markup, an off-origin default URL, reserved labels, path traversal) and a
malformed workspace beside good ones. Forged starts (another user's workspace, bad names, wrong
types) are in tests/e2e/hub/test_workspace_spawner.py::test_forged_starts_are_refused."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio.client.api_client import ApiClient

from tests.support import factories
from tests.support.factories import WS_IMAGE
from tests.support.hub import StartHub, login
from tests.support.objects import (
    bind,
    create,
    pods,
    post_start,
    pvcs,
    start_hub,
    wait_for_spawns,
    workspace,
)

pytestmark = pytest.mark.hub

MARKUP = "<img src=x onerror=alert(1)><script>alert('x')</script>"
HOSTILE: dict[str, tuple[dict[str, Any], str]] = {
    "off-origin": ({"defaultUri": "//evil.example/x"}, "defaultUri"),
    "reserved-label": ({"extraLabels": {"hub.jupyter.org/network-access-hub": "true"}},
                       "reserved"),
    "traversal": ({"additionalStorage": [{"mountPath": "/mnt/../etc",
                                          "persistentVolumeClaim": "x"}]}, "malformed"),
    "bad-image": ({"image": "not an image"}, "malformed"),
}  # fmt: skip


@pytest.mark.usefixtures("crds")
async def test_hostile_content_is_escaped_refused_and_only_hurts_itself(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    await create(kube_client, factories.workspace("markup", display=MARKUP, description=MARKUP))
    await bind(kube_client, "b-markup", "markup", "alice")
    for name, (fields, _) in HOSTILE.items():
        await workspace(kube_client, name, jupyter={"image": WS_IMAGE, **fields})
        await bind(kube_client, f"b-{name}", name, "alice")
        await bind(kube_client, f"bob-{name}", name, "bob")
    await workspace(kube_client, "bobs")
    await bind(kube_client, "b-bobs", "bobs", "bob")
    hub = await start_hub(hub_factory)
    for user in ("alice", "bob"):
        await hub.create_user(user)
    wait_for_spawns(hub)

    session = await login(hub, "alice")
    try:
        async with session.get(hub.url("hub/spawn")) as r:
            page = await r.text()
            assert r.status == 200, page[:300]
    finally:
        await session.close()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page
    assert 'value="markup"' in page
    for name in HOSTILE:
        assert f'value="{name}"' not in page

    for name, (_, text) in HOSTILE.items():
        got, body = await post_start(hub, "alice", {"profile": name})
        assert got == 403 and text in body, (name, body)
    assert await pods(kube_client) == [] and await pvcs(kube_client) == []
    # Bob's page and start are unaffected by the broken workspaces he is also bound to.
    assert [p["slug"] for p in await hub.user("bob").spawner._workspace_profiles()] == ["bobs"]
    got, body = await post_start(hub, "bob", {"profile": "bobs"})
    assert got in (201, 202), body
    await hub.wait_ready("bob")
