"""Deleting objects: preconditions, graceful termination, finalizers and garbage collection.

An object with finalizers, or a pod a kubelet runs, is only marked (deletionTimestamp); the
rest go at once, taking with them what they own (background propagation), what a namespace
holds, or the objects of a CRD's kind.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kubesim.apiserver import aggregator
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


ORPHAN, BACKGROUND, FOREGROUND = "Orphan", "Background", "Foreground"
FOREGROUND_FINALIZER = "foregroundDeletion"


def propagation_policy(rt: ResourceType, policy: str | None, orphan_dependents: Any) -> str:
    """The policy a delete runs with: the request's, else the legacy orphanDependents, else
    the kind's DefaultGarbageCollectionPolicy (batch/v1 Jobs orphan their pods, for backward
    compatibility; everything else deletes its dependents in the background)."""
    if policy:
        return policy
    if isinstance(orphan_dependents, bool):
        return ORPHAN if orphan_dependents else BACKGROUND
    return ORPHAN if (rt.group, rt.plural) == ("batch", "jobs") else BACKGROUND


JOB_ORPHAN_WARNING = (
    "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background "
    "to remove them or set propagationPolicy=Orphan to suppress this warning"
)


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
        foreground: bool = False,
    ) -> dict[str, Any]:
        """Delete `old` now, or mark it; returns the stored object as it was last."""
        meta = old["metadata"]
        if foreground and not orphan and self._dependents(meta.get("namespace"), meta.get("uid")):
            return self._delete_foreground(rt, old)
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
        aggregator.after_remove(self.store, self.registry, rt, obj)
        if orphan:
            self._orphan_dependents(meta.get("namespace"), meta.get("uid", ""))
        else:
            self._collect_dependents(meta.get("namespace"), meta.get("uid", ""))
        self._release_waiting_owners(obj)
        return gone

    # -- foreground deletion and orphaning (the garbage collector's work, done at once) --------

    def _delete_foreground(self, rt: ResourceType, old: dict[str, Any]) -> dict[str, Any]:
        """Mark the owner (foregroundDeletion), delete its dependents the same way; it goes
        when the last of them has (at once, unless pods terminate gracefully)."""
        meta = old["metadata"]
        marked = {**old, "metadata": {**meta}}
        finalizers = list(meta.get("finalizers") or [])
        if FOREGROUND_FINALIZER not in finalizers:
            finalizers.append(FOREGROUND_FINALIZER)
        marked["metadata"]["finalizers"] = finalizers
        if not meta.get("deletionTimestamp"):
            marked["metadata"]["deletionTimestamp"] = datetime.now(UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
            marked["metadata"]["deletionGracePeriodSeconds"] = 0
        stored = self.store.put(rt.storage_key, marked)
        for dep_rt, dep in self._dependents(meta.get("namespace"), meta.get("uid")):
            current = self.store.get(dep_rt.storage_key, dep["metadata"].get("namespace"),
                                     dep["metadata"]["name"])  # fmt: skip
            if current is not None and not current["metadata"].get("deletionTimestamp"):
                self.delete(dep_rt, current, grace_period=None, orphan=False, foreground=True)
        latest = self.store.get(rt.storage_key, meta.get("namespace"), meta["name"])
        if latest is not None:
            self._finish_foreground(rt, latest)
        return self.store.get(rt.storage_key, meta.get("namespace"), meta["name"]) or stored

    def _finish_foreground(self, rt: ResourceType, owner: dict[str, Any]) -> None:
        meta = owner["metadata"]
        if self._dependents(meta.get("namespace"), meta.get("uid")):
            return
        finalizers = [f for f in meta.get("finalizers") or [] if f != FOREGROUND_FINALIZER]
        if finalizers:
            updated = {**owner, "metadata": {**meta, "finalizers": finalizers}}
            self.store.put(rt.storage_key, updated)
        else:
            self.remove(rt, owner)

    def _release_waiting_owners(self, obj: dict[str, Any]) -> None:
        """An owner deleted in the foreground goes once its last dependent has."""
        namespace = obj["metadata"].get("namespace")
        for ref in obj["metadata"].get("ownerReferences") or []:
            found = self._find_owner(ref, namespace)
            if found is None:
                continue
            owner_rt, owner = found
            meta = owner["metadata"]
            if meta.get("deletionTimestamp") and FOREGROUND_FINALIZER in (
                meta.get("finalizers") or []
            ):
                self._finish_foreground(owner_rt, owner)

    def _orphan_dependents(self, namespace: str | None, uid: str) -> None:
        """Orphan propagation: dependents lose their reference to the owner."""
        for rt, obj in self._dependents(namespace, uid):
            meta = obj["metadata"]
            refs = [r for r in meta.get("ownerReferences") or [] if r.get("uid") != uid]
            new_meta = {**meta, "ownerReferences": refs}
            if not refs:
                new_meta.pop("ownerReferences")
            self.store.put(rt.storage_key, {**obj, "metadata": new_meta})

    def _empty_namespace(self, namespace: str) -> None:
        seen: set[tuple[str, str]] = set()
        for rt in self.registry:
            if not rt.namespaced or rt.storage_key in seen:
                continue
            seen.add(rt.storage_key)
            for obj in self.store.items(rt.storage_key, namespace):
                self.store.remove(rt.storage_key, namespace, obj["metadata"]["name"])

    def _dependents(
        self, namespace: str | None, uid: str | None
    ) -> list[tuple[ResourceType, dict[str, Any]]]:
        """The objects with an owner reference to `uid` (in its namespace, or anywhere), from
        the store's owner index."""
        if not uid:
            return []
        out = []
        for key, obj in self.store.dependents(uid):
            types = self.registry.by_storage(key)
            if not types or (namespace and not types[0].namespaced):
                continue
            if namespace and obj["metadata"].get("namespace") != namespace:
                continue  # an owner only owns within its namespace
            out.append((types[0], obj))
        return out

    def _collect_dependents(self, namespace: str | None, uid: str) -> None:
        """Garbage-collect objects all of whose owners are gone (background propagation): each
        is deleted as a client's delete would (pods gracefully, finalizers honoured)."""
        for rt, obj in self._dependents(namespace, uid):
            owners = obj["metadata"].get("ownerReferences") or []
            if all(o.get("uid") == uid or not self._owner_exists(o) for o in owners):
                current = self.store.get(rt.storage_key, obj["metadata"].get("namespace"),
                                         obj["metadata"]["name"])  # fmt: skip
                if current is not None:
                    self.delete(rt, current, grace_period=None, orphan=False)

    def _find_owner(
        self, owner: dict[str, Any], namespace: str | None
    ) -> tuple[ResourceType, dict[str, Any]] | None:
        group = owner.get("apiVersion", "").rpartition("/")[0]
        for rt in self.registry:
            if rt.group == group and rt.kind == owner.get("kind"):
                found = self.store.get(rt.storage_key, namespace if rt.namespaced else None,
                                       str(owner.get("name") or ""))  # fmt: skip
                if found is not None and found["metadata"].get("uid") == owner.get("uid"):
                    return rt, found
                return None
        return None

    def _owner_exists(self, owner: dict[str, Any]) -> bool:
        group = owner.get("apiVersion", "").rpartition("/")[0]
        found = self.store.by_uid(str(owner.get("uid") or ""))
        if found is None:
            return False
        return any(rt.group == group and rt.kind == owner.get("kind")
                   for rt in self.registry.by_storage(found[0]))  # fmt: skip
