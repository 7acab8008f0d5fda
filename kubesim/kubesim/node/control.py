"""What a workload controller works with: an index of objects by their controller, and the
writes a controller makes (creates, spec and status updates, adoption, events), each retried on
Conflict and failing softly where a real controller would record an event and retry.

The index is fed by the store's change feed (workloads.py drains it before every sync), so a
controller never lists a namespace to find its pods, and always sees its own last writes.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

from kubesim.apiserver.admission import WriteOptions
from kubesim.apiserver.api import Api
from kubesim.apiserver.store import StorageKey, object_key
from kubesim.node.controllers import Writer
from kubesim.node.owners import controller_ref
from kubesim.node.pod_status import uid
from kubesim.registry.errors import ApiError
from kubesim.registry.resources import ResourceType

log = logging.getLogger(__name__)

MANAGER = "kube-controller-manager"  # the field manager the controllers' writes are recorded as

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)
PODS: StorageKey = ("", "pods")


class Index:
    """Objects of the owned kinds, by the uid of their controller (or as orphans, by namespace)."""

    def __init__(self) -> None:
        self._owned: dict[tuple[StorageKey, str], set[Key]] = {}
        self._orphans: dict[tuple[StorageKey, str], set[Key]] = {}
        self._owner_of: dict[tuple[StorageKey, Key], str] = {}  # "" for an orphan

    def reset(self, kind: StorageKey) -> None:
        for table in (self._owned, self._orphans):
            for slot in [s for s in table if s[0] == kind]:
                del table[slot]
        for child in [c for c in self._owner_of if c[0] == kind]:
            del self._owner_of[child]

    def put(self, kind: StorageKey, obj: Obj) -> None:
        key = object_key(obj)
        self.remove(kind, key)
        ref = controller_ref(obj)
        owner = str(ref.get("uid") or "") if ref else ""
        self._owner_of[(kind, key)] = owner
        if owner:
            self._owned.setdefault((kind, owner), set()).add(key)
        else:
            self._orphans.setdefault((kind, key[0]), set()).add(key)

    def remove(self, kind: StorageKey, key: Key) -> None:
        owner = self._owner_of.pop((kind, key), None)
        if owner is None:
            return
        table, slot = (self._owned, (kind, owner)) if owner else (self._orphans, (kind, key[0]))
        keys = table.get(slot)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del table[slot]

    def owned(self, kind: StorageKey, owner_uid: str) -> list[Key]:
        return sorted(self._owned.get((kind, owner_uid), ()))

    def orphans(self, kind: StorageKey, namespace: str) -> list[Key]:
        return sorted(self._orphans.get((kind, namespace), ()))


class Context:
    """The API as the workload controllers use it."""

    def __init__(
        self,
        api: Api,
        writer: Writer,
        requeue: Callable[[StorageKey, Key, float], None],
    ) -> None:
        self.api = api
        self.writer = writer
        self.index = Index()
        self.requeue = requeue
        # Orphans that may belong to an owner, noted when they appear: (owner kind, owner key).
        self.candidates: dict[tuple[StorageKey, Key], set[tuple[StorageKey, Key]]] = {}
        self._failures: dict[tuple[StorageKey, Key], int] = {}

    def backoff(self, kind: StorageKey, key: Key) -> float:
        """The delay before retrying a failed write: 5 s, doubling to at most 5 minutes, as the
        controllers' work queues back off (reset by `recovered`)."""
        count = self._failures.get((kind, key), 0)
        self._failures[(kind, key)] = count + 1
        return float(min(5 * 2**count, 300))

    def recovered(self, kind: StorageKey, key: Key) -> None:
        self._failures.pop((kind, key), None)

    def rt(self, group: str, plural: str) -> ResourceType:
        for rt in self.api.registry:
            if rt.group == group and rt.plural == plural:
                return rt
        raise KeyError(plural)

    def get(self, kind: StorageKey, key: Key) -> Obj | None:
        return self.api.store.get(kind, key[0], key[1])

    def owned(self, kind: StorageKey, owner: Obj) -> list[Obj]:
        """The objects of `kind` whose controller is `owner`."""
        found = (self.get(kind, key) for key in self.index.owned(kind, uid(owner)))
        return [obj for obj in found if obj is not None]

    def take_candidates(
        self, owner_kind: StorageKey, owner_key: Key
    ) -> list[tuple[StorageKey, Obj]]:
        """Orphans noted for this owner since its last sync, as they are now."""
        out = []
        for kind, key in sorted(self.candidates.pop((owner_kind, owner_key), ())):
            obj = self.get(kind, key)
            if obj is not None and controller_ref(obj) is None:
                out.append((kind, obj))
        return out

    # -- writes ------------------------------------------------------------------------------

    def create(self, rt: ResourceType, namespace: str, body: Obj) -> Obj:
        """Create as a client would (admission and validation apply); raises ApiError."""
        return self.api.create(rt, namespace, body, WriteOptions(manager=MANAGER))

    def update(self, rt: ResourceType, obj: Obj, mutate: Callable[[Obj], None]) -> Obj | None:
        """A PUT of the current object changed by `mutate` (spec or metadata), retried on
        Conflict; None when the object is gone or replaced. Raises other ApiErrors."""
        want = uid(obj)
        key = object_key(obj)
        for _ in range(10):
            current = self.api.store.get(rt.storage_key, key[0], key[1])
            if current is None or uid(current) != want:
                return None
            new = copy.deepcopy(current)
            mutate(new)
            if new == current:
                return current
            try:
                return self.api.update(
                    rt, key[0] or None, key[1], new, WriteOptions(manager=MANAGER)
                )
            except ApiError as err:
                if err.code == 404:
                    return None
                if err.code != 409:
                    raise
        raise RuntimeError(f"{rt.plural} {key}: too many conflicting writes")

    def adopt(self, rt: ResourceType, obj: Obj, ref: Obj) -> Obj | None:
        """Make an orphan the owner's (`ref`, a controller reference), as the controllers'
        ClaimObject does: the object as stored when adopted, else None (gone, or claimed by
        another controller in the meantime)."""

        def claim(o: Obj) -> None:
            if controller_ref(o) is None:
                refs = list(o["metadata"].get("ownerReferences") or [])
                o["metadata"]["ownerReferences"] = [*refs, ref]

        try:
            adopted = self.update(rt, obj, claim)
        except ApiError:
            return None
        return adopted if adopted is not None and controller_ref(adopted) == ref else None

    def status(self, rt: ResourceType, obj: Obj, mutate: Callable[[Obj], None]) -> Obj | None:
        """A status write (the controller's own, like UpdateStatus), retried on Conflict."""
        return self.writer.update(
            rt, object_key(obj), uid(obj), mutate, manager=MANAGER, subresource="status"
        )

    def delete(self, rt: ResourceType, obj: Obj) -> bool:
        """Delete an object (gracefully, for pods); False when it was already gone."""
        key = object_key(obj)
        try:
            self.api.delete(rt, key[0] or None, key[1], preconditions={"uid": uid(obj)})
        except ApiError as err:
            if err.code in (404, 409):
                return False
            raise
        return True

    def event(
        self, obj: Obj, reason: str, message: str, component: str, *, warning: bool = False
    ) -> None:
        self.writer.event(obj, reason, message, kind="Warning" if warning else "Normal",
                          component=component)  # fmt: skip
