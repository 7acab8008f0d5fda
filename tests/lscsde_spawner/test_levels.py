"""Access levels: read from a binding's annotation, combined across bindings, honoured by the
storage plan (a viewer's storage is read-only) and by the live re-check of running servers."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from lscsde_spawner import levels
from lscsde_spawner.access import decide, grant_ended
from lscsde_spawner.models import AnalyticsWorkspace, AnalyticsWorkspaceBinding
from lscsde_spawner.storage import (
    StorageSettings,
    apply_plan,
    plan_storage,
    writable_from_pod,
)
from tests.support import factories

TODAY = date(2026, 3, 15)
A = levels.ANNOTATION


def ws(name: str = "ws1", **jupyter: Any) -> AnalyticsWorkspace:
    body = factories.workspace(name, available="2026-03-01", expires="2026-12-31", **jupyter)
    return AnalyticsWorkspace.model_validate(body)


def binding(
    name: str,
    level: str | None,
    *,
    user: str | None = "alice",
    expires: str = "2026-06-30",
    claims: list[dict[str, str]] | None = None,
) -> AnalyticsWorkspaceBinding:
    annotations = {A: level} if level is not None else None
    body = factories.binding(
        name, "ws1", user, claims=claims, expires=expires, annotations=annotations
    )
    return AnalyticsWorkspaceBinding.model_validate(body)


@pytest.mark.parametrize(
    ("annotations", "level"),
    [
        (None, "member"),
        ({}, "member"),
        ({A: "viewer"}, "viewer"),
        ({A: "member"}, "member"),
        ({A: "admin"}, "admin"),
        ({A: "Admin"}, None),  # values compare exactly
        ({A: " admin"}, None),
        ({A: ""}, None),
        ({A: "owner"}, None),
        ({"other": "admin"}, "member"),
    ],
)
def test_a_bindings_level_is_its_annotation(
    annotations: dict[str, str] | None, level: str | None
) -> None:
    assert levels.level_of(annotations) == level
    assert (levels.problem(annotations) is None) == (level is not None)


def test_the_problem_names_the_annotation_and_the_known_levels() -> None:
    problem = levels.problem({A: "superuser"})
    assert problem is not None
    assert A in problem and "'superuser'" in problem and "viewer, member, admin" in problem


def test_the_highest_level_wins_and_none_is_member() -> None:
    assert levels.highest(["viewer", "admin", "member"]) == "admin"
    assert levels.highest(["viewer"]) == "viewer"
    assert levels.highest([]) == "member"
    assert [levels.writable(lv) for lv in levels.LEVELS] == [False, True, True]


@pytest.mark.parametrize(
    ("bindings", "level"),
    [
        ([("b1", None)], "member"),
        ([("b1", "viewer")], "viewer"),
        ([("b1", "admin")], "admin"),
        ([("b1", "viewer"), ("b2", "member")], "member"),
        ([("b1", "viewer"), ("b2", "admin")], "admin"),
    ],
)
def test_the_permitted_workspace_carries_the_highest_level(
    bindings: list[tuple[str, str | None]], level: str
) -> None:
    decision = decide([ws()], [binding(n, lv) for n, lv in bindings], "alice", TODAY)
    grant = decision.get("ws1")
    assert grant is not None and grant.access_level == level


def test_an_expired_bindings_level_does_not_count() -> None:
    expired = binding("old", "admin", expires="2026-03-14")
    decision = decide([ws()], [expired, binding("b1", "viewer")], "alice", TODAY)
    grant = decision.get("ws1")
    assert grant is not None and grant.access_level == "viewer"
    assert grant.bindings == ("b1",)


def test_an_unknown_level_grants_nothing_and_is_reported_to_its_user() -> None:
    decision = decide([ws()], [binding("b1", "superuser")], "alice", TODAY)
    assert decision.get("ws1") is None
    [why] = decision.excluded
    assert why.reason == "malformed" and why.binding == "b1" and "superuser" in why.detail
    # Not another user's business.
    assert decide([ws()], [binding("b1", "superuser")], "bob", TODAY).excluded == ()


def test_a_good_binding_beside_one_with_an_unknown_level_still_grants() -> None:
    decision = decide([ws()], [binding("b1", "superuser"), binding("b2", None)], "alice", TODAY)
    grant = decision.get("ws1")
    assert grant is not None and grant.bindings == ("b2",) and grant.access_level == "member"
    assert decision.excluded == ()  # a permitted workspace is not news


def test_a_group_binding_with_an_unknown_level_is_malformed_for_its_members() -> None:
    group = [factories.claim("groups", "EQUALS", "team")]
    bad = binding("team", "boss", user=None, claims=group)
    decision = decide([ws()], [bad], "dave", TODAY, claims={"groups": ("team",)})
    assert decision.get("ws1") is None
    assert [e.reason for e in decision.excluded] == ["malformed"]
    # Outside the group: nothing to report.
    assert decide([ws()], [bad], "erin", TODAY, claims={"groups": ("x",)}).excluded == ()


def ended(bs: list[AnalyticsWorkspaceBinding], writable: bool | None) -> str | None:
    return grant_ended("ws1", frozenset(), [ws()], bs, [], [], "alice", TODAY, writable=writable)


def test_a_member_made_a_viewer_with_a_writable_mount_is_stopped() -> None:
    why = ended([binding("b1", "viewer")], writable=True)
    assert why is not None and "now viewer" in why and "read-only" in why


@pytest.mark.parametrize(
    ("level", "writable"),
    [("viewer", False), ("member", False), ("admin", False), ("member", True), ("admin", True)],
)
def test_other_level_changes_leave_the_server_running(level: str, writable: bool) -> None:
    # A viewer made a member keeps its read-only mounts until they restart: nothing to stop.
    assert ended([binding("b1", level)], writable=writable) is None


def test_an_unknown_mount_is_judged_by_the_grant_alone() -> None:
    assert ended([binding("b1", "viewer")], writable=None) is None


S = StorageSettings(mount_path_template="/home/jovyan/{workspace}")


def base_pod() -> dict[str, Any]:
    return {"metadata": {}, "spec": {"containers": [{"name": "notebook"}]}}


def test_a_viewers_workspace_storage_is_read_only() -> None:
    extra = [{"mountPath": "/mnt/extra", "persistentVolumeClaim": "extra"}]
    space = ws(persistentVolumeClaim={"name": "ws1-storage"}, additionalStorage=extra)
    member = plan_storage(space, [], S)
    viewer = plan_storage(space, [], S, read_only=True)
    assert [m.read_only for m in member.mounts] == [False, False]
    assert [m.read_only for m in viewer.mounts] == [True, True]
    assert all(v["persistentVolumeClaim"].get("readOnly") for v in viewer.volumes())
    assert all(m.get("readOnly") for m in viewer.volume_mounts())
    # The same claims are ensured either way: the storage is the workspace's.
    assert viewer.claims == member.claims


def test_the_pod_says_whether_it_mounts_its_storage_writable() -> None:
    space = ws()
    writable = apply_plan(base_pod(), plan_storage(space, [], S), keep_admin_volumes=True)
    read_only = apply_plan(
        base_pod(), plan_storage(space, [], S, read_only=True), keep_admin_volumes=True
    )
    assert writable_from_pod(writable) is True
    assert writable_from_pod(read_only) is False
    assert writable_from_pod(base_pod()) is None  # a pod from before access levels
    assert writable_from_pod({"metadata": {"annotations": {"x": 1}}}) is None
