"""The demo's sample data means what the demo promises, on any day it is applied."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from lscsde_demo.sample import (
    GROUPS,
    GROUPS_CLAIM,
    OFFERED,
    SHARED_WORKSPACE,
    USERNAME_LABEL,
    USERS,
    sample,
)
from lscsde_spawner import access
from lscsde_spawner.models import (
    ALL_KINDS,
    AnalyticsDataSource,
    AnalyticsDataSourceBinding,
    AnalyticsWorkspace,
    AnalyticsWorkspaceBinding,
    CRModel,
    ParseError,
    parse_one,
)
from lscsde_spawner.usernames import hub_default

MODELS = {model.KIND: model for model in ALL_KINDS}
# A leap day and a year end, besides today: "relative to today" must hold on any date.
DAYS = [access.today_in("UTC"), date(2028, 2, 29), date(2030, 12, 31)]


def claims_of(user: str) -> dict[str, tuple[str, ...]]:
    """The user's claims as the hub gives them by default: their JupyterHub groups."""
    return {GROUPS_CLAIM: tuple(sorted(g for g, members in GROUPS.items() if user in members))}


def parsed(today: date) -> dict[str, list[Any]]:
    out: dict[str, list[CRModel]] = {kind: [] for kind in MODELS}
    for obj in sample(today).objects:
        model = parse_one(MODELS[obj["kind"]], obj)
        assert not isinstance(model, ParseError), model
        out[obj["kind"]].append(model)
    return out


@pytest.mark.parametrize("today", DAYS, ids=str)
def test_each_user_is_offered_what_the_demo_promises(today: date) -> None:
    objs = parsed(today)
    workspaces = objs[AnalyticsWorkspace.KIND]
    bindings = objs[AnalyticsWorkspaceBinding.KIND]
    for user in USERS:
        decision = access.decide(workspaces, bindings, user, today, claims=claims_of(user))
        assert {p.name for p in decision.permitted} == OFFERED[user], user
    # The hub normalises a login "Alice" to "alice" (JupyterHub lowercases): the same person.
    hub_name = hub_default("Alice")
    assert {p.name for p in access.decide(workspaces, bindings, hub_name, today).permitted} == (
        OFFERED["alice"]
    )
    assert OFFERED["alice"] & OFFERED["bob"] == {SHARED_WORKSPACE}


@pytest.mark.parametrize("today", DAYS, ids=str)
def test_alice_has_an_expired_and_a_future_grant_for_the_intended_reasons(today: date) -> None:
    objs = parsed(today)
    decision = access.decide(
        objs[AnalyticsWorkspace.KIND], objs[AnalyticsWorkspaceBinding.KIND], "alice", today
    )
    reasons = {e.workspace: e.reason for e in decision.excluded}
    assert reasons == {"covid-cohort-2023": "expired", "genomics-gpu": "not-yet-available"}
    for user in ("bob", "carol", "dave"):
        assert not access.decide(
            objs[AnalyticsWorkspace.KIND],
            objs[AnalyticsWorkspaceBinding.KIND],
            user,
            today,
            claims=claims_of(user),
        ).excluded


def test_dave_has_no_username_binding_only_the_cardiac_teams_claim_binding() -> None:
    today = DAYS[0]
    raw = [o for o in sample(today).objects if o["kind"] == AnalyticsWorkspaceBinding.KIND]
    assert GROUPS == {"cardiac-team": ("dave",)}
    assert not [o for o in raw if o["spec"].get("username") == "dave"]
    [team] = [o for o in raw if o["metadata"]["name"] == "cardiac-team-cardiac-imaging"]
    assert team["spec"] == {
        "workspace": "cardiac-imaging",
        "expires": (today + timedelta(days=30)).isoformat(),
        "comments": team["spec"]["comments"],
        "claims": [{"name": "groups", "operator": "EQUALS", "value": "cardiac-team"}],
    }
    assert team["spec"]["comments"]
    assert USERNAME_LABEL not in team["metadata"].get("labels", {})
    # Every other binding names its user (the label other tools write agrees with it).
    for obj in raw:
        if obj is not team:
            assert obj["spec"]["username"] == obj["metadata"]["labels"][USERNAME_LABEL]
            assert "claims" not in obj["spec"]


@pytest.mark.parametrize("today", DAYS, ids=str)
def test_dave_sees_cardiac_imaging_via_his_group_and_only_through_it(today: date) -> None:
    objs = parsed(today)
    workspaces = objs[AnalyticsWorkspace.KIND]
    bindings = objs[AnalyticsWorkspaceBinding.KIND]
    decision = access.decide(workspaces, bindings, "dave", today, claims=claims_of("dave"))
    [granted] = decision.permitted
    assert granted.name == "cardiac-imaging"
    assert granted.bindings == ("cardiac-team-cardiac-imaging",)
    assert granted.via == "via group cardiac-team"
    assert granted.days_left == 5  # the workspace's own expiry comes first: "expiring soon"
    # Out of the group, or with no claims at all, the binding grants him nothing.
    for claims in ({GROUPS_CLAIM: ()}, {GROUPS_CLAIM: ("cardiac-tea",)}, None):
        assert not access.decide(workspaces, bindings, "dave", today, claims=claims).permitted
    # alice's own username binding to the workspace grants it to her, not her groups.
    alice = access.decide(workspaces, bindings, "alice", today, claims=claims_of("alice"))
    hers = alice.get("cardiac-imaging")
    assert hers is not None and hers.via is None
    # Nobody else is in the group, so the claim binding grants no one else.
    for user in ("bob", "carol"):
        decided = access.decide(workspaces, bindings, user, today, claims=claims_of(user))
        assert "cardiac-imaging" not in {p.name for p in decided.permitted}


def test_the_workspaces_differ_in_resources_and_the_gpu_one_asks_for_a_gpu_node() -> None:
    by_name = {w.name: w for w in parsed(DAYS[0])[AnalyticsWorkspace.KIND]}
    limits = {
        name: dict(ws.spec.jupyter_workspace.resources.limits or {})
        for name, ws in by_name.items()
        if ws.spec.jupyter_workspace and ws.spec.jupyter_workspace.resources
    }
    assert len({(lim["cpu"], lim["memory"]) for lim in limits.values()}) == len(by_name) == 4
    gpu = by_name["genomics-gpu"].spec.jupyter_workspace
    assert gpu is not None
    assert limits["genomics-gpu"]["nvidia.com/gpu"] == "1"
    assert gpu.tolerations and gpu.node_selector


def test_data_sources_are_each_bound_to_one_or_two_existing_workspaces() -> None:
    today = DAYS[0]
    objs = parsed(today)
    sources = objs[AnalyticsDataSource.KIND]
    links = objs[AnalyticsDataSourceBinding.KIND]
    workspaces = {w.name for w in objs[AnalyticsWorkspace.KIND]}
    assert len(sources) == 2
    for source in sources:
        bound = {b.spec.workspace for b in links if b.spec.datasource == source.name}
        assert 1 <= len(bound) <= 2 and bound <= workspaces, (source.name, bound)
    attached, _ = access.attached_datasources(SHARED_WORKSPACE, links, sources, today)
    assert [d.name for d in attached] == ["hospital-episodes"]
    assert set(sample(today).datasource_claims) == {s.name for s in sources}


def test_every_date_moves_with_today() -> None:
    def dates(today: date) -> list[date]:
        out = []
        for obj in sample(today).objects:
            spec = obj["spec"]
            for value in (*spec.get("validity", {}).values(), spec.get("expires")):
                if value:
                    out.append(date.fromisoformat(value))
        return out

    today = DAYS[0]
    later = today + timedelta(days=40)
    assert dates(today)
    assert [d + timedelta(days=40) for d in dates(today)] == dates(later)
