"""A running server's grant as ``running`` keeps it: what it runs, whether its storage is
writable, the notice of a revocation, and the spawner state that survives a hub restart."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

from lscsde_spawner import running, storage
from lscsde_spawner.access import PermittedWorkspace, decide
from lscsde_spawner.models import AnalyticsWorkspace, AnalyticsWorkspaceBinding
from lscsde_spawner.models.workspace import WORKSPACE_LABEL
from lscsde_spawner.usernames import hub_default
from tests.support import factories

TODAY = date(2026, 3, 12)


def ws(name: str = "ws1", display: str | None = None) -> AnalyticsWorkspace:
    return AnalyticsWorkspace.model_validate(
        factories.workspace(name, display=display, available="2026-03-01", expires="2026-03-20")
    )


def grant(name: str = "ws1", display: str | None = None) -> PermittedWorkspace:
    return PermittedWorkspace(ws(name, display), date(2026, 3, 20), 8, ("b1",))


def pod(labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> Any:
    return {"metadata": {"labels": labels or {}, "annotations": annotations or {}}}


def mount(purpose: Any, read_only: bool) -> storage.Mount:
    return storage.Mount("v", "c", "/m", read_only, purpose)


def test_what_runs_comes_from_the_pod_first_then_the_start() -> None:
    labelled = pod({WORKSPACE_LABEL: "ws1"}, {storage.MOUNTED_ANNOTATION: json.dumps(["d1"])})
    chosen = SimpleNamespace(grant=grant("ws2"), datasources=[SimpleNamespace(name="d2")])
    assert running.running_what(labelled, chosen) == ("ws1", frozenset({"d1"}))
    assert running.running_what(pod(), chosen) == ("ws2", frozenset({"d2"}))
    assert running.running_what(None, chosen) == ("ws2", frozenset({"d2"}))
    assert running.running_what(pod(), None) is None
    # A pod whose data-source annotation cannot be read: the data sources are not known.
    bad = pod({WORKSPACE_LABEL: "ws1"}, {storage.MOUNTED_ANNOTATION: "{not json"})
    assert running.running_what(bad, None) == ("ws1", None)


def test_writable_as_the_pod_says_else_as_planned_else_writable() -> None:
    plan_ro = storage.StoragePlan((), (mount("workspace", True), mount("datasource", True)))
    plan_rw = storage.StoragePlan((), (mount("workspace", False), mount("datasource", True)))
    assert running.writable(pod(None, {storage.WRITABLE_ANNOTATION: "false"}), plan_rw) is False
    assert running.writable(pod(None, {storage.WRITABLE_ANNOTATION: "true"}), plan_ro) is True
    assert running.writable(pod(None, {storage.WRITABLE_ANNOTATION: "maybe"}), plan_ro) is False
    assert running.writable(None, plan_rw) is True
    # Only data sources writable never counts: they are always read-only anyway.
    only_ds = storage.StoragePlan((), (mount("workspace", True), mount("datasource", False)))
    assert running.writable(None, only_ds) is False
    assert running.writable(None, None) is True  # a pod from before access levels


def test_serving_uses_the_display_name_else_the_name() -> None:
    assert running.serving(grant("ws1", "Cardiac study")) == (
        "ws1",
        "Cardiac study",
        date(2026, 3, 20),
    )
    assert running.serving(grant("ws1", "   ")) == ("ws1", "ws1", date(2026, 3, 20))


def test_revocation_notice_and_notices() -> None:
    now = datetime(2026, 3, 12, 9, 5, 59, tzinfo=UTC)
    notice = running.revocation_notice("(default)", "ws1", "the binding expired", now)
    assert notice == {
        "server": "(default)",
        "workspace": "ws1",
        "when": "2026-03-12 09:05 UTC",
        "why": "the binding expired",
    }
    assert running.notices([None, {}, notice, None]) == [notice]


def test_state_round_trip() -> None:
    notice = {"server": "s", "workspace": "ws1", "when": "w", "why": "y"}
    serving = ("ws1", "Cardiac", date(2026, 3, 20))
    state = running.save_state({"pod_name": "p"}, notice, serving)
    assert state == {
        "pod_name": "p",
        running.REVOKED_STATE: notice,
        running.SERVING_STATE: {
            "workspace": "ws1",
            "display_name": "Cardiac",
            "expires": "2026-03-20",
        },
    }
    state = json.loads(json.dumps(state))  # as the hub's database keeps it
    assert running.loaded_revocation(state, None) == notice
    assert running.loaded_serving(state, None) == serving
    # Nothing to keep: nothing added.
    assert running.save_state({}, None, None) == {}
    assert running.save_state({}, {}, None) == {}


def test_loading_a_state_that_keeps_nothing_or_junk() -> None:
    current = ("ws9", "Nine", date(2026, 1, 1))
    notice = {"server": "s"}
    # Kept nothing (or not a mapping): what the spawner had stays.
    assert running.loaded_serving({}, current) == current
    assert running.loaded_serving({running.SERVING_STATE: "junk"}, current) == current
    assert running.loaded_revocation({}, notice) == notice
    assert running.loaded_revocation({running.REVOKED_STATE: ["x"]}, notice) == notice
    # Kept but unreadable: unknown until the next check of the grant.
    for junk in (
        {"workspace": "ws1"},
        {"workspace": "ws1", "display_name": "x", "expires": "not a date"},
    ):
        assert running.loaded_serving({running.SERVING_STATE: junk}, current) is None
    # Values of any type come back as strings.
    kept = {running.REVOKED_STATE: {"server": 1, "why": None}}
    assert running.loaded_revocation(kept, None) == {"server": "1", "why": "None"}


def view(bindings: list[AnalyticsWorkspaceBinding]) -> Any:
    return SimpleNamespace(
        workspaces={"ws1": ws()},
        bindings=bindings,
        datasource_bindings=[],
        datasources=[],
        malformed=[],
    )


def check(bindings: list[AnalyticsWorkspaceBinding], day: date = TODAY) -> tuple[Any, Any]:
    def decider(snap: Any, today: date, claims: Any) -> Any:
        return decide(snap.workspaces, snap.bindings, "alice", today, normalize=hub_default)

    return running.grant_check(
        view(bindings), ("ws1", frozenset()), "alice", day, claims=None,
        normalize=hub_default, allow_negative_only=False, writable=True, decide=decider,
    )  # fmt: skip


def binding(expires: str) -> AnalyticsWorkspaceBinding:
    return AnalyticsWorkspaceBinding.model_validate(
        factories.binding("b1", "ws1", "alice", expires=expires)
    )


def test_grant_check_says_why_it_ended_or_gives_the_grant_now() -> None:
    why, now = check([binding("2026-03-15")])
    assert why is None and now is not None
    assert (now.name, now.expires) == ("ws1", date(2026, 3, 15))
    why, now = check([binding("2026-03-11")])
    assert why and now is None
    why, now = check([])
    assert why and now is None


async def test_grant_ended_reads_claims_only_when_usernames_do_not_keep_it() -> None:
    reads: list[str] = []
    noted: list[Any] = []

    async def read_claims() -> Any:
        reads.append("read")
        return None

    async def ended(bindings: list[AnalyticsWorkspaceBinding]) -> str | None:
        return await running.grant_ended(
            lambda claims: view(bindings), ("ws1", frozenset()), "alice", TODAY,
            read_claims=read_claims, normalize=hub_default, allow_negative_only=False,
            writable=True, note=noted.append,
            decide=lambda s, d, c: decide(s.workspaces, s.bindings, "alice", d,
                                          normalize=hub_default),
        )  # fmt: skip

    assert await ended([binding("2026-03-15")]) is None
    assert reads == [] and [g.name for g in noted] == ["ws1"]
    assert await ended([]) is not None
    assert reads == ["read"]  # asked again with the user's claims before it ends
    assert noted[1:] == [None, None]
