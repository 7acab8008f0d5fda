"""The StatefulSet controller (pkg/controller/statefulset): pods `<set>-<ordinal>` with stable
hostnames, a PersistentVolumeClaim per claim template and ordinal, ControllerRevisions of the
template, OrderedReady (one pod at a time, in order) or Parallel management, rolling updates
from the highest ordinal down to the partition, and the status.

Simplified: claims are kept when pods or the set go unless whenDeleted is Delete (then the set
owns them); whenScaled is not applied; maxUnavailable is always 1.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from kubesim.apiserver.store import StorageKey
from kubesim.node.control import PODS, Context, Key, Obj
from kubesim.node.owners import (
    int_field,
    is_available,
    is_ready,
    labels_of,
    next_available,
    owner_reference,
    pod_from_template,
)
from kubesim.node.revisions import POD_REVISION_LABEL, REVISIONS, History
from kubesim.registry import labelselector
from kubesim.registry.errors import ApiError
from kubesim.registry.strategy import as_dict, dicts
from kubesim.registry.workload_fields import compact

COMPONENT = "statefulset-controller"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


class StatefulSets:
    children: tuple[StorageKey, ...] = (PODS, REVISIONS)

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.rt = ctx.rt("apps", "statefulsets")
        self.kind = self.rt.storage_key
        self.pods = ctx.rt("", "pods")
        self.pvcs = ctx.rt("", "persistentvolumeclaims")
        self.history = History(ctx, "apps/v1", "StatefulSet", by_template=False)

    def selects(self, owner: Obj, child: Obj) -> bool:
        selector = as_dict(owner.get("spec")).get("selector")
        return not labelselector.is_empty(selector) and labelselector.matches(
            selector, labels_of(child)
        )

    def _ref(self, sts: Obj) -> Obj:
        return owner_reference(sts, "apps/v1", "StatefulSet")

    def _claim(self, sts: Obj, key: Key) -> dict[str, Obj]:
        """The set's pods by name, adopting orphans that match and are named as its own."""
        pods = {p["metadata"]["name"]: p for p in self.ctx.owned(PODS, sts)}
        if sts["metadata"].get("deletionTimestamp"):
            return pods
        ref = self._ref(sts)
        for kind, orphan in self.ctx.take_candidates(self.kind, key):
            if kind != PODS or _ordinal(sts, orphan) is None or not self.selects(sts, orphan):
                continue
            adopted = self.ctx.adopt(self.pods, orphan, ref)
            if adopted is not None:
                pods[adopted["metadata"]["name"]] = adopted
        return pods

    # -- sync --------------------------------------------------------------------------------

    def sync(self, key: Key) -> float | None:
        sts = self.ctx.get(self.kind, key)
        if sts is None:
            return None
        pods = self._claim(sts, key)
        revisions = self.history.of(sts)
        update = self.history.current(sts, revisions) if not _deleting(sts) else None
        revisions = self.history.of(sts)  # again: current() may have made or renumbered one
        update_name = update["metadata"]["name"] if update else ""
        status = as_dict(sts.get("status"))
        current_name = status.get("currentRevision") or update_name
        if not _deleting(sts) and update is not None:
            self._manage(sts, key, pods, update_name)
            pods = {p["metadata"]["name"]: p for p in self.ctx.owned(PODS, sts)}
        delay = self._write_status(sts, pods, current_name, update_name)
        live = {current_name, update_name}
        live |= {str(labels_of(p).get(POD_REVISION_LABEL)) for p in pods.values()}
        self.history.trim(sts, revisions, live)
        return delay

    def _manage(self, sts: Obj, key: Key, pods: dict[str, Obj], revision: str) -> None:
        spec = as_dict(sts.get("spec"))
        want = int_field(sts, "spec", "replicas", default=1)
        start = int(as_dict(spec.get("ordinals")).get("start") or 0)
        ordered = spec.get("podManagementPolicy") != "Parallel"
        names = [f"{key[1]}-{i}" for i in range(start, start + want)]
        for ordinal, name in enumerate(names, start):
            pod = pods.get(name)
            if pod is not None and as_dict(pod.get("status")).get("phase") == "Failed":
                if not pod["metadata"].get("deletionTimestamp"):
                    self._delete(sts, pod)
                if ordered:
                    return
                continue
            if pod is None:
                self._create(sts, key, ordinal, name, revision)
                if ordered:
                    return
                continue
            if ordered and (pod["metadata"].get("deletionTimestamp") or not is_ready(pod)):
                return  # OrderedReady: each pod Running and Ready before the next
        condemned = sorted(
            (p for n, p in pods.items() if n not in names and _ordinal(sts, p) is not None),
            key=lambda p: -(_ordinal(sts, p) or 0),
        )
        for pod in condemned:
            if pod["metadata"].get("deletionTimestamp"):
                if ordered:
                    return
                continue
            self._delete(sts, pod)
            if ordered:
                return
        self._roll(sts, names, pods, revision, start)

    def _roll(self, sts: Obj, names: list[str], pods: dict[str, Obj], revision: str,
              start: int) -> None:  # fmt: skip
        """RollingUpdate: replace one pod at a time, highest ordinal first, down to partition."""
        strategy = as_dict(as_dict(sts.get("spec")).get("updateStrategy"))
        if strategy.get("type") != "RollingUpdate":
            return
        if any(not is_ready(pods[n]) or pods[n]["metadata"].get("deletionTimestamp")
               for n in names if n in pods):  # fmt: skip
            return
        partition = int(as_dict(strategy.get("rollingUpdate")).get("partition") or 0)
        for ordinal in range(start + len(names) - 1, start + partition - 1, -1):
            pod = pods.get(f"{sts['metadata']['name']}-{ordinal}")
            if pod is not None and labels_of(pod).get(POD_REVISION_LABEL) != revision:
                self._delete(sts, pod)
                return

    def _create(self, sts: Obj, key: Key, ordinal: int, name: str, revision: str) -> None:
        spec = as_dict(sts.get("spec"))
        template = copy.deepcopy(as_dict(spec.get("template")))
        pod = pod_from_template(template, self._ref(sts), "")
        meta = pod["metadata"]
        meta.pop("generateName", None)
        meta["name"] = name
        meta["labels"] = {**as_dict(meta.get("labels")), POD_REVISION_LABEL: revision,
                          POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal)}  # fmt: skip
        pod["spec"]["hostname"] = name
        if spec.get("serviceName"):
            pod["spec"]["subdomain"] = spec["serviceName"]
        volumes = [v for v in dicts(pod["spec"].get("volumes"))]
        for claim in dicts(spec.get("volumeClaimTemplates")):
            claim_name = as_dict(claim.get("metadata")).get("name", "")
            pvc_name = f"{claim_name}-{key[1]}-{ordinal}"
            volumes = [v for v in volumes if v.get("name") != claim_name]
            volumes.append({"name": claim_name, "persistentVolumeClaim": {"claimName": pvc_name}})
            if not self._claim_pvc(sts, key, claim, pvc_name, name):
                return
        if volumes:
            pod["spec"]["volumes"] = volumes
        try:
            self.ctx.create(self.pods, key[0], pod)
        except ApiError as err:
            if err.code != 409:
                message = f"create Pod {name} in StatefulSet {key[1]} failed error: {err.message}"
                self.ctx.event(sts, "FailedCreate", message, COMPONENT, warning=True)
            return
        message = f"create Pod {name} in StatefulSet {key[1]} successful"
        self.ctx.event(sts, "SuccessfulCreate", message, COMPONENT)

    def _claim_pvc(self, sts: Obj, key: Key, claim: Obj, pvc_name: str, pod_name: str) -> bool:
        if self.ctx.get(self.pvcs.storage_key, (key[0], pvc_name)) is not None:
            return True
        body: dict[str, Any] = {k: copy.deepcopy(v) for k, v in claim.items()
                                if k in ("metadata", "spec")}  # fmt: skip
        meta = body.setdefault("metadata", {})
        meta["name"] = pvc_name
        meta.pop("creationTimestamp", None)
        match = as_dict(as_dict(as_dict(sts.get("spec")).get("selector")).get("matchLabels"))
        meta["labels"] = {**as_dict(meta.get("labels")), **match}
        retention = as_dict(as_dict(sts.get("spec")).get("persistentVolumeClaimRetentionPolicy"))
        if retention.get("whenDeleted") == "Delete":
            meta["ownerReferences"] = [self._ref(sts)]
        try:
            self.ctx.create(self.pvcs, key[0], body)
        except ApiError as err:
            if err.code == 409:
                return True
            message = (f"create Claim {pvc_name} for Pod {pod_name} in StatefulSet {key[1]} "
                       f"failed error: {err.message}")  # fmt: skip
            self.ctx.event(sts, "FailedCreate", message, COMPONENT, warning=True)
            return False
        message = f"create Claim {pvc_name} Pod {pod_name} in StatefulSet {key[1]} success"
        self.ctx.event(sts, "SuccessfulCreate", message, COMPONENT)
        return True

    def _delete(self, sts: Obj, pod: Obj) -> None:
        if self.ctx.delete(self.pods, pod):
            name, owner = pod["metadata"]["name"], sts["metadata"]["name"]
            message = f"delete Pod {name} in StatefulSet {owner} successful"
            self.ctx.event(sts, "SuccessfulDelete", message, COMPONENT)

    # -- status ----------------------------------------------------------------------------------

    def _write_status(
        self, sts: Obj, pods: dict[str, Obj], current: str, update: str
    ) -> float | None:
        min_ready = int_field(sts, "spec", "minReadySeconds")
        now = datetime.now(UTC)
        counted = [p for p in pods.values() if as_dict(p.get("status")).get("phase")]
        ready = [p for p in counted if is_ready(p) and not p["metadata"].get("deletionTimestamp")]
        available = [p for p in ready if is_available(p, min_ready, now)]
        at = {n: [p for p in counted if labels_of(p).get(POD_REVISION_LABEL) == n]
              for n in (current, update)}  # fmt: skip
        want = int_field(sts, "spec", "replicas", default=1)
        if len(at[update]) == want and len(ready) == want and len(counted) == want:
            current = update  # the update is complete: it becomes the current revision
        status: dict[str, Any] = {
            "observedGeneration": sts["metadata"].get("generation", 0),
            "replicas": len(counted),
            "readyReplicas": len(ready),
            "currentReplicas": len(
                [p for p in counted if labels_of(p).get(POD_REVISION_LABEL) == current]
            ),
            "updatedReplicas": len(at[update]),
            "currentRevision": current,
            "updateRevision": update,
            "collisionCount": int(as_dict(sts.get("status")).get("collisionCount") or 0),
            "availableReplicas": len(available),
        }
        final = compact(status, ("replicas", "availableReplicas", "collisionCount"))

        def write(obj: Obj) -> None:
            obj["status"] = final

        self.ctx.status(self.rt, sts, write)
        return next_available(ready, min_ready, now) if min_ready else None


def _deleting(obj: Obj) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def _ordinal(sts: Obj, pod: Obj) -> int | None:
    """getParentNameAndOrdinal: the ordinal of a pod named `<set>-<n>`, else None."""
    prefix = f"{sts['metadata']['name']}-"
    name = str(pod["metadata"].get("name") or "")
    tail = name[len(prefix) :]
    return int(tail) if name.startswith(prefix) and tail.isdigit() else None
