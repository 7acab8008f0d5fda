"""How long the hub's event loop was held: a ticker task that wakes every `TICK` seconds in the
loop, and the stalls, CPU time and garbage-collection pauses it saw in each window."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from bench.measuring import percentile_ms

TICK = 0.005  # the ticker's period: stalls shorter than this are not seen


@dataclass
class Stalls:
    """How late the ticker woke, each time, during one window (seconds). `busy`: how much of
    each lateness the hub's process spent on a CPU, in any of its threads: the loop's own work,
    or a worker thread holding the GIL the loop waits for. The rest of a lateness the process
    was not running at all: another process had the core (a busy machine), not the hub's doing.
    `gc`: the process's garbage collections meanwhile, which stall the loop whatever code made
    the garbage."""

    late: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)
    gc: list[float] = field(default_factory=list)

    @property
    def busy_max_ms(self) -> float:
        return round(max(self.busy, default=0.0) * 1000, 1)

    @property
    def gc_max_ms(self) -> float:
        return round(max(self.gc, default=0.0) * 1000, 1)

    @property
    def max_ms(self) -> float:
        return round(max(self.late, default=0.0) * 1000, 1)

    @property
    def p99_ms(self) -> float:
        return percentile_ms(self.late, 0.99) if len(self.late) > 1 else self.max_ms


class Ticker:
    """A task in the hub's event loop that sleeps `period` again and again. Anything that holds
    the loop (parsing, a blocking call) makes it wake late by as long as it held it."""

    def __init__(self, period: float = TICK) -> None:
        self.period = period
        self._open: list[Stalls] = []
        self._task: asyncio.Task[None] | None = None
        self._gc_started = 0.0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="bench-ticker")
        gc.callbacks.append(self._on_gc)

    async def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        pause = time.perf_counter() - self._gc_started
        for window in self._open:
            window.gc.append(pause)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.period
            cpu = time.process_time()
            await asyncio.sleep(self.period)
            late = max(0.0, loop.time() - due)
            busy = min(late, time.process_time() - cpu)
            for window in self._open:
                window.late.append(late)
                window.busy.append(busy)

    @contextlib.asynccontextmanager
    async def window(self) -> AsyncIterator[Stalls]:
        stalls = Stalls()
        self._open.append(stalls)
        try:
            yield stalls
        finally:
            await asyncio.sleep(3 * self.period)  # the wake-up a last stall delayed lands in it
            self._open.remove(stalls)
