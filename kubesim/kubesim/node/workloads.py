"""The workload controllers of kube-controller-manager, run by one manager: ReplicaSets and
ReplicationControllers, Deployments, StatefulSets, DaemonSets, Jobs and CronJobs.

Event-driven, like informers: the manager subscribes to the store's change feed of each kind a
controller reconciles or owns, keeps an index of owned objects by their controller
(control.py), and queues the key of the controller object a change concerns: the object itself,
the controller named by an owned object's controller reference, or, for an orphan, the
controllers in its namespace whose selector matches it (they adopt it). One worker syncs the
queued keys one at a time, draining the change feeds first so that every sync sees the
controllers' own last writes; a sync may ask to be called again after a delay (minReadySeconds,
progress deadlines, back-off, the next cron time), on a timer rather than a loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from kubesim.apiserver.api import Api
from kubesim.apiserver.store import Change, StorageKey, Subscription, object_key
from kubesim.node.control import PODS, Context, Key, Obj
from kubesim.node.controllers import Writer
from kubesim.node.cronjobs import CronJobs
from kubesim.node.daemonsets import DaemonSets
from kubesim.node.deployments import Deployments
from kubesim.node.jobs import TRACKING, Jobs
from kubesim.node.owners import controller_ref
from kubesim.node.replicasets import ReplicaSets
from kubesim.node.statefulsets import StatefulSets

log = logging.getLogger(__name__)

NODES: StorageKey = ("", "nodes")
RETRY_AFTER_ERROR = 2.0


class Controller(Protocol):
    kind: StorageKey
    children: tuple[StorageKey, ...]

    def selects(self, owner: Obj, child: Obj) -> bool: ...

    def sync(self, key: Key) -> float | None: ...


class ControllerManager:
    """Runs the workload controllers against an Api, on the running event loop."""

    def __init__(self, api: Api, node_name: str = "local-node") -> None:
        self.api = api
        self.ctx = Context(api, Writer(api, node_name), self._requeue)
        rs = ReplicaSets(self.ctx, self.ctx.rt("apps", "replicasets"), "replicaset-controller")
        rc_rt = self.ctx.rt("", "replicationcontrollers")
        rc = ReplicaSets(self.ctx, rc_rt, "replication-controller")
        self.jobs = Jobs(self.ctx)
        controllers: list[Controller] = [
            rs, rc, Deployments(self.ctx), StatefulSets(self.ctx), DaemonSets(self.ctx),
            self.jobs, CronJobs(self.ctx),
        ]  # fmt: skip
        self.controllers: dict[StorageKey, Controller] = {c.kind: c for c in controllers}
        # child kind -> the controller kinds that own objects of it
        self.owners_of: dict[StorageKey, list[StorageKey]] = {}
        for c in controllers:
            for child in c.children:
                self.owners_of.setdefault(child, []).append(c.kind)
        self._names: dict[tuple[StorageKey, str], set[str]] = {}  # controllers by namespace
        self._subs: dict[StorageKey, Subscription] = {}
        self._dirty: dict[tuple[StorageKey, Key], None] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._started = False

    # -- lifecycle -------------------------------------------------------------------------------

    def _watched(self) -> list[StorageKey]:
        return list(dict.fromkeys([*self.controllers, *self.owners_of, NODES]))

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        for key in self._watched():
            self._subscribe(key)
        self._tasks = [asyncio.create_task(self._pump(key)) for key in self._subs]
        self._tasks.append(asyncio.create_task(self._work()))

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        for sub in self._subs.values():
            sub.close()
        for timer in self._timers:
            timer.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._timers.clear()

    def _subscribe(self, key: StorageKey) -> None:
        """Watch a kind and (re)list it, as an informer does after a dropped watch."""
        self._subs[key] = self.api.store.subscribe(key, None)
        if key in self.owners_of:
            self.ctx.index.reset(key)
        for obj in self.api.store.items(key):
            self._changed(key, obj, None, deleted=False)

    # -- the change feeds ------------------------------------------------------------------------

    async def _pump(self, key: StorageKey) -> None:
        while self._started:
            change = await self._subs[key].queue.get()
            self._consume(key, change)
            self._wake.set()

    def _drain(self) -> None:
        for key, sub in list(self._subs.items()):
            while not sub.queue.empty():
                self._consume(key, sub.queue.get_nowait())

    def _consume(self, key: StorageKey, change: Change | None) -> None:
        if change is None:
            reason = self._subs[key].close_reason
            if self._started and reason != "server shutting down":
                self._subscribe(key)
            return
        try:
            self._changed(key, change.obj, change.old, deleted=change.type == "DELETED")
        except Exception:
            log.exception("controllers: handling a %s change failed", key[1])

    def _changed(self, kind: StorageKey, obj: Obj, old: Obj | None, *, deleted: bool) -> None:
        key = object_key(obj)
        if kind in self.controllers:
            names = self._names.setdefault((kind, key[0]), set())
            if deleted:
                names.discard(key[1])
                self.ctx.candidates.pop((kind, key), None)
                if kind == self.jobs.kind:
                    self.jobs.gone(obj)
            else:
                if key[1] not in names and old is None:
                    self._note_orphans(kind, key)  # a new controller looks for its orphans
                names.add(key[1])
            self._enqueue(kind, key)
        if kind in self.owners_of:
            self._child_changed(kind, obj, old, deleted=deleted)
        if kind == NODES:
            for ctrl in self.controllers.values():
                if getattr(ctrl, "per_node", False):
                    for ns_kind, names in list(self._names.items()):
                        if ns_kind[0] == ctrl.kind:
                            for name in names:
                                self._enqueue(ctrl.kind, (ns_kind[1], name))

    def _child_changed(self, kind: StorageKey, obj: Obj, old: Obj | None, *, deleted: bool) -> None:
        key = object_key(obj)
        if deleted:
            self.ctx.index.remove(kind, key)
        else:
            self.ctx.index.put(kind, obj)
        refs = [r for r in (controller_ref(old), controller_ref(None if deleted else obj)) if r]
        for ref in refs:
            owner_kind = self._kind_of(ref)
            if owner_kind is not None:
                self._enqueue(owner_kind, (key[0], str(ref.get("name") or "")))
                if kind == PODS:
                    self._enqueue_grand_owner(owner_kind, (key[0], str(ref.get("name") or "")))
        if not deleted and controller_ref(obj) is None:
            if kind == PODS and TRACKING in (obj["metadata"].get("finalizers") or []):
                self.jobs.orphaned(obj)
            for owner_kind in self.owners_of.get(kind, []):
                ctrl = self.controllers[owner_kind]
                for name in list(self._names.get((owner_kind, key[0]), ())):
                    owner = self.ctx.get(owner_kind, (key[0], name))
                    if owner is not None and ctrl.selects(owner, obj):
                        self.ctx.candidates.setdefault((owner_kind, (key[0], name)), set()).add(
                            (kind, key)
                        )
                        self._enqueue(owner_kind, (key[0], name))

    def _enqueue_grand_owner(self, owner_kind: StorageKey, owner_key: Key) -> None:
        """A pod's owner's owner (a Deployment behind a ReplicaSet) waits on pods too: a
        recreate proceeds once the old pods are gone."""
        owner = self.ctx.get(owner_kind, owner_key)
        ref = controller_ref(owner)
        kind = self._kind_of(ref) if ref else None
        if ref is not None and kind is not None:
            self._enqueue(kind, (owner_key[0], str(ref.get("name") or "")))

    def _note_orphans(self, kind: StorageKey, key: Key) -> None:
        ctrl = self.controllers[kind]
        for child in ctrl.children:
            for orphan in self.ctx.index.orphans(child, key[0]):
                self.ctx.candidates.setdefault((kind, key), set()).add((child, orphan))

    def _kind_of(self, ref: dict[str, Any]) -> StorageKey | None:
        group = str(ref.get("apiVersion") or "").rpartition("/")[0]
        for kind, ctrl in self.controllers.items():
            rt = getattr(ctrl, "rt", None)
            if rt is not None and rt.group == group and rt.kind == ref.get("kind"):
                return kind
        return None

    # -- the work queue ----------------------------------------------------------------------------

    def _enqueue(self, kind: StorageKey, key: Key) -> None:
        self._dirty[(kind, key)] = None
        self._wake.set()

    def _requeue(self, kind: StorageKey, key: Key, delay: float) -> None:
        if not self._started:
            return

        def fire() -> None:
            self._timers.discard(timer)
            self._enqueue(kind, key)

        timer = asyncio.get_running_loop().call_later(max(0.0, delay), fire)
        self._timers.add(timer)

    async def _work(self) -> None:
        while self._started:
            await self._wake.wait()
            self._wake.clear()
            self._drain()
            while self._dirty and self._started:
                kind, key = next(iter(self._dirty))
                del self._dirty[(kind, key)]
                self._sync(kind, key)
                self._drain()
                await asyncio.sleep(0)  # let the API server answer between syncs

    def _sync(self, kind: StorageKey, key: Key) -> None:
        try:
            delay = self.controllers[kind].sync(key)
        except Exception:
            log.exception("controllers: syncing %s %s/%s failed; will retry", kind[1], *key)
            delay = RETRY_AFTER_ERROR
        if delay is not None:
            self._requeue(kind, key, delay)
