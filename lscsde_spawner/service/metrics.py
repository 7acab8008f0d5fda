"""The workspaces service's own Prometheus metrics, served with the rest of its process's
default registry (its cache's ``lscsde_spawner_*`` metrics among them) at ``/metrics``.

    lscsde_workspaces_requests_total{method,route,status}   requests to the service, by HTTP
                                                            verb, route template and status
    lscsde_workspaces_request_duration_seconds{route}       how long they took
    lscsde_workspaces_member_changes_total{action}          members added, changed, removed
    lscsde_workspaces_sessions_stopped_total                sessions stopped through it
    lscsde_workspaces_hub_requests_total{verb}              its calls to the hub's REST API

Routes are templates (``/api/workspaces/{workspace}/members``): no user or workspace name
appears in a label.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Histogram

REQUESTS: Final = Counter(
    "lscsde_workspaces_requests",
    "Requests to the workspaces service, by HTTP verb, route and status",
    ["method", "route", "status"],
)
DURATION: Final = Histogram(
    "lscsde_workspaces_request_duration_seconds",
    "Time to answer a request to the workspaces service, by route",
    ["route"],
)
MEMBER_CHANGES: Final = Counter(
    "lscsde_workspaces_member_changes",
    "Workspace membership changes made through the service (added, changed, removed)",
    ["action"],
)
SESSIONS_STOPPED: Final = Counter(
    "lscsde_workspaces_sessions_stopped",
    "Servers stopped through the workspaces service",
)
HUB_REQUESTS: Final = Counter(
    "lscsde_workspaces_hub_requests",
    "Requests the workspaces service made to the hub's REST API, by verb",
    ["verb"],
)

__all__ = ["DURATION", "HUB_REQUESTS", "MEMBER_CHANGES", "REQUESTS", "SESSIONS_STOPPED"]
