"""Which workspace a start may use, decided from the watch-fed cache: the requested name
checked, the grant found (or the start refused with the reason), and the data sources attached
to it with the bindings that attach them. A refusal needs no API request; the grant is proved
with fresh reads just before the pod is created (``grant_proof``)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from . import access
from .claims import UserClaims
from .kube.cache import UserSnapshot, WorkspaceCache
from .refusals import refuse

_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")

Decide = Callable[[UserSnapshot, date, UserClaims | None], access.AccessDecision]


@dataclass
class Chosen:
    """The workspace a start may use: its grant and the data sources attached to it."""

    grant: access.PermittedWorkspace
    datasources: list[Any]
    datasource_bindings: tuple[str, ...]  # the data-source bindings that attach them


def requested(options: Any) -> str | None:
    """The workspace named by the start's options (None: none named); refused unless a
    workspace name."""
    options = options if isinstance(options, dict) else {}
    name = options.get("profile")
    if name is None or name == "":
        return None
    if not isinstance(name, str):
        raise refuse(
            400, f"'profile' must be a workspace name, not {type(name).__name__}", "bad-input"
        )
    if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        raise refuse(400, f"{name[:80]!r} is not a valid workspace name", "bad-input")
    return name


def attaching(
    workspace: str, bindings: Iterable[Any], attached: Iterable[Any], today: date
) -> tuple[str, ...]:
    """The live data-source bindings that attach ``attached`` to ``workspace``."""
    names = {d.name for d in attached}
    return tuple(
        sorted(
            b.name
            for b in bindings
            if b.spec.workspace == workspace
            and b.spec.datasource in names
            and (b.spec.expires is None or b.spec.expires >= today)
        )
    )


async def choose(
    cache: WorkspaceCache,
    user: str,
    name: str | None,
    *,
    sync_timeout: float,
    today: Callable[[], date],
    read_claims: Callable[[], Awaitable[UserClaims | None]],
    decide: Decide,
) -> Chosen:
    """The grant of workspace ``name`` (None: the user's only one) to ``user`` today, from the
    cache; refused when the cache is not synced or the workspace is not permitted. Costs what
    this user's grant numbers, not what the namespace holds."""
    if not cache.synced and not await cache.wait_synced(sync_timeout):
        raise refuse(
            503, "Workspace information is still loading; try again in a moment", "not-synced"
        )
    day = today()
    claims = await read_claims()
    if name is None:
        snap = await cache.snapshot_for(user, claims)
        mine = decide(snap, day, claims)
        if not mine.permitted:
            raise refuse(403, f"{user} has no workspace available today", "not-granted")
        if len(mine.permitted) > 1:
            names = ", ".join(p.name for p in mine.permitted)
            raise refuse(400, f"Name a workspace to start: {user} may use {names}", "bad-input")
        name = mine.permitted[0].name
    view = cache.workspace_view(user, name, claims)
    decision = decide(view, day, claims)
    grant = decision.get(name)
    if grant is None:
        why = decision.reason_for(name)
        if why is not None:
            status = 404 if why.reason == "workspace-missing" else 403
            raise refuse(status, f"Workspace {name!r} cannot be started: {why.detail}", why.reason)
        known = view.workspaces or any(e.name == name for e in view.malformed)
        if not known:
            raise refuse(404, f"Workspace {name!r} does not exist", "workspace-missing")
        raise refuse(403, f"Workspace {name!r} is not granted to {user}", "not-granted")
    attached, _ = access.attached_datasources(
        name, view.datasource_bindings, view.datasources, day, malformed=view.malformed
    )
    return Chosen(grant, attached, attaching(name, view.datasource_bindings, attached, day))


__all__ = ["Chosen", "attaching", "choose", "requested"]
