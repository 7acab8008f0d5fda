"""start_cost_bench's verdict against the issue's targets, and its printed table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TARGETS = {"stall_ms": 50.0, "bystander_p99_ms": 100.0, "extra_requests_per_start": 3.0}


def verdict(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Ours against the issue's targets, at each size."""
    res: dict[str, dict[str, Any]] = {}
    stall_limit = TARGETS["stall_ms"]
    for size in out["sizes"]:
        runs = {r["label"]: r for r in size["runs"]}
        ours, vanilla = runs["ours"], runs["vanilla"]
        extra = ours["start"]["requests"] - vanilla["start"]["requests"]
        phases = ("start", "refused", "flood", "first_sync", "relist")
        stalls = {p: ours[p]["stall_max_ms"] for p in phases}
        cpu = {p: ours[p]["stall_hub_cpu_max_ms"] for p in phases}
        p99 = ours["flood"]["bystander"]["p99_ms"]
        res[str(size["bindings"])] = {
            "extra_requests_per_start": round(extra, 2),
            "extra_requests_ok": extra <= TARGETS["extra_requests_per_start"],
            "stalls_ms": stalls,
            "stalls_ok": {k: v <= stall_limit for k, v in stalls.items()},
            "stalls_hub_cpu_ms": cpu,
            "stalls_hub_cpu_ok": {k: v <= stall_limit for k, v in cpu.items()},
            "gc_max_ms": {p: ours[p]["gc_max_ms"] for p in phases},
            "bystander_p99_ms": p99,
            "bystander_p99_ok": p99 < TARGETS["bystander_p99_ms"],
        }
    return res


def _kib(n: float) -> str:
    return f"{n / 1024:.1f}"


def _worst_gc(r: dict[str, Any]) -> float:
    phases = ("start", "refused", "flood", "first_sync", "relist", "idle")
    return max(float(r[p]["gc_max_ms"]) for p in phases if r.get(p))


def _stall(r: dict[str, Any], phase: str) -> str:
    """Worst lateness of the ticker, and (in brackets) the most of one lateness the hub process
    spent on a CPU: the rest it was not running at all (a busy machine)."""
    if not r.get(phase):
        return "-"
    return f"{r[phase]['stall_max_ms']:.0f} ({r[phase]['stall_hub_cpu_max_ms']:.0f})"


def _p(phase: dict[str, Any]) -> str:
    return f"{phase['bystander']['p50_ms']:.0f}/{phase['bystander']['p99_ms']:.0f}"


ROWS: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("start: API requests", lambda r: f"{r['start']['requests']:.1f}"),
    ("start: KiB read (bodies)", lambda r: _kib(r["start"]["response_bytes"])),
    ("start: KiB streamed to watches", lambda r: _kib(r["start"]["watch_bytes"])),
    ("start: wall p50 s", lambda r: f"{r['start']['wall_p50_s']:.3f}"),
    ("refused: hub answer", lambda r: "/".join(map(str, r["refused"]["hub_answers"]))),
    ("refused: API requests", lambda r: f"{r['refused']['requests']:.1f}"),
    ("refused: KiB read", lambda r: _kib(r["refused"]["response_bytes"])),
    ("refused: wall p50 s", lambda r: f"{r['refused']['wall_p50_s']:.3f}"),
    ("stall ms (hub CPU): start", lambda r: _stall(r, "start")),
    ("stall ms (hub CPU): refused", lambda r: _stall(r, "refused")),
    ("stall ms (hub CPU): flood", lambda r: _stall(r, "flood")),
    ("stall ms (hub CPU): first sync", lambda r: _stall(r, "first_sync")),
    ("stall ms (hub CPU): relist", lambda r: _stall(r, "relist")),
    ("stall ms (hub CPU): idle", lambda r: _stall(r, "idle")),
    ("GC pause ms: worst in the above", _worst_gc),
    ("full GC ms (gc.collect() at end)", lambda r: r["full_gc_ms"]),
    ("flood: refused starts/s", lambda r: r["flood"]["refused_starts_per_s"]),
    ("flood: API requests/refusal", lambda r: r["flood"]["requests_per_refused_start"]),
    ("bystander ms p50/p99: idle", lambda r: _p(r["idle"])),
    ("bystander ms p50/p99: flood", lambda r: _p(r["flood"])),
    ("first sync: API requests", lambda r: r["first_sync"]["requests"]),
    ("first sync: KiB read", lambda r: _kib(r["first_sync"]["response_bytes"])),
]


def print_table(out: dict[str, Any]) -> None:
    """The results `out` side by side, spawner@size a column; then the verdicts."""
    runs = [r for s in out["sizes"] for r in s["runs"]]
    names = "".join(f"{r['label'] + '@' + str(r['bindings']):>16}" for r in runs)
    print(f"{'':<34}{names}")
    print("-" * (34 + len(names)))
    for name, cell in ROWS:
        print(f"{name:<34}" + "".join(f"{cell(r)!s:>16}" for r in runs))
    print()
    keys = sorted({k for r in runs for k in r["start"]["requests_by_verb_resource"]})
    print(f"{'mean API requests per start':<34}{names}")
    for k in keys:
        cells = (r["start"]["requests_by_verb_resource"].get(k, 0) for r in runs)
        print(f"{k:<34}" + "".join(f"{c:>16}" for c in cells))
    print()
    limit = TARGETS["stall_ms"]
    for size, v in out["verdict"].items():
        bad = [k for k, ok in v["stalls_ok"].items() if not ok] or ["none"]
        busy = [k for k, ok in v["stalls_hub_cpu_ok"].items() if not ok] or ["none"]
        print(
            f"ours@{size}: +{v['extra_requests_per_start']} requests/start vs vanilla "
            f"({'ok' if v['extra_requests_ok'] else 'over'}, target <= +3); "
            f"bystander p99 in the flood {v['bystander_p99_ms']} ms "
            f"({'ok' if v['bystander_p99_ok'] else 'over'}, target < 100)\n"
            f"    stalls over {limit:.0f} ms: {', '.join(bad)}; "
            f"over {limit:.0f} ms of hub CPU: {', '.join(busy)}"
        )
