"""Access levels: what a workspace binding lets its user do there. Pure functions.

A binding's level is its annotation ``xlscsde.nhs.uk/access-level``:

    ``viewer``  the workspace's storage (its PVC and additional storage) is mounted read-only,
                as the data sources always are;
    ``member``  the default (no annotation), as before levels existed: the storage is writable;
    ``admin``   as ``member``, and the workspace's members, sessions and audit trail may be
                managed through the workspaces service.

Values compare exactly (lowercase, no spaces). Any other value, the empty string included, is
unknown: the binding grants nothing, fails closed, and is reported as malformed, as a broken
claim operator is (``problem``).

Several bindings granting one workspace to a user: the highest level among those that grant it
today wins (grants add up, as the latest expiry wins), so demoting someone means changing every
binding that grants them the workspace, their group's included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, Literal

#: The annotation on an AnalyticsWorkspaceBinding that holds its access level.
ANNOTATION: Final = "xlscsde.nhs.uk/access-level"

AccessLevel = Literal["viewer", "member", "admin"]
VIEWER: Final = "viewer"
MEMBER: Final = "member"
ADMIN: Final = "admin"
#: Lowest first.
LEVELS: Final[tuple[AccessLevel, ...]] = ("viewer", "member", "admin")
DEFAULT: Final = MEMBER


def level_of(annotations: Mapping[str, str] | None) -> AccessLevel | None:
    """The level a binding's annotations give, or None when the value is unknown."""
    raw = (annotations or {}).get(ANNOTATION)
    if raw is None:
        return "member"
    for level in LEVELS:
        if raw == level:
            return level
    return None


def problem(annotations: Mapping[str, str] | None) -> str | None:
    """Why these annotations make their binding grant nothing (an unknown level), else None."""
    if level_of(annotations) is not None:
        return None
    raw = (annotations or {}).get(ANNOTATION, "")
    known = ", ".join(LEVELS)
    return f"metadata.annotations[{ANNOTATION!r}] {raw[:40]!r} is not one of {known}"


def highest(levels: Iterable[AccessLevel]) -> AccessLevel:
    """The highest of ``levels`` (``member`` when there are none)."""
    found = [LEVELS.index(level) for level in levels]
    return LEVELS[max(found)] if found else DEFAULT


def writable(level: str) -> bool:
    """Whether a server at this level mounts the workspace's storage writable."""
    return level in (MEMBER, ADMIN)


def parse(value: object) -> AccessLevel | None:
    """A level given as input (a REST body), or None when it is not one."""
    return next((level for level in LEVELS if value == level), None)


__all__ = [
    "ADMIN",
    "ANNOTATION",
    "DEFAULT",
    "LEVELS",
    "MEMBER",
    "VIEWER",
    "AccessLevel",
    "highest",
    "level_of",
    "parse",
    "problem",
    "writable",
]
