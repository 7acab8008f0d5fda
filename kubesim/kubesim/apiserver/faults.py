"""Testing aids: a request log with counters, and fault injection by verb and path."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from kubesim.registry.errors import REASON_BY_CODE, ApiError

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


@dataclass(frozen=True)
class RequestRecord:
    time: float
    method: str
    path: str
    query: str
    verb: str  # a Kubernetes verb, or "" for discovery and other non-resource paths
    resource: str  # plural, with "/subresource" when there is one
    namespace: str | None
    status: int
    user: str = ""  # who the request acted as ("" when it was not authenticated)


class RequestLog:
    """Every request the server answered; benchmarks count API calls with it."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._lock = threading.Lock()
        self.entries: deque[RequestRecord] = deque(maxlen=max_entries)
        self.counter: Counter[tuple[str, str]] = Counter()

    def record(self, rec: RequestRecord) -> None:
        with self._lock:
            self.entries.append(rec)
            self.counter[(rec.verb, rec.resource)] += 1

    def count(self, verb: str | None = None, resource: str | None = None) -> int:
        """Requests by verb and/or resource; resource matches with or without a subresource."""
        with self._lock:
            return sum(
                n
                for (v, r), n in self.counter.items()
                if v  # non-resource paths (discovery, health) are not API calls on objects
                and (verb is None or v == verb)
                and (resource is None or r == resource or r.split("/")[0] == resource)
            )

    def reset(self) -> None:
        with self._lock:
            self.entries.clear()
            self.counter.clear()

    def summary(self) -> dict[str, int]:
        with self._lock:
            return {f"{v} {r}": n for (v, r), n in sorted(self.counter.items()) if v}


@dataclass
class FaultRule:
    """Fail, or slow down, requests whose verb and path match."""

    path: re.Pattern[str]
    verb: str | None = None
    status: int | None = None
    message: str = "injected fault"
    times: int | None = 1  # None: every matching request
    latency: float = 0.0
    hits: int = field(default=0)

    def matches(self, verb: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return (self.verb is None or self.verb == verb) and bool(self.path.search(path))

    def error(self) -> ApiError | None:
        if self.status is None:
            return None
        return ApiError(self.status, REASON_BY_CODE.get(self.status, "Unknown"), self.message)


class Faults:
    """Controls for reliability tests; thread-safe, as tests may run outside the server's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rules: list[FaultRule] = []
        # Set by the server: closes the open watches whose path matches, returns how many.
        self.cutter: Callable[[re.Pattern[str]], int] | None = None

    def fail(
        self,
        *,
        status: int = 500,
        verb: str | None = None,
        path: str = ".*",
        times: int | None = 1,
        message: str | None = None,
    ) -> FaultRule:
        """Answer the next `times` matching requests with `status` (a Kubernetes Status)."""
        if verb is not None and verb not in VERBS:
            raise ValueError(f"unknown verb {verb!r}; use one of {', '.join(VERBS)}")
        rule = FaultRule(
            path=re.compile(path),
            verb=verb,
            status=status,
            times=times,
            message=message or f"injected fault: {status} for {verb or 'any verb'} {path}",
        )
        with self._lock:
            self.rules.append(rule)
        return rule

    def delay(
        self, seconds: float, *, verb: str | None = None, path: str = ".*", times: int | None = None
    ) -> FaultRule:
        """Add latency to matching requests."""
        rule = FaultRule(path=re.compile(path), verb=verb, latency=seconds, times=times)
        with self._lock:
            self.rules.append(rule)
        return rule

    def cut_watches(self, path: str = ".*") -> int:
        """Close the open watch streams whose path matches; returns how many were cut."""
        if self.cutter is None:
            return 0
        return self.cutter(re.compile(path))

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def check(self, verb: str, path: str) -> tuple[float, ApiError | None]:
        """Latency to add and the error to answer with, for one request."""
        latency = 0.0
        with self._lock:
            for rule in self.rules:
                if rule.matches(verb, path):
                    rule.hits += 1
                    latency += rule.latency
                    err = rule.error()
                    if err is not None:
                        return latency, err
        return latency, None


def now() -> float:
    return time.time()
