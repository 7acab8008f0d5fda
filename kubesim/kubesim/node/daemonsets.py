"""The DaemonSet controller (pkg/controller/daemon): one pod per node that should run one (its
nodeSelector matches; the taints of a node are tolerated as the controller's own tolerations
are), pinned to the node by a required node affinity, ControllerRevisions of the template,
rolling updates (a pod at a time) or OnDelete, and the status.

Simplified: nodes are the Node objects in the store (the one the kubelet registers); node
affinity terms of the template other than the node pin are not evaluated.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from kubesim.apiserver.store import StorageKey
from kubesim.node.control import PODS, Context, Key, Obj
from kubesim.node.owners import (
    generate_prefix,
    int_field,
    is_available,
    is_ready,
    labels_of,
    next_available,
    owner_reference,
    pod_from_template,
)
from kubesim.node.revisions import POD_REVISION_LABEL, REVISIONS, History, digest_of
from kubesim.registry import labelselector
from kubesim.registry.apps_sets import TEMPLATE_GENERATION
from kubesim.registry.errors import ApiError
from kubesim.registry.strategy import as_dict, dicts
from kubesim.registry.workload_fields import compact

COMPONENT = "daemonset-controller"
NODES: StorageKey = ("", "nodes")
TEMPLATE_GENERATION_LABEL = "pod-template-generation"
# AddOrUpdateDaemonPodTolerations: what every daemon pod tolerates.
_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
)


class DaemonSets:
    children: tuple[StorageKey, ...] = (PODS, REVISIONS)
    per_node = True  # node changes concern every daemon set

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.rt = ctx.rt("apps", "daemonsets")
        self.kind = self.rt.storage_key
        self.pods = ctx.rt("", "pods")
        self.history = History(ctx, "apps/v1", "DaemonSet", by_template=True)

    def selects(self, owner: Obj, child: Obj) -> bool:
        selector = as_dict(owner.get("spec")).get("selector")
        return not labelselector.is_empty(selector) and labelselector.matches(
            selector, labels_of(child)
        )

    def _nodes(self, ds: Obj) -> list[str]:
        """The nodes that should run a daemon pod: the template's nodeSelector holds."""
        wanted = as_dict(as_dict(as_dict(as_dict(ds.get("spec")).get("template")).get(
            "spec")).get("nodeSelector"))  # fmt: skip
        out = []
        for node in self.ctx.api.store.items(NODES):
            labels = labels_of(node)
            if all(labels.get(k) == v for k, v in wanted.items()):
                out.append(node["metadata"]["name"])
        return out

    def _claim(self, ds: Obj, key: Key) -> list[Obj]:
        pods = [p for p in self.ctx.owned(PODS, ds)]
        if ds["metadata"].get("deletionTimestamp"):
            return pods
        ref = owner_reference(ds, "apps/v1", "DaemonSet")
        for kind, orphan in self.ctx.take_candidates(self.kind, key):
            if kind != PODS or not self.selects(ds, orphan):
                continue
            adopted = self.ctx.adopt(self.pods, orphan, ref)
            if adopted is not None:
                pods.append(adopted)
        return pods

    def sync(self, key: Key) -> float | None:
        ds = self.ctx.get(self.kind, key)
        if ds is None:
            return None
        pods = self._claim(ds, key)
        revisions = self.history.of(ds)
        current = None if ds["metadata"].get("deletionTimestamp") else self.history.current(
            ds, revisions)  # fmt: skip
        digest = digest_of(current) if current else ""
        nodes = self._nodes(ds)
        by_node: dict[str, list[Obj]] = {}
        for pod in pods:
            if not pod["metadata"].get("deletionTimestamp"):
                by_node.setdefault(_node_of(pod), []).append(pod)
        if current is not None:
            self._manage(ds, key, nodes, by_node, digest)
            pods = self.ctx.owned(PODS, ds)
            by_node = {}
            for pod in pods:
                if not pod["metadata"].get("deletionTimestamp"):
                    by_node.setdefault(_node_of(pod), []).append(pod)
        live = {p for p in (labels_of(q).get(POD_REVISION_LABEL) for q in pods) if p}
        self.history.trim(ds, self.history.of(ds), {f"{key[1]}-{h}" for h in live | {digest}})
        return self._write_status(ds, nodes, by_node, digest)

    def _manage(self, ds: Obj, key: Key, nodes: list[str], by_node: dict[str, list[Obj]],
                digest: str) -> None:  # fmt: skip
        strategy = as_dict(as_dict(ds.get("spec")).get("updateStrategy"))
        rolling = strategy.get("type") != "OnDelete"
        for node in nodes:
            running = by_node.get(node, [])
            failed = [p for p in running if as_dict(p.get("status")).get("phase") == "Failed"]
            for pod in failed:
                self._delete(ds, pod)
            running = [p for p in running if p not in failed]
            if not running and not failed:
                self._create(ds, key, node, digest)
            for extra in running[1:]:
                self._delete(ds, extra)
        for node, pods in by_node.items():
            if node not in nodes:
                for pod in pods:
                    self._delete(ds, pod)
        if rolling:
            stale = [p for n in nodes for p in by_node.get(n, [])[:1]
                     if labels_of(p).get(POD_REVISION_LABEL) != digest]  # fmt: skip
            fresh_unready = [p for n in nodes for p in by_node.get(n, [])[:1]
                             if labels_of(p).get(POD_REVISION_LABEL) == digest
                             and not is_ready(p)]  # fmt: skip
            if stale and not fresh_unready:  # maxUnavailable 1: one node at a time
                self._delete(ds, stale[0])

    def _create(self, ds: Obj, key: Key, node: str, digest: str) -> None:
        spec = as_dict(ds.get("spec"))
        template = copy.deepcopy(as_dict(spec.get("template")))
        ref = owner_reference(ds, "apps/v1", "DaemonSet")
        pod = pod_from_template(template, ref, generate_prefix(key[1]))
        generation = as_dict(ds["metadata"].get("annotations")).get(TEMPLATE_GENERATION, "1")
        pod["metadata"]["labels"] = {**as_dict(pod["metadata"].get("labels")),
                                     POD_REVISION_LABEL: digest,
                                     TEMPLATE_GENERATION_LABEL: str(generation)}  # fmt: skip
        pod_spec = pod["spec"]
        affinity = pod_spec.setdefault("affinity", {})
        affinity["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": [node]}]}]}}  # fmt: skip
        tolerations = list(dicts(pod_spec.get("tolerations")))
        wanted = list(_TOLERATIONS)
        if pod_spec.get("hostNetwork") is True:
            wanted.append(("node.kubernetes.io/network-unavailable", "NoSchedule"))
        for taint, effect in wanted:
            if not any(t.get("key") == taint and t.get("effect") == effect for t in tolerations):
                tolerations.append({"key": taint, "operator": "Exists", "effect": effect})
        pod_spec["tolerations"] = tolerations
        try:
            created = self.ctx.create(self.pods, key[0], pod)
        except ApiError as err:
            self.ctx.event(ds, "FailedCreate", f"Error creating: {err.message}", COMPONENT,
                           warning=True)  # fmt: skip
            return
        self.ctx.event(ds, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}",
                       COMPONENT)  # fmt: skip

    def _delete(self, ds: Obj, pod: Obj) -> None:
        if self.ctx.delete(self.pods, pod):
            message = f"Deleted pod: {pod['metadata']['name']}"
            self.ctx.event(ds, "SuccessfulDelete", message, COMPONENT)

    def _write_status(self, ds: Obj, nodes: list[str], by_node: dict[str, list[Obj]],
                      digest: str) -> float | None:  # fmt: skip
        min_ready = int_field(ds, "spec", "minReadySeconds")
        now = datetime.now(UTC)
        first = {n: pods[0] for n, pods in by_node.items() if pods}
        scheduled = [first[n] for n in nodes if n in first]
        ready = [p for p in scheduled if is_ready(p)]
        available = [p for p in ready if is_available(p, min_ready, now)]
        updated = [p for p in scheduled if labels_of(p).get(POD_REVISION_LABEL) == digest]
        status: dict[str, Any] = {
            "currentNumberScheduled": len(scheduled),
            "numberMisscheduled": len([n for n in first if n not in nodes]),
            "desiredNumberScheduled": len(nodes),
            "numberReady": len(ready),
            "observedGeneration": ds["metadata"].get("generation", 0),
            "updatedNumberScheduled": len(updated),
            "numberAvailable": len(available),
            "numberUnavailable": len(nodes) - len(available),
            "collisionCount": as_dict(ds.get("status")).get("collisionCount"),
        }
        required = ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled",
                    "numberReady")  # fmt: skip
        final = compact(status, required)

        def write(obj: Obj) -> None:
            obj["status"] = final

        self.ctx.status(self.rt, ds, write)
        return next_available(ready, min_ready, now) if min_ready else None


def _node_of(pod: Obj) -> str:
    """The node a daemon pod runs on, or is pinned to before it is scheduled."""
    spec = as_dict(pod.get("spec"))
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = as_dict(as_dict(as_dict(spec.get("affinity")).get("nodeAffinity")).get(
        "requiredDuringSchedulingIgnoredDuringExecution"))  # fmt: skip
    for term in dicts(required.get("nodeSelectorTerms")):
        for field in dicts(term.get("matchFields")):
            if field.get("key") == "metadata.name" and field.get("values"):
                return str(field["values"][0])
    return ""
