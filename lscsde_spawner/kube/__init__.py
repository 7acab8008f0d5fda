"""Typed async clients for the Kubernetes API (custom resources, PVCs, events)."""

from .customresources import (
    JSON_PATCH,
    MERGE_PATCH,
    CustomResourceClient,
    MalformedObject,
    crates,
    datasource_bindings,
    datasources,
    workspace_bindings,
    workspaces,
)
from .events import EventRecorder, object_reference
from .pvc import StorageError, ensure_pvc

__all__ = [
    "JSON_PATCH",
    "MERGE_PATCH",
    "CustomResourceClient",
    "EventRecorder",
    "MalformedObject",
    "StorageError",
    "crates",
    "datasource_bindings",
    "datasources",
    "ensure_pvc",
    "object_reference",
    "workspace_bindings",
    "workspaces",
]
