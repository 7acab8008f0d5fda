"""Claim-based grants: the pure rules (``claims``) and how ``access`` applies them.

Workspaces are valid 2026-03-10 .. 2026-03-20 and "today" is 2026-03-12 unless a test says
otherwise; bindings expire 2026-03-31 unless a test says otherwise.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Mapping
from datetime import date
from typing import Any

import pytest

from lscsde_spawner import claims as rules
from lscsde_spawner.access import AccessDecision, applies, claims_error, decide, grant_ended
from lscsde_spawner.claims import (
    EQUALS,
    IN,
    NOT_EQUALS,
    NOT_IN,
    UserClaims,
    describe,
    grants,
    holds,
    holds_all,
    index_keys,
    items,
    negative_only,
    operands,
    problem,
    user_claims,
    values_of,
)
from lscsde_spawner.models import (
    AnalyticsDataSource,
    AnalyticsDataSourceBinding,
    AnalyticsWorkspace,
    AnalyticsWorkspaceBinding,
    Claim,
)
from lscsde_spawner.usernames import exact
from tests.support import factories

D = date.fromisoformat
NS = "sde"
TODAY = D("2026-03-12")
ABSENT = object()  # a user without the claim at all

# Operator strings that are not one of the four: each makes its binding grant nothing.
BAD_OPERATORS = [
    "NOT_EQUALS",
    "NOT_IN",
    "equals",
    "Equals",
    "in",
    "",
    " EQUALS",
    "EQUALS ",
    "NOT  IN",
    "NOT\u00a0EQUALS",
    "NOT EQUALS\n",
    "\uff25\uff31\uff35\uff21\uff2c\uff33",  # fullwidth EQUALS
    "LIKE",
    "==",
]

# ---------------------------------------------------------------------------------------------
# helpers (the bodies come from tests/support/factories.py)


def C(name: str, operator: str, value: str) -> Claim:
    return Claim(name=name, operator=operator, value=value)


def workspace(
    name: str, *, available: str = "2026-03-10", expires: str = "2026-03-20", jupyter: bool = True
) -> AnalyticsWorkspace:
    body = factories.workspace(
        name, available=available, expires=expires, max_hosts=None if jupyter else 1, namespace=NS
    )
    return AnalyticsWorkspace.model_validate(body)


def binding(
    name: str,
    ws: str,
    *claims: tuple[str, str, str],
    username: str | None = None,
    expires: str = "2026-03-31",
) -> AnalyticsWorkspaceBinding:
    """A binding of ``ws`` by ``claims`` (name, operator, value) and/or ``username``."""
    body = factories.binding(
        name, ws, username, claims=[factories.claim(*c) for c in claims] or None,
        expires=expires, namespace=NS,
    )  # fmt: skip
    return AnalyticsWorkspaceBinding.model_validate(body)


def group(value: str, operator: str = EQUALS) -> tuple[str, str, str]:
    return ("groups", operator, value)


def groups(*names_: str, **others: Any) -> dict[str, tuple[str, ...]]:
    """A user's claims: these groups, and any other claims as keyword arguments."""
    return user_claims({"groups": list(names_), **others})


def names(decision: AccessDecision) -> list[str]:
    return [p.workspace.name for p in decision.permitted]


def reasons(decision: AccessDecision) -> list[tuple[str, str, str]]:
    return [(e.binding, e.workspace, e.reason) for e in decision.excluded]


def of(raw: object, name: str = "groups") -> dict[str, tuple[str, ...]]:
    """A user whose claim ``name`` is ``raw`` as the IdP sent it (ABSENT: no such claim)."""
    return {} if raw is ABSENT else user_claims({name: raw})


# ---------------------------------------------------------------------------------------------
# a user's claims: values_of and user_claims


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("cardiac-team", ("cardiac-team",), id="str"),
        pytest.param("", ("",), id="empty-str-is-a-value"),
        pytest.param(" a ", (" a ",), id="str-not-trimmed"),
        pytest.param("a,b", ("a,b",), id="comma-not-split"),
        pytest.param(3, ("3",), id="int"),
        pytest.param(0, ("0",), id="zero"),
        pytest.param(-1, ("-1",), id="negative-int"),
        pytest.param(True, ("True",), id="true"),
        pytest.param(False, ("False",), id="false"),
        pytest.param(1.5, ("1.5",), id="float"),
        pytest.param(3.0, ("3.0",), id="float-not-int"),
        pytest.param(["b", "a"], ("b", "a"), id="list-keeps-order"),
        pytest.param(("a",), ("a",), id="tuple"),
        pytest.param({"b", "a", "c"}, ("a", "b", "c"), id="set-sorted"),
        pytest.param(frozenset({2, 10, 1}), ("1", "10", "2"), id="frozenset-sorted-as-strings"),
        pytest.param([1, True, "x", 2.5], ("1", "True", "x", "2.5"), id="mixed-scalars"),
        pytest.param([], (), id="empty-list-is-present"),
        pytest.param(set(), (), id="empty-set-is-present"),
        pytest.param(["", "a"], ("", "a"), id="empty-str-element"),
        pytest.param([None, "a", {"x": 1}, ["b"]], ("a",), id="only-scalar-elements"),
        pytest.param(None, None, id="none-absent"),
        pytest.param({"cardiac-team": True}, None, id="mapping-absent"),
        pytest.param({}, None, id="empty-mapping-absent"),
        pytest.param([None], None, id="list-of-none-absent"),
        pytest.param([{"a": 1}], None, id="list-of-mappings-absent"),
        pytest.param([["a"]], None, id="nested-list-absent"),
        pytest.param([[], {}], None, id="list-of-empties-absent"),
        pytest.param(b"a", None, id="bytes-absent"),
        pytest.param(object(), None, id="object-absent"),
    ],
)
def test_values_of(raw: object, expected: tuple[str, ...] | None) -> None:
    assert values_of(raw) == expected


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        pytest.param((), {}, id="no-sources"),
        pytest.param((None, None), {}, id="none-sources"),
        pytest.param(({"groups": ["a"]},), {"groups": ("a",)}, id="one"),
        pytest.param(
            ({"groups": ["a"]}, None, {"department": "x"}),
            {"groups": ("a",), "department": ("x",)},
            id="none-source-skipped",
        ),
        pytest.param(({"groups": ["a"]}, {"groups": ["b"]}), {"groups": ("b",)}, id="later-wins"),
        pytest.param(({"groups": ["a"]}, {"groups": []}), {"groups": ()}, id="later-empty-wins"),
        pytest.param(({"groups": ["a"]}, {"groups": None}), {}, id="later-none-removes"),
        pytest.param(({"groups": ["a"]}, {"groups": {"a": 1}}), {}, id="later-dict-removes"),
        pytest.param(({"groups": None}, {"groups": "a"}), {"groups": ("a",)}, id="later-adds"),
        pytest.param(({1: "a", None: "b", "ok": "c"},), {"ok": ("c",)}, id="non-str-names"),
        pytest.param(
            ({"Groups": "a", "groups": "b"},),
            {"Groups": ("a",), "groups": ("b",)},
            id="names-case-sensitive",
        ),
        pytest.param(({"my groups, all": "a"},), {"my groups, all": ("a",)}, id="odd-name"),
        pytest.param(({"": "a"},), {"": ("a",)}, id="empty-name"),
    ],
)
def test_user_claims(sources: tuple[Any, ...], expected: dict[str, tuple[str, ...]]) -> None:
    assert user_claims(*sources) == expected


def test_user_claims_ignores_sources_that_are_not_mappings() -> None:
    got = user_claims([("groups", "a")], "groups", {"department": "x"})  # type: ignore[arg-type]
    assert got == {"department": ("x",)}


def test_user_claims_does_not_alias_or_mutate_its_sources() -> None:
    hub = {"groups": ["a"]}
    got = user_claims(hub)
    hub["groups"].append("b")
    assert got == {"groups": ("a",)} and hub == {"groups": ["a", "b"]}


# ---------------------------------------------------------------------------------------------
# items and operands


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a", ("a",)),
        ("a,b", ("a", "b")),
        (" a ,  b ", ("a", "b")),
        ("a,,b", ("a", "b")),
        ("a,b,", ("a", "b")),
        (",a", ("a",)),
        ("", ()),
        (",", ()),
        (" , ,, ", ()),
        ("\ta\n,\u00a0b\u2003", ("a", "b")),  # str.strip trims Unicode whitespace too
        ("cardiac team, renal", ("cardiac team", "renal")),
        ("a, a", ("a", "a")),
        ("Stra\u00dfe, strasse", ("Stra\u00dfe", "strasse")),
    ],
)
def test_items(value: str, expected: tuple[str, ...]) -> None:
    assert items(value) == expected


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        (EQUALS, " a, b ", (" a, b ",)),
        (NOT_EQUALS, " a, b ", (" a, b ",)),
        (IN, " a, b ", ("a", "b")),
        (NOT_IN, " a,, b ", ("a", "b")),
        (IN, "", ()),
        (EQUALS, "", ("",)),
        ("NOT_IN", "a,b", ("a,b",)),  # an unknown operator's value is not split
    ],
)
def test_operands(operator: str, value: str, expected: tuple[str, ...]) -> None:
    assert operands(C("groups", operator, value)) == expected


# ---------------------------------------------------------------------------------------------
# holds: one claim against one user

ZOE_NFC = unicodedata.normalize("NFC", "zo\u00eb")
ZOE_NFD = unicodedata.normalize("NFD", "zo\u00eb")

HOLDS = [
    # EQUALS
    pytest.param(EQUALS, "cardiac-team", "cardiac-team", True, id="eq-scalar"),
    pytest.param(EQUALS, "cardiac-team", "renal", False, id="eq-other"),
    pytest.param(EQUALS, "cardiac-team", ["renal", "cardiac-team"], True, id="eq-list-member"),
    pytest.param(EQUALS, "cardiac-team", ["renal"], False, id="eq-list-non-member"),
    pytest.param(EQUALS, "cardiac-team", [], False, id="eq-empty-list"),
    pytest.param(EQUALS, "cardiac-team", ABSENT, False, id="eq-absent"),
    pytest.param(EQUALS, "cardiac-team", None, False, id="eq-none"),
    pytest.param(EQUALS, "cardiac-team", {"cardiac-team": True}, False, id="eq-dict"),
    pytest.param(EQUALS, "cardiac-team", [["cardiac-team"]], False, id="eq-nested-list"),
    pytest.param(EQUALS, "cardiac-team", "Cardiac-Team", False, id="eq-case-user"),
    pytest.param(EQUALS, "Cardiac-Team", "cardiac-team", False, id="eq-case-value"),
    pytest.param(EQUALS, "stra\u00dfe", "strasse", False, id="eq-sharp-s"),
    pytest.param(EQUALS, "STRASSE", "stra\u00dfe", False, id="eq-sharp-s-upper"),
    pytest.param(EQUALS, ZOE_NFC, ZOE_NFD, False, id="eq-nfc-nfd"),
    pytest.param(EQUALS, "\u017fam", "sam", False, id="eq-long-s"),
    pytest.param(EQUALS, "cardiac-team", "cardiac-team ", False, id="eq-user-trailing-space"),
    pytest.param(EQUALS, " cardiac-team", "cardiac-team", False, id="eq-value-not-trimmed"),
    pytest.param(EQUALS, "a,b", "a,b", True, id="eq-comma-literal"),
    pytest.param(EQUALS, "a,b", "a", False, id="eq-comma-not-split"),
    pytest.param(EQUALS, "a,b", ["a", "b"], False, id="eq-comma-not-a-list"),
    pytest.param(EQUALS, "", "", True, id="eq-empty-matches-empty"),
    pytest.param(EQUALS, "", [], False, id="eq-empty-vs-no-values"),
    pytest.param(EQUALS, "", ABSENT, False, id="eq-empty-vs-absent"),
    pytest.param(EQUALS, "3", 3, True, id="eq-int"),
    pytest.param(EQUALS, "3", 3.0, False, id="eq-float-is-not-int"),
    pytest.param(EQUALS, "True", True, True, id="eq-bool"),
    pytest.param(EQUALS, "true", True, False, id="eq-bool-case"),
    pytest.param(EQUALS, "1", True, False, id="eq-bool-is-not-1"),
    pytest.param(EQUALS, "7", [7, "x"], True, id="eq-int-in-list"),
    # NOT EQUALS
    pytest.param(NOT_EQUALS, "contractors", "staff", True, id="ne-other"),
    pytest.param(NOT_EQUALS, "contractors", "contractors", False, id="ne-same"),
    pytest.param(NOT_EQUALS, "contractors", ["staff", "contractors"], False, id="ne-list-with"),
    pytest.param(NOT_EQUALS, "contractors", ["staff"], True, id="ne-list-without"),
    pytest.param(NOT_EQUALS, "contractors", [], True, id="ne-empty-list-is-present"),
    pytest.param(NOT_EQUALS, "contractors", ABSENT, False, id="ne-absent"),
    pytest.param(NOT_EQUALS, "contractors", None, False, id="ne-none"),
    pytest.param(NOT_EQUALS, "contractors", {}, False, id="ne-dict"),
    pytest.param(NOT_EQUALS, "contractors", [None], False, id="ne-list-of-none"),
    pytest.param(NOT_EQUALS, "contractors", "Contractors", True, id="ne-case"),
    pytest.param(NOT_EQUALS, "a,b", "a", True, id="ne-comma-not-split"),
    pytest.param(NOT_EQUALS, "", "", False, id="ne-empty-same"),
    pytest.param(NOT_EQUALS, "0", 0, False, id="ne-int-same"),
    # IN
    pytest.param(IN, "a, b", "b", True, id="in-member"),
    pytest.param(IN, "a, b", ["x", "a"], True, id="in-list-member"),
    pytest.param(IN, "a, b", "c", False, id="in-non-member"),
    pytest.param(IN, "a, b", "a, b", False, id="in-whole-string-is-not-an-item"),
    pytest.param(IN, " a ,  b ", "b", True, id="in-items-trimmed"),
    pytest.param(IN, "a, b", " a", False, id="in-user-values-not-trimmed"),
    pytest.param(IN, "a,,b", "b", True, id="in-empty-items-dropped"),
    pytest.param(IN, "a,,b", "", False, id="in-empty-item-matches-nothing"),
    pytest.param(IN, "", "", False, id="in-empty-value-vs-empty"),
    pytest.param(IN, "", "a", False, id="in-empty-value"),
    pytest.param(IN, ",,", ["", ","], False, id="in-only-commas"),
    pytest.param(IN, "cardiac team, renal", "cardiac team", True, id="in-inner-space-kept"),
    pytest.param(IN, "cardiac team, renal", "cardiac", False, id="in-no-word-split"),
    pytest.param(IN, "Cardiac-Team, Renal", "cardiac-team", False, id="in-case"),
    pytest.param(IN, "stra\u00dfe, x", "strasse", False, id="in-sharp-s"),
    pytest.param(IN, "a, b", ABSENT, False, id="in-absent"),
    pytest.param(IN, "a, b", None, False, id="in-none"),
    pytest.param(IN, "a", [], False, id="in-empty-list"),
    pytest.param(IN, "1, 2, 3", 2, True, id="in-int"),
    pytest.param(IN, "True, False", False, True, id="in-bool"),
    # NOT IN
    pytest.param(NOT_IN, "a, b", "c", True, id="nin-non-member"),
    pytest.param(NOT_IN, "a, b", "b", False, id="nin-member"),
    pytest.param(NOT_IN, "a, b", ["c", "b"], False, id="nin-one-element-in"),
    pytest.param(NOT_IN, "a, b", ["c", "d"], True, id="nin-no-element-in"),
    pytest.param(NOT_IN, "a, b", [], True, id="nin-empty-list-is-present"),
    pytest.param(NOT_IN, "a, b", ABSENT, False, id="nin-absent"),
    pytest.param(NOT_IN, "a, b", None, False, id="nin-none"),
    pytest.param(NOT_IN, "a, b", {"c": 1}, False, id="nin-dict"),
    pytest.param(NOT_IN, "", "a", True, id="nin-empty-value"),
    pytest.param(NOT_IN, " a , b ", "b", False, id="nin-items-trimmed"),
    pytest.param(NOT_IN, "a,,b", "", True, id="nin-empty-item-excludes-nothing"),
    pytest.param(NOT_IN, "contractors", "Contractors", True, id="nin-case"),
    pytest.param(NOT_IN, "a, b", "a, b", True, id="nin-whole-string-is-not-an-item"),
]


@pytest.mark.parametrize(("operator", "value", "raw", "expected"), HOLDS)
def test_holds(operator: str, value: str, raw: object, expected: bool) -> None:
    assert holds(C("groups", operator, value), of(raw)) is expected


@pytest.mark.parametrize(
    ("claim_name", "user", "expected"),
    [
        ("groups", {"groups": ("a",)}, True),
        ("Groups", {"groups": ("a",)}, False),
        ("groups", {"Groups": ("a",)}, False),
        ("groups ", {"groups": ("a",)}, False),
        ("my groups, all", {"my groups, all": ("a",)}, True),
        ("my groups", {"my groups, all": ("a",)}, False),
        ("gr\u00f6ups", {unicodedata.normalize("NFD", "gr\u00f6ups"): ("a",)}, False),
        ("", {"": ("a",)}, True),
    ],
)
def test_claim_names_compare_exactly(claim_name: str, user: UserClaims, expected: bool) -> None:
    assert holds(C(claim_name, EQUALS, "a"), user) is expected


@pytest.mark.parametrize("operator", BAD_OPERATORS)
@pytest.mark.parametrize("value", ["a", "zzz", "a, zzz", ""])
def test_an_unknown_operator_never_holds(operator: str, value: str) -> None:
    for user in ({"groups": ("a",)}, {"groups": ()}, {"groups": ("",)}, {}):
        assert holds(C("groups", operator, value), user) is False


def reference_holds(operator: str, value: str, have: tuple[str, ...] | None) -> bool:
    """The issue's wording, written independently of claims.py."""
    if have is None:
        return False
    wanted = {part.strip() for part in value.split(",")} - {""}
    return {
        EQUALS: value in have,
        NOT_EQUALS: value not in have,
        IN: bool(wanted & set(have)),
        NOT_IN: not wanted & set(have),
    }[operator]


VOCAB_VALUES = ["a", "b", "a, b", " a ", "", "b,,c", "A"]
VOCAB_USERS: list[tuple[str, ...] | None] = [
    None,
    (),
    ("a",),
    ("b",),
    ("a", "c"),
    ("",),
    ("A",),
    (" a ",),
    ("a, b",),
    ("c",),
]


def test_holds_agrees_with_the_reference_everywhere() -> None:
    checked = 0
    for operator, value, have in itertools.product(rules.OPERATORS, VOCAB_VALUES, VOCAB_USERS):
        user = {} if have is None else {"groups": have}
        got = holds(C("groups", operator, value), user)
        assert got is reference_holds(operator, value, have), (operator, value, have)
        checked += 1
    assert checked == 4 * len(VOCAB_VALUES) * len(VOCAB_USERS)


@pytest.mark.parametrize(
    ("claims", "user", "expected"),
    [
        pytest.param([], {}, True, id="none-vacuous"),
        pytest.param([C("groups", EQUALS, "a")], {"groups": ("a",)}, True, id="one"),
        pytest.param(
            [C("groups", EQUALS, "a"), C("department", EQUALS, "x")],
            {"groups": ("a",), "department": ("x",)},
            True,
            id="both",
        ),
        pytest.param(
            [C("groups", EQUALS, "a"), C("department", EQUALS, "x")],
            {"groups": ("a",)},
            False,
            id="second-absent",
        ),
        pytest.param(
            [C("groups", EQUALS, "a"), C("groups", NOT_IN, "b")],
            {"groups": ("a", "b")},
            False,
            id="negative-fails",
        ),
        pytest.param(
            [C("groups", EQUALS, "a"), C("groups", EQUALS, "b")],
            {"groups": ("a",)},
            False,
            id="same-name-twice",
        ),
    ],
)
def test_holds_all(claims: list[Claim], user: UserClaims, expected: bool) -> None:
    assert holds_all(claims, user) is expected


# ---------------------------------------------------------------------------------------------
# problem, negative_only, grants


def test_problem_is_none_for_well_formed_claims() -> None:
    assert problem([]) is None
    assert problem([C("g", op, "v") for op in rules.OPERATORS]) is None


@pytest.mark.parametrize("operator", BAD_OPERATORS)
def test_problem_names_the_first_bad_claim(operator: str) -> None:
    claims = [C("g", EQUALS, "a"), C("g", NOT_IN, "b"), C("g", operator, "c"), C("g", "X", "d")]
    why = problem(claims)
    assert why is not None
    assert why.startswith("spec.claims[2].operator ")
    assert repr(operator) in why
    assert "EQUALS, NOT EQUALS, IN, NOT IN" in why


def test_problem_shortens_a_huge_operator() -> None:
    why = problem([C("g", "X" * 10_000, "v")])
    assert why is not None and "X" * 40 in why and "X" * 41 not in why
    assert len(why) < 200


@pytest.mark.parametrize(
    ("operators", "expected"),
    [
        ([], False),
        ([NOT_EQUALS], True),
        ([NOT_IN], True),
        ([NOT_EQUALS, NOT_IN], True),
        ([NOT_EQUALS, EQUALS], False),
        ([IN], False),
        ([NOT_IN, IN], False),
        (["NOT_EQUALS"], True),  # no positive claim at all
        (["equals"], True),  # a lower-case EQUALS is not a positive claim
        (["EQUALS_X", EQUALS], False),
    ],
)
def test_negative_only(operators: list[str], expected: bool) -> None:
    assert negative_only([C("g", op, "v") for op in operators]) is expected


NEG = [C("groups", NOT_IN, "contractors")]
POS = [C("groups", EQUALS, "cardiac-team")]
MIXED = [C("groups", EQUALS, "cardiac-team"), C("groups", NOT_EQUALS, "contractors")]
BROKEN = [C("groups", EQUALS, "cardiac-team"), C("groups", "NOT_EQUALS", "contractors")]
STAFF = {"groups": ("cardiac-team",)}
CONTRACTOR = {"groups": ("cardiac-team", "contractors")}


@pytest.mark.parametrize(
    ("claims", "user", "has_username", "allow", "expected"),
    [
        pytest.param(POS, STAFF, False, False, True, id="positive"),
        pytest.param(POS, {}, False, False, False, id="positive-absent"),
        pytest.param(POS, {"groups": ()}, True, True, False, id="positive-fails"),
        pytest.param(MIXED, STAFF, False, False, True, id="mixed-holds"),
        pytest.param(MIXED, CONTRACTOR, False, True, False, id="mixed-negative-fails"),
        pytest.param(NEG, STAFF, False, False, False, id="negative-only-refused"),
        pytest.param(NEG, STAFF, False, True, True, id="negative-only-allowed"),
        pytest.param(NEG, CONTRACTOR, False, True, False, id="negative-only-allowed-fails"),
        pytest.param(NEG, {}, False, True, False, id="negative-only-allowed-absent"),
        pytest.param(NEG, STAFF, True, False, True, id="negative-only-with-username"),
        pytest.param(NEG, CONTRACTOR, True, False, False, id="negative-only-username-fails"),
        pytest.param(NEG, {}, True, True, False, id="negative-only-username-absent"),
        pytest.param(BROKEN, STAFF, False, False, False, id="broken"),
        pytest.param(BROKEN, STAFF, True, True, False, id="broken-username-allowed"),
        pytest.param([C("g", "", "")], {"g": ("",)}, True, True, False, id="empty-operator"),
    ],
)
def test_grants(
    claims: list[Claim], user: UserClaims, has_username: bool, allow: bool, expected: bool
) -> None:
    got = grants(claims, user, has_username=has_username, allow_negative_only=allow)
    assert got is expected


# ---------------------------------------------------------------------------------------------
# index_keys and describe


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ([], ()),
        ([C("g", EQUALS, "a")], (("g", "a"),)),
        ([C("g", EQUALS, "a,b")], (("g", "a,b"),)),
        ([C("g", IN, " a, b,,")], (("g", "a"), ("g", "b"))),
        ([C("g", IN, "")], ()),
        ([C("g", NOT_EQUALS, "a"), C("d", IN, "x")], (("d", "x"),)),
        ([C("g", NOT_EQUALS, "a"), C("g", NOT_IN, "b")], ()),
        ([C("g", "NOT_EQUALS", "a"), C("g", "equals", "b"), C("d", EQUALS, "x")], (("d", "x"),)),
        ([C("g", EQUALS, "a"), C("d", IN, "x, y")], (("g", "a"),)),
    ],
)
def test_index_keys(claims: list[Claim], expected: tuple[tuple[str, str], ...]) -> None:
    assert index_keys(claims) == expected


def test_every_user_the_claims_hold_for_has_one_of_the_index_keys() -> None:
    singles = [
        C(name, op, value)
        for name in ("g", "d")
        for op in rules.OPERATORS
        for value in ("a", "a, b", "", "b,,c")
    ]
    users: list[dict[str, tuple[str, ...]]] = []
    for g, d in itertools.product([None, (), ("a",), ("b", "c"), ("",)], repeat=2):
        users.append({k: v for k, v in (("g", g), ("d", d)) if v is not None})
    granted = 0
    for pair in itertools.product(singles, repeat=2):
        keys = index_keys(pair)
        positive = any(c.operator in rules.POSITIVE for c in pair)
        assert bool(keys) or not positive or not any(holds_all(pair, u) for u in users)
        for user in users:
            if keys and holds_all(pair, user):
                granted += 1
                assert any(v in user.get(n, ()) for n, v in keys), (pair, user, keys)
    assert granted > 100  # the grid really exercises the property


@pytest.mark.parametrize(
    ("claims", "user", "groups_claim", "expected"),
    [
        pytest.param(
            POS, {"groups": ("renal", "cardiac-team")}, "groups", "group cardiac-team", id="group"
        ),
        pytest.param(
            [C("groups", IN, "a, b, c")],
            {"groups": ("c", "x", "b")},
            "groups",
            "group c, b",
            id="in-shows-the-users-groups",
        ),
        pytest.param(
            [C("groups", IN, "a, b")],
            {"groups": ()},
            "groups",
            "group a, b",
            id="in-shows-the-items-when-none-held",
        ),
        pytest.param(
            [C("department", EQUALS, "cardiology"), C("groups", NOT_IN, "contractors")],
            {"department": ("cardiology",), "groups": ()},
            "groups",
            "department = cardiology and not in group contractors",
            id="two-claims",
        ),
        pytest.param([C("groups", NOT_EQUALS, "x")], {}, "groups", "not in group x", id="ne"),
        pytest.param(
            [C("groups", NOT_IN, "x,, y")], {}, "groups", "not in group x, y", id="nin-items"
        ),
        pytest.param(
            [C("department", NOT_EQUALS, "x")],
            {},
            "groups",
            "department not x",
            id="ne-other-claim",
        ),
        pytest.param(POS, STAFF, "", "groups = cardiac-team", id="no-groups-claim"),
        pytest.param(POS, STAFF, "roles", "groups = cardiac-team", id="other-groups-claim"),
        pytest.param(
            [C("roles", EQUALS, "a")], {"roles": ("a",)}, "roles", "group a", id="roles-as-groups"
        ),
        # A user's claim listing a value twice (an IdP that repeats a group) is one group.
        pytest.param(
            POS,
            {"groups": ("cardiac-team", "cardiac-team")},
            "groups",
            "group cardiac-team",
            id="duplicate-user-value",
        ),
    ],
)
def test_describe(claims: list[Claim], user: UserClaims, groups_claim: str, expected: str) -> None:
    assert describe(claims, user, groups_claim) == expected


# ---------------------------------------------------------------------------------------------
# applies: is this binding one of this user's grants (before dates)

JOE = "joe@x.com"


@pytest.mark.parametrize(
    ("b", "user", "allow", "expected"),
    [
        pytest.param(binding("b", "ws", username=JOE), {}, False, True, id="username"),
        pytest.param(
            binding("b", "ws", username="JOE@x.com"), {}, False, True, id="username-normalised"
        ),
        pytest.param(
            binding("b", "ws", username="bob@x.com"), STAFF, False, False, id="other-username"
        ),
        pytest.param(binding("b", "ws", group("cardiac-team")), STAFF, False, True, id="claims"),
        pytest.param(
            binding("b", "ws", group("cardiac-team")), {}, False, False, id="claims-absent"
        ),
        pytest.param(
            binding("b", "ws", group("cardiac-team"), username=JOE),
            STAFF,
            False,
            True,
            id="username-and-claims",
        ),
        pytest.param(
            binding("b", "ws", group("cardiac-team"), username=JOE),
            {"groups": ()},
            False,
            False,
            id="username-but-not-claims",
        ),
        pytest.param(
            binding("b", "ws", group("cardiac-team"), username=JOE),
            {},
            False,
            False,
            id="username-but-claim-absent",
        ),
        pytest.param(
            binding("b", "ws", group("cardiac-team"), username="bob@x.com"),
            STAFF,
            False,
            False,
            id="claims-but-not-username",
        ),
        pytest.param(
            binding("b", "ws", group("contractors", NOT_IN)),
            STAFF,
            False,
            False,
            id="negative-only",
        ),
        pytest.param(
            binding("b", "ws", group("contractors", NOT_IN)),
            STAFF,
            True,
            True,
            id="negative-only-allowed",
        ),
        pytest.param(
            binding("b", "ws", group("contractors", NOT_IN), username=JOE),
            STAFF,
            False,
            True,
            id="negative-only-with-username",
        ),
        pytest.param(
            binding("b", "ws", group("contractors", NOT_IN), username=JOE),
            CONTRACTOR,
            True,
            False,
            id="negative-only-with-username-fails",
        ),
        pytest.param(
            binding("b", "ws", group("contractors", NOT_IN), username=JOE),
            {},
            True,
            False,
            id="negative-only-with-username-absent",
        ),
        # An empty username is no username: the binding is claim-only.
        pytest.param(
            binding("b", "ws", group("contractors", NOT_IN), username=""),
            STAFF,
            False,
            False,
            id="empty-username-negative-only",
        ),
        pytest.param(
            binding("b", "ws", group("cardiac-team"), username=""),
            STAFF,
            False,
            True,
            id="empty-username-claims",
        ),
        # A blank username names nobody, so with claims too the binding grants nobody.
        pytest.param(
            binding("b", "ws", group("cardiac-team"), username=" "),
            STAFF,
            True,
            False,
            id="blank-username-claims",
        ),
        # Broken: reported to the user named by username, whatever their claims.
        pytest.param(
            binding("b", "ws", group("x", "NOT_EQUALS"), username=JOE),
            {},
            False,
            "malformed",
            id="broken-username",
        ),
        pytest.param(
            binding("b", "ws", group("x", "NOT_EQUALS"), username="bob@x.com"),
            {},
            False,
            False,
            id="broken-other-username",
        ),
        # Broken, claim-only: reported when a positive well-formed claim and all the
        # well-formed claims hold.
        pytest.param(
            binding("b", "ws", group("cardiac-team"), group("x", "NOT_EQUALS")),
            STAFF,
            False,
            "malformed",
            id="broken-claims-holder",
        ),
        pytest.param(
            binding("b", "ws", group("renal"), group("x", "NOT_EQUALS")),
            STAFF,
            True,
            False,
            id="broken-claims-not-holder",
        ),
        pytest.param(
            binding("b", "ws", group("x", "NOT_EQUALS")),
            STAFF,
            True,
            False,
            id="broken-claims-no-positive",
        ),
        pytest.param(
            binding("b", "ws", group("contractors", NOT_IN), group("x", "equals")),
            STAFF,
            True,
            False,
            id="broken-claims-only-negative",
        ),
        pytest.param(
            binding("b", "ws", group("cardiac-team"), group("contractors", NOT_IN), group("x", "")),
            CONTRACTOR,
            False,
            False,
            id="broken-claims-negative-fails",
        ),
        pytest.param(
            binding("b", "ws", group("cardiac-team"), group("contractors", NOT_IN), group("x", "")),
            STAFF,
            False,
            "malformed",
            id="broken-claims-all-well-formed-hold",
        ),
    ],
)
def test_applies(
    b: AnalyticsWorkspaceBinding, user: UserClaims, allow: bool, expected: bool | str
) -> None:
    assert applies(b, JOE, user, allow_negative_only=allow) == expected


def test_applies_respects_the_normaliser_for_username_and_claims() -> None:
    b = binding("b", "ws", group("cardiac-team"), username="JOE@x.com")
    assert applies(b, JOE, STAFF) is True
    assert applies(b, JOE, STAFF, normalize=exact) is False
    assert applies(b, "JOE@x.com", STAFF, normalize=exact) is True


def test_claims_error_describes_the_broken_binding() -> None:
    b = binding("b-bad", "ws", group("a"), group("x", "NOT_EQUALS"), username=JOE)
    err = claims_error(b)
    assert (err.kind, err.namespace, err.name) == ("AnalyticsWorkspaceBinding", NS, "b-bad")
    assert (err.username, err.workspace) == (JOE, "ws")
    assert err.reason == problem(b.spec.claims)
    assert "spec.claims[1].operator 'NOT_EQUALS'" in str(err)


# ---------------------------------------------------------------------------------------------
# decide: who gets a claim-based grant


def test_a_claim_binding_grants_to_every_user_whose_claims_hold() -> None:
    bindings = [binding("b-cardiac", "ws", group("cardiac-team"))]
    users: dict[str, Mapping[str, object] | None] = {
        "joe@x.com": {"groups": ["cardiac-team"]},
        "ann@x.com": {"groups": ["renal", "cardiac-team"]},
        "bob@x.com": {"groups": ["renal"]},
        "cat@x.com": {"groups": ["Cardiac-Team"]},
        "dan@x.com": {"groups": []},
        "eve@x.com": {"groups": None},
        "fay@x.com": {"groups": {"cardiac-team": True}},
        "gus@x.com": {"group": ["cardiac-team"]},
        "hal@x.com": None,
    }
    granted = []
    for user, raw in users.items():
        decision = decide([workspace("ws")], bindings, user, TODAY, claims=user_claims(raw))
        if names(decision) == ["ws"]:
            granted.append(user)
            assert decision.permitted[0].bindings == ("b-cardiac",)
        else:
            assert decision.permitted == ()
        # A claim binding whose claims do not hold is not this user's: nothing to report.
        assert decision.excluded == ()
    assert granted == ["joe@x.com", "ann@x.com"]


@pytest.mark.parametrize(
    ("user", "granted"),
    [
        pytest.param(groups("cardiac-team", department="cardiology"), True, id="both"),
        pytest.param(groups("cardiac-team", department=["x", "cardiology"]), True, id="list"),
        pytest.param(groups("cardiac-team"), False, id="department-absent"),
        pytest.param(groups("cardiac-team", department="Cardiology"), False, id="case"),
        pytest.param(groups(department="cardiology"), False, id="not-in-group"),
        pytest.param(
            groups("cardiac-team", "contractors", department="cardiology"),
            False,
            id="negative-fails",
        ),
        pytest.param({"department": ("cardiology",)}, False, id="groups-absent"),
    ],
)
def test_every_claim_must_hold(user: UserClaims, granted: bool) -> None:
    b = binding(
        "b",
        "ws",
        group("cardiac-team"),
        ("department", EQUALS, "cardiology"),
        group("contractors", NOT_IN),
    )
    decision = decide([workspace("ws")], [b], JOE, TODAY, claims=user)
    assert names(decision) == (["ws"] if granted else [])
    assert decision.excluded == ()


@pytest.mark.parametrize(
    ("user", "claims", "granted"),
    [
        pytest.param(JOE, STAFF, True, id="both-hold"),
        pytest.param("JOE@x.com", STAFF, False, id="hub-names-are-normalised-already"),
        pytest.param("bob@x.com", STAFF, False, id="other-user-with-the-claims"),
        pytest.param(JOE, {"groups": ("renal",)}, False, id="claims-fail"),
        pytest.param(JOE, {}, False, id="user-lacks-the-claim"),
        pytest.param(JOE, None, False, id="claims-not-given"),
    ],
)
def test_username_and_claims_must_both_hold(
    user: str, claims: UserClaims | None, granted: bool
) -> None:
    b = binding("b", "ws", group("cardiac-team"), username=JOE)
    decision = decide([workspace("ws")], [b], user, TODAY, claims=claims)
    assert names(decision) == (["ws"] if granted else [])
    assert decision.excluded == ()


@pytest.mark.parametrize(
    ("with_username", "allow", "claims", "granted"),
    [
        pytest.param(False, False, STAFF, False, id="claim-only-refused"),
        pytest.param(False, False, {"groups": ()}, False, id="claim-only-refused-no-groups"),
        pytest.param(False, True, STAFF, True, id="claim-only-allowed"),
        pytest.param(False, True, {"groups": ()}, True, id="claim-only-allowed-no-groups"),
        pytest.param(False, True, CONTRACTOR, False, id="claim-only-allowed-contractor"),
        pytest.param(False, True, {}, False, id="claim-only-allowed-absent"),
        pytest.param(False, True, None, False, id="claim-only-allowed-not-given"),
        pytest.param(True, False, STAFF, True, id="username"),
        pytest.param(True, False, CONTRACTOR, False, id="username-contractor"),
        pytest.param(True, False, {}, False, id="username-claim-absent"),
    ],
)
def test_negative_only_bindings(
    with_username: bool, allow: bool, claims: UserClaims | None, granted: bool
) -> None:
    b = binding(
        "b",
        "ws",
        group("contractors", NOT_IN),
        group("locked", NOT_EQUALS),
        username=JOE if with_username else None,
    )
    decision = decide([workspace("ws")], [b], JOE, TODAY, claims=claims, allow_negative_only=allow)
    assert names(decision) == (["ws"] if granted else [])
    assert decision.excluded == ()


def test_a_blank_hub_name_gets_nothing_even_when_its_claims_hold() -> None:
    bindings = [binding("b", "ws", group("cardiac-team")), binding("n", "ws2", group("x", NOT_IN))]
    for blank in ("", "  ", "\u00a0"):
        decision = decide(
            [workspace("ws"), workspace("ws2")],
            bindings,
            blank,
            TODAY,
            claims=STAFF,
            allow_negative_only=True,
        )
        assert decision.permitted == () and decision.excluded == ()


@pytest.mark.parametrize(
    ("claim", "raw", "granted"),
    [
        pytest.param(
            ("my groups, all", EQUALS, "a"),
            {"my groups, all": "a"},
            True,
            id="name-with-comma-and-space",
        ),
        pytest.param(("my groups, all", EQUALS, "a"), {"my groups": "a"}, False, id="name-prefix"),
        pytest.param(("Groups", EQUALS, "a"), {"groups": "a"}, False, id="name-case"),
        pytest.param(group("a, b"), {"groups": "a, b"}, True, id="eq-value-with-comma"),
        pytest.param(group("a, b"), {"groups": ["a", "b"]}, False, id="eq-value-not-a-list"),
        pytest.param(group("a, b", IN), {"groups": ["b"]}, True, id="in"),
        pytest.param(group("a,,b", IN), {"groups": [""]}, False, id="in-empty-item"),
        pytest.param(group("", IN), {"groups": [""]}, False, id="in-empty"),
        pytest.param(group(""), {"groups": [""]}, True, id="eq-empty"),
        pytest.param(group("cardiac-team"), {"groups": "Cardiac-Team"}, False, id="case"),
        pytest.param(group("stra\u00dfe"), {"groups": "strasse"}, False, id="sharp-s"),
        pytest.param(group("strasse"), {"groups": "STRASSE"}, False, id="upper"),
        pytest.param(group(ZOE_NFC), {"groups": ZOE_NFD}, False, id="nfc-nfd"),
        pytest.param(group("3"), {"groups": 3}, True, id="int"),
        pytest.param(group("True"), {"groups": True}, True, id="bool"),
        pytest.param(group("true"), {"groups": True}, False, id="bool-case"),
        pytest.param(group("a"), {"groups": {"a": "a"}}, False, id="nested-dict"),
        pytest.param(group("a"), {"groups": [["a"]]}, False, id="nested-list"),
        pytest.param(group("a"), {"groups": None}, False, id="none"),
        pytest.param(group("a", NOT_EQUALS), {"groups": {"b": 1}}, False, id="ne-nested-dict"),
        pytest.param(group("a", NOT_IN), {"groups": None}, False, id="nin-none"),
    ],
)
def test_hostile_claims_through_decide(
    claim: tuple[str, str, str], raw: Mapping[str, object], granted: bool
) -> None:
    # A positive claim is always there too, so negative claims are tested on their own merit.
    b = binding("b", "ws", claim, ("always", EQUALS, "yes"))
    user = user_claims({"always": "yes"}, raw)
    decision = decide([workspace("ws")], [b], JOE, TODAY, claims=user)
    assert names(decision) == (["ws"] if granted else [])
    assert decision.excluded == ()


@pytest.mark.parametrize("where", ["first", "last", "absent"])
def test_very_long_lists(where: str) -> None:
    wanted = [f"team-{i:05d}" for i in range(3000)]
    mine = [f"group-{i:05d}" for i in range(5000)]
    if where == "first":
        mine[0] = wanted[-1]
    elif where == "last":
        mine[-1] = wanted[0]
    b_in = binding("b-in", "ws", group(", ".join(wanted), IN))
    b_nin = binding("b-nin", "ws2", group("x", EQUALS), group(",".join(wanted), NOT_IN))
    decision = decide(
        [workspace("ws"), workspace("ws2")], [b_in, b_nin], JOE, TODAY, claims=groups("x", *mine)
    )
    assert names(decision) == (["ws"] if where != "absent" else ["ws2"])


def test_many_claim_bindings_are_told_apart() -> None:
    workspaces = [workspace(f"ws-{i:03d}") for i in range(200)]
    bindings = [binding(f"b-{i:03d}", f"ws-{i:03d}", group(f"team-{i}")) for i in range(200)]
    decision = decide(workspaces, bindings, JOE, TODAY, claims=groups("team-7", "team-70"))
    assert names(decision) == ["ws-007", "ws-070"]


# ---------------------------------------------------------------------------------------------
# decide: broken claims


@pytest.mark.parametrize("operator", BAD_OPERATORS)
def test_a_binding_with_an_unknown_operator_grants_nothing_and_is_reported_by_username(
    operator: str,
) -> None:
    b = binding("b-bad", "ws", group("cardiac-team"), group("x", operator), username=JOE)
    for claims in (STAFF, {}, None):
        decision = decide(
            [workspace("ws")], [b], JOE, TODAY, claims=claims, allow_negative_only=True
        )
        assert decision.permitted == ()
        assert reasons(decision) == [("b-bad", "ws", "malformed")]
        ex = decision.reason_for("ws")
        assert ex is not None
        assert "spec.claims[1].operator" in ex.detail and repr(operator) in ex.detail
        assert "b-bad" in ex.detail
    # Never to anyone else, whatever their claims.
    bob = decide([workspace("ws")], [b], "bob@x.com", TODAY, claims=STAFF)
    assert bob.permitted == () and bob.excluded == ()


@pytest.mark.parametrize("operator", BAD_OPERATORS)
@pytest.mark.parametrize(
    ("claims", "reported"),
    [
        pytest.param(STAFF, True, id="holder"),
        pytest.param(CONTRACTOR, False, id="negative-fails"),
        pytest.param({"groups": ("renal",)}, False, id="positive-fails"),
        pytest.param({}, False, id="absent"),
        pytest.param(None, False, id="not-given"),
    ],
)
def test_a_claim_only_binding_with_an_unknown_operator_is_reported_to_its_holders_only(
    operator: str, claims: UserClaims | None, reported: bool
) -> None:
    b = binding(
        "b-bad",
        "ws",
        group("cardiac-team"),
        group("contractors", NOT_IN),
        ("department", operator, "x"),
    )
    decision = decide([workspace("ws")], [b], JOE, TODAY, claims=claims)
    assert decision.permitted == ()
    assert reasons(decision) == ([("b-bad", "ws", "malformed")] if reported else [])


@pytest.mark.parametrize("operator", ["NOT_EQUALS", "equals", ""])
def test_a_claim_only_binding_without_a_positive_well_formed_claim_is_reported_to_nobody(
    operator: str,
) -> None:
    bindings = [
        binding("b-only-bad", "ws", group("cardiac-team", operator)),
        binding("b-neg-bad", "ws", group("contractors", NOT_IN), group("cardiac-team", operator)),
    ]
    for claims in (STAFF, {"groups": ()}, {}):
        decision = decide(
            [workspace("ws")], bindings, JOE, TODAY, claims=claims, allow_negative_only=True
        )
        assert decision.permitted == () and decision.excluded == ()


def test_a_broken_binding_beside_a_granting_one_is_not_reported() -> None:
    bindings = [
        binding("b-bad", "ws", group("cardiac-team"), group("x", "NOT_IN")),
        binding("b-ok", "ws", group("cardiac-team")),
        binding("b-bad-2", "ws2", group("cardiac-team"), group("x", "NOT_IN")),
    ]
    decision = decide([workspace("ws"), workspace("ws2")], bindings, JOE, TODAY, claims=STAFF)
    assert names(decision) == ["ws"]
    granted = decision.get("ws")
    assert granted is not None and granted.bindings == ("b-ok",)
    assert reasons(decision) == [("b-bad-2", "ws2", "malformed")]


def test_a_broken_binding_after_an_expired_one_is_reported_after_it() -> None:
    bindings = [
        binding("b-old", "ws", group("cardiac-team"), expires="2026-03-01"),
        binding("b-bad", "ws", group("cardiac-team"), group("x", "in")),
    ]
    decision = decide([workspace("ws")], bindings, JOE, TODAY, claims=STAFF)
    assert reasons(decision) == [("b-old", "ws", "expired"), ("b-bad", "ws", "malformed")]
    assert decision.reason_for("ws") == decision.excluded[0]


# ---------------------------------------------------------------------------------------------
# decide: dates and workspaces, as for username bindings


@pytest.mark.parametrize(
    ("today", "expires", "ws_kw", "reason"),
    [
        pytest.param("2026-03-12", "2026-03-31", {}, None, id="granted"),
        pytest.param("2026-03-15", "2026-03-15", {}, None, id="grant-last-day"),
        pytest.param("2026-03-16", "2026-03-15", {}, "expired", id="expired"),
        pytest.param("2026-03-09", "2026-03-31", {}, "not-yet-available", id="too-soon"),
        pytest.param("2026-03-21", "2026-03-31", {}, "workspace-expired", id="workspace-over"),
        pytest.param(
            "2026-03-12",
            "2026-03-31",
            {"jupyter": False},
            "not-a-jupyter-workspace",
            id="vm-workspace",
        ),
        pytest.param("2026-03-12", "2026-03-31", None, "workspace-missing", id="missing"),
    ],
)
def test_claim_bindings_follow_the_date_rules(
    today: str, expires: str, ws_kw: dict[str, Any] | None, reason: str | None
) -> None:
    workspaces = [] if ws_kw is None else [workspace("ws", **ws_kw)]
    b = binding("b-claim", "ws", group("cardiac-team"), expires=expires)
    holder = decide(workspaces, [b], JOE, D(today), claims=STAFF)
    if reason is None:
        assert names(holder) == ["ws"] and holder.excluded == ()
    else:
        assert holder.permitted == ()
        assert reasons(holder) == [("b-claim", "ws", reason)]
    # Someone whose claims do not hold is told nothing, whatever the dates.
    other = decide(workspaces, [b], "bob@x.com", D(today), claims={"groups": ("renal",)})
    assert other.permitted == () and other.excluded == ()


@pytest.mark.parametrize(
    ("user_exp", "claim_exp", "today", "expires", "bindings", "via"),
    [
        pytest.param(
            "2026-03-15",
            "2026-03-18",
            "2026-03-12",
            "2026-03-18",
            ("b-claim", "b-user"),
            None,
            id="claim-later",
        ),
        pytest.param(
            "2026-03-18",
            "2026-03-15",
            "2026-03-12",
            "2026-03-18",
            ("b-user", "b-claim"),
            None,
            id="user-later",
        ),
        pytest.param(
            "2026-03-18",
            "2026-03-18",
            "2026-03-12",
            "2026-03-18",
            ("b-claim", "b-user"),
            None,
            id="equal-by-name",
        ),
        pytest.param(
            "2026-03-15",
            "2026-03-18",
            "2026-03-16",
            "2026-03-18",
            ("b-claim",),
            "via group cardiac-team",
            id="user-binding-over",
        ),
        pytest.param(
            "2026-03-18",
            "2026-03-15",
            "2026-03-16",
            "2026-03-18",
            ("b-user",),
            None,
            id="claim-binding-over",
        ),
        pytest.param(
            "2026-03-31",
            "2026-04-30",
            "2026-03-12",
            "2026-03-20",
            ("b-claim", "b-user"),
            None,
            id="workspace-ends-first",
        ),
    ],
)
def test_latest_expiry_wins_across_username_and_claim_bindings(
    user_exp: str,
    claim_exp: str,
    today: str,
    expires: str,
    bindings: tuple[str, ...],
    via: str | None,
) -> None:
    given = [
        binding("b-user", "ws", username=JOE, expires=user_exp),
        binding("b-claim", "ws", group("cardiac-team"), expires=claim_exp),
    ]
    decision = decide([workspace("ws")], given, JOE, D(today), claims=STAFF)
    granted = decision.get("ws")
    assert granted is not None
    assert (granted.expires, granted.bindings, granted.via) == (D(expires), bindings, via)
    assert granted.days_left == (D(expires) - D(today)).days
    assert decision.excluded == ()


def test_all_expired_reports_the_latest_of_username_and_claim_bindings() -> None:
    given = [
        binding("b-user", "ws", username=JOE, expires="2026-03-05"),
        binding("b-claim", "ws", group("cardiac-team"), expires="2026-03-08"),
    ]
    decision = decide([workspace("ws")], given, JOE, TODAY, claims=STAFF)
    assert reasons(decision) == [("b-claim", "ws", "expired")]
    ex = decision.reason_for("ws")
    assert ex is not None and "2026-03-08" in ex.detail
    # Without the claims only the username binding is theirs.
    decision = decide([workspace("ws")], given, JOE, TODAY)
    assert reasons(decision) == [("b-user", "ws", "expired")]


# ---------------------------------------------------------------------------------------------
# PermittedWorkspace.via


@pytest.mark.parametrize(
    ("given", "claims", "groups_claim", "via"),
    [
        pytest.param(
            [binding("b", "ws", group("cardiac-team"))],
            STAFF,
            "groups",
            "via group cardiac-team",
            id="group",
        ),
        pytest.param(
            [binding("b", "ws", group("renal, cardiac-team", IN))],
            groups("cardiac-team", "x"),
            "groups",
            "via group cardiac-team",
            id="in-names-the-users-group",
        ),
        pytest.param(
            [binding("b", "ws", ("department", EQUALS, "cardiology"))],
            {"department": ("cardiology",)},
            "groups",
            "via department = cardiology",
            id="other-claim",
        ),
        pytest.param(
            [binding("b", "ws", group("cardiac-team"))],
            STAFF,
            "roles",
            "via groups = cardiac-team",
            id="groups-claim-configured",
        ),
        pytest.param(
            [binding("b", "ws", group("contractors", NOT_IN))],
            {"groups": ()},
            "groups",
            "via not in group contractors",
            id="negative-only",
        ),
        pytest.param(
            [binding("b", "ws", group("cardiac-team"), username=JOE)],
            STAFF,
            "groups",
            None,
            id="username-and-claims",
        ),
        pytest.param([binding("b", "ws", username=JOE)], STAFF, "groups", None, id="username"),
        pytest.param(
            [binding("a", "ws", group("cardiac-team")), binding("b", "ws", username=JOE)],
            STAFF,
            "groups",
            None,
            id="claim-and-username",
        ),
        pytest.param(
            [binding("b", "ws", group("cardiac-team"))],
            {"groups": ("cardiac-team", "cardiac-team")},
            "groups",
            "via group cardiac-team",
            id="duplicate-group",
        ),
    ],
)
def test_via(
    given: list[AnalyticsWorkspaceBinding], claims: UserClaims, groups_claim: str, via: str | None
) -> None:
    decision = decide(
        [workspace("ws")],
        given,
        JOE,
        TODAY,
        claims=claims,
        allow_negative_only=True,
        groups_claim=groups_claim,
    )
    granted = decision.get("ws")
    assert granted is not None and granted.via == via


# ---------------------------------------------------------------------------------------------
# grant_ended: a running server's claim-based grant


def ended(
    claims: UserClaims | None,
    *,
    given: list[AnalyticsWorkspaceBinding] | None = None,
    mounted: list[str] | None = None,
    today: date = TODAY,
    allow: bool = False,
) -> str | None:
    dsbs = [
        AnalyticsDataSourceBinding.model_validate(factories.datasource_binding("d1", "ws", "ds-a"))
    ]
    sources = [AnalyticsDataSource.model_validate(factories.datasource("ds-a", type="db"))]
    bindings = given if given is not None else [binding("b", "ws", group("cardiac-team"))]
    return grant_ended(
        "ws",
        mounted,
        [workspace("ws")],
        bindings,
        dsbs,
        sources,
        JOE,
        today,
        claims=claims,
        allow_negative_only=allow,
    )


@pytest.mark.parametrize("mounted", [None, [], ["ds-a"]])
def test_a_claim_grant_that_holds_has_not_ended(mounted: list[str] | None) -> None:
    assert ended(STAFF, mounted=mounted) is None
    assert ended(groups("renal", "cardiac-team"), mounted=mounted) is None


@pytest.mark.parametrize(
    ("claims", "kw", "why"),
    [
        pytest.param({"groups": ("renal",)}, {}, "no longer granted", id="left-the-group"),
        pytest.param({"groups": ()}, {}, "no longer granted", id="in-no-group"),
        pytest.param({}, {}, "no longer granted", id="claim-gone"),
        pytest.param(None, {}, "no longer granted", id="claims-not-given"),
        pytest.param({"groups": ("Cardiac-Team",)}, {}, "no longer granted", id="case"),
        pytest.param(STAFF, {"today": D("2026-04-01")}, "expired", id="expired"),
        pytest.param(
            STAFF,
            {"given": [binding("b", "ws", group("cardiac-team"), group("x", "NOT_EQUALS"))]},
            "malformed",
            id="became-malformed",
        ),
        pytest.param(
            STAFF,
            {"given": [binding("b", "ws", group("cardiac-team", "equals"))]},
            "no longer granted",
            id="became-malformed-without-positive",
        ),
        pytest.param(
            CONTRACTOR,
            {"given": [binding("b", "ws", group("cardiac-team"), group("contractors", NOT_IN))]},
            "no longer granted",
            id="joined-an-excluded-group",
        ),
        pytest.param(
            STAFF,
            {"given": [binding("b", "ws", group("contractors", NOT_IN))]},
            "no longer granted",
            id="negative-only-not-allowed",
        ),
        pytest.param(
            STAFF, {"mounted": ["ds-a", "ds-b"]}, "ds-b no longer attached", id="datasource-gone"
        ),
    ],
)
def test_every_way_a_claim_grant_ends(
    claims: UserClaims | None, kw: dict[str, Any], why: str
) -> None:
    got = ended(claims, **kw)
    assert got is not None and why in got


def test_a_negative_only_grant_holds_while_allowed() -> None:
    given = [binding("b", "ws", group("contractors", NOT_IN))]
    assert ended(STAFF, given=given, allow=True) is None
    assert ended(CONTRACTOR, given=given, allow=True) is not None


def test_a_username_binding_keeps_the_grant_when_the_claims_go() -> None:
    given = [binding("b-claim", "ws", group("cardiac-team")), binding("b-user", "ws", username=JOE)]
    assert ended({"groups": ()}, given=given) is None
    assert ended(None, given=given) is None
