"""Object storage: one cluster-wide resourceVersion, a bounded change history, watch subscriptions.

Stored objects are never mutated in place: every write stores a new dict. That lets the history,
list snapshots and watch queues share objects without copying them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from kubesim.apiserver.journal import Journal
from kubesim.registry.errors import ApiError, expired

log = logging.getLogger(__name__)

StorageKey = tuple[str, str]  # (group, plural)
ObjectKey = tuple[str, str]  # (namespace or "", name)

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"


@dataclass(frozen=True, slots=True)
class Change:
    rv: int
    key: StorageKey
    type: str
    obj: dict[str, Any]
    old: dict[str, Any] | None


def object_key(obj: dict[str, Any]) -> ObjectKey:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


class Subscription:
    """The live changes of one storage (optionally one namespace), for one watcher."""

    def __init__(
        self, store: Store, key: StorageKey, namespace: str | None, max_queue: int
    ) -> None:
        self.store = store
        self.key = key
        self.namespace = namespace
        self.queue: asyncio.Queue[Change | None] = asyncio.Queue()
        self.max_queue = max_queue
        self.closed = False
        # Why the stream ended, when the server ended it (overflow, fault injection).
        self.close_reason: str | None = None

    def push(self, change: Change) -> None:
        if self.closed:
            return
        if self.queue.qsize() >= self.max_queue:
            # A real server drops watchers that cannot keep up; the client re-watches.
            self.close("watcher too slow")
            return
        self.queue.put_nowait(change)

    def close(self, reason: str | None = None) -> None:
        if not self.closed:
            self.closed = True
            self.close_reason = reason
            self.queue.put_nowait(None)
            self.store._unsubscribe(self)


class Store:
    def __init__(
        self,
        *,
        history_size: int = 50_000,
        journal: Journal | None = None,
        max_watch_queue: int = 100_000,
    ) -> None:
        self._objects: dict[StorageKey, dict[ObjectKey, dict[str, Any]]] = {}
        self._history: deque[Change] = deque(maxlen=history_size)
        # Changes at or below this resourceVersion are no longer in the history.
        self._compacted_rv = 0
        self._rv = 0
        self._subs: dict[StorageKey, set[Subscription]] = {}
        self._journal = journal
        self._max_watch_queue = max_watch_queue
        # uid -> where the object is; owner uid -> its dependents (the garbage collector's
        # graph), so deletions find owners and dependents without scanning a namespace.
        self._by_uid: dict[str, tuple[StorageKey, ObjectKey]] = {}
        self._dependents: dict[str, set[tuple[StorageKey, ObjectKey]]] = {}
        if journal is not None:
            self._rv, objects = journal.load()
            for storage, obj in objects:
                self._objects.setdefault(storage, {})[object_key(obj)] = obj
                self._index(storage, obj)
            self._compacted_rv = self._rv
            journal.compact(self._rv, self._all())

    # -- reads -------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    @property
    def compacted_rv(self) -> int:
        return self._compacted_rv

    def get(self, key: StorageKey, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self._objects.get(key, {}).get((namespace or "", name))

    def items(self, key: StorageKey, namespace: str | None = None) -> list[dict[str, Any]]:
        """Current objects, sorted by (namespace, name) as etcd keys sort."""
        return _sorted(self._objects.get(key, {}), namespace)

    def by_uid(self, uid: str) -> tuple[StorageKey, dict[str, Any]] | None:
        """The stored object with this uid, and its storage."""
        where = self._by_uid.get(uid)
        if where is None:
            return None
        obj = self._objects.get(where[0], {}).get(where[1])
        return (where[0], obj) if obj is not None else None

    def dependents(self, owner_uid: str) -> list[tuple[StorageKey, dict[str, Any]]]:
        """The stored objects with an owner reference to `owner_uid`, in a stable order."""
        out = []
        for key, okey in sorted(self._dependents.get(owner_uid, ())):
            obj = self._objects.get(key, {}).get(okey)
            if obj is not None:
                out.append((key, obj))
        return out

    def _index(self, key: StorageKey, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        where = (key, object_key(obj))
        if meta.get("uid"):
            self._by_uid[meta["uid"]] = where
        for ref in meta.get("ownerReferences") or []:
            if isinstance(ref, dict) and ref.get("uid"):
                self._dependents.setdefault(str(ref["uid"]), set()).add(where)

    def _unindex(self, key: StorageKey, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        where = (key, object_key(obj))
        if meta.get("uid") and self._by_uid.get(meta["uid"]) == where:
            del self._by_uid[meta["uid"]]
        for ref in meta.get("ownerReferences") or []:
            if isinstance(ref, dict) and ref.get("uid"):
                held = self._dependents.get(str(ref["uid"]))
                if held is not None:
                    held.discard(where)
                    if not held:
                        del self._dependents[str(ref["uid"])]

    def count(self, key: StorageKey) -> int:
        return len(self._objects.get(key, {}))

    def snapshot(self, key: StorageKey, namespace: str | None, rv: int) -> list[dict[str, Any]]:
        """The objects as they were at resourceVersion `rv` (continue tokens, Exact lists)."""
        if rv < self._compacted_rv:
            raise expired(f"too old resource version: {rv} ({self._compacted_rv})")
        if rv >= self._rv:
            return self.items(key, namespace)
        state = dict(self._objects.get(key, {}))
        for change in reversed(self._history):
            if change.rv <= rv:
                break
            if change.key != key:
                continue
            okey = object_key(change.obj)
            if change.type == ADDED:
                state.pop(okey, None)
            elif change.old is not None:
                state[okey] = change.old
        return _sorted(state, namespace)

    def changes_since(self, key: StorageKey, namespace: str | None, rv: int) -> Iterator[Change]:
        """Changes after `rv`; raises Expired when the history no longer reaches back that far."""
        if rv < self._compacted_rv:
            raise expired(f"too old resource version: {rv} ({self._compacted_rv})")
        if rv >= self._rv:
            return iter(())
        # Walk back to the first change after rv, then forward.
        later: list[Change] = []
        for change in reversed(self._history):
            if change.rv <= rv:
                break
            later.append(change)
        return (
            c
            for c in reversed(later)
            if c.key == key and (namespace is None or object_key(c.obj)[0] == namespace)
        )

    # -- writes ------------------------------------------------------------------------------

    def put(self, key: StorageKey, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new version of an object: assigns the next resourceVersion. Returns it."""
        okey = object_key(obj)
        bucket = self._objects.setdefault(key, {})
        old = bucket.get(okey)
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        if self._journal is not None:
            # On disk before anyone can see it: an acknowledged write survives a crash.
            self._journal.append({"rv": self._rv, "op": "put", "key": list(key), "obj": obj})
        if old is not None:
            self._unindex(key, old)
        bucket[okey] = obj
        self._index(key, obj)
        self._record(Change(self._rv, key, MODIFIED if old else ADDED, obj, old))
        return obj

    def remove(self, key: StorageKey, namespace: str | None, name: str) -> dict[str, Any] | None:
        """Delete an object. The DELETED event carries the object with a new resourceVersion."""
        bucket = self._objects.get(key, {})
        old = bucket.get((namespace or "", name))
        if old is None:
            return None
        self._rv += 1
        gone = {**old, "metadata": {**old["metadata"], "resourceVersion": str(self._rv)}}
        if self._journal is not None:
            self._journal.append(
                {"rv": self._rv, "op": "delete", "key": list(key), "ns": namespace, "name": name}
            )
        del bucket[(namespace or "", name)]
        self._unindex(key, old)
        self._record(Change(self._rv, key, DELETED, gone, old))
        return gone

    def _record(self, change: Change) -> None:
        if len(self._history) == self._history.maxlen:
            self._compacted_rv = self._history[0].rv
        self._history.append(change)
        namespace = object_key(change.obj)[0]
        for sub in list(self._subs.get(change.key, ())):
            if sub.namespace is None or sub.namespace == namespace:
                sub.push(change)

    # -- watch -------------------------------------------------------------------------------

    def subscribe(self, key: StorageKey, namespace: str | None) -> Subscription:
        sub = Subscription(self, key, namespace, self._max_watch_queue)
        self._subs.setdefault(key, set()).add(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        self._subs.get(sub.key, set()).discard(sub)

    def subscriptions(self) -> Iterable[Subscription]:
        return [s for subs in self._subs.values() for s in subs]

    def close(self) -> None:
        for sub in self.subscriptions():
            sub.close("server shutting down")
        if self._journal is not None:
            self._journal.close()

    def _all(self) -> Iterator[tuple[StorageKey, dict[str, Any]]]:
        for key, bucket in self._objects.items():
            for obj in bucket.values():
                yield key, obj


def _sorted(bucket: dict[ObjectKey, dict[str, Any]], namespace: str | None) -> list[dict[str, Any]]:
    if namespace is None:
        return [bucket[k] for k in sorted(bucket)]
    return [bucket[k] for k in sorted(k for k in bucket if k[0] == namespace)]


__all__ = ["ADDED", "DELETED", "MODIFIED", "ApiError", "Change", "Store", "Subscription"]
