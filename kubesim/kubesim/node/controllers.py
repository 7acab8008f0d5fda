"""Control-plane work of the simulated node: controller writes, events, scheduling, PVC binding.

Writes go through `Api.system_write` (no user validation, exact resourceVersions and watch
events) and are retried on Conflict; events go through `Api.create` like any client's.

PersistentVolumes are not served: a claim is marked Bound to a volume name `pvc-<uid>` that no
PV object backs, as if a dynamic provisioner had made one.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubesim.apiserver.api import Api, now_rfc3339
from kubesim.apiserver.store import object_key
from kubesim.node.pod_status import find_condition, set_condition, uid
from kubesim.registry.errors import ApiError
from kubesim.registry.resources import ResourceType

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name)
SCHEDULER = "default-scheduler"
STORAGE_PROVISIONER = "localcluster.lscsde.io/stub-provisioner"  # made up, shaped like real ones
PREEMPTION = "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."


class Writer:
    """Conflict-safe controller writes and event recording for one node."""

    def __init__(self, api: Api, node_name: str) -> None:
        self.api = api
        self.node_name = node_name
        self.pods = self._type("pods")
        self.pvcs = self._type("persistentvolumeclaims")
        self._events = self._type("events")
        self._last_event_ns = 0

    def _type(self, plural: str) -> ResourceType:
        rt = self.api.registry.get("", "v1", plural)
        assert rt is not None
        return rt

    def update(
        self,
        rt: ResourceType,
        key: Key,
        want_uid: str,
        mutate: Callable[[dict[str, Any]], None],
        *,
        manager: str | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any] | None:
        """Apply `mutate` to a copy of the current object and store it; re-read on Conflict.
        With a `manager`, managedFields record the write as that controller's.

        Returns the stored object, or None when it is gone (or replaced by a namesake).
        """
        for _ in range(10):
            current = self.api.store.get(rt.storage_key, key[0], key[1])
            if current is None or uid(current) != want_uid:
                return None
            new = copy.deepcopy(current)
            mutate(new)
            if new == current:
                return current  # nothing to say: no write, no watch event
            try:
                return self.api.system_write(rt, new, manager=manager, subresource=subresource)
            except ApiError as e:
                if e.code == 404:
                    return None
                if e.code != 409:
                    raise
        raise RuntimeError(f"{rt.plural} {key[0]}/{key[1]}: too many conflicting writes")

    def event(
        self,
        obj: dict[str, Any],
        reason: str,
        message: str,
        *,
        kind: str = "Normal",
        path: str | None = None,
        component: str = "kubelet",
    ) -> None:
        """Record a core/v1 Event about `obj`, as the component's event recorder would."""
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        involved = {
            "kind": obj.get("kind", "Pod"),
            "namespace": namespace,
            "name": meta["name"],
            "uid": meta.get("uid", ""),
            "apiVersion": obj.get("apiVersion", "v1"),
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        if path:
            involved["fieldPath"] = path
        # Real event names are "<object name>.<UnixNano in hex>".
        stamp = max(time.time_ns(), self._last_event_ns + 1)
        self._last_event_ns = stamp
        body: dict[str, Any] = {
            "metadata": {"name": f"{meta['name']}.{stamp:x}", "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": kind,
        }
        if component == SCHEDULER:
            # The scheduler records through events.k8s.io/v1: eventTime and action, no count.
            body.update(
                source={"component": SCHEDULER},
                reportingComponent=SCHEDULER,
                reportingInstance=f"{SCHEDULER}-{self.node_name}",
                action="Binding" if reason == "Scheduled" else "Scheduling",
                eventTime=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                firstTimestamp=None,
                lastTimestamp=None,
            )
        else:
            now = now_rfc3339()
            on_node = component == "kubelet"
            body.update(
                source={"component": component, **({"host": self.node_name} if on_node else {})},
                reportingComponent=component,
                reportingInstance=self.node_name if on_node else "",
                firstTimestamp=now,
                lastTimestamp=now,
                count=1,
                eventTime=None,
            )
        try:
            self.api.create(self._events, namespace, body)
        except ApiError as e:  # e.g. the namespace is terminating: events are best effort
            log.debug("event %s about %s not recorded: %s", reason, meta["name"], e)


def schedule_pod(writer: Writer, key: Key, pod: dict[str, Any]) -> bool:
    """The default scheduler's decision for one pending pod. False: unschedulable for now."""
    spec = pod.get("spec") or {}
    if spec.get("schedulerName", SCHEDULER) != SCHEDULER:
        return True  # another scheduler's pod, not ours to retry
    problem = _volume_problem(writer.api, key[0], spec)
    if problem:
        message = f"0/1 nodes are available: {problem}. {PREEMPTION}"
        cond = find_condition(pod, "PodScheduled")
        if cond is None or cond.get("message") != message:  # once per distinct reason
            writer.event(pod, "FailedScheduling", message, kind="Warning", component=SCHEDULER)

        def unschedulable(p: dict[str, Any]) -> None:
            set_condition(p, "PodScheduled", False, "Unschedulable", message)

        writer.update(writer.pods, key, uid(pod), unschedulable)
        return False

    def bind(p: dict[str, Any]) -> None:
        p["spec"]["nodeName"] = writer.node_name
        set_condition(p, "PodScheduled", True)

    if writer.update(writer.pods, key, uid(pod), bind) is not None:
        message = f"Successfully assigned {key[0]}/{key[1]} to {writer.node_name}"
        writer.event(pod, "Scheduled", message, component=SCHEDULER)
    return True


def _volume_problem(api: Api, namespace: str, spec: dict[str, Any]) -> str | None:
    for volume in spec.get("volumes") or []:
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if not claim:
            continue
        pvc = api.store.get(("", "persistentvolumeclaims"), namespace, claim)
        if pvc is None:
            return f'persistentvolumeclaim "{claim}" not found'
        if pvc["metadata"].get("deletionTimestamp"):
            return f'persistentvolumeclaim "{claim}" is being deleted'
        if (pvc.get("status") or {}).get("phase") != "Bound":
            return "pod has unbound immediate PersistentVolumeClaims"
    return None


def bind_claim(writer: Writer, pvc: dict[str, Any]) -> bool:
    """Bind a Pending claim, as a dynamic provisioner plus the PV controller would."""
    if (
        pvc["metadata"].get("deletionTimestamp")
        or (pvc.get("status") or {}).get("phase") == "Bound"
    ):
        return False

    def bind(p: dict[str, Any]) -> None:
        spec = p.setdefault("spec", {})
        spec.setdefault("volumeName", f"pvc-{uid(p)}")
        p["metadata"]["annotations"] = {
            **(p["metadata"].get("annotations") or {}),
            "pv.kubernetes.io/bind-completed": "yes",
            "pv.kubernetes.io/bound-by-controller": "yes",
            "volume.beta.kubernetes.io/storage-provisioner": STORAGE_PROVISIONER,
            "volume.kubernetes.io/storage-provisioner": STORAGE_PROVISIONER,
        }
        status: dict[str, Any] = {**(p.get("status") or {}), "phase": "Bound"}
        status["accessModes"] = list(spec.get("accessModes") or [])
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        if storage is not None:
            status["capacity"] = {"storage": storage}
        p["status"] = status

    bound = writer.update(writer.pvcs, object_key(pvc), uid(pvc), bind)
    if bound is not None:
        message = f"Successfully provisioned volume {bound['spec']['volumeName']}"
        writer.event(bound, "ProvisioningSucceeded", message, component=STORAGE_PROVISIONER)
    return bound is not None
