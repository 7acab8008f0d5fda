"""The access benchmark's ratios and its printed table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bench.old_tool import OLD_TOOL, OLD_TOOL_VERSION


def ratio(a: float, b: float) -> float | None:
    """a / b, or None where b is 0."""
    return a / b if b else None


def ratios(r: dict[str, Any]) -> dict[str, float | None]:
    """Theirs against ours (synced and cold), and the cache's sync in lookups of theirs."""
    o, t, c = r["ours"], r["theirs"], r["ours_cold"]
    return {
        "latency_p50_theirs_over_ours": ratio(t["latency_ms"]["p50"], o["latency_ms"]["p50"]),
        "latency_p95_theirs_over_ours": ratio(t["latency_ms"]["p95"], o["latency_ms"]["p95"]),
        "requests_per_lookup_theirs": t["requests_per_lookup"],
        "requests_per_lookup_ours": o["requests_per_lookup"],
        "requests_theirs_over_ours": ratio(t["requests_per_lookup"], o["requests_per_lookup"]),
        "latency_p50_theirs_over_ours_cold": ratio(t["latency_ms"]["p50"], c["latency_ms"]["p50"]),
        "requests_theirs_over_ours_cold": ratio(t["requests_per_lookup"], c["requests_per_lookup"]),
        "sync_requests_in_theirs_lookups": ratio(
            r["cache_sync"]["requests"], t["requests_per_lookup"]
        ),
        "sync_seconds_in_theirs_lookups": ratio(
            r["cache_sync"]["seconds"] * 1000, t["latency_ms"]["p50"]
        ),
    }


COLUMNS = (
    ("ours", "ours: synced cache"),
    ("theirs", f"{OLD_TOOL} {OLD_TOOL_VERSION}"),
    ("ours_cold", "ours cold: all bindings"),
    ("ours_cold_user_label", "ours cold: our label"),
)


def table(r: dict[str, Any]) -> Iterator[str]:
    """The printed report of the results `r`, line by line."""
    p = r["parameters"]
    yield (
        f"{p['workspaces']} workspaces, {p['bindings']} bindings, {p['users']} users; "
        f"{p['user']} bound to {p['user_bindings']}; {p['lookups']} lookups per side "
        f"({p['cold_lookups']} cold); {r['machine']['cpus']} CPUs, {r['date']}, load average "
        f"{r['machine']['load_average_1m_at_start']:.2f} -> "
        f"{r['machine']['load_average_1m_at_end']:.2f}"
    )
    sides = [r[key] for key, _ in COLUMNS]

    def row(label: str, cells: Iterator[str]) -> str:
        return f"{label:34s}" + "".join(f"{c:>30s}" for c in cells)

    yield row("", (title for _, title in COLUMNS))
    yield row("latency p50 (ms)", (f"{s['latency_ms']['p50']:.3f}" for s in sides))
    yield row("latency p95 (ms)", (f"{s['latency_ms']['p95']:.3f}" for s in sides))
    yield row("API requests per lookup", (f"{s['requests_per_lookup']:.2f}" for s in sides))
    kinds = sorted({k for s in sides for k in s["requests_per_lookup_by_verb_resource"]})
    for kind in kinds:
        yield row(
            "  " + kind,
            (f"{s['requests_per_lookup_by_verb_resource'].get(kind, 0):.2f}" for s in sides),
        )
    yield row("workspaces shown", (str(s["workspaces_shown"]) for s in sides))
    c = r["cache_sync"]
    by_kind = ", ".join(f"{k}: {v}" for k, v in c["requests_by_verb_resource"].items())
    yield (
        f"cache sync, once per process: {c['seconds'] * 1000:.0f} ms, {c['requests']} requests "
        f"({by_kind}) + {c['watches_opened']} watches"
    )
    yield (
        f"cache memory (fresh process): RSS +{c['rss_delta_mib']:.1f} MiB; Python heap held "
        f"{c['python_heap_mib']:.1f} MiB (peak +{c['python_heap_peak_during_sync_mib']:.1f} MiB "
        "during sync)"
    )
    q = r["ratios"]

    def x(v: float | None) -> str:
        return f"x{v:,.0f}" if v is not None else "ours makes none"

    yield (
        f"theirs / ours (synced): latency p50 {x(q['latency_p50_theirs_over_ours'])}, "
        f"p95 {x(q['latency_p95_theirs_over_ours'])}; requests per lookup "
        f"{q['requests_per_lookup_theirs']:.0f} vs {q['requests_per_lookup_ours']:.0f} "
        f"({x(q['requests_theirs_over_ours'])})"
    )
    yield (
        f"theirs / ours (cold, all bindings): latency p50 "
        f"x{q['latency_p50_theirs_over_ours_cold']:.2f}; requests "
        f"x{q['requests_theirs_over_ours_cold']:.1f}"
    )
    a = r["agreement"]
    yield (
        f"same set: {a['same_set']} (ours {a['ours_count']}, theirs {a['theirs_count']}, "
        f"bound {a['bound_workspaces']}); ours follows the rule: {a['ours_matches_rule']}; "
        f"cold = synced: {a['cold_equals_synced']}"
    )
    for name, why in a["theirs_only"].items():
        yield f"  only theirs shows {name}: {why}"
    for name in a["ours_only"]:
        yield f"  only ours shows {name}"
