"""What is known of a running server's grant, as pure functions: the workspace it runs and the
data sources it mounts, whether its workspace storage is writable, the grant the pages show
(workspace, display name, last day), the notice of a revocation, and how the spawner's state
keeps these across hub restarts. The spawner's ``poll``, ``get_state`` and ``load_state`` call
them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

from . import access, storage
from .claims import UserClaims
from .usernames import Normalize

REVOKED_STATE = "lscsde_revoked"
SERVING_STATE = "lscsde_workspace"  # the running server's workspace and grant, for the pages

#: (workspace, display name, last day) of a running server's grant
Serving = tuple[str, str, date]
#: (workspace, the data sources it mounts; None when not known)
Running = tuple[str, frozenset[str] | None]


def running_what(pod: Any, chosen: Any) -> Running | None:
    """The workspace a server runs and the data sources it mounts: from its pod (as the spawner
    labelled and annotated it, so a restarted hub knows), else from the start's choice (a
    ``choosing.Chosen``; None: none)."""
    found = storage.running_from_pod(pod)
    if found is not None:
        return found
    if chosen is not None:
        return chosen.grant.name, frozenset(d.name for d in chosen.datasources)
    return None


def writable(pod: Any, plan: storage.StoragePlan | None) -> bool:
    """Whether a server mounts its workspace's storage writable: as its pod says, else as its
    start planned; a pod that does not say (from before access levels) did."""
    said = storage.writable_from_pod(pod)
    if said is not None:
        return said
    if plan is not None:
        return any(not m.read_only for m in plan.mounts if m.purpose != "datasource")
    return True


def grant_check(
    view: Any,
    running: Running,
    user: str,
    today: date,
    *,
    claims: UserClaims | None,
    normalize: Normalize,
    allow_negative_only: bool,
    writable: bool,
    decide: Callable[[Any, date, UserClaims | None], access.AccessDecision],
) -> tuple[str | None, access.PermittedWorkspace | None]:
    """Why a running server's grant has ended over ``view`` (the cache's view of its
    workspace), else None and the grant as it is now (for the pages)."""
    name, mounted = running
    why = access.grant_ended(
        name, mounted, view.workspaces, view.bindings, view.datasource_bindings,
        view.datasources, user, today,
        normalize=normalize, malformed=view.malformed, claims=claims,
        allow_negative_only=allow_negative_only, writable=writable,
    )  # fmt: skip
    if why is not None:
        return why, None
    return None, decide(view, today, claims).get(name)


async def grant_ended(
    view_for: Callable[[UserClaims | None], Any],
    running: Running,
    user: str,
    today: date,
    *,
    read_claims: Callable[[], Awaitable[UserClaims | None]],
    normalize: Normalize,
    allow_negative_only: bool,
    writable: bool,
    decide: Callable[[Any, date, UserClaims | None], access.AccessDecision],
    note: Callable[[access.PermittedWorkspace | None], None],
) -> str | None:
    """Why a running server's grant has ended, else None (and the grant as it is now passed to
    ``note``, for the pages). ``view_for(claims)`` is the cache's view of its workspace."""

    def ended(claims: UserClaims | None) -> str | None:
        why, grant = grant_check(
            view_for(claims), running, user, today, claims=claims, normalize=normalize,
            allow_negative_only=allow_negative_only, writable=writable, decide=decide,
        )  # fmt: skip
        note(grant)
        return why

    # Claims only ever add grants: a server its username bindings keep alive needs no
    # claims read (auth_state decryption, the admin's hook) on every sweep.
    why = ended(None)
    if why is not None:
        why = ended(await read_claims())
    return why


def serving(grant: access.PermittedWorkspace) -> Serving:
    """What the pages show of a server's grant."""
    ws = grant.workspace
    return ws.name, ws.spec.display_name.strip() or ws.name, grant.expires


def revocation_notice(server: str, workspace: str, why: str, now: datetime) -> dict[str, str]:
    """The spawn page's notice of a server stopped because its grant ended."""
    return {
        "server": server,
        "workspace": workspace,
        "when": now.strftime("%Y-%m-%d %H:%M UTC"),
        "why": why,
    }


def notices(revoked: Iterable[Any]) -> list[dict[str, str]]:
    """The notices among the spawners' last revocations (None or empty: none)."""
    return [n for n in revoked if n]


def save_state(
    state: dict[str, Any], revoked: Mapping[str, str] | None, now_serving: Serving | None
) -> dict[str, Any]:
    """``state`` with the last revocation and the running grant added."""
    if revoked:
        state[REVOKED_STATE] = dict(revoked)
    if now_serving is not None:
        name, display_name, expires = now_serving
        state[SERVING_STATE] = {
            "workspace": name,
            "display_name": display_name,
            "expires": expires.isoformat(),
        }
    return state


def loaded_revocation(
    state: Mapping[str, Any], current: dict[str, str] | None
) -> dict[str, str] | None:
    """The revocation notice kept in ``state``; ``current`` when it keeps none."""
    notice = state.get(REVOKED_STATE)
    if isinstance(notice, dict):
        return {str(k): str(v) for k, v in notice.items()}
    return current


def loaded_serving(state: Mapping[str, Any], current: Serving | None) -> Serving | None:
    """The running grant kept in ``state``: ``current`` when it keeps none, None when what it
    keeps cannot be read (a later check of the grant fills it in)."""
    kept = state.get(SERVING_STATE)
    if not isinstance(kept, dict):
        return current
    try:
        return (
            str(kept["workspace"]),
            str(kept["display_name"]),
            date.fromisoformat(str(kept["expires"])),
        )
    except (KeyError, ValueError):
        return None


__all__ = [
    "REVOKED_STATE",
    "SERVING_STATE",
    "Running",
    "Serving",
    "grant_check",
    "grant_ended",
    "loaded_revocation",
    "loaded_serving",
    "notices",
    "revocation_notice",
    "running_what",
    "save_state",
    "serving",
    "writable",
]
