"""Watch streams: initial state or history replay, then live changes, filtered by selectors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from kubesim.apiserver.api import Api
from kubesim.apiserver.listing import parse_rv
from kubesim.apiserver.selectors import FieldSelector, LabelSelector
from kubesim.apiserver.store import ADDED, DELETED, MODIFIED, Change, Subscription
from kubesim.registry import kinds
from kubesim.registry.errors import ApiError
from kubesim.registry.resources import ResourceType

BOOKMARK, ERROR = "BOOKMARK", "ERROR"
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


@dataclass
class WatchOptions:
    labels: LabelSelector
    fields: FieldSelector
    resource_version: str | None = None
    timeout: float = 1800.0
    bookmarks: bool = False
    bookmark_interval: float = 60.0
    send_initial_events: bool | None = None


class WatchStream:
    """One open watch. `subscription.close()` ends it (used to cut watches on purpose)."""

    def __init__(
        self, api: Api, rt: ResourceType, namespace: str | None, opts: WatchOptions
    ) -> None:
        self.api = api
        self.rt = rt
        self.opts = opts
        ns = namespace if rt.namespaced else None
        # Subscribe before reading state: no await runs in between, so nothing is missed.
        self.subscription: Subscription = api.store.subscribe(rt.storage_key, ns)
        self._backlog: list[tuple[str, dict[str, Any]]] = []
        self._start(ns)

    def _matches(self, obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        labels = obj["metadata"].get("labels") or {}
        return self.opts.labels.matches(labels) and self.opts.fields.matches(obj)

    def _start(self, ns: str | None) -> None:
        opts, store = self.opts, self.api.store
        rv = opts.resource_version
        initial = opts.send_initial_events
        if initial is None:
            initial = rv in (None, "", "0")
        try:
            start = parse_rv(rv)
            if initial:
                for obj in store.items(self.rt.storage_key, ns):
                    if self._matches(obj):
                        self._backlog.append((ADDED, obj))
                if opts.send_initial_events and opts.bookmarks:
                    self._backlog.append((BOOKMARK, self._bookmark(initial_end=True)))
            else:
                for change in store.changes_since(self.rt.storage_key, ns, start):
                    self._backlog.extend(self._translate(change))
        except ApiError as err:
            self._backlog = [(ERROR, err.status())]
            self.subscription.close("error")

    def _translate(self, change: Change) -> list[tuple[str, dict[str, Any]]]:
        new_ok = self._matches(change.obj)
        old_ok = self._matches(change.old)
        if change.type == ADDED:
            return [(ADDED, change.obj)] if new_ok else []
        if change.type == DELETED:
            return [(DELETED, change.obj)] if old_ok else []
        # Objects moving in or out of the selector look like adds and deletes to this watcher.
        if new_ok and old_ok:
            return [(MODIFIED, change.obj)]
        if new_ok:
            return [(ADDED, change.obj)]
        if old_ok:
            return [(DELETED, change.obj)]
        return []

    def _bookmark(self, *, initial_end: bool = False) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": str(self.api.store.resource_version)}
        if initial_end:
            meta["annotations"] = {INITIAL_EVENTS_END: "true"}
        return {"kind": self.rt.kind, "apiVersion": self.rt.api_version, "metadata": meta}

    def _present(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        if kind in (ERROR, BOOKMARK):
            return obj
        return kinds.present(self.rt, obj)

    async def events(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Yield (type, object) until the timeout, the client leaves, or the stream is cut."""
        deadline = time.monotonic() + self.opts.timeout
        try:
            for kind, obj in self._backlog:
                yield kind, self._present(kind, obj)
            self._backlog = []
            next_bookmark = time.monotonic() + self.opts.bookmark_interval
            while not self.subscription.closed or not self.subscription.queue.empty():
                now = time.monotonic()
                if now >= deadline:
                    return
                wait = deadline - now
                if self.opts.bookmarks:
                    wait = min(wait, max(0.0, next_bookmark - now))
                try:
                    change = await asyncio.wait_for(self.subscription.queue.get(), wait)
                except TimeoutError:
                    if self.opts.bookmarks and time.monotonic() >= next_bookmark:
                        next_bookmark = time.monotonic() + self.opts.bookmark_interval
                        yield BOOKMARK, self._bookmark()
                    continue
                if change is None:
                    return
                for kind, obj in self._translate(change):
                    yield kind, self._present(kind, obj)
        finally:
            self.subscription.close()
