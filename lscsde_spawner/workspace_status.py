"""The workspace's status after a start: "Provisioned" with the claim it mounts, patched only
when the status does not say so already, best effort (the server runs either way)."""

from __future__ import annotations

import logging
from typing import Any

from kubernetes_asyncio.client.api_client import ApiClient

from .kube import customresources as cr
from .models import AnalyticsWorkspace


def status_says(ws: AnalyticsWorkspace, wanted: dict[str, Any]) -> bool:
    """The workspace's status already holds these values (then it is not patched again)."""
    status = ws.status.model_dump(by_alias=True) if ws.status is not None else {}
    return all(status.get(k) == v for k, v in wanted.items())


async def mark_provisioned(
    client: ApiClient,
    namespace: str,
    ws: AnalyticsWorkspace,
    claim: str | None,
    log: logging.Logger | logging.LoggerAdapter[Any],
) -> None:
    """Say in ``ws``'s status (as last read) that it is provisioned with ``claim``."""
    wanted = {"statusText": "Provisioned", "persistentVolumeClaim": claim}
    if status_says(ws, wanted):
        return
    try:
        await cr.workspaces(client, namespace).patch_status(ws.name, wanted)
    except Exception as exc:  # the server runs; the status is informational
        log.warning("could not patch status of workspace %s: %s", ws.name, exc)


__all__ = ["mark_provisioned", "status_says"]
