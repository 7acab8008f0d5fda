"""Running servers whose grant may end: re-checked whenever the grant's objects change and when
the day changes, so JupyterHub's own poll machinery stops them within seconds.

One ``RunningServers`` per hub process, event loop and workspace namespace holds the servers
that JupyterHub polls (``Spawner.start_polling``) until they stop. It listens to the watch-fed
cache: after any change (debounced by ``DEBOUNCE`` seconds) and whenever the date changes in one
of the servers' time zones (checked every ``TICK`` seconds against ``clock.now()``), and after
the hub's database changes a group, a membership or an auth_state (``hub_claims``), it calls
``poll_and_notify()`` on every running server. A server's ``poll()`` asks the cache, makes no
API call, and reports the server stopped when its grant has ended; JupyterHub then stops it
and cleans up as for any server that stopped by itself. Sweeping every running server, not
only the ones a change could touch, keeps the rule in one place (``poll``) and costs one cache
lookup per server.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from datetime import date
from typing import Any, ClassVar, Protocol

from . import access, clock
from .hub_claims import unwatch_hub_database, watch_hub_database
from .kube.cache import WorkspaceCache

log = logging.getLogger(__name__)

DEBOUNCE = 0.2  # a burst of watch events (a relist) becomes one sweep
TICK = 1.0  # how often the date is looked at: midnight is noticed within this


class Polled(Protocol):
    """What the registry needs of a spawner."""

    time_zone: str

    async def poll_and_notify(self) -> Any: ...


class RunningServers:
    """The polled servers of one namespace, swept when their grants may have changed."""

    _shared: ClassVar[
        weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, RunningServers]]
    ] = weakref.WeakKeyDictionary()

    def __init__(self, cache: WorkspaceCache) -> None:
        self.cache = cache
        self._servers: weakref.WeakSet[Any] = weakref.WeakSet()
        self._sweep: asyncio.Task[None] | None = None  # the next sweep, not yet begun
        self._inflight: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._listener: Callable[[], None] = self.changed
        cache.add_listener(self._listener)
        self._loop = asyncio.get_running_loop()
        watch_hub_database(self.hub_changed)

    @classmethod
    def shared(cls, cache: WorkspaceCache) -> RunningServers:
        """The registry of ``cache``'s namespace in this event loop (a new cache: a new one)."""
        loop = asyncio.get_running_loop()
        registries = cls._shared.setdefault(loop, {})
        found = registries.get(cache.namespace)
        if found is None or found.cache is not cache:
            if found is not None:
                found.close()
            found = registries[cache.namespace] = cls(cache)
        return found

    @classmethod
    def forget(cls, server: Polled) -> None:
        """``server`` stopped: no registry of this event loop sweeps it any more."""
        for registry in cls._shared.get(asyncio.get_running_loop(), {}).values():
            registry.discard(server)

    def add(self, server: Polled) -> None:
        self._servers.add(server)
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(
                self._tick(), name=f"lscsde-midnight-{self.cache.namespace}"
            )

    def discard(self, server: Polled) -> None:
        self._servers.discard(server)

    def __len__(self) -> int:
        return len(self._servers)

    def close(self) -> None:
        self.cache.remove_listener(self._listener)
        unwatch_hub_database(self.hub_changed)
        if self._sweep is not None:
            self._sweep.cancel()
        if self._ticker is not None:
            self._ticker.cancel()

    def hub_changed(self) -> None:
        """The hub's database changed someone's groups or auth_state: sweep soon, on this
        registry's own event loop."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self.changed()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.changed)

    def changed(self) -> None:
        """Sweep soon (once for a burst of changes)."""
        if (self._sweep is None or self._sweep.done()) and self._servers:
            # A task, not a timer: the hub's shutdown cancels it with everything else.
            self._sweep = asyncio.get_running_loop().create_task(self._soon())
            self._inflight.add(self._sweep)  # the loop holds tasks weakly
            self._sweep.add_done_callback(self._inflight.discard)

    async def _soon(self) -> None:
        await asyncio.sleep(DEBOUNCE)
        self._sweep = None  # changes from here on ask for another sweep
        await self.sweep()

    async def sweep(self, servers: list[Any] | None = None) -> None:
        """Poll every running server now; one that fails to poll does not stop the others."""
        targets = list(self._servers) if servers is None else servers
        results = await asyncio.gather(
            *(s.poll_and_notify() for s in targets), return_exceptions=True
        )
        for server, result in zip(targets, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("re-checking the grant of %s failed: %r", server, result)

    def _dates(self) -> dict[str, date]:
        now = clock.now()
        dates = {}
        for zone in {s.time_zone for s in list(self._servers)}:
            try:
                dates[zone] = access.today_in(zone, now)
            except ValueError:
                continue  # validated in the spawner's settings; never stop the ticker
        return dates

    async def _tick(self) -> None:
        seen = self._dates()
        while self._servers:
            await asyncio.sleep(TICK)
            dates = self._dates()
            if any(seen.get(zone) != day for zone, day in dates.items()):
                log.info("the date changed: re-checking the grants of running servers")
                self.changed()
            seen = dates


__all__ = ["RunningServers"]
