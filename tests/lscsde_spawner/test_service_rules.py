"""The workspaces service's pure rules: who may do what, what a member request may ask, the
audit trail built from events, and the helper that turns the service on in a hub's config."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from traitlets.config import Config

from lscsde_spawner import levels
from lscsde_spawner.models import AnalyticsWorkspaceBinding
from lscsde_spawner.service import audit, members, rules, views
from lscsde_spawner.service.config import HUB_SCOPES, ServiceSettings, configure
from lscsde_spawner.service.errors import BadRequest, Forbidden, NotFound, TooLarge
from lscsde_spawner.usernames import exact, hub_default
from tests.support import factories

TODAY = date(2026, 3, 15)
WS_EXPIRES = date(2026, 6, 30)


# -- who may do what ----------------------------------------------------------------------------


@pytest.mark.parametrize("action", rules.ACTIONS)
def test_only_admins_and_hub_admins_manage_and_strangers_learn_nothing(action: Any) -> None:
    alice, root = rules.Caller("alice"), rules.Caller("root", hub_admin=True)
    rules.authorize(alice, "ws1", exists=True, level="admin", action=action)
    rules.authorize(root, "ws1", exists=True, level=None, action=action)
    for level in ("member", "viewer"):
        with pytest.raises(Forbidden, match="only its admins"):
            rules.authorize(alice, "ws1", exists=True, level=level, action=action)
    # Not granted, or no such workspace: the same 404, for a hub admin too when it is missing.
    for caller, exists in ((alice, True), (alice, False), (root, False)):
        with pytest.raises(NotFound) as err:
            rules.authorize(caller, "ws1", exists=exists, level=None, action=action)
        assert err.value.message == "workspace 'ws1' not found"


# -- member requests ----------------------------------------------------------------------------


def new(body: dict[str, Any], normalize: Any = hub_default) -> members.NewMember:
    return members.parse_new(
        body, today=TODAY, workspace="ws1", workspace_expires=WS_EXPIRES, normalize=normalize
    )


def test_a_good_request_adds_a_member_at_the_default_level() -> None:
    got = new({"username": "Bob@Example.org", "expires": "2026-03-15"})
    assert got == members.NewMember("bob@example.org", date(2026, 3, 15), "member", None)
    assert new({"username": "Bob", "expires": "2026-06-30"}, exact).username == "Bob"
    got = new({"username": "bob", "expires": "2026-04-01", "accessLevel": "viewer",
               "comments": "line one\nline\ttwo"})  # fmt: skip
    assert got.access_level == "viewer" and got.comments == "line one\nline\ttwo"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"username": "", "expires": "2026-04-01"}, "non-empty string"),
        ({"username": 7, "expires": "2026-04-01"}, "non-empty string"),
        ({"username": "a/b", "expires": "2026-04-01"}, "not a valid JupyterHub username"),
        ({"username": "..", "expires": "2026-04-01"}, "not a valid JupyterHub username"),
        ({"username": " bob", "expires": "2026-04-01"}, "contains a space"),
        ({"username": "bo b", "expires": "2026-04-01"}, "contains a space"),
        ({"username": "bob\u202e", "expires": "2026-04-01"}, "invisible character"),
        ({"username": "bob\x1b[31m", "expires": "2026-04-01"}, "control or invisible"),
        ({"username": "b" * 256, "expires": "2026-04-01"}, "longer than 255"),
        ({"username": "bob", "expires": "2026-03-14"}, "in the past"),
        ({"username": "bob", "expires": "2026-07-01"}, "after workspace 'ws1' expires"),
        ({"username": "bob", "expires": "2026-13-01"}, "is not a date"),
        ({"username": "bob", "expires": "tomorrow"}, "YYYY-MM-DD"),
        ({"username": "bob", "expires": "20260401"}, "YYYY-MM-DD"),
        ({"username": "bob", "expires": 20260401}, "YYYY-MM-DD"),
        ({"username": "bob", "expires": "2026-04-01", "accessLevel": "owner"}, "accessLevel"),
        ({"username": "bob", "expires": "2026-04-01", "accessLevel": "Admin"}, "accessLevel"),
        ({"username": "bob", "expires": "2026-04-01", "comments": 3}, "'comments' must be"),
        ({"username": "bob", "expires": "2026-04-01", "comments": "x" * 1001}, "longer"),
        ({"username": "bob", "expires": "2026-04-01", "comments": "a\x00b"}, "control"),
        ({"username": "bob", "expires": "2026-04-01", "admin": True}, "unknown field"),
        ({"username": "bob"}, "are required"),
    ],
)
def test_a_bad_request_is_a_400_naming_what_is_wrong(body: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message.replace("[", r"\[").replace("(", r"\(")):
        new(body)


def test_bodies_are_json_objects_of_a_few_kib() -> None:
    assert members.parse_body(b'{"a": 1}') == {"a": 1}
    for raw in (b"[1]", b"null", b"", b"not json", b'"x"', b"\xff\xfe"):
        with pytest.raises(BadRequest):
            members.parse_body(raw)
    with pytest.raises(TooLarge, match="at most 16384"):
        members.parse_body(json.dumps({"comments": "x" * 20_000}).encode())


def test_a_change_needs_something_to_change_and_follows_the_same_rules() -> None:
    def change(body: dict[str, Any]) -> members.Change:
        return members.parse_change(
            body, today=TODAY, workspace="ws1", workspace_expires=WS_EXPIRES
        )

    assert change({"accessLevel": "admin"}) == members.Change(access_level="admin")
    with pytest.raises(BadRequest, match="nothing to change"):
        change({})
    with pytest.raises(BadRequest, match="unknown field"):
        change({"username": "x"})
    with pytest.raises(BadRequest, match="after workspace"):
        change({"expires": "2027-01-01"})


def test_binding_names_are_valid_distinct_and_stable() -> None:
    names = {members.binding_name("ws1", u) for u in ("bob", "Bob", "bob@x.org", "bob.x.org")}
    assert len(names) == 4
    assert members.binding_name("ws1", "bob") == members.binding_name("ws1", "bob")
    long = members.binding_name("w" * 250, "ü" * 300)
    assert len(long) <= 253 and long.startswith("w")


def test_the_binding_records_level_actor_and_labels_and_parses() -> None:
    member = members.NewMember("bob", date(2026, 4, 1), "viewer", "<b>hi</b>")
    body = members.binding_body("ws1", member, actor="alice", namespace="ns")
    parsed = AnalyticsWorkspaceBinding.model_validate(body)
    assert parsed.spec.username == "bob" and parsed.spec.comments == "<b>hi</b>"
    assert parsed.metadata.annotations[levels.ANNOTATION] == "viewer"
    assert parsed.metadata.annotations[members.ADDED_BY] == "alice"
    assert parsed.metadata.labels["xlscsde.nhs.uk/workspace"] == "ws1"
    row = members.member_row(parsed, TODAY, hub_default)
    assert row["accessLevel"] == "viewer" and row["state"] == "active" and row["addedBy"] == "alice"


def test_a_change_is_a_conditional_merge_patch_and_is_described() -> None:
    body = factories.binding("b1", "ws1", "bob", expires="2026-04-01")
    body["metadata"]["resourceVersion"] = "42"
    b = AnalyticsWorkspaceBinding.model_validate(body)
    change = members.Change(expires=date(2026, 5, 1), access_level="viewer")
    patch = members.change_patch(b, change, actor="alice")
    assert patch["metadata"]["resourceVersion"] == "42"
    assert patch["metadata"]["annotations"] == {
        members.CHANGED_BY: "alice", levels.ANNOTATION: "viewer"}  # fmt: skip
    assert patch["spec"] == {"expires": "2026-05-01"}
    assert members.describe_change(b, change) == (
        "access level member -> viewer, expires 2026-04-01 -> 2026-05-01"
    )


def test_member_rows_say_when_a_binding_is_expired_or_broken() -> None:
    old = AnalyticsWorkspaceBinding.model_validate(
        factories.binding("b1", "ws1", "Bob", expires="2026-03-14"))  # fmt: skip
    assert members.member_row(old, TODAY, hub_default)["state"] == "expired"
    assert members.member_row(old, TODAY, hub_default)["username"] == "bob"
    bad = AnalyticsWorkspaceBinding.model_validate(
        factories.binding("b2", "ws1", "bob", annotations={levels.ANNOTATION: "boss"}))  # fmt: skip
    row = members.member_row(bad, TODAY, hub_default)
    assert row["state"] == "malformed" and row["accessLevel"] == "boss" and "boss" in row["problem"]


# -- the audit trail ----------------------------------------------------------------------------


def event(reason: str, when: str, note: str = "", **annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": f"e-{reason}-{when}"}
    keys = {"user": "lscsde-spawner.xlscsde.nhs.uk/user",
            "actor": "lscsde-spawner.xlscsde.nhs.uk/actor",
            "server": "lscsde-spawner.xlscsde.nhs.uk/server"}  # fmt: skip
    if annotations:
        meta["annotations"] = {keys[k]: v for k, v in annotations.items()}
    return {"metadata": meta, "reason": reason, "eventTime": when, "note": note,
            "type": "Normal", "reportingController": "lscsde-spawner"}  # fmt: skip


EVENTS = [
    event("ServerStarted", "2026-03-10T09:00:00.000000Z",
          "Started server (default) of bob in pod jupyter-bob"),  # no annotations: from the note
    event("MemberAdded", "2026-03-11T09:00:00.000000Z", "alice added erin", user="erin",
          actor="alice"),
    event("AccessRevoked", "2026-03-12T09:00:00.000000Z", "stopped", user="bob", server="gpu"),
    event("MemberRemoved", "2026-03-13T09:00:00.000000Z", "alice removed bob", user="bob",
          actor="alice"),
]  # fmt: skip
UTC_ZONE = ZoneInfo("UTC")


def trail(**args: str) -> dict[str, Any]:
    return audit.trail(EVENTS, audit.parse_filters(args, UTC_ZONE))


def test_the_trail_is_newest_first_with_who_and_by_whom() -> None:
    got = trail()
    assert [e["type"] for e in got["items"]] == [
        "MemberRemoved", "AccessRevoked", "MemberAdded", "ServerStarted"]  # fmt: skip
    removed, revoked, _, started = got["items"]
    assert (removed["user"], removed["by"]) == ("bob", "alice")
    assert (revoked["user"], revoked["by"], revoked["server"]) == ("bob", "lscsde-spawner", "gpu")
    assert (started["user"], started["server"]) == ("bob", "")
    assert started["time"] == "2026-03-10T09:00:00Z"
    assert (got["total"], got["next"]) == (4, None)


def test_the_trail_filters_and_pages() -> None:
    assert [e["type"] for e in trail(type="member")["items"]] == ["MemberRemoved", "MemberAdded"]
    assert [e["type"] for e in trail(type="ServerStarted,AccessRevoked")["items"]] == [
        "AccessRevoked", "ServerStarted"]  # fmt: skip
    assert [e["user"] for e in trail(user="erin")["items"]] == ["erin"]
    assert len(trail(user="alice")["items"]) == 2  # who did it counts too
    assert [e["type"] for e in trail(since="2026-03-12")["items"]] == [
        "MemberRemoved", "AccessRevoked"]  # fmt: skip
    assert trail(since="2026-03-12T10:00:00+01:00")["total"] == 2
    page = trail(limit="1", offset="1")
    assert [e["type"] for e in page["items"]] == ["AccessRevoked"]
    assert (page["total"], page["next"]) == (4, 2)
    assert trail(limit="3", offset="3")["next"] is None


def test_a_date_is_midnight_in_the_configured_zone() -> None:
    moment = audit.parse_time("2026-07-01", ZoneInfo("Europe/London"))
    assert moment == datetime(2026, 6, 30, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "args",
    [{"type": "owner"}, {"since": "yesterday"}, {"since": "2026-03-12T10:00:00"},
     {"limit": "0"}, {"limit": "501"}, {"limit": "-1"}, {"offset": "x"}],
)  # fmt: skip
def test_bad_filters_are_a_400(args: dict[str, str]) -> None:
    with pytest.raises(BadRequest):
        trail(**args)


# -- views --------------------------------------------------------------------------------------


def test_sessions_are_the_servers_whose_profile_is_the_workspace() -> None:
    users: list[dict[str, Any]] = [
        {"name": "bob", "servers": {
            "": {"user_options": {"profile": "ws1"}, "ready": True, "started": "s",
                 "last_activity": "l"},
            "gpu": {"user_options": {"profile": "ws2"}, "ready": True},
            "odd": {"user_options": None}}},
        {"name": "alice", "servers": {"a": {"user_options": {"profile": "ws1"}, "ready": False}}},
        {"name": "eve", "servers": None},
    ]  # fmt: skip
    got = views.sessions(users, "ws1")
    assert [(s["user"], s["server"], s["ready"]) for s in got] == [
        ("alice", "a", False), ("bob", "", True)]  # fmt: skip
    assert got[1]["lastActivity"] == "l"


# -- configure(c) -------------------------------------------------------------------------------


def test_configure_adds_the_service_its_role_and_users_access() -> None:
    c = Config()
    c.JupyterHub.services = [{"name": "other", "api_token": "x"}]
    c.JupyterHub.load_roles = [{"name": "user", "scopes": ["self", "read:users!user"]}]
    c.WorkspaceSpawner.time_zone = "Europe/London"
    c.WorkspaceSpawner.groups_claim = ""
    c.KubeSpawner.namespace = "jupyterhub"
    settings = configure(c, url="http://127.0.0.1:10102", kubeconfig="/etc/ws/kubeconfig")
    assert settings == ServiceSettings(
        namespace="jupyterhub", time_zone="Europe/London", groups_claim="",
        kubeconfig="/etc/ws/kubeconfig",
    )  # fmt: skip
    [other, service] = c.JupyterHub.services
    assert other["name"] == "other" and service["name"] == "workspaces"
    assert service["url"] == "http://127.0.0.1:10102"
    assert service["command"][1:3] == ["-m", "lscsde_spawner.service"]
    assert ServiceSettings.from_args(service["command"][3:])[0] == settings
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["workspaces-service"] == {
        "name": "workspaces-service",
        "scopes": list(HUB_SCOPES),
        "services": ["workspaces"],
    }
    assert roles["user"]["scopes"] == [
        "self", "read:users!user", "access:services!service=workspaces"]  # fmt: skip
    # Twice is once.
    configure(c, url="http://127.0.0.1:10102")
    assert len(c.JupyterHub.services) == 2
    assert [r["name"] for r in c.JupyterHub.load_roles].count("workspaces-service") == 1


def test_configure_on_an_empty_config_and_a_bad_url() -> None:
    c = Config()
    c.JupyterHub.load_roles.append({"name": "x", "scopes": []})  # a lazy value before us
    settings = configure(c)
    assert settings.time_zone == "UTC" and settings.groups_claim == "groups"
    names = [r["name"] for r in c.JupyterHub.load_roles]
    assert names == ["x", "workspaces-service", "user"]
    with pytest.raises(ValueError, match="http"):
        configure(Config(), url="127.0.0.1:10101")
