"""Refusing a start: the ``SpawnException`` the Hub reports with a status, counted by reason."""

from __future__ import annotations

from jupyterhub.spawner import SpawnException

from . import metrics


def refuse(status: int, message: str, reason: str = "workspace") -> SpawnException:
    """A refusal the Hub reports to the caller with ``status`` (logged without a traceback),
    counted by ``reason`` in ``lscsde_spawner_starts_refused_total``."""
    metrics.refused(reason)
    return SpawnException(message, reason=reason, status_code=status)


__all__ = ["refuse"]
