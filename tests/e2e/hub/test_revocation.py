"""A running server's grant is live: when it ends, the server is stopped within seconds.

Every way a grant ends is driven through the Kubernetes API while a real server runs under a
real hub; the tests check that the pod is gone, that an AccessRevoked event says who, which
server and why, and that the user's next spawn page says so. Changes that keep a grant stop
nobody. Midnight comes from a moved clock, not from waiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes_asyncio.client.api_client import ApiClient

from lscsde_spawner import clock
from lscsde_spawner.models import GROUP, VERSION
from tests.support.factories import day
from tests.support.hub import RunningHub, StartHub, login
from tests.support.objects import (
    bind,
    datasource,
    delete,
    events_about,
    patch,
    pods,
    start_hub,
    workspace,
)

pytestmark = pytest.mark.hub

WS = "analyticsworkspaces"
WSB = "analyticsworkspacebindings"
DSB = "analyticsdatasourcebindings"
STOP_WITHIN = 10.0


async def running(hub_factory: StartHub, api: ApiClient, **config: Any) -> RunningHub:
    """alice runs ws1 (granted by b1), which has the data source hes attached."""
    await workspace(api, "ws1")
    await bind(api, "b1", "ws1", "alice")
    await datasource(api, "hes", "ws1")
    hub = await start_hub(hub_factory, **config)
    await hub.create_user("alice")
    assert await hub.start_server("alice", {"profile": "ws1"}) == 202
    await hub.wait_ready("alice")
    return hub


async def stopped_within(hub: RunningHub, api: ApiClient, seconds: float = STOP_WITHIN) -> float:
    """Seconds until alice's pod is gone and the hub no longer lists her server (so the proxy
    no longer routes to it); fails after `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if "jupyter-alice" not in await pods(api) and await hub.server_model("alice") is None:
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise AssertionError(f"alice's server still runs {seconds}s after her grant ended")


async def revoked_event(api: ApiClient, text: str) -> dict[str, Any]:
    for _ in range(50):
        for event in await events_about(api, "ws1"):
            if event["reason"] == "AccessRevoked":
                assert event["type"] == "Warning"
                assert "alice" in event["note"] and "(default)" in event["note"], event
                assert text in event["note"], event
                return event
        await asyncio.sleep(0.1)
    raise AssertionError("no AccessRevoked event about ws1")


async def spawn_page(hub: RunningHub) -> str:
    session = await login(hub, "alice")
    try:
        async with session.get(hub.url("hub/spawn")) as r:
            return await r.text()
    finally:
        await session.close()


Change = Callable[[ApiClient], Awaitable[None]]


async def ws_expired(api: ApiClient) -> None:
    await patch(api, WS, "ws1", {"spec": {"validity": {"expires": day(-1)}}})


async def vm_only(api: ApiClient) -> None:
    spec = {"jupyterWorkspace": None, "virtualMachineWorkspace": {"maxHosts": 1}}
    await patch(api, WS, "ws1", {"spec": spec})


async def malformed(api: ApiClient) -> None:
    await patch(api, WS, "ws1", {"spec": {"jupyterWorkspace": {"image": "not an image"}}})


ENDINGS: dict[str, tuple[Change, str]] = {
    "binding-deleted": (lambda api: delete(api, WSB, "b1"), "no longer granted"),
    "binding-expired": (
        lambda api: patch(api, WSB, "b1", {"spec": {"expires": day(-1)}}), "expired"),
    "binding-to-another-user": (
        lambda api: patch(api, WSB, "b1", {"spec": {"username": "bob"}}), "no longer granted"),
    "binding-to-another-workspace": (
        lambda api: patch(api, WSB, "b1", {"spec": {"workspace": "ws2"}}), "no longer granted"),
    "workspace-expired": (ws_expired, "expired"),
    "workspace-deleted": (lambda api: delete(api, WS, "ws1"), "does not exist"),
    "workspace-vm-only": (vm_only, "virtual-machine"),
    "workspace-malformed": (malformed, "malformed"),
    "datasource-detached": (lambda api: delete(api, DSB, "hes-ws1"), "hes no longer attached"),
    "datasource-expired": (
        lambda api: patch(api, DSB, "hes-ws1", {"spec": {"expires": day(-1)}}),
        "hes no longer attached"),
}  # fmt: skip


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.usefixtures("crds")
async def test_a_running_server_stops_when_its_grant_ends(
    hub_factory: StartHub, kube_client: ApiClient, ending: str
) -> None:
    change, why = ENDINGS[ending]
    hub = await running(hub_factory, kube_client)
    await change(kube_client)
    await stopped_within(hub, kube_client)
    await revoked_event(kube_client, why)
    page = await spawn_page(hub)
    assert "lscsde-revoked" in page and "was stopped at" in page and why in page


KEEPING: dict[str, Change] = {
    "a-new-binding": lambda api: bind(api, "b2", "ws1", "alice", expires=day(30)),
    "an-edited-description": lambda api: patch(
        api, WS, "ws1", {"spec": {"description": "edited"}}),
    "another-users-binding": lambda api: bind(api, "bob-ws1", "ws1", "bob"),
    "another-workspace": lambda api: workspace(api, "ws2"),
}  # fmt: skip


@pytest.mark.usefixtures("crds")
async def test_changes_that_keep_the_grant_stop_nobody(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    hub = await running(hub_factory, kube_client)
    for change in KEEPING.values():
        await change(kube_client)
    # A duplicate grant goes; b2 still grants.
    await delete(kube_client, WSB, "b1")
    await asyncio.sleep(2)  # sweeps are debounced by 0.2 s: ten times that
    assert (await hub.server_model("alice") or {}).get("ready")
    assert "jupyter-alice" in await pods(kube_client)
    assert not [e for e in await events_about(kube_client, "ws1") if e["reason"] == "AccessRevoked"]


@pytest.mark.usefixtures("crds")
async def test_midnight_ends_a_grant_with_no_object_changing(
    hub_factory: StartHub, kube_client: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    zone = "Pacific/Auckland"  # not UTC: the day ends at midnight in the configured zone
    shift = timedelta(0)
    monkeypatch.setattr(clock, "now", lambda: datetime.now(UTC) + shift)
    local_today = datetime.now(UTC).astimezone(__import__("zoneinfo").ZoneInfo(zone)).date()
    await workspace(kube_client, "ws1")
    await bind(kube_client, "b1", "ws1", "alice", expires=str(local_today))  # its last day
    hub = await start_hub(hub_factory, time_zone=zone)
    await hub.create_user("alice")
    assert await hub.start_server("alice", {"profile": "ws1"}) == 202
    await hub.wait_ready("alice")

    # Move the clock to 1.5 s before the next midnight in that zone.
    now = datetime.now(UTC)
    local = now.astimezone(__import__("zoneinfo").ZoneInfo(zone))
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    shift = midnight - timedelta(seconds=1.5) - local
    await asyncio.sleep(1)
    assert "jupyter-alice" in await pods(kube_client)  # still the last day
    await stopped_within(hub, kube_client)
    await revoked_event(kube_client, "expired")


@pytest.mark.usefixtures("crds")
async def test_a_grant_that_ended_while_the_hub_was_down(
    hub_factory: StartHub, kube_client: ApiClient, sqlite_url: str
) -> None:
    await workspace(kube_client, "ws1")
    await bind(kube_client, "b1", "ws1", "alice")
    first = await hub_factory(db_url=sqlite_url, spawner_class="lscsde_spawner.WorkspaceSpawner")
    await first.create_user("alice")
    assert await first.start_server("alice", {"profile": "ws1"}) == 202
    await first.wait_ready("alice")
    await first.stop(cleanup_servers=False)
    assert "jupyter-alice" in await pods(kube_client)

    await delete(kube_client, WSB, "b1")
    second = await hub_factory(
        db_url=sqlite_url, fresh_db=False, spawner_class="lscsde_spawner.WorkspaceSpawner"
    )
    await stopped_within(second, kube_client)
    await revoked_event(kube_client, "no longer granted")


def test_the_group_and_version_are_the_crds() -> None:
    assert (GROUP, VERSION) == ("xlscsde.nhs.uk", "v1")


@pytest.mark.usefixtures("crds")
async def test_granted_again_the_user_starts_again_and_the_notice_goes(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    hub = await running(hub_factory, kube_client)
    await delete(kube_client, WSB, "b1")
    await stopped_within(hub, kube_client)
    await bind(kube_client, "b2", "ws1", "alice")
    await asyncio.sleep(0.5)  # the cache sees the new binding
    assert await hub.start_server("alice", {"profile": "ws1"}) == 202
    await hub.wait_ready("alice")
    await asyncio.sleep(1)  # sweeps and polls keep it running: the new grant holds
    assert (await hub.server_model("alice") or {}).get("ready")
    assert hub.user("alice").spawner.revocation_notices() == []  # seen, and started again
