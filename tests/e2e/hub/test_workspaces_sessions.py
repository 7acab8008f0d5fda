"""Servers and the workspaces service, through a real hub: a viewer's pod mounts its workspace
read-only; sessions are listed and stopped; removing a member, or making a member a viewer,
stops their running server; and the metrics on /hub/metrics and the service's /metrics.

One hub serves the module (tests/support/workspaces.py's sample); each test starts the servers
of its own users.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from lscsde_spawner.storage import WRITABLE_ANNOTATION
from tests.support.factories import day
from tests.support.hub import NAMESPACE, login
from tests.support.objects import events_about, pods
from tests.support.workspaces import ServiceHub, module_api, service

pytestmark = [pytest.mark.hub, pytest.mark.asyncio(loop_scope="module")]
__all__ = ["module_api", "service"]  # the fixtures

STOP_WITHIN = 10.0


async def running(service: ServiceHub, user: str, ws: str = "ws1") -> None:
    await service.token(user)  # the user exists
    assert await service.hub.start_server(user, {"profile": ws}) in (201, 202)
    await service.hub.wait_ready(user)


async def add(service: ServiceHub, user: str, level: str = "member") -> None:
    body = {"username": user, "expires": day(20), "accessLevel": level}
    status, answer = await service.call("POST", "workspaces/ws1/members", "alice", body=body)
    assert status == 201, answer


async def stopped_within(service: ServiceHub, api: ApiClient, user: str) -> float:
    began = time.monotonic()
    while time.monotonic() - began < STOP_WITHIN:
        if (
            f"jupyter-{user}" not in await pods(api)
            and await service.hub.server_model(user) is None
        ):
            return time.monotonic() - began
        await asyncio.sleep(0.1)
    raise AssertionError(f"the server of {user} still runs after {STOP_WITHIN}s")


async def workspace_mounts(api: ApiClient, user: str) -> tuple[dict[str, Any], list[Any]]:
    """The pod's annotations, and the notebook's mounts of PVC volumes: (path, read-only,
    the volume's read-only)."""
    pod = await client.CoreV1Api(api).read_namespaced_pod(f"jupyter-{user}", NAMESPACE)
    volumes = {v.name: v for v in pod.spec.volumes or [] if v.persistent_volume_claim}
    [notebook] = [c for c in pod.spec.containers if c.name == "notebook"]
    mounts = [
        (m.mount_path, bool(m.read_only), bool(volumes[m.name].persistent_volume_claim.read_only))
        for m in notebook.volume_mounts or []
        if m.name in volumes
    ]
    return dict(pod.metadata.annotations or {}), sorted(mounts)


async def test_a_viewers_pod_mounts_everything_read_only(
    service: ServiceHub, module_api: ApiClient
) -> None:
    # The spawn page says so before the start.
    await service.token("vic")
    session = await login(service.hub, "vic")
    try:
        async with session.get(service.hub.url("hub/spawn")) as r:
            page = await r.text()
    finally:
        await session.close()
    assert "Viewer access: the workspace's storage is mounted read-only" in page, page[-3000:]
    await running(service, "vic")
    annotations, mounts = await workspace_mounts(module_api, "vic")
    assert annotations[WRITABLE_ANNOTATION] == "false"
    assert len(mounts) == 2  # the workspace's storage and the data source
    assert all(ro and volume_ro for _, ro, volume_ro in mounts), mounts
    # A member's pod (alice: admin) mounts the workspace writable, the data read-only.
    await running(service, "alice")
    annotations, mounts = await workspace_mounts(module_api, "alice")
    assert annotations[WRITABLE_ANNOTATION] == "true"
    assert sorted(ro for _, ro, _ in mounts) == [False, True], mounts
    # The owner sees their server under the workspace; others' servers are not theirs.
    mine = (await service.call("GET", "workspaces", "vic"))[1]["workspaces"][0]["servers"]
    assert [(s["user"], s["server"], s["ready"]) for s in mine] == [("vic", "", True)]


async def test_sessions_are_listed_and_stopped_by_an_admin(
    service: ServiceHub, module_api: ApiClient
) -> None:
    await add(service, "gina")
    await running(service, "gina")
    status, listed = await service.call("GET", "workspaces/ws1/sessions", "dave")
    assert status == 200
    gina = next(s for s in listed["sessions"] if s["user"] == "gina")
    assert gina["server"] == "" and gina["ready"] and gina["started"] and gina["lastActivity"]
    # Not in ws2, and not for the wrong server name.
    elsewhere = (await service.call("GET", "workspaces/ws2/sessions", "alice"))[1]
    assert elsewhere == {"status": 403, "message": elsewhere["message"]}  # a member of ws2
    assert (await service.call("DELETE", "workspaces/ws1/sessions/gina/other", "dave"))[0] == 404
    assert (await service.call("DELETE", "workspaces/ws1/sessions/nobody", "dave"))[0] == 404
    assert (await service.call("DELETE", "workspaces/ws1/sessions/gina", "bob"))[0] == 403
    assert (await service.call("DELETE", "workspaces/ws1/sessions/gina", "carol"))[0] == 404

    status, answer = await service.call("DELETE", "workspaces/ws1/sessions/gina", "dave")
    assert status == 202 and answer["user"] == "gina", answer
    await stopped_within(service, module_api, "gina")
    trail = (await service.call("GET", "workspaces/ws1/events?user=gina", "alice"))[1]["items"]
    # The service's event (who asked) and the spawner's (the server stopped), in either order:
    # the hub may finish the stop before it answers the service.
    by = {e["type"]: e for e in trail}
    assert by["SessionStopped"]["by"] == "dave"
    assert by["SessionStopped"]["note"] == "dave stopped server (default) of gina in workspace ws1"
    assert by["ServerStopped"]["by"] == "lscsde-spawner" and "ServerStarted" in by


async def test_removing_a_member_stops_their_running_server(
    service: ServiceHub, module_api: ApiClient
) -> None:
    await add(service, "hal")
    await running(service, "hal")
    assert (await service.call("DELETE", "workspaces/ws1/members/hal", "alice"))[0] == 200
    await stopped_within(service, module_api, "hal")
    trail = (await service.call("GET", "workspaces/ws1/events?user=hal&type=server,member",
                                "alice"))[1]["items"]  # fmt: skip
    kinds = [e["type"] for e in trail]
    assert kinds[:3] == ["ServerStopped", "AccessRevoked", "MemberRemoved"], kinds
    revoked = trail[1]
    assert revoked["eventType"] == "Warning" and "no longer granted" in revoked["note"]
    assert "AccessRevoked" in [e["reason"] for e in await events_about(module_api, "ws1")]


async def test_a_member_made_a_viewer_is_stopped_and_a_viewer_made_a_member_is_not(
    service: ServiceHub, module_api: ApiClient
) -> None:
    await add(service, "ivy", "member")
    await add(service, "jon", "viewer")
    await running(service, "ivy")
    await running(service, "jon")
    ivy = await service.call("PATCH", "workspaces/ws1/members/ivy", "alice",
                             body={"accessLevel": "viewer"})  # fmt: skip
    jon = await service.call("PATCH", "workspaces/ws1/members/jon", "alice",
                             body={"accessLevel": "member"})  # fmt: skip
    assert ivy[0] == jon[0] == 200
    await stopped_within(service, module_api, "ivy")
    trail = (await service.call("GET", "workspaces/ws1/events?user=ivy", "alice"))[1]["items"]
    revoked = [e for e in trail if e["type"] == "AccessRevoked"]
    assert revoked and "now viewer" in revoked[0]["note"], revoked
    # Started again, ivy's server mounts the workspace read-only; jon's keeps running.
    await running(service, "ivy")
    assert (await workspace_mounts(module_api, "ivy"))[0][WRITABLE_ANNOTATION] == "false"
    await asyncio.sleep(1)  # sweeps are debounced by 0.2 s
    assert (await service.hub.server_model("jon") or {}).get("ready")
    assert (await workspace_mounts(module_api, "jon"))[0][WRITABLE_ANNOTATION] == "false"


async def metrics(service: ServiceHub, url: str, token: str | None) -> tuple[int, str]:
    headers = {"Authorization": f"token {token}"} if token else {}
    async with service.hub.http.get(url, headers=headers) as r:
        return r.status, await r.text()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of a Prometheus exposition (0 when absent)."""
    for line in text.splitlines():
        head, _, value = line.rpartition(" ")
        metric, _, rest = head.partition("{")
        found = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if metric == name and found == labels:
            return float(value)
    return 0.0


async def test_metrics_on_the_hub_and_the_service(
    service: ServiceHub, module_api: ApiClient
) -> None:
    hub_metrics = service.hub.url("hub/metrics")
    own = service.url("metrics")
    # Both need a token with read:metrics (the test's service has it; alice has not).
    assert (await metrics(service, hub_metrics, await service.token("alice")))[0] == 403
    assert (await metrics(service, own, await service.token("alice")))[0] == 403
    assert (await metrics(service, own, None))[0] == 401

    before = (await metrics(service, hub_metrics, service.hub.token))[1]
    refused = sample(before, "lscsde_spawner_starts_refused_total", reason="not-granted")
    await service.token("kim")
    await service.hub.api("POST", "users/kim/server", body={"user_options": {"profile": "ws1"}},
                          expect=(201, 202, 400, 403))  # fmt: skip
    for _ in range(50):
        status, text = await metrics(service, hub_metrics, service.hub.token)
        if sample(text, "lscsde_spawner_starts_refused_total", reason="not-granted") > refused:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the refused start was not counted")
    assert sample(text, "lscsde_spawner_cache_synced", namespace=NAMESPACE) == 1.0
    assert sample(text, "lscsde_spawner_kube_requests_total", verb="list",
                  resource="analyticsworkspaces") >= 1  # fmt: skip
    assert "lscsde_spawner_servers_revoked_total" in text
    assert "lscsde_spawner_watch_restarts_total" in text or "watch_restarts" in text

    assert (await service.call("GET", "workspaces", "alice"))[0] == 200
    status, text = await metrics(service, own, service.hub.token)
    assert status == 200
    assert sample(text, "lscsde_workspaces_requests_total", method="GET",
                  route="/api/workspaces", status="200") >= 1  # fmt: skip
    assert sample(text, "lscsde_spawner_cache_synced", namespace=NAMESPACE) == 1.0
    assert sample(text, "lscsde_workspaces_hub_requests_total", verb="GET") >= 1
    for name in ("alice", "bob", "ws1"):  # no names in labels
        assert f'"{name}"' not in text
