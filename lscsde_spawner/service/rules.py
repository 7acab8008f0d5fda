"""Who may do what in the workspaces service. Pure functions over what the caller is.

    anyone                 sees the workspaces granted to them today (their own list)
    a workspace's admin    (a binding at level ``admin`` that grants it today) and hub admins:
                           manage that workspace's members and sessions, read its events
    anyone else            learns nothing: a workspace they are not granted is "not found",
                           exactly as one that does not exist (404, never 403)

A member or viewer of a workspace knows it exists, so what they may not do there is refused
with 403. A workspace admin whose grant has expired is no longer granted it: 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .. import levels
from .errors import Forbidden, NotFound

Action = Literal["read-members", "manage-members", "read-sessions", "stop-sessions", "read-events"]
ACTIONS: tuple[Action, ...] = (
    "read-members",
    "manage-members",
    "read-sessions",
    "stop-sessions",
    "read-events",
)
_WHAT: dict[Action, str] = {
    "read-members": "see the members of",
    "manage-members": "manage the members of",
    "read-sessions": "see the sessions in",
    "stop-sessions": "stop sessions in",
    "read-events": "read the events of",
}


@dataclass(frozen=True)
class Caller:
    """A hub user calling the service (a hub admin may manage every workspace)."""

    name: str
    hub_admin: bool = False


def manages(caller: Caller, level: str | None) -> bool:
    """Whether the caller, granted the workspace at ``level`` today (None: not granted), may
    manage it."""
    return caller.hub_admin or level == levels.ADMIN


def authorize(
    caller: Caller, workspace: str, *, exists: bool, level: str | None, action: Action
) -> None:
    """Raise NotFound or Forbidden unless ``caller`` may do ``action`` in ``workspace``, which
    ``exists`` (or not) and is granted to them today at ``level`` (None: not granted)."""
    if not exists or (level is None and not caller.hub_admin):
        raise NotFound(f"workspace {workspace!r} not found")
    if not manages(caller, level):
        raise Forbidden(
            f"{caller.name} may not {_WHAT[action]} workspace {workspace!r}: only its admins "
            "may (access level admin)"
        )


__all__ = ["ACTIONS", "Action", "Caller", "authorize", "manages"]
