"""The events the spawner and the workspaces service record about a workspace: their reasons,
and the annotations that say whom each concerns and who caused it. Names only (no client), so
the pure audit rules can read them (``kube.events`` records them)."""

from __future__ import annotations

from typing import Final

WORKSPACE_CHANGED: Final = "WorkspaceChanged"
BINDING_CHANGED: Final = "BindingChanged"
DATASOURCE_CHANGED: Final = "DataSourceChanged"
DATASOURCE_BINDING_CHANGED: Final = "DataSourceBindingChanged"
SERVER_STARTED: Final = "ServerStarted"
SERVER_STOPPED: Final = "ServerStopped"
STORAGE_PROVISIONED: Final = "StorageProvisioned"
ACCESS_REFUSED: Final = "AccessRefused"
ACCESS_REVOKED: Final = "AccessRevoked"
# The workspaces service: membership changes, and sessions it stopped.
MEMBER_ADDED: Final = "MemberAdded"
MEMBER_CHANGED: Final = "MemberChanged"
MEMBER_REMOVED: Final = "MemberRemoved"
SESSION_STOPPED: Final = "SessionStopped"

# Annotations on events, so an audit trail need not parse notes: whom the event concerns, who
# did it (absent: the reporting controller itself), and which of the user's servers.
SUBJECT_ANNOTATION: Final = "lscsde-spawner.xlscsde.nhs.uk/user"
ACTOR_ANNOTATION: Final = "lscsde-spawner.xlscsde.nhs.uk/actor"
SERVER_ANNOTATION: Final = "lscsde-spawner.xlscsde.nhs.uk/server"
