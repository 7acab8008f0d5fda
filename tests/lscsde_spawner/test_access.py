"""The access policy: whose bindings count, on which days, and what the user is told."""

from __future__ import annotations

import dataclasses
import re
import time
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from lscsde_spawner.access import (
    AccessDecision,
    Exclusion,
    attached_datasources,
    decide,
    grant_ended,
    resolve_zone,
    today_in,
)
from lscsde_spawner.models import (
    AnalyticsDataSource,
    AnalyticsDataSourceBinding,
    AnalyticsWorkspace,
    AnalyticsWorkspaceBinding,
    ParseError,
    parse_one,
)
from lscsde_spawner.usernames import USER_LABEL, exact, hub_default, owner, username_label
from tests.support import factories

D = date.fromisoformat
NS = "sde"


def raw_workspace(
    name: str,
    *,
    display: str | None = None,
    available: str = "2026-03-10",
    expires: str = "2026-03-20",
    jupyter: bool = True,
) -> dict[str, Any]:
    return factories.workspace(
        name, display=display, available=available, expires=expires,
        max_hosts=None if jupyter else 1, namespace=NS,
    )  # fmt: skip


def workspace(name: str, **kw: Any) -> AnalyticsWorkspace:
    return AnalyticsWorkspace.model_validate(raw_workspace(name, **kw))


def raw_binding(name: str, ws: str, username: str, expires: str = "2026-03-31") -> dict[str, Any]:
    # The lossy label other tools write: it must never decide anything.
    label = re.sub(r"[^a-z0-9]", "-", username.lower())
    return factories.binding(
        name, ws, username, expires=expires, namespace=NS,
        labels={"xlscsde.nhs.uk/username": label},
    )  # fmt: skip


def binding(
    name: str, ws: str, username: str, expires: str = "2026-03-31"
) -> AnalyticsWorkspaceBinding:
    return AnalyticsWorkspaceBinding.model_validate(raw_binding(name, ws, username, expires))


def names(decision: AccessDecision) -> list[str]:
    return [p.workspace.name for p in decision.permitted]


def reasons(decision: AccessDecision) -> list[tuple[str, str, str]]:
    return [(e.binding, e.workspace, e.reason) for e in decision.excluded]


TODAY = D("2026-03-12")

# ---------------------------------------------------------------------------------------------
# usernames


ZOE_NFC = unicodedata.normalize("NFC", "zoë@x.com")
ZOE_NFD = unicodedata.normalize("NFD", "zoë@x.com")
LONG = "a" * 70 + ".researcher"

# (binding's spec.username, hub username, same user by JupyterHub's default rule (lowercase),
#  same user with exact matching). Hub usernames are already in the hub's normal form.
SAME_USER = [
    ("joe+a@x.com", "joe-a@x.com", False, False),
    ("joe-a@x.com", "joe_a@x.com", False, False),
    ("JOE-A@x.com", "joe-a@x.com", True, False),
    ("joe-a@x.com", "joe-a@x.com", True, True),
    # The hub neither strips nor folds beyond lower(): nothing merges more than the hub does.
    (" joe-a@x.com\t", "joe-a@x.com", False, False),
    (ZOE_NFD, ZOE_NFC, False, False),
    (ZOE_NFC, ZOE_NFD, False, False),
    (ZOE_NFD.upper(), ZOE_NFD, True, False),
    ("straße@x.com", "strasse@x.com", False, False),
    ("STRASSE@x.com", "strasse@x.com", True, False),
    ("\u017fam", "sam", False, False),  # long s
    ("\ufb01ona", "fiona", False, False),  # the fi ligature
    ("\u03b1\u03c2", "\u03b1\u03c3", False, False),  # final sigma
    ("\u0391\u03a3", "\u03b1\u03c2", True, False),  # lower() makes a final capital sigma final
    (LONG + "@x.com", LONG + "@x.com", True, True),
    (LONG.upper() + "@x.com", LONG + "@x.com", True, False),
]


@pytest.mark.parametrize("exact_names", [False, True], ids=["hub-default", "exact"])
@pytest.mark.parametrize(("granted", "user", "same", "same_exact"), SAME_USER)
def test_same_user(
    granted: str, user: str, same: bool, same_exact: bool, exact_names: bool
) -> None:
    expected = same_exact if exact_names else same
    normalize = exact if exact_names else hub_default
    assert (owner(granted, normalize) == user) is expected
    decision = decide(
        [workspace("ws")], [binding("b", "ws", granted)], user, TODAY, normalize=normalize
    )
    assert names(decision) == (["ws"] if expected else [])
    # Someone else's binding is never reported to this user.
    assert decision.excluded == ()


def test_a_custom_authenticators_normalisation_is_respected() -> None:
    # An authenticator that maps e-mail aliases onto one account: the hub merges them, so do we.
    def normalize(name: str) -> str:
        local, _, domain = name.lower().partition("@")
        return local.split("+")[0] + "@" + domain

    bindings = [binding("b1", "ws", "Joe+Lab@x.com"), binding("b2", "ws2", "joe@y.com")]
    decision = decide([workspace("ws"), workspace("ws2")], bindings, "joe@x.com", TODAY,
                      normalize=normalize)  # fmt: skip
    assert names(decision) == ["ws"]


def test_a_normaliser_that_fails_grants_nothing() -> None:
    def normalize(name: str) -> str:
        if name.startswith("x"):
            raise KeyError(name)  # e.g. PAM's pwd lookup of an unknown account
        return name

    assert owner("xavier", normalize) is None
    assert owner("joe", normalize) == "joe"
    assert owner("joe", lambda n: None) is None  # type: ignore[arg-type,return-value]
    assert owner(None, normalize) is None and owner(7, normalize) is None
    decision = decide([workspace("ws")], [binding("b", "ws", "xavier")], "xavier", TODAY,
                      normalize=normalize)  # fmt: skip
    assert decision.permitted == ()


LABEL_VALUE = re.compile(r"^[a-z0-9]([-_.a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize(
    "name", ["joe@x.com", "joe+a@x.com", LONG + "@x.com", ZOE_NFD, "straße@x.com", "", "日本@x.jp"]
)
def test_username_label_is_a_valid_label_value(name: str) -> None:
    label = username_label(name)
    assert len(label) == 52 <= 63
    assert LABEL_VALUE.match(label)
    assert re.fullmatch(r"[a-z2-7]{52}", label)


def test_username_label_format_is_pinned() -> None:
    # base32(sha256(b"joe@x.com")), computed with openssl: the cache and stored labels rely on it.
    expected = "llgagthrnkjiuvdwb4ojmdrbvrfouwqv4ylhtodxu4b6uvg54dua"
    assert username_label("joe@x.com") == expected
    assert username_label("JOE@x.com") != expected  # the label is of a hub name, as it is
    assert USER_LABEL == "lscsde-spawner.xlscsde.nhs.uk/user-sha256"


def test_username_labels_of_distinct_names_are_distinct() -> None:
    names_ = ["joe+a@x.com", "joe-a@x.com", "joe_a@x.com", ZOE_NFC, ZOE_NFD, "strasse", "straße"]
    assert len({username_label(n) for n in names_}) == len(names_)


def test_the_colliding_trio_each_get_only_their_own_workspace() -> None:
    trio = ["joe+a@x.com", "joe-a@x.com", "joe_a@x.com"]
    workspaces = [workspace(f"ws-{i}") for i in range(3)]
    bindings = [binding(f"b-{i}", f"ws-{i}", user) for i, user in enumerate(trio)]
    for i, user in enumerate(trio):
        decision = decide(workspaces, bindings, user, TODAY)
        assert names(decision) == [f"ws-{i}"]
        assert decision.excluded == ()


@pytest.mark.parametrize("blank", ["", "   ", "\u00a0"])
def test_a_blank_username_is_nobody(blank: str) -> None:
    bindings = [binding("b-blank", "ws", " "), binding("b-joe", "ws", "joe@x.com")]
    decision = decide([workspace("ws")], bindings, blank, TODAY)
    assert decision.permitted == () and decision.excluded == ()


# ---------------------------------------------------------------------------------------------
# dates: workspace valid 2026-03-10 .. 2026-03-20 inclusive


@pytest.mark.parametrize(
    ("today", "grant_expires", "expires", "days_left", "reason"),
    [
        pytest.param(
            "2026-03-09", "2026-03-31", None, None, "not-yet-available", id="day-before-from"
        ),
        pytest.param("2026-03-10", "2026-03-31", "2026-03-20", 10, None, id="available-from"),
        pytest.param("2026-03-20", "2026-03-31", "2026-03-20", 0, None, id="workspace-last-day"),
        pytest.param(
            "2026-03-21", "2026-03-31", None, None, "workspace-expired", id="day-after-ws"
        ),
        pytest.param("2026-03-15", "2026-03-15", "2026-03-15", 0, None, id="grant-last-day"),
        pytest.param("2026-03-16", "2026-03-15", None, None, "expired", id="day-after-grant"),
        pytest.param("2026-03-12", "2026-03-15", "2026-03-15", 3, None, id="grant-ends-first"),
        pytest.param("2026-03-12", "2026-03-31", "2026-03-20", 8, None, id="workspace-ends-first"),
        pytest.param(
            "2026-03-09", "2026-03-05", None, None, "expired", id="grant-over-before-open"
        ),
        pytest.param(
            "2026-03-08", "2026-03-09", None, None, "not-yet-available", id="grant-too-soon"
        ),
        pytest.param("2026-03-25", "2026-03-15", None, None, "workspace-expired", id="both-over"),
    ],
)
def test_validity_boundaries(
    today: str, grant_expires: str, expires: str | None, days_left: int | None, reason: str | None
) -> None:
    decision = decide(
        [workspace("ws")], [binding("b", "ws", "joe@x.com", grant_expires)], "joe@x.com", D(today)
    )
    assert decision.today == D(today)
    granted = decision.get("ws")
    if reason is None:
        assert granted is not None and expires is not None
        assert (granted.expires, granted.days_left, granted.bindings) == (
            D(expires),
            days_left,
            ("b",),
        )
        assert decision.excluded == () and decision.reason_for("ws") is None
    else:
        assert granted is None and decision.permitted == ()
        assert reasons(decision) == [("b", "ws", reason)]
        assert decision.reason_for("ws") == decision.excluded[0]


def test_a_grant_that_ends_before_the_workspace_opens_says_so() -> None:
    decision = decide(
        [workspace("ws")],
        [binding("b", "ws", "joe@x.com", "2026-03-09")],
        "joe@x.com",
        D("2026-03-08"),
    )
    ex = decision.reason_for("ws")
    assert ex is not None and ex.reason == "not-yet-available"
    assert "2026-03-10" in ex.detail and "2026-03-09" in ex.detail


# ---------------------------------------------------------------------------------------------
# duplicates, missing and unusable workspaces


@pytest.mark.parametrize(
    ("grants", "today", "permitted", "expires", "excluded"),
    [
        pytest.param(
            [("b-old", "2026-03-01"), ("b-new", "2026-03-31")],
            "2026-03-12",
            ("b-new",),
            "2026-03-20",
            [],
            id="expired-duplicate-is-not-reported",
        ),
        pytest.param(
            [("b-15", "2026-03-15"), ("b-18", "2026-03-18")],
            "2026-03-12",
            ("b-18", "b-15"),
            "2026-03-18",
            [],
            id="latest-expiry-wins",
        ),
        pytest.param(
            [("b-y", "2026-03-18"), ("b-x", "2026-03-18")],
            "2026-03-12",
            ("b-x", "b-y"),
            "2026-03-18",
            [],
            id="equal-expiry-by-name",
        ),
        pytest.param(
            [("b-15", "2026-03-15"), ("b-18", "2026-03-18")],
            "2026-03-16",
            ("b-18",),
            "2026-03-18",
            [],
            id="one-of-two-left",
        ),
        pytest.param(
            [("b-11", "2026-03-11"), ("b-05", "2026-03-05")],
            "2026-03-12",
            None,
            None,
            [("b-11", "ws", "expired")],
            id="all-expired-reports-latest",
        ),
    ],
)
def test_duplicate_bindings(
    grants: list[tuple[str, str]],
    today: str,
    permitted: tuple[str, ...] | None,
    expires: str | None,
    excluded: list[tuple[str, str, str]],
) -> None:
    bindings = [binding(name, "ws", "joe@x.com", exp) for name, exp in grants]
    decision = decide([workspace("ws")], bindings, "joe@x.com", D(today))
    granted = decision.get("ws")
    if permitted is None:
        assert granted is None
    else:
        assert granted is not None and expires is not None
        assert granted.bindings == permitted and granted.expires == D(expires)
    assert reasons(decision) == excluded


def test_unusable_workspaces_are_excluded_without_hiding_the_others() -> None:
    bad = parse_one(AnalyticsWorkspace, raw_workspace("ws-bad", expires="2026-02-30"))
    assert isinstance(bad, ParseError)
    workspaces = [workspace("ws-ok"), workspace("ws-vm", jupyter=False), workspace("ws-other")]
    bindings = [
        binding("b-ok", "ws-ok", "joe@x.com"),
        binding("b-vm", "ws-vm", "joe@x.com"),
        binding("b-gone", "ws-gone", "joe@x.com"),
        binding("b-bad", "ws-bad", "joe@x.com"),
        # Bob's bindings, good and bad, are reported to Bob only.
        binding("b-bob", "ws-other", "bob@x.com"),
        binding("b-bob-gone", "ws-gone-too", "bob@x.com"),
        binding("b-bob-old", "ws-ok", "bob@x.com", "2026-01-01"),
    ]
    decision = decide(workspaces, bindings, "joe@x.com", TODAY, malformed=[bad])
    assert names(decision) == ["ws-ok"]
    assert reasons(decision) == [
        ("b-bad", "ws-bad", "malformed"),
        ("b-gone", "ws-gone", "workspace-missing"),
        ("b-vm", "ws-vm", "not-a-jupyter-workspace"),
    ]
    malformed = decision.reason_for("ws-bad")
    assert malformed is not None and bad.reason in malformed.detail and "ws-bad" in malformed.detail
    assert decision.reason_for("ws-other") is None and decision.reason_for("ws-gone-too") is None

    bob = decide(workspaces, bindings, "bob@x.com", TODAY, malformed=[bad])
    assert names(bob) == ["ws-other"]
    assert reasons(bob) == [
        ("b-bob-gone", "ws-gone-too", "workspace-missing"),
        ("b-bob-old", "ws-ok", "expired"),
    ]


def test_a_workspace_that_fails_to_parse_is_refused_even_beside_a_stale_copy() -> None:
    bad = parse_one(AnalyticsWorkspace, raw_workspace("ws", available="not-a-date"))
    assert isinstance(bad, ParseError)
    decision = decide(
        [workspace("ws")], [binding("b", "ws", "joe@x.com")], "joe@x.com", TODAY, malformed=[bad]
    )
    assert decision.permitted == ()
    assert reasons(decision) == [("b", "ws", "malformed")]


@pytest.mark.parametrize(
    ("raw", "user", "with_username", "expected"),
    [
        pytest.param(
            raw_binding("b-bad", "ws-x", "JOE@x.com", "2026-03-32"),
            "joe@x.com",
            True,
            [("b-bad", "ws-x", "malformed")],
            id="mine",
        ),
        pytest.param(
            raw_binding("b-bad", "ws-x", "bob@x.com", "2026-03-32"),
            "joe@x.com",
            True,
            [],
            id="not-mine",
        ),
        pytest.param(
            raw_binding("b-bad", "ws-x", "joe@x.com", "2026-03-32"),
            "joe@x.com",
            False,
            [],
            id="unattributable",
        ),
        pytest.param(
            {"metadata": {"name": "b-bad"}, "spec": {"username": "joe@x.com", "workspace": 7}},
            "joe@x.com",
            True,
            [("b-bad", "", "malformed")],
            id="workspace-unreadable",
        ),
        pytest.param(
            raw_binding("b-bad", "ws", "joe@x.com", "someday"),
            "joe@x.com",
            True,
            [],
            id="workspace-granted-by-another-binding",
        ),
    ],
)
def test_malformed_bindings(
    raw: dict[str, Any], user: str, with_username: bool, expected: list[tuple[str, str, str]]
) -> None:
    err = parse_one(AnalyticsWorkspaceBinding, raw)
    assert isinstance(err, ParseError)
    reported = err if with_username else dataclasses.replace(err, username=None)
    workspaces = [workspace("ws"), workspace("ws-x")]
    decision = decide(
        workspaces, [binding("b-ok", "ws", "joe@x.com")], user, TODAY, malformed=[reported]
    )
    assert names(decision) == (["ws"] if user == "joe@x.com" else [])
    assert reasons(decision) == expected
    for ex in decision.excluded:
        assert err.reason in ex.detail


def test_claim_bindings_grant_nothing_when_the_users_claims_are_not_given() -> None:
    claims = [factories.claim("group", "EQUALS", "joe@x.com")]
    raw = factories.binding("b-claim", "ws", claims=claims, expires="2026-03-31")
    claim = AnalyticsWorkspaceBinding.model_validate(raw)
    for decision in (
        decide([workspace("ws")], [claim], "joe@x.com", TODAY),
        decide([workspace("ws")], [claim], "joe@x.com", TODAY, claims=None),
    ):
        assert decision.permitted == () and decision.excluded == ()
    # The same binding does grant once the claim is given: the refusal above is about the claims.
    given = decide([workspace("ws")], [claim], "joe@x.com", TODAY, claims={"group": ("joe@x.com",)})
    assert names(given) == ["ws"]


# ---------------------------------------------------------------------------------------------
# display order and lookups


def test_display_order_is_case_insensitive_by_display_name_then_name() -> None:
    workspaces = [
        workspace("z-beta", display="beta"),
        workspace("y-alpha", display="Alpha"),
        workspace("x-alpha", display="alpha"),
        workspace("w-gamma", display="Gamma"),
        workspace("a-delta", display="delta"),
    ]
    bindings = [binding(f"b-{w.name}", w.name, "joe@x.com") for w in workspaces]
    decision = decide(workspaces, bindings, "joe@x.com", TODAY)
    assert names(decision) == ["x-alpha", "y-alpha", "z-beta", "a-delta", "w-gamma"]


def test_workspaces_may_come_as_a_mapping_with_the_same_decision() -> None:
    workspaces = [workspace("ws-a"), workspace("ws-b", expires="2026-03-11")]
    bindings = [binding("b-a", "ws-a", "joe@x.com"), binding("b-b", "ws-b", "joe@x.com")]
    as_list = decide(workspaces, bindings, "joe@x.com", TODAY)
    as_map = decide({w.name: w for w in workspaces}, bindings, "joe@x.com", TODAY)
    assert as_list == as_map
    assert names(as_map) == ["ws-a"]
    assert as_map.reason_for("ws-b") == Exclusion(
        "b-b", "ws-b", "workspace-expired", "workspace 'ws-b' expired: its last day was 2026-03-11"
    )
    assert as_map.get("ws-b") is None and as_map.get("nowhere") is None


# ---------------------------------------------------------------------------------------------
# today


@pytest.mark.parametrize(
    ("now", "tz", "expected"),
    [
        (datetime(2026, 3, 1, 23, 30, tzinfo=UTC), "UTC", "2026-03-01"),
        (datetime(2026, 3, 1, 23, 30, tzinfo=UTC), "Pacific/Auckland", "2026-03-02"),
        (datetime(2026, 3, 2, 7, 30, tzinfo=UTC), "America/Los_Angeles", "2026-03-01"),
        (datetime(2026, 3, 2, 8, 30, tzinfo=UTC), "America/Los_Angeles", "2026-03-02"),
        # London in summer time: 23:30 UTC is already tomorrow.
        (datetime(2026, 7, 1, 23, 30, tzinfo=UTC), "Europe/London", "2026-07-02"),
        (datetime(2026, 1, 1, 23, 30, tzinfo=UTC), "Europe/London", "2026-01-01"),
        (datetime(2026, 3, 1, 23, 30, tzinfo=UTC), timezone(timedelta(hours=1)), "2026-03-02"),
    ],
)
def test_today_in(now: datetime, tz: Any, expected: str) -> None:
    assert today_in(tz, now) == D(expected)


@pytest.fixture
def host_in_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # A host whose local zone is not UTC, so "naive means UTC" is really tested.
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("host_in_new_york")
@pytest.mark.parametrize(
    ("tz", "expected"), [("UTC", "2026-03-01"), ("Pacific/Auckland", "2026-03-02")]
)
def test_a_naive_now_is_utc_not_host_time(tz: str, expected: str) -> None:
    # 22:00 read as New York time would be 03:00 UTC on 03-02.
    assert today_in(tz, datetime(2026, 3, 1, 22, 0)) == D(expected)


def test_today_in_defaults_to_utc_now() -> None:
    before = datetime.now(UTC).date()
    assert today_in() in {before, datetime.now(UTC).date()}


def test_an_unknown_zone_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="Mars/Olympus"):
        today_in("Mars/Olympus")
    with pytest.raises(ValueError, match="not a known IANA time zone"):
        resolve_zone("../etc/passwd")


def test_the_last_day_depends_on_the_zone() -> None:
    # 23:30 UTC on the grant's last day is already the day after in Auckland.
    now = datetime(2026, 3, 15, 23, 30, tzinfo=UTC)
    bindings = [binding("b", "ws", "joe@x.com", "2026-03-15")]
    in_utc = decide([workspace("ws")], bindings, "joe@x.com", today_in("UTC", now))
    in_nz = decide([workspace("ws")], bindings, "joe@x.com", today_in("Pacific/Auckland", now))
    assert names(in_utc) == ["ws"] and in_utc.permitted[0].days_left == 0
    assert names(in_nz) == [] and reasons(in_nz) == [("b", "ws", "expired")]


# ---------------------------------------------------------------------------------------------
# data sources


def datasource(name: str) -> AnalyticsDataSource:
    return AnalyticsDataSource.model_validate(factories.datasource(name, type="db"))


def ds_binding(
    name: str, ws: str, ds: str, expires: str | None = None
) -> AnalyticsDataSourceBinding:
    body = factories.datasource_binding(name, ws, ds, expires=expires)
    return AnalyticsDataSourceBinding.model_validate(body)


@pytest.mark.parametrize(
    ("bindings", "attached", "excluded"),
    [
        pytest.param([ds_binding("d1", "ws", "ds-a")], ["ds-a"], [], id="no-expiry"),
        pytest.param([ds_binding("d1", "ws", "ds-a", "2026-03-12")], ["ds-a"], [], id="last-day"),
        pytest.param(
            [ds_binding("d1", "ws", "ds-a", "2026-03-11")],
            [],
            [("d1", "ds-a", "expired")],
            id="expired",
        ),
        pytest.param(
            [ds_binding("d1", "ws", "ds-gone")],
            [],
            [("d1", "ds-gone", "datasource-missing")],
            id="missing-datasource",
        ),
        pytest.param(
            [ds_binding("d1", "ws", "ds-gone", "2026-01-01")],
            [],
            [("d1", "ds-gone", "expired")],
            id="expired-and-missing",
        ),
        pytest.param([ds_binding("d1", "ws-other", "ds-a")], [], [], id="other-workspace"),
        pytest.param(
            [ds_binding("d1", "ws", "ds-a", "2026-01-01"), ds_binding("d2", "ws", "ds-a")],
            ["ds-a"],
            [],
            id="duplicate-one-live",
        ),
        pytest.param(
            [
                ds_binding("d1", "ws", "ds-b"),
                ds_binding("d2", "ws", "ds-a"),
                ds_binding("d3", "ws", "ds-a"),
            ],
            ["ds-a", "ds-b"],
            [],
            id="each-once-by-name",
        ),
        pytest.param(
            [
                ds_binding("d1", "ws", "ds-a", "2026-03-01"),
                ds_binding("d2", "ws", "ds-a", "2026-03-05"),
            ],
            [],
            [("d2", "ds-a", "expired")],
            id="all-expired-reports-latest",
        ),
        pytest.param(
            [ds_binding("d1", "ws", "ds-bad")],
            [],
            [("d1", "ds-bad", "malformed")],
            id="malformed-datasource",
        ),
    ],
)
def test_attached_datasources(
    bindings: list[AnalyticsDataSourceBinding],
    attached: list[str],
    excluded: list[tuple[str, str, str]],
) -> None:
    bad = parse_one(
        AnalyticsDataSource, {"metadata": {"name": "ds-bad"}, "spec": {"connections": 3}}
    )
    assert isinstance(bad, ParseError)
    sources = [datasource("ds-a"), datasource("ds-b"), datasource("ds-bad")]
    for given in (sources, {ds.name: ds for ds in sources}):
        got, why = attached_datasources("ws", bindings, given, TODAY, malformed=[bad])
        assert [ds.name for ds in got] == attached
        assert [(e.binding, e.datasource, e.reason) for e in why] == excluded


# -- a running server's grant ------------------------------------------------------------------


def ended(mounted: list[str] | None, **changes: Any) -> str | None:
    workspaces = changes.get("workspaces", [workspace("ws")])
    bindings = changes.get("bindings", [binding("b", "ws", "joe@x.com")])
    dsbs = changes.get("dsbs", [ds_binding("d1", "ws", "ds-a")])
    return grant_ended(
        "ws", mounted, workspaces, bindings, dsbs, [datasource("ds-a")], "joe@x.com",
        changes.get("today", TODAY),
    )  # fmt: skip


def test_a_grant_that_holds_has_not_ended() -> None:
    assert ended(["ds-a"]) is None
    assert ended([]) is None and ended(None) is None


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"bindings": []}, "no longer granted"),
        ({"bindings": [binding("b", "ws", "bob@x.com")]}, "no longer granted"),
        ({"bindings": [binding("b", "ws", "joe@x.com", "2026-03-11")]}, "expired"),
        ({"workspaces": []}, "does not exist"),
        ({"workspaces": [workspace("ws", expires="2026-03-11")]}, "expired"),
        ({"workspaces": [workspace("ws", jupyter=False)]}, "virtual-machine"),
        ({"today": D("2026-04-01")}, "expired"),  # midnight passed the binding's last day
        ({"dsbs": []}, "ds-a no longer attached"),
        ({"dsbs": [ds_binding("d1", "ws", "ds-a", "2026-03-11")]}, "ds-a no longer attached"),
    ],
)
def test_every_way_a_grant_ends(changes: dict[str, Any], why: str) -> None:
    got = ended(["ds-a"], **changes)
    assert got is not None and why in got


def test_unknown_mounts_leave_the_decision_to_the_workspace_grant() -> None:
    assert ended(None, dsbs=[]) is None
    assert ended(None, bindings=[]) is not None
