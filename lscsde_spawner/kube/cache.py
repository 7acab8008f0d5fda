"""A watch-fed cache (informer) of workspaces, bindings, data sources and data-source bindings.

One cache per hub process, namespace and event loop (`WorkspaceCache.shared`) keeps a local copy of
the four kinds: it lists each, then watches from the list's resourceVersion, applying ADDED,
MODIFIED and DELETED events and remembering the latest resourceVersion (bookmarks included).

Failures, per kind:
- the stream ends (server timeout, a proxy, a cut connection): resume from the last resourceVersion;
- 410 Gone (history compacted past our resourceVersion): relist, replacing that kind's contents;
- any other error: retry with exponential backoff and jitter up to `backoff_max`, logging a
  warning once per failure streak and one line when it recovers;
- every `resync_seconds` the kind is relisted anyway, to heal anything a watch may have missed.
Once synced the cache keeps serving its last known state while it reconnects.

An object that fails model parsing is kept in `errors()` (one log line per object version) and
never affects other objects; it leaves `errors()` when it is fixed or deleted.

Cached models are shared between callers and never mutated by the cache (every event stores a new
object), so treat them as read-only: `model_copy()` one before changing it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar, Generic, TypeVar

from kubernetes_asyncio.client import CoreV1Api, CustomObjectsApi
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from .. import claims as claim_rules
from .. import levels, metrics
from ..claims import UserClaims
from ..models import (
    GROUP,
    VERSION,
    AnalyticsDataSource,
    AnalyticsDataSourceBinding,
    AnalyticsWorkspace,
    AnalyticsWorkspaceBinding,
    ParseError,
    PersistentVolumeClaim,
    parse_one,
)
from ..models.base import R
from ..usernames import USER_LABEL, Normalize, hub_default, owner, username_label
from .customresources import read_body
from .safejson import loads_event, loads_list

T = TypeVar("T")
# An index key: ("user", name), ("claim", name, value), ("negative",), ("workspace", name)
Key = tuple[str, ...]
NEGATIVE_ONLY: Key = ("negative",)

#: Objects per page when the cache lists a kind (client-go's informers list 500 at a time).
LIST_PAGE = 500


@dataclass(frozen=True)
class UserSnapshot:
    """What one user's spawn page needs, as of one moment."""

    workspaces: dict[str, AnalyticsWorkspace]  # all parsed workspaces (by name)
    # The bindings that may be this user's: theirs by username, and the claim-only bindings
    # one of whose (claim, value) pairs the user has; access.decide judges each in full.
    bindings: list[AnalyticsWorkspaceBinding]
    malformed: list[ParseError]  # objects that did not parse (other users' bindings left out)
    datasources: dict[str, AnalyticsDataSource]
    datasource_bindings: list[AnalyticsDataSourceBinding]
    from_cache: bool


@dataclass
class _Bad:
    resource_version: str | None
    error: ParseError


class _Expired(Exception):
    """410 Gone: our resourceVersion is older than the server's history."""


def _meta(obj: Any) -> dict[str, Any]:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return meta if isinstance(meta, dict) else {}


@dataclass(eq=False)
class _Kind(Generic[R]):
    """The cached objects of one kind, an optional index over them, and their watch state."""

    model: type[R]
    index_keys: Callable[[R], tuple[Key, ...]] = lambda _: ()
    log: logging.Logger | None = None  # None: no log lines (the one-off queries before sync)
    # A note about a parsed object worth one log line per version (e.g. a broken claim).
    problem: Callable[[R], str | None] = lambda _: None
    items: dict[str, R] = field(default_factory=dict)
    index: dict[Key, dict[str, R]] = field(default_factory=dict)
    bad: dict[str, _Bad] = field(default_factory=dict)
    resource_version: str | None = None
    listed_at: float = 0.0
    fresh_from_list: bool = False
    listed: bool = False
    failures: int = 0

    def replace(self, objs: Iterable[Any]) -> None:
        """A relist: the new contents, swapped in at once (readers never see half)."""
        fresh = self.fresh()
        fresh.take(objs, self)
        self.items, self.index, self.bad = fresh.items, fresh.index, fresh.bad

    def fresh(self) -> _Kind[R]:
        """Empty contents of this kind, to fill page by page and then swap in."""
        return _Kind(self.model, self.index_keys, self.log, self.problem)

    def take(self, objs: Iterable[Any], previous: _Kind[R]) -> None:
        """Add a relist's objects. An object whose resourceVersion is unchanged keeps its model
        from `previous`: a periodic relist builds almost nothing. Touches only this (new)
        contents, so it may run in a worker thread while readers use `previous`."""
        for obj in objs:
            meta = _meta(obj)
            name, rv = str(meta.get("name", "?")), meta.get("resourceVersion")
            old = previous.items.get(name)
            if rv is not None and old is not None and old.metadata.resource_version == rv:
                self.items[name] = old
                for key in self.index_keys(old):
                    self.index.setdefault(key, {})[name] = old
                continue
            self._put(obj, previous.bad.get(name))

    def upsert(self, obj: Any) -> None:
        name = str(_meta(obj).get("name", "?"))
        old_bad = self.bad.pop(name, None)
        self._drop(name)
        self._put(obj, old_bad)

    def delete(self, obj: Any) -> None:
        name = str(_meta(obj).get("name", "?"))
        self.bad.pop(name, None)
        self._drop(name)

    def _drop(self, name: str) -> None:
        old = self.items.pop(name, None)
        for key in self.index_keys(old) if old is not None else ():
            if key in self.index:
                self.index[key].pop(name, None)
                if not self.index[key]:
                    del self.index[key]

    def _put(self, obj: Any, old_bad: _Bad | None) -> None:
        meta = _meta(obj)
        name = str(meta.get("name", "?"))
        try:
            parsed: R | ParseError = parse_one(self.model, obj)
        except Exception as err:  # a bug in a validator must not break the other objects
            parsed = ParseError(self.model.KIND, meta.get("namespace"), name, repr(err))
        if isinstance(parsed, ParseError):
            rv = meta.get("resourceVersion")
            if self.log and (old_bad is None or old_bad.resource_version != rv):
                self.log.warning("%s (resourceVersion %s); skipped", parsed, rv)
            self.bad[name] = _Bad(rv, parsed)
            return
        self.items[name] = parsed
        for key in self.index_keys(parsed):
            self.index.setdefault(key, {})[name] = parsed
        note = self.problem(parsed)
        if note and self.log:  # once per version: an unchanged object is not parsed again
            self.log.warning("%s %s is malformed: %s; it grants nothing", self.model.KIND,
                             name, note)  # fmt: skip


class WorkspaceCache:
    """A local, watch-fed copy of the workspace custom resources in one namespace."""

    BACKOFF_INITIAL: ClassVar[float] = 0.25
    _shared: ClassVar[
        weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, WorkspaceCache]]
    ] = weakref.WeakKeyDictionary()
    _closing: ClassVar[set[asyncio.Task[None]]] = set()  # clients of dead caches, being closed

    def __init__(
        self,
        api_client: ApiClient,
        namespace: str,
        *,
        normalize: Normalize = hub_default,
        resync_seconds: float = 300,
        backoff_max: float = 30,
        backoff_initial: float | None = None,
        trust_user_label: bool = False,
        freeze_after_sync: bool = False,
        claims: bool = True,
        log: logging.Logger | None = None,
    ) -> None:
        """`trust_user_label`: before sync, list only the bindings labelled `USER_LABEL` for the
        user instead of all bindings. Only for namespaces where every binding is known to carry
        a correct label; results are still filtered by spec.username, so a label never grants.
        `normalize`: the hub's username normalisation (the authenticator's normalize_username);
        a binding is indexed under `normalize(spec.username)`, the one hub user it grants to.
        `claims`: also list and watch the namespace's PVCs (the spawner's storage checks); the
        workspaces service, which mounts nothing, turns it off."""
        self.api_client = api_client
        self.namespace = namespace
        self.normalize = normalize
        self.resync_seconds = resync_seconds
        self.backoff_max = backoff_max
        self.backoff_initial = backoff_initial or self.BACKOFF_INITIAL
        self.trust_user_label = trust_user_label
        self.freeze_after_sync = freeze_after_sync
        self.watch_claims = claims
        # Before the first sync, a lookup waits this long for it rather than listing the
        # namespace a second time itself.
        self.sync_wait = 5.0
        self.log = log or logging.getLogger(__name__)
        self._api = CustomObjectsApi(api_client)
        self._core = CoreV1Api(api_client)
        self._owns_client = False
        self._tasks: list[asyncio.Task[None]] = []
        self._synced = asyncio.Event()
        self._kinds = self._new_kinds()
        self._listeners: list[Callable[[], None]] = []

    def _new_kinds(self, quiet: bool = False) -> dict[str, _Kind[Any]]:
        log = None if quiet else self.log

        def by_workspace(b: AnalyticsDataSourceBinding) -> tuple[Key, ...]:
            return ((b.spec.workspace,),)

        kinds: list[_Kind[Any]] = [
            _Kind(AnalyticsWorkspace, log=log),
            _Kind(
                AnalyticsWorkspaceBinding,
                self._binding_keys,
                log=log,
                problem=_binding_problem,
            ),
            _Kind(AnalyticsDataSource, log=log),
            _Kind(AnalyticsDataSourceBinding, by_workspace, log=log),
        ]
        if not quiet and self.watch_claims:  # claims only help a synced cache (see claim())
            kinds.append(_Kind(PersistentVolumeClaim, log=log))
        return {k.model.PLURAL: k for k in kinds}

    def _owner(self, raw: object) -> str | None:
        return owner(raw, self.normalize)

    def _binding_keys(self, b: AnalyticsWorkspaceBinding) -> tuple[Key, ...]:
        """Where a binding is indexed: under its workspace (the service's member lists), and
        under whom it may grant to. A username binding: under its one hub user only (the
        username must hold, whatever its claims), or nowhere when it names nobody. A
        claim-only binding: apart from the users, under the (name, value) pairs of its first
        positive claim, which every user it grants to has; with only negative claims, in one
        short list that every lookup reads. A broken claim-only binding with no well-formed
        positive claim is not indexed: it grants nobody and is reported to nobody."""
        spec = b.spec
        return (("workspace", spec.workspace), *self._grantee_keys(b))

    def _grantee_keys(self, b: AnalyticsWorkspaceBinding) -> tuple[Key, ...]:
        spec = b.spec
        if spec.username:
            user = self._owner(spec.username)
            return (("user", user),) if user is not None else ()
        if claim_rules.problem(spec.claims) is not None:
            known = [c for c in spec.claims if c.operator in claim_rules.OPERATORS]
            return tuple(("claim", *pair) for pair in claim_rules.index_keys(known))
        pairs = claim_rules.index_keys(spec.claims)
        return tuple(("claim", *pair) for pair in pairs) if pairs else (NEGATIVE_ONLY,)

    @classmethod
    def shared(
        cls, api_client_factory: Callable[[], ApiClient], namespace: str, **kw: Any
    ) -> WorkspaceCache:
        """The one cache for this namespace in the running event loop, made on first use (with
        a client from `api_client_factory`, closed by `stop()`); later callers' `kw` are ignored.
        Call `await cache.start()` (idempotent) before relying on it."""
        loop = asyncio.get_running_loop()
        caches = cls._shared.setdefault(loop, {})
        cache = caches.get(namespace)
        if cache is not None and cache._tasks and all(t.done() for t in cache._tasks):
            # Cancelled from outside (JupyterHub's shutdown cancels every task) without stop():
            # a dead cache must not be handed out, or nothing would ever restart it.
            if cache._owns_client:
                closing = loop.create_task(cache.api_client.close())
                cls._closing.add(closing)
                closing.add_done_callback(cls._closing.discard)
            cache = None
        if cache is None:
            cache = caches[namespace] = cls(api_client_factory(), namespace, **kw)
            cache._owns_client = True
        assert isinstance(cache, cls)
        return cache

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        if self._tasks:
            return
        for plural, kind in self._kinds.items():
            name = f"lscsde-cache-{self.namespace}-{plural}"
            self._tasks.append(asyncio.create_task(self._run(plural, kind), name=name))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._synced.clear()
        metrics.CACHE_SYNCED.labels(namespace=self.namespace).set(0)
        self._kinds = self._new_kinds()
        caches = self._shared.get(asyncio.get_running_loop(), {})
        if caches.get(self.namespace) is self:
            del caches[self.namespace]
        if self._owns_client:
            await self.api_client.close()

    @property
    def synced(self) -> bool:
        """True once the first list of every kind has succeeded (and until `stop()`)."""
        return self._synced.is_set()

    async def wait_synced(self, timeout: float) -> bool:  # noqa: ASYNC109 (the shared interface)
        """Wait up to `timeout` seconds for the first sync; True when synced."""
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # -- reading ----------------------------------------------------------------------------

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call `callback()` (on the event loop, synchronously: keep it cheap) after every
        change the cache applies: a watch event, a relist, the first sync."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def _changed(self) -> None:
        for callback in list(self._listeners):
            try:
                callback()
            except Exception:  # a listener's bug must not stop the watch
                self.log.exception("workspace cache listener failed")

    @property
    def claims_synced(self) -> bool:
        """True once the namespace's PVCs have been listed (a hub whose Role may not list
        PVCs never gets there, and reads each claim instead)."""
        kind = self._kinds.get(PersistentVolumeClaim.PLURAL)
        return kind is not None and kind.listed

    def claim(self, name: str) -> PersistentVolumeClaim | None:
        """The PVC as last seen, or None (not there, or not seen yet: read it to be sure)."""
        kind = self._kinds.get(PersistentVolumeClaim.PLURAL)
        found: PersistentVolumeClaim | None = kind.items.get(name) if kind is not None else None
        return found

    def workspace_view(
        self, username: str, workspace: str, claims: UserClaims | None = None
    ) -> UserSnapshot:
        """From the synced cache, exactly what decides whether `username` (with `claims`) may
        use `workspace` today and what it mounts: that workspace, the user's candidate bindings
        to it, its data-source bindings and their data sources, and the errors among those
        objects. Costs what those objects and the user's claim values number, never what the
        namespace holds. No API call."""
        kinds = self._kinds
        mine = _candidates(kinds[AnalyticsWorkspaceBinding.PLURAL].index, username, claims)
        dsbs = list(kinds[AnalyticsDataSourceBinding.PLURAL].index.get((workspace,), {}).values())
        sources = kinds[AnalyticsDataSource.PLURAL]
        wanted = {b.spec.datasource for b in dsbs}
        bad_workspace = kinds[AnalyticsWorkspace.PLURAL].bad.get(workspace)
        malformed = [bad_workspace.error] if bad_workspace else []
        malformed += [sources.bad[n].error for n in sorted(wanted) if n in sources.bad]
        malformed += [  # broken bindings are few; only this user's are reported
            bad.error
            for bad in kinds[AnalyticsWorkspaceBinding.PLURAL].bad.values()
            if username and self._owner(bad.error.username) == username
        ]
        found = kinds[AnalyticsWorkspace.PLURAL].items.get(workspace)
        return UserSnapshot(
            workspaces={workspace: found} if found is not None else {},
            bindings=[b for b in mine if b.spec.workspace == workspace],
            malformed=malformed,
            datasources={n: sources.items[n] for n in wanted if n in sources.items},
            datasource_bindings=dsbs,
            from_cache=True,
        )

    def user_view(self, username: str, claims: UserClaims | None = None) -> UserSnapshot:
        """From the synced cache, what decides every workspace `username` (with `claims`) may
        use today: their candidate bindings, the workspaces those name, the data sources
        attached to them, and the errors among those objects. Like `workspace_view`, it costs
        what the user's bindings number, not what the namespace holds. No API call."""
        kinds = self._kinds
        mine = _candidates(kinds[AnalyticsWorkspaceBinding.PLURAL].index, username, claims)
        names = {b.spec.workspace for b in mine}
        spaces = kinds[AnalyticsWorkspace.PLURAL]
        dsb_index = kinds[AnalyticsDataSourceBinding.PLURAL].index
        dsbs = [b for n in sorted(names) for b in dsb_index.get((n,), {}).values()]
        sources = kinds[AnalyticsDataSource.PLURAL]
        wanted = {b.spec.datasource for b in dsbs}
        malformed = [spaces.bad[n].error for n in sorted(names) if n in spaces.bad]
        malformed += [sources.bad[n].error for n in sorted(wanted) if n in sources.bad]
        malformed += [
            bad.error
            for bad in kinds[AnalyticsWorkspaceBinding.PLURAL].bad.values()
            if username and self._owner(bad.error.username) == username
        ]
        return UserSnapshot(
            workspaces={n: spaces.items[n] for n in names if n in spaces.items},
            bindings=mine,
            malformed=malformed,
            datasources={n: sources.items[n] for n in wanted if n in sources.items},
            datasource_bindings=dsbs,
            from_cache=True,
        )

    def bindings_to(self, workspace: str) -> list[AnalyticsWorkspaceBinding]:
        """Every parsed binding that names `workspace`, by name (from the workspace index: what
        that workspace's bindings number, not the namespace's)."""
        index = self._kinds[AnalyticsWorkspaceBinding.PLURAL].index
        found = index.get(("workspace", workspace), {})
        return [found[n] for n in sorted(found)]

    def binding_errors_to(self, workspace: str) -> list[ParseError]:
        """The bindings naming `workspace` (as far as could be read) that did not parse."""
        bad = self._kinds[AnalyticsWorkspaceBinding.PLURAL].bad.values()
        return sorted((b.error for b in bad if b.error.workspace == workspace),
                      key=lambda e: e.name)  # fmt: skip

    def binding(self, name: str) -> AnalyticsWorkspaceBinding | None:
        """The binding `name` as last seen."""
        found: AnalyticsWorkspaceBinding | None = self._kinds[
            AnalyticsWorkspaceBinding.PLURAL
        ].items.get(name)
        return found

    async def snapshot_for(self, username: str, claims: UserClaims | None = None) -> UserSnapshot:
        """This user's candidate bindings (by username and by `claims`) and everything else a
        spawn needs: from the cache once synced (no API call), else from direct queries
        filtered the same way."""
        if self.synced or (self._tasks and await self.wait_synced(self.sync_wait)):
            return self._snapshot(self._kinds, username, claims, from_cache=True)
        return self._snapshot(await self._direct(username), username, claims, from_cache=False)

    def workspaces(self) -> dict[str, AnalyticsWorkspace]:
        return dict(self._kinds[AnalyticsWorkspace.PLURAL].items)

    def workspace(self, name: str) -> AnalyticsWorkspace | None:
        """The workspace as last seen (no copy of the others)."""
        found: AnalyticsWorkspace | None = self._kinds[AnalyticsWorkspace.PLURAL].items.get(name)
        return found

    def bindings(self) -> list[AnalyticsWorkspaceBinding]:
        """Every parsed workspace binding (a copy of the list; the models are shared)."""
        return list(self._kinds[AnalyticsWorkspaceBinding.PLURAL].items.values())

    def datasources(self) -> dict[str, AnalyticsDataSource]:
        return dict(self._kinds[AnalyticsDataSource.PLURAL].items)

    def datasource_bindings_for(self, workspace: str) -> list[AnalyticsDataSourceBinding]:
        index = self._kinds[AnalyticsDataSourceBinding.PLURAL].index
        return list(index.get((workspace,), {}).values())

    def errors(self) -> list[ParseError]:
        return [bad.error for kind in self._kinds.values() for bad in kind.bad.values()]

    def _snapshot(
        self,
        kinds: dict[str, _Kind[Any]],
        username: str,
        claims: UserClaims | None,
        from_cache: bool,
    ) -> UserSnapshot:
        user = username  # a hub name: already the hub's normal form
        bindings = kinds[AnalyticsWorkspaceBinding.PLURAL]
        malformed = [
            bad.error
            for plural, kind in kinds.items()
            if plural != PersistentVolumeClaim.PLURAL
            for bad in kind.bad.values()
            # Another user's broken binding is none of this user's business.
            if kind is not bindings or (user and self._owner(bad.error.username) == user)
        ]
        return UserSnapshot(
            workspaces=dict(kinds[AnalyticsWorkspace.PLURAL].items),
            bindings=_candidates(bindings.index, user, claims),
            malformed=malformed,
            datasources=dict(kinds[AnalyticsDataSource.PLURAL].items),
            datasource_bindings=list(kinds[AnalyticsDataSourceBinding.PLURAL].items.values()),
            from_cache=from_cache,
        )

    async def _direct(self, username: str) -> dict[str, _Kind[Any]]:
        """One list per kind, parsed into throwaway kinds. Bindings: all of them by default,
        because a label is written by some tools only and goes stale when another tool edits
        spec.username; narrowing by label could hide a grant. One extra list, before sync only."""
        kinds = self._new_kinds(quiet=True)
        selectors: dict[str, str | None] = dict.fromkeys(kinds)
        if self.trust_user_label:
            label = username_label(username)
            selectors[AnalyticsWorkspaceBinding.PLURAL] = f"{USER_LABEL}={label}"
        fetches = [self._fetch(p, selectors[p]) for p in kinds]
        if self.trust_user_label:
            # Claim bindings name no user, so they carry no user label: list those too.
            fetches.append(self._fetch(AnalyticsWorkspaceBinding.PLURAL, f"!{USER_LABEL}"))
        bodies = await asyncio.gather(*fetches)

        def parse() -> None:
            for plural, kind, body in zip(kinds, kinds.values(), bodies, strict=False):
                items = loads_list(body).get("items") or []
                if plural == AnalyticsWorkspaceBinding.PLURAL:
                    if self.trust_user_label:
                        unlabelled = loads_list(bodies[-1]).get("items") or []
                        items += [o for o in unlabelled if _raw_username(o) is None]
                    # Parse only this user's bindings and the claim bindings: building models
                    # for all of them is most of the cold path's cost. A binding whose username
                    # cannot be read is kept, so it is parsed and reported as malformed.
                    items = [o for o in items if _raw_user_matches(o, username, self._owner)]
                kind.replace(items)

        # Throwaway kinds: nobody reads them meanwhile.
        await asyncio.to_thread(_collector_paused, parse)
        return kinds

    # -- list and watch ---------------------------------------------------------------------

    async def _fetch(
        self,
        plural: str,
        label_selector: str | None = None,
        *,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> bytes:
        """One raw List (page); decoded by safejson (not json.loads: an item too deep or too
        large is that item's ParseError) in a worker thread, as part of building the models."""
        kw: dict[str, Any] = {"label_selector": label_selector} if label_selector else {}
        metrics.kube_request("list", plural)
        if limit:
            kw["limit"] = limit
        if continue_token:
            kw["_continue"] = continue_token
        resp = await self._lister(plural)(_request_timeout=60, _preload_content=False, **kw)
        return await read_body(resp)

    def _lister(self, plural: str) -> Callable[..., Any]:
        """The list (and, with watch=True, watch) call of one kind in this namespace."""
        if plural == PersistentVolumeClaim.PLURAL:
            return partial(self._core.list_namespaced_persistent_volume_claim, self.namespace)
        return partial(
            self._api.list_namespaced_custom_object, GROUP, VERSION, self.namespace, plural
        )

    async def _run(self, plural: str, kind: _Kind[Any]) -> None:
        while True:
            try:
                due = time.monotonic() - kind.listed_at >= self.resync_seconds
                if kind.resource_version is None or due:
                    await self._list(plural, kind)
                await self._watch(plural, kind)
                metrics.WATCH_RESTARTS.labels(resource=plural, cause="resumed").inc()
            except asyncio.CancelledError:
                raise
            except _Expired as err:
                kind.resource_version = None
                metrics.WATCH_RESTARTS.labels(resource=plural, cause="expired").inc()
                if not kind.fresh_from_list:
                    self.log.info("%s watch expired (%s); relisting", plural, err)
                    continue
                await self._failed(plural, kind, err)  # 410 straight after a list: do not spin
            except Exception as err:
                await self._failed(plural, kind, err)

    async def _failed(self, plural: str, kind: _Kind[Any], err: Exception) -> None:
        kind.failures += 1
        metrics.WATCH_RESTARTS.labels(resource=plural, cause="error").inc()
        cap = min(self.backoff_max, self.backoff_initial * 2 ** (kind.failures - 1))
        delay = cap * random.uniform(0.5, 1.0)
        if kind.failures == 1:
            self.log.warning(
                "Cannot list/watch %s in %s: %s; retrying with backoff (up to %ss)",
                plural, self.namespace, _describe(err), self.backoff_max,
            )  # fmt: skip
        await asyncio.sleep(delay)

    def _progress(self, plural: str, kind: _Kind[Any]) -> None:
        if kind.failures:
            self.log.info("%s in %s: recovered after %d failures", plural, self.namespace,
                          kind.failures)  # fmt: skip
            kind.failures = 0

    async def _list(self, plural: str, kind: _Kind[Any]) -> None:
        # Page by page, as client-go's informers list: decoding one page holds the GIL for a
        # millisecond or two, where a whole namespace's List held it for tens. Each page is
        # decoded and built in a worker thread with the collector paused, so its short-lived
        # JSON is freed, not promoted into the old generation to set off a full collection.
        # The new contents are swapped in at once; watch events for this kind wait meanwhile.
        fresh, token = kind.fresh(), None
        while True:
            body = await self._fetch(plural, limit=LIST_PAGE, continue_token=token)

            def build(page: bytes = body) -> tuple[str | None, str | None]:
                doc = loads_list(page)
                fresh.take(doc.get("items") or [], kind)
                meta = _meta(doc)
                return meta.get("resourceVersion"), meta.get("continue") or None

            resource_version, token = await asyncio.to_thread(_collector_paused, build)
            if not token:
                break
        kind.items, kind.index, kind.bad = fresh.items, fresh.index, fresh.bad
        kind.resource_version = resource_version
        kind.listed_at = time.monotonic()
        kind.fresh_from_list = kind.listed = True
        self._progress(plural, kind)
        grants = [k for p, k in self._kinds.items() if p != PersistentVolumeClaim.PLURAL]
        if not self._synced.is_set() and all(k.listed for k in grants):
            self._synced.set()
            metrics.CACHE_SYNCED.labels(namespace=self.namespace).set(1)
            self.log.info("Workspace cache for %s synced", self.namespace)
            if self.freeze_after_sync:
                # The synced objects live as long as the hub: keep Python's full collections
                # from walking them again and again (each would stall the loop).
                gc.freeze()
        if self._synced.is_set() and plural != PersistentVolumeClaim.PLURAL:
            self._changed()

    async def _watch(self, plural: str, kind: _Kind[Any]) -> None:
        """One watch request, until the server or the network ends it."""
        timeout = max(1, int(self.resync_seconds - (time.monotonic() - kind.listed_at)))
        since: dict[str, Any] = (
            {"resource_version": kind.resource_version} if kind.resource_version else {}
        )
        metrics.kube_request("watch", plural)
        resp = await self._lister(plural)(
            watch=True, allow_watch_bookmarks=True, timeout_seconds=timeout,
            _preload_content=False, _request_timeout=(30, timeout + 30), **since,
        )  # fmt: skip
        try:
            if resp.status == 410:
                raise _Expired(await resp.text())
            if resp.status != 200:
                raise ApiException(status=resp.status, reason=(await resp.text())[:300])
            started, events, pending = time.monotonic(), 0, bytearray()
            async for chunk in resp.content.iter_any():
                if b"\n" not in chunk:
                    pending += chunk  # part of a long line: joined once, when it ends
                    continue
                *lines, tail = chunk.split(b"\n")
                lines[0], pending = bytes(pending) + lines[0], bytearray(tail)
                for line in lines:
                    if line.strip():
                        self._apply(plural, kind, _read_event(kind, line))
                        events += 1
            if not events and time.monotonic() - started < 1:
                raise ConnectionError("watch closed at once")  # back off rather than spin
        finally:
            resp.close()

    def _apply(self, plural: str, kind: _Kind[Any], event: dict[str, Any]) -> None:
        etype, obj = event.get("type"), event.get("object")
        if etype == "ERROR":
            status = obj if isinstance(obj, dict) else {}
            if status.get("code") == 410:
                raise _Expired(status.get("message", "410 Gone"))
            reason = f"{status.get('reason')}: {status.get('message')}"
            raise ApiException(status=status.get("code") or 500, reason=reason)
        if etype in ("ADDED", "MODIFIED", "DELETED") and not isinstance(
            _meta(obj).get("name"), str
        ):
            kind.resource_version = None  # which object changed is unknown: relist
            raise ValueError(f"{plural} watch: a {etype} event names no object")
        if etype in ("ADDED", "MODIFIED"):
            kind.upsert(obj)
        elif etype == "DELETED":
            kind.delete(obj)
        if etype in ("ADDED", "MODIFIED", "DELETED"):
            if self._synced.is_set() and plural != PersistentVolumeClaim.PLURAL:
                self._changed()  # claims never decide a grant
        elif etype != "BOOKMARK":  # a bookmark carries only a resourceVersion (no namespace)
            self.log.debug("%s watch: ignoring event type %r", plural, etype)
        rv = _meta(obj).get("resourceVersion")
        if rv:
            kind.resource_version = str(rv)
        kind.fresh_from_list = False
        self._progress(plural, kind)


class _Pause:
    """Python's cyclic collector, paused (process-wide) while any worker job builds a large
    list, and restored as it was when the last one ends."""

    lock = threading.Lock()
    jobs = 0
    was_enabled = True


def _collector_paused(job: Callable[[], T]) -> T:
    """Run `job` with the collector paused: the few hundred milliseconds a large list takes."""
    with _Pause.lock:
        if _Pause.jobs == 0:
            _Pause.was_enabled = gc.isenabled()
            gc.disable()
        _Pause.jobs += 1
    try:
        return job()
    finally:
        with _Pause.lock:
            _Pause.jobs -= 1
            if _Pause.jobs == 0 and _Pause.was_enabled:
                gc.enable()


def _read_event(kind: _Kind[Any], line: bytes) -> dict[str, Any]:
    try:
        return loads_event(line)
    except ValueError:
        kind.resource_version = None  # an event we cannot read: only a relist tells the truth
        raise


def _describe(err: Exception) -> str:
    if isinstance(err, ApiException):
        return f"HTTP {err.status} {err.reason}"
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def _binding_problem(b: AnalyticsWorkspaceBinding) -> str | None:
    """Why a parsed binding grants nothing (a broken claim, an unknown access level)."""
    return claim_rules.problem(b.spec.claims) or levels.problem(b.metadata.annotations)


def _candidates(
    index: dict[Key, dict[str, AnalyticsWorkspaceBinding]], user: str, claims: UserClaims | None
) -> list[AnalyticsWorkspaceBinding]:
    """The bindings that may grant to `user` with `claims` (see `_binding_keys`)."""
    if not user:
        return []  # a blank name is nobody
    found = dict(index.get(("user", user), {}))
    if claims:
        for name, values in claims.items():
            for value in values:
                found.update(index.get(("claim", name, value), {}))
        found.update(index.get(NEGATIVE_ONLY, {}))
    return list(found.values())


def _raw_username(obj: Any) -> object:
    spec = obj.get("spec") if isinstance(obj, dict) else None
    return spec.get("username") if isinstance(spec, dict) else None


def _raw_user_matches(obj: Any, user: str, owner_of: Callable[[object], str | None]) -> bool:
    raw = _raw_username(obj)
    return not isinstance(raw, str) or owner_of(raw) == user
