"""A hub user's claims, and word when the hub's database changes them.

``user_claims`` reads one user's claims as the hub holds them now: the auth_state userinfo
(``auth_state[auth_state_key]``, a dict), then the JupyterHub groups (under ``groups_claim``),
then the admin's hook; a later source wins per claim (see ``claims.user_claims``). Reading
fails closed: a hook that raises or returns anything but a mapping gives None (no claims).

``watch_hub_database`` installs one SQLAlchemy ``after_flush`` listener for the process. When a
flush adds, removes or deletes a group, changes a user's groups or their stored auth_state, it
calls the callback it was given (the running-server registries sweep then), so a server granted
through a group stops within seconds of the user leaving the group through the hub's REST API
or a login that syncs groups (``Authenticator.manage_groups``).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jupyterhub import orm
from jupyterhub.utils import maybe_future
from sqlalchemy import event
from sqlalchemy.orm import PassiveFlag, Session, attributes

from . import claims as claim_rules
from .claims import UserClaims

log = logging.getLogger(__name__)


def group_names(user: Any) -> list[str]:
    """The user's JupyterHub group names, as the hub's session holds them (JupyterHub keeps
    objects loaded across commits; a deleted group leaves the collection at its flush)."""
    groups: Iterable[Any] = getattr(user, "groups", None) or ()
    return sorted(name for g in list(groups) if isinstance(name := getattr(g, "name", None), str))


async def user_claims(
    user: Any,
    spawner: Any,
    *,
    groups_claim: str,
    auth_state_key: str,
    hook: Callable[[Any], Any] | None,
    log: logging.Logger | logging.LoggerAdapter[Any] = log,
) -> UserClaims | None:
    """One hub user's claims now (see the module docstring); None when they cannot be read."""
    sources: list[Mapping[str, object] | None] = []
    try:
        if auth_state_key:
            state = await user.get_auth_state()
            info = state.get(auth_state_key) if isinstance(state, dict) else None
            sources.append(info if isinstance(info, Mapping) else None)
        if groups_claim:
            sources.append({groups_claim: group_names(user)})
        if hook is not None:
            extra = await maybe_future(hook(spawner))
            if not isinstance(extra, Mapping):
                raise TypeError(f"claims_hook returned {type(extra).__name__}, not a dict")
            sources.append(extra)
    except Exception as exc:
        log.error("Cannot read the claims of %s, so no claim binding grants to them: %r",
                  getattr(user, "name", "?"), exc)  # fmt: skip
        return None
    return claim_rules.user_claims(*sources)


# Weak references to bound methods: a registry nobody holds any more is not kept alive here.
_callbacks: list[weakref.WeakMethod[Callable[[], None]]] = []


def watch_hub_database(callback: Callable[[], None]) -> None:
    """Call the bound method ``callback()`` after a flush that may change someone's claims
    (idempotent; held weakly). It runs inside the flush: it must only schedule work."""
    ref = weakref.WeakMethod(callback)
    if ref in _callbacks:
        return
    _callbacks.append(ref)
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)


def unwatch_hub_database(callback: Callable[[], None]) -> None:
    ref = weakref.WeakMethod(callback)
    _callbacks[:] = [r for r in _callbacks if r != ref and r() is not None]


def claims_may_have_changed(session: Session) -> bool:
    """Whether this flush changes a group, a membership or a user's auth_state."""
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, orm.Group):
            return True
        if isinstance(obj, orm.User) and (
            obj in session.deleted
            or _changed(obj, "groups")
            or _changed(obj, "encrypted_auth_state")
        ):
            return True
    return False


def _changed(obj: Any, key: str) -> bool:
    # Never load an unloaded attribute inside the hub's flush: not loaded means not changed.
    history = attributes.get_history(obj, key, passive=PassiveFlag.PASSIVE_NO_INITIALIZE)
    return history.has_changes()


def _after_flush(session: Session, _context: Any) -> None:
    if not _callbacks:
        return
    try:
        changed = claims_may_have_changed(session)
    except Exception:  # never break the hub's own write
        log.exception("could not tell whether a database flush changed claims")
        return
    if changed:
        for ref in list(_callbacks):
            callback = ref()
            if callback is None:
                _callbacks.remove(ref)
                continue
            try:
                callback()
            except Exception:
                log.exception("claims-changed callback failed")


__all__ = [
    "claims_may_have_changed",
    "group_names",
    "unwatch_hub_database",
    "user_claims",
    "watch_hub_database",
]
