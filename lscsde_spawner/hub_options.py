"""A start's options as the hub keeps them: JupyterHub stores them in its database before any
spawner hook runs, so a refused start puts the last accepted ones back (junk is never kept), and
a start that named no workspace records the one it chose (the server's model then says where it
runs, as for a named start)."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy.orm import object_session


def store(spawner: Any, options: Any, *, commit: bool = False) -> None:
    """Set ``options`` on the spawner and its database row (committed when ``commit``)."""
    spawner.user_options = copy.deepcopy(options)
    if spawner.orm_spawner is not None:
        spawner.orm_spawner.user_options = copy.deepcopy(options)
        session = object_session(spawner.orm_spawner) if commit else None
        if session is not None:
            session.commit()


def naming(options: Any, workspace: str) -> dict[str, Any] | None:
    """``options`` naming ``workspace`` when they are a dict that names none, else None."""
    if isinstance(options, dict) and not options.get("profile"):
        return {**options, "profile": workspace}
    return None


__all__ = ["naming", "store"]
