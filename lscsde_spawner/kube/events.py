"""Kubernetes Events (events.k8s.io/v1) about what the spawner did, recorded best-effort."""

from __future__ import annotations

import logging
import secrets
import socket
from datetime import UTC, datetime
from typing import Any, Literal, cast

from kubernetes_asyncio.client import EventsV1Api
from kubernetes_asyncio.client.api_client import ApiClient

from .. import metrics
from ..models.base import API_VERSION, Resource
from ..reasons import (  # re-exported: where the recorder's callers have always found them
    ACCESS_REFUSED,
    ACCESS_REVOKED,
    ACTOR_ANNOTATION,
    BINDING_CHANGED,
    DATASOURCE_BINDING_CHANGED,
    DATASOURCE_CHANGED,
    MEMBER_ADDED,
    MEMBER_CHANGED,
    MEMBER_REMOVED,
    SERVER_ANNOTATION,
    SERVER_STARTED,
    SERVER_STOPPED,
    SESSION_STOPPED,
    STORAGE_PROVISIONED,
    SUBJECT_ANNOTATION,
    WORKSPACE_CHANGED,
)

EventType = Literal["Normal", "Warning"]

# Limits of the API server's event validation.
NOTE_MAX_BYTES = 1024
FIELD_MAX = 128  # reportingInstance, action, reason
NAME_MAX = 253
_REFERENCE_KEYS = ("apiVersion", "kind", "name", "namespace", "uid", "resourceVersion", "fieldPath")

log = logging.getLogger(__name__)


def micro_time(now: datetime | None = None) -> str:
    """A Kubernetes MicroTime: RFC 3339 in UTC with microseconds."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def truncate_utf8(text: str, limit: int) -> str:
    """At most `limit` bytes of UTF-8, never cutting a character in half."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


def event_name(regarding_name: str) -> str:
    """`<regarding name>.<hex>`, shortened to fit a DNS subdomain."""
    suffix = secrets.token_hex(8)
    stem = regarding_name[: NAME_MAX - len(suffix) - 1].rstrip(".-") or "event"
    return f"{stem}.{suffix}"


def object_reference(obj: Resource) -> dict[str, Any]:
    """The `regarding` reference of one of our custom resources."""
    meta = obj.metadata
    ref = {
        "apiVersion": obj.api_version,
        "kind": obj.KIND,
        "name": meta.name,
        "namespace": meta.namespace,
        "uid": meta.uid,
        "resourceVersion": meta.resource_version,
    }
    return {k: v for k, v in ref.items() if v}


def reference_by_name(kind: type[Resource], name: str, namespace: str) -> dict[str, Any]:
    """A `regarding` reference to an object known only by name (e.g. one just deleted)."""
    return {"apiVersion": API_VERSION, "kind": kind.KIND, "name": name, "namespace": namespace}


class EventRecorder:
    """Records events about objects in `namespace`; a failure is logged, never raised."""

    def __init__(
        self,
        api_client: ApiClient,
        namespace: str,
        *,
        controller: str = "lscsde-spawner",
        instance: str | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.api = EventsV1Api(api_client)
        self.namespace = namespace
        self.controller = controller
        self.instance = (instance or socket.gethostname())[:FIELD_MAX]
        self.log = log or logging.getLogger(__name__)

    def manifest(
        self,
        regarding: dict[str, Any],
        reason: str,
        note: str,
        *,
        type: EventType = "Normal",
        action: str,
        annotations: dict[str, str] | None = None,
        related: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        ref = {k: regarding[k] for k in _REFERENCE_KEYS if regarding.get(k)}
        namespace = ref.setdefault("namespace", self.namespace)
        meta: dict[str, Any] = {
            "name": event_name(str(ref.get("name", ""))),
            "namespace": namespace,
        }
        if annotations:
            meta["annotations"] = {k: v for k, v in annotations.items() if v}
        extra: dict[str, Any] = {}
        if related:
            extra["related"] = {k: related[k] for k in _REFERENCE_KEYS if related.get(k)}
        return {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": meta,
            "eventTime": micro_time(),
            "reportingController": self.controller,
            "reportingInstance": self.instance,
            "action": action[:FIELD_MAX],
            "reason": reason[:FIELD_MAX],
            "note": truncate_utf8(note, NOTE_MAX_BYTES),
            "type": type,
            "regarding": ref,
            **extra,
        }

    async def record(
        self,
        regarding: dict[str, Any],
        reason: str,
        note: str,
        *,
        type: EventType = "Normal",
        action: str,
        annotations: dict[str, str] | None = None,
        related: dict[str, Any] | None = None,
    ) -> bool:
        """Create one event; logs a warning if the API refuses it or cannot be reached. True
        when it was recorded."""
        try:
            body = self.manifest(
                regarding, reason, note, type=type, action=action, annotations=annotations,
                related=related,
            )  # fmt: skip
            # A dict body is sent as it is, so eventTime keeps its microseconds.
            namespace = body["metadata"]["namespace"]
            metrics.kube_request("create", "events")
            await self.api.create_namespaced_event(namespace, cast(Any, body))
            return True
        except Exception as exc:  # best effort: an event must never break a spawn
            self.log.warning(
                "could not record event %s about %s %s: %s",
                reason,
                regarding.get("kind", "?"),
                regarding.get("name", "?"),
                _short(exc),
            )
            return False


def _short(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    return f"{status} {getattr(exc, 'reason', '')}".strip() if status else repr(exc)


__all__ = [
    "ACCESS_REFUSED",
    "ACCESS_REVOKED",
    "ACTOR_ANNOTATION",
    "BINDING_CHANGED",
    "DATASOURCE_BINDING_CHANGED",
    "DATASOURCE_CHANGED",
    "MEMBER_ADDED",
    "MEMBER_CHANGED",
    "MEMBER_REMOVED",
    "SERVER_ANNOTATION",
    "SERVER_STARTED",
    "SERVER_STOPPED",
    "SESSION_STOPPED",
    "STORAGE_PROVISIONED",
    "SUBJECT_ANNOTATION",
    "WORKSPACE_CHANGED",
    "EventRecorder",
    "event_name",
    "micro_time",
    "object_reference",
    "reference_by_name",
    "truncate_utf8",
]
