"""What the service shows: workspaces and sessions as JSON rows. Pure functions over the access
decision and the hub's user models.

A server runs in the workspace its ``user_options.profile`` names (the spawner records it there
even when a start named none). A hub user model is what ``GET /hub/api/users/{name}`` answers
with the scopes ``read:servers`` and ``read:users:groups``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..access import PermittedWorkspace
from ..models import AnalyticsDataSource, AnalyticsWorkspace


def server_workspace(server: Mapping[str, Any]) -> str | None:
    """The workspace a hub server model runs, or None."""
    options = server.get("user_options")
    profile = options.get("profile") if isinstance(options, Mapping) else None
    return profile if isinstance(profile, str) and profile else None


def servers_in(user: Mapping[str, Any], workspace: str) -> list[dict[str, Any]]:
    """The user's running (or starting) servers in ``workspace``, as session rows."""
    servers = user.get("servers")
    rows = []
    for name, server in servers.items() if isinstance(servers, Mapping) else ():
        if not isinstance(server, Mapping) or server_workspace(server) != workspace:
            continue
        rows.append(
            {
                "user": str(user.get("name", "")),
                "server": str(name),
                "ready": bool(server.get("ready")),
                "pending": server.get("pending"),
                "started": server.get("started"),
                "lastActivity": server.get("last_activity"),
                "url": server.get("url"),
            }
        )
    return sorted(rows, key=lambda r: r["server"])


def sessions(users: Iterable[Mapping[str, Any]], workspace: str) -> list[dict[str, Any]]:
    """Every session in ``workspace``, by user and server name."""
    rows = [row for user in users for row in servers_in(user, workspace)]
    return sorted(rows, key=lambda r: (r["user"], r["server"]))


def datasource_row(ds: AnalyticsDataSource) -> dict[str, Any]:
    return {"name": ds.name, "displayName": ds.spec.display_name or ds.name}


def workspace_row(
    grant: PermittedWorkspace,
    datasources: Iterable[AnalyticsDataSource],
    servers: list[dict[str, Any]],
    *,
    manages: bool,
) -> dict[str, Any]:
    """One of the caller's workspaces: as the spawner decides it today, with their servers."""
    ws = grant.workspace
    return {
        "name": ws.name,
        "displayName": ws.spec.display_name.strip() or ws.name,
        "description": ws.spec.description,
        "expires": grant.expires.isoformat(),
        "daysLeft": grant.days_left,
        "accessLevel": grant.access_level,
        "grantedBy": "claims" if grant.via else "user",
        "via": grant.via.removeprefix("via ") if grant.via else None,
        "dataSources": [datasource_row(d) for d in datasources],
        "servers": servers,
        "manage": manages,
    }


def managed_row(ws: AnalyticsWorkspace) -> dict[str, Any]:
    """A workspace a hub admin manages without being granted it."""
    return {
        "name": ws.name,
        "displayName": ws.spec.display_name.strip() or ws.name,
        "description": ws.spec.description,
        "expires": ws.spec.validity.expires.isoformat(),
        "daysLeft": None,
        "accessLevel": None,
        "grantedBy": None,
        "via": None,
        "dataSources": [],
        "servers": [],
        "manage": True,
    }


__all__ = ["datasource_row", "managed_row", "server_workspace", "servers_in", "sessions",
           "workspace_row"]  # fmt: skip
