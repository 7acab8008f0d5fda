"""Events about a user's server on its workspace (started, stopped, access revoked): on the
workspace by uid when the cache knows it, so ``kubectl describe`` finds them, else by name (one
just deleted), annotated with whom they concern and which server (the audit trail)."""

from __future__ import annotations

import logging
from typing import Any

from kubernetes_asyncio.client.api_client import ApiClient

from .kube.cache import WorkspaceCache
from .kube.events import (
    SERVER_ANNOTATION,
    SUBJECT_ANNOTATION,
    EventRecorder,
    EventType,
    object_reference,
    reference_by_name,
)
from .models import AnalyticsWorkspace


def event_annotations(user: str, server: str) -> dict[str, str]:
    """Whom an event about a server concerns, and which server ("" for the default one)."""
    return {SUBJECT_ANNOTATION: user, SERVER_ANNOTATION: server}


def regarding(cache: WorkspaceCache, workspace: str, namespace: str) -> dict[str, Any]:
    """An event's reference to the workspace: with its uid when the cache knows it, else by
    name."""
    known = cache.workspace(workspace)
    if known is not None:
        return object_reference(known)
    return reference_by_name(AnalyticsWorkspace, workspace, namespace)


async def record(
    client: ApiClient,
    cache: WorkspaceCache,
    namespace: str,
    workspace: str,
    reason: str,
    note: str,
    *,
    action: str,
    annotated: dict[str, str],
    log: logging.Logger,
    type: EventType = "Normal",
) -> None:
    """Record one event about a server on ``workspace``, best effort."""
    await EventRecorder(client, namespace, log=log).record(
        regarding(cache, workspace, namespace),
        reason,
        note,
        type=type,
        action=action,
        annotations=annotated,
    )


__all__ = ["event_annotations", "record", "regarding"]
