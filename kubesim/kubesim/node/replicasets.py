"""The ReplicaSet controller, which also runs ReplicationControllers (pkg/controller/replicaset,
and its replication wrapper): adopt and release pods by selector, create and delete pods until
the active ones number spec.replicas, and report the status.

Pods are created all at once rather than in slow-start batches; the pods deleted first are
the ones the real ranking picks first (unscheduled, pending, not ready, newest).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from kubesim.apiserver.store import StorageKey
from kubesim.node.control import PODS, Context, Key, Obj
from kubesim.node.owners import (
    generate_prefix,
    is_active,
    is_available,
    is_ready,
    labels_of,
    next_available,
    owner_reference,
    parse_time,
    pod_from_template,
    set_condition,
)
from kubesim.registry import labelselector
from kubesim.registry.errors import ApiError
from kubesim.registry.resources import ResourceType
from kubesim.registry.strategy import as_dict
from kubesim.registry.workload_fields import compact

# The controller's burstReplicas: at most this many pods created or deleted in one sync.
BURST_REPLICAS = 500


class ReplicaSets:
    """Keeps spec.replicas active pods for each ReplicaSet (or ReplicationController)."""

    children: tuple[StorageKey, ...] = (PODS,)

    def __init__(self, ctx: Context, rt: ResourceType, component: str) -> None:
        self.ctx = ctx
        self.rt = rt
        self.kind = rt.storage_key
        self.component = component
        self.pods = ctx.rt("", "pods")
        self.is_rc = rt.kind == "ReplicationController"

    def selects(self, owner: Obj, child: Obj) -> bool:
        selector = as_dict(owner.get("spec")).get("selector")
        if self.is_rc:
            wanted = as_dict(selector)
            held = labels_of(child)
            return bool(wanted) and all(held.get(k) == v for k, v in wanted.items())
        return not labelselector.is_empty(selector) and labelselector.matches(
            selector, labels_of(child)
        )

    # -- claiming ------------------------------------------------------------------------------

    def _claim(self, rs: Obj, key: Key) -> list[Obj]:
        """ClaimPods: the pods this owner controls, after adopting matching orphans and
        releasing its pods that no longer match."""
        pods = []
        for pod in self.ctx.owned(PODS, rs):
            if self.selects(rs, pod):
                pods.append(pod)
            elif not rs["metadata"].get("deletionTimestamp"):
                self._release(rs, pod)
        if rs["metadata"].get("deletionTimestamp"):
            return pods
        for _, orphan in self.ctx.take_candidates(self.kind, key):
            if self.selects(rs, orphan) and not orphan["metadata"].get("deletionTimestamp"):
                adopted = self._adopt(rs, orphan)
                if adopted is not None:
                    pods.append(adopted)
        return pods

    def _ref(self, rs: Obj) -> Obj:
        return owner_reference(rs, self.rt.api_version, self.rt.kind)

    def _adopt(self, rs: Obj, pod: Obj) -> Obj | None:
        return self.ctx.adopt(self.pods, pod, self._ref(rs))

    def _release(self, rs: Obj, pod: Obj) -> None:
        owner = rs["metadata"].get("uid")

        def release(p: Obj) -> None:
            refs = [r for r in p["metadata"].get("ownerReferences") or [] if r.get("uid") != owner]
            if refs:
                p["metadata"]["ownerReferences"] = refs
            else:
                p["metadata"].pop("ownerReferences", None)

        with contextlib.suppress(ApiError):
            self.ctx.update(self.pods, pod, release)

    # -- sync ----------------------------------------------------------------------------------

    def sync(self, key: Key) -> float | None:
        rs = self.ctx.get(self.kind, key)
        if rs is None:
            return None
        pods = self._claim(rs, key)
        active = [p for p in pods if is_active(p)]
        error = None
        if not rs["metadata"].get("deletionTimestamp"):
            error = self._manage(rs, key, active)
        return self._write_status(rs, active, error)

    def _manage(self, rs: Obj, key: Key, active: list[Obj]) -> str | None:
        spec = as_dict(rs.get("spec"))
        want = spec.get("replicas")
        want = want if isinstance(want, int) else 1
        diff = len(active) - want
        if diff < 0:
            template = as_dict(spec.get("template"))
            if -diff > BURST_REPLICAS:  # the rest in the next sync, as burstReplicas limits
                self.ctx.requeue(self.kind, key, 0)
            for _ in range(min(-diff, BURST_REPLICAS)):
                body = pod_from_template(template, self._ref(rs), generate_prefix(key[1]))
                try:
                    pod = self.ctx.create(self.pods, key[0], body)
                except ApiError as err:
                    message = f"Error creating: {err.message}"
                    self.ctx.event(rs, "FailedCreate", message, self.component, warning=True)
                    return err.message
                name = pod["metadata"]["name"]
                self.ctx.event(rs, "SuccessfulCreate", f"Created pod: {name}", self.component)
        elif diff > 0:
            for pod in sorted(active, key=_deletion_rank)[: min(diff, BURST_REPLICAS)]:
                if self.ctx.delete(self.pods, pod):
                    message = f"Deleted pod: {pod['metadata']['name']}"
                    self.ctx.event(rs, "SuccessfulDelete", message, self.component)
        return None

    def _write_status(self, rs: Obj, active: list[Obj], error: str | None) -> float | None:
        spec = as_dict(rs.get("spec"))
        min_ready = spec.get("minReadySeconds")
        min_ready = min_ready if isinstance(min_ready, int) else 0
        now = datetime.now(UTC)
        template_labels = as_dict(as_dict(as_dict(spec.get("template")).get("metadata")).get(
            "labels"))  # fmt: skip
        labelled = [
            p for p in active if all(labels_of(p).get(k) == v for k, v in template_labels.items())
        ]
        ready = [p for p in active if is_ready(p)]
        available = [p for p in ready if is_available(p, min_ready, now)]

        def write(obj: Obj) -> None:
            status = as_dict(obj.get("status"))
            new: dict[str, Any] = {
                "replicas": len(active),
                "fullyLabeledReplicas": len(labelled),
                "readyReplicas": len(ready),
                "availableReplicas": len(available),
                "observedGeneration": obj["metadata"].get("generation", 0),
            }
            conditions = {"conditions": status.get("conditions")}
            if error is not None:
                set_condition(conditions, "ReplicaFailure", "True", "FailedCreate", error,
                              times=("lastTransitionTime",))  # fmt: skip
            elif conditions["conditions"]:
                conditions["conditions"] = [
                    c for c in conditions["conditions"] if c.get("type") != "ReplicaFailure"
                ]
            new["conditions"] = conditions["conditions"]
            obj["status"] = compact(new, ("replicas",))

        self.ctx.status(self.rt, rs, write)
        key = (rs["metadata"].get("namespace") or "", rs["metadata"]["name"])
        if error is not None:
            return self.ctx.backoff(self.kind, key)  # retry the creates later
        self.ctx.recovered(self.kind, key)
        return next_available(ready, min_ready, now) if min_ready else None


def _deletion_rank(pod: Obj) -> tuple[Any, ...]:
    """controller.ActivePods' order: who goes first when scaling down."""
    spec, status = as_dict(pod.get("spec")), as_dict(pod.get("status"))
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(str(status.get("phase")), 0)
    restarts = sum(
        int(as_dict(c).get("restartCount") or 0) for c in status.get("containerStatuses") or []
    )
    created = parse_time(pod["metadata"].get("creationTimestamp"))
    stamp = created.timestamp() if created else 0.0
    return (bool(spec.get("nodeName")), phase_rank, is_ready(pod), -restarts, -stamp)
