"""Claim-based grants: whether a binding's ``spec.claims`` hold for one user. Pure functions.

A user's claims
    A mapping of claim name to a tuple of string values (``UserClaims``), built by
    ``user_claims`` from the hub's groups, the auth_state userinfo and an admin hook. A scalar
    becomes one value (``str()`` of it); a list becomes its scalar elements. A claim whose value
    is None, a mapping, or a list with no scalar element is absent. An empty list is a present
    claim with no values (a user in no group has ``groups: ()``).

The operators (values compare exactly: case-sensitive, no trimming of the user's values)
    ``EQUALS v``      one of the claim's values is ``v``;
    ``NOT EQUALS v``  the claim is present and none of its values is ``v``;
    ``IN "a, b"``     one of its values is one of the comma-separated items (each trimmed,
                      empty items dropped);
    ``NOT IN "a, b"`` the claim is present and none of its values is one of the items.
    An absent claim fails every operator. Any other operator string makes the whole binding
    malformed (``problem``): it grants nothing.

A binding's claims all hold, or it does not grant (``holds_all``). A binding of only negative
claims would grant nearly everyone; ``grants`` refuses it unless negative-only grants are
allowed, or the binding also names a username.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Protocol

EQUALS: Final = "EQUALS"
NOT_EQUALS: Final = "NOT EQUALS"
IN: Final = "IN"
NOT_IN: Final = "NOT IN"
OPERATORS: Final = (EQUALS, NOT_EQUALS, IN, NOT_IN)
POSITIVE: Final = frozenset({EQUALS, IN})
NEGATIVE: Final = frozenset({NOT_EQUALS, NOT_IN})

#: A user's claims: name -> values (see the module docstring).
UserClaims = Mapping[str, tuple[str, ...]]

_SCALARS = (str, int, float, bool)


class ClaimLike(Protocol):
    """A binding's claim (``models.binding.Claim``): three strings."""

    @property
    def name(self) -> str: ...
    @property
    def operator(self) -> str: ...
    @property
    def value(self) -> str: ...


def values_of(raw: object) -> tuple[str, ...] | None:
    """One claim's values as strings, or None when the claim counts as absent."""
    if isinstance(raw, _SCALARS):
        return (str(raw),)
    if isinstance(raw, (list, tuple, set, frozenset)):
        found = tuple(str(v) for v in raw if isinstance(v, _SCALARS))
        if found or not raw:
            return tuple(sorted(found)) if isinstance(raw, (set, frozenset)) else found
    return None


def user_claims(*sources: Mapping[str, object] | None) -> dict[str, tuple[str, ...]]:
    """One user's claims from ``sources`` in order: a later source's claim replaces an earlier
    one of the same name (an absent value there removes it). Non-string names are ignored."""
    merged: dict[str, tuple[str, ...]] = {}
    for source in sources:
        if not isinstance(source, Mapping):
            continue
        for name, raw in source.items():
            if not isinstance(name, str):
                continue
            values = values_of(raw)
            if values is None:
                merged.pop(name, None)
            else:
                merged[name] = values
    return merged


def items(value: str) -> tuple[str, ...]:
    """The items of an ``IN``/``NOT IN`` value: comma-separated, trimmed, empty ones dropped."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def operands(claim: ClaimLike) -> tuple[str, ...]:
    """The values a claim compares with: ``items`` for IN/NOT IN, else the value itself."""
    return items(claim.value) if claim.operator in (IN, NOT_IN) else (claim.value,)


def holds(claim: ClaimLike, user: UserClaims) -> bool:
    """Whether ``claim`` holds for a user with claims ``user``; unknown operators never hold."""
    have = user.get(claim.name)
    if have is None or claim.operator not in OPERATORS:
        return False
    if isinstance(have, str):  # a caller that skipped user_claims: one value, not its letters
        have = (have,)
    wanted = frozenset(operands(claim))  # a set: long IN lists against many groups stay linear
    hit = any(v in wanted for v in have)
    return hit if claim.operator in POSITIVE else not hit


def problem(claims: Iterable[ClaimLike]) -> str | None:
    """Why these claims make their binding malformed (an unknown operator), else None."""
    for i, claim in enumerate(claims):
        if claim.operator not in OPERATORS:
            known = ", ".join(OPERATORS)
            return f"spec.claims[{i}].operator {claim.operator[:40]!r} is not one of {known}"
    return None


def negative_only(claims: Sequence[ClaimLike]) -> bool:
    """True when there are claims and none of them is positive (EQUALS/IN)."""
    return bool(claims) and not any(c.operator in POSITIVE for c in claims)


def holds_all(claims: Iterable[ClaimLike], user: UserClaims) -> bool:
    return all(holds(c, user) for c in claims)


def grants(
    claims: Sequence[ClaimLike],
    user: UserClaims,
    *,
    has_username: bool,
    allow_negative_only: bool,
) -> bool:
    """Whether a binding's claims let it grant to this user (its username is checked apart)."""
    if problem(claims) is not None or not (claims or has_username):
        return False
    if not has_username and negative_only(claims) and not allow_negative_only:
        return False
    return holds_all(claims, user)


def index_keys(claims: Sequence[ClaimLike]) -> tuple[tuple[str, str], ...]:
    """(claim name, value) pairs, one of which every user the claims hold for has: those of the
    first positive claim with a known operator. Empty when there is no such claim."""
    for claim in claims:
        if claim.operator in POSITIVE:
            return tuple((claim.name, v) for v in operands(claim))
    return ()


def describe(claims: Sequence[ClaimLike], user: UserClaims, groups_claim: str) -> str:
    """How these claims grant to this user, for people: ``group cardiac-team``,
    ``department = cardiology and not in group contractors``."""
    parts = []
    for claim in claims:
        wanted = operands(claim)
        mine = list(dict.fromkeys(v for v in user.get(claim.name, ()) if v in wanted))
        is_group = bool(groups_claim) and claim.name == groups_claim
        if claim.operator in POSITIVE:
            shown = ", ".join(mine or wanted)
            parts.append(f"group {shown}" if is_group else f"{claim.name} = {shown}")
        else:
            shown = ", ".join(wanted)
            parts.append(f"not in group {shown}" if is_group else f"{claim.name} not {shown}")
    return " and ".join(parts)


__all__ = [
    "EQUALS",
    "IN",
    "NEGATIVE",
    "NOT_EQUALS",
    "NOT_IN",
    "OPERATORS",
    "POSITIVE",
    "UserClaims",
    "describe",
    "grants",
    "holds",
    "holds_all",
    "index_keys",
    "items",
    "negative_only",
    "operands",
    "problem",
    "user_claims",
    "values_of",
]
