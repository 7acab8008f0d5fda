"""Deleting objects: preconditions, graceful termination, finalizers and garbage collection.

An object with finalizers, or a pod a kubelet runs, is only marked (deletionTimestamp); the
rest go at once, taking with them what they own (background propagation), what a namespace
holds, or the objects of a CRD's kind.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kubesim.apiserver.admission import CRD_KEY
from kubesim.apiserver.crds import unserve_crd
from kubesim.apiserver.store import Store
from kubesim.registry.errors import conflict
from kubesim.registry.resources import Registry, ResourceType


def check_preconditions(
    rt: ResourceType, old: dict[str, Any], preconditions: dict[str, Any] | None
) -> None:
    """DeleteOptions.preconditions: 409 when the uid or resourceVersion no longer holds."""
    meta, pre = old["metadata"], preconditions or {}
    name = meta["name"]
    if pre.get("uid") and pre["uid"] != meta.get("uid"):
        raise conflict(
            rt.plural, rt.group, name,
            f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: "
            f"{meta.get('uid')}",
        )  # fmt: skip
    if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
        raise conflict(
            rt.plural, rt.group, name,
            f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
            f"ResourceVersion in object meta: {meta['resourceVersion']}",
        )  # fmt: skip


def grace_seconds(rt: ResourceType, obj: dict[str, Any], requested: int | None) -> int:
    """Seconds of graceful termination: only pods a kubelet runs have any."""
    if rt.group or rt.plural != "pods":
        return 0
    spec = obj.get("spec") or {}
    if not spec.get("nodeName") or (obj.get("status") or {}).get("phase") in (
        "Succeeded",
        "Failed",
    ):
        return 0  # nothing runs it, so nothing to wait for
    if requested is None:
        requested = spec.get("terminationGracePeriodSeconds", 30)
    return max(0, int(requested))


class Deleter:
    """Deletes stored objects and what depends on them."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry

    def delete(
        self,
        rt: ResourceType,
        old: dict[str, Any],
        *,
        grace_period: int | None,
        orphan: bool,
    ) -> dict[str, Any]:
        """Delete `old` now, or mark it; returns the stored object as it was last."""
        meta = old["metadata"]
        grace = grace_seconds(rt, old, grace_period)
        if not meta.get("finalizers") and not grace:
            return self.remove(rt, old, orphan=orphan)
        if meta.get("deletionTimestamp") and (
            not grace or grace >= (meta.get("deletionGracePeriodSeconds") or 0)
        ):
            return old  # already terminating, no shorter grace
        when = datetime.now(UTC) + timedelta(seconds=grace or 0)
        marked = {**old, "metadata": {**meta}}
        marked["metadata"]["deletionTimestamp"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        marked["metadata"]["deletionGracePeriodSeconds"] = grace or 0
        if rt.plural == "namespaces":
            marked["status"] = {**(old.get("status") or {}), "phase": "Terminating"}
        stored = self.store.put(rt.storage_key, marked)
        if rt.plural == "namespaces" and not rt.group:
            # Emptied and gone at once: the namespace controller's work takes no time here.
            self._empty_namespace(meta["name"])
            return self.remove(rt, stored)
        return stored

    def remove(
        self, rt: ResourceType, obj: dict[str, Any], *, orphan: bool = False
    ) -> dict[str, Any]:
        """Take the object out of the store, with what goes with it."""
        meta = obj["metadata"]
        gone = self.store.remove(rt.storage_key, meta.get("namespace"), meta["name"])
        assert gone is not None
        if (rt.group, rt.plural) == CRD_KEY:
            unserve_crd(self.store, self.registry, obj)
        elif rt.plural == "namespaces" and not rt.group:
            self._empty_namespace(meta["name"])
        if not orphan:
            self._collect_dependents(meta.get("namespace"), meta.get("uid", ""))
        return gone

    def _empty_namespace(self, namespace: str) -> None:
        seen: set[tuple[str, str]] = set()
        for rt in self.registry:
            if not rt.namespaced or rt.storage_key in seen:
                continue
            seen.add(rt.storage_key)
            for obj in self.store.items(rt.storage_key, namespace):
                self.store.remove(rt.storage_key, namespace, obj["metadata"]["name"])

    def _collect_dependents(self, namespace: str | None, uid: str) -> None:
        """Garbage-collect objects all of whose owners are gone (background propagation)."""
        if not uid:
            return
        seen: set[tuple[str, str]] = set()
        for rt in list(self.registry):
            if rt.storage_key in seen or (namespace and not rt.namespaced):
                continue
            seen.add(rt.storage_key)
            for obj in self.store.items(rt.storage_key, namespace if rt.namespaced else None):
                owners = obj["metadata"].get("ownerReferences") or []
                if not any(o.get("uid") == uid for o in owners):
                    continue
                if all(o.get("uid") == uid or not self._owner_exists(o) for o in owners):
                    self.remove(rt, obj)

    def _owner_exists(self, owner: dict[str, Any]) -> bool:
        group = owner.get("apiVersion", "").rpartition("/")[0]
        for rt in self.registry:
            if rt.group == group and rt.kind == owner.get("kind"):
                for obj in self.store.items(rt.storage_key):
                    if obj["metadata"].get("uid") == owner.get("uid"):
                        return True
                return False
        return False
