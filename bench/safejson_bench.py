"""Decoding a List of bindings: kube/safejson.py against plain json.loads.

Run: `.venv/bin/python -m bench.safejson_bench [--items 10000]`. Prints the best of several runs
(ms) for json.loads alone, the checked fast path, and the slow path that one too-deep item forces.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from lscsde_spawner.kube.safejson import loads_list


def binding(i: int, managed_fields: bool) -> dict[str, Any]:
    """A binding as the API server lists it (server-set metadata included)."""
    meta: dict[str, Any] = {
        "name": f"binding-{i:05d}",
        "namespace": "default",
        "uid": f"6bd0b9ca-1e34-4daf-b327-{i:012d}",
        "resourceVersion": str(100_000 + i),
        "generation": 1,
        "creationTimestamp": "2024-05-01T09:00:00Z",
        "labels": {"xlscsde.nhs.uk/username": f"user-{i:05d}"},
    }
    if managed_fields:
        meta["managedFields"] = [
            {
                "apiVersion": "xlscsde.nhs.uk/v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {".": {}, "f:expires": {}, "f:username": {},
                                        "f:workspace": {}}},
                "manager": "kubectl-client-side-apply",
                "operation": "Update",
                "time": "2024-05-01T09:00:00Z",
            }
        ]  # fmt: skip
    return {
        "apiVersion": "xlscsde.nhs.uk/v1",
        "kind": "AnalyticsWorkspaceBinding",
        "metadata": meta,
        "spec": {
            "workspace": f"ws-{i % 50}",
            "username": f"user-{i:05d}@example.org",
            "expires": "2030-06-30",
        },
    }


def document(items: list[dict[str, Any]]) -> bytes:
    doc = {
        "apiVersion": "xlscsde.nhs.uk/v1",
        "kind": "AnalyticsWorkspaceBindingList",
        "metadata": {"resourceVersion": "200000"},
        "items": items,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def best(fn: Callable[[], object], runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        gc.collect()  # each run starts without the garbage of the last
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    n = parser.parse_args().items
    for label, managed in (("small bindings", False), ("with managedFields", True)):
        items = [binding(i, managed) for i in range(n)]
        raw = document(items)
        plain = best(partial(json.loads, raw))
        fast = best(partial(loads_list, raw))
        # One item 1,500 levels deep (encoded by hand: json.dumps would recurse too deeply).
        bad = json.dumps(binding(n, managed), separators=(",", ":"))
        bad = bad[:-1] + ',"x":' + '{"a":' * 1_500 + "null" + "}" * 1_500 + "}"
        slow_raw = raw[:-2] + b"," + bad.encode() + b"]}"
        slow = best(partial(loads_list, slow_raw), runs=5)
        print(
            f"{n} {label} ({len(raw) / 2**20:.1f} MiB): json.loads {plain:.1f} ms, "
            f"loads_list {fast:.1f} ms ({fast / plain:.2f}x), "
            f"with one 1,500-deep item (slow path) {slow:.1f} ms ({slow / plain:.2f}x)"
        )


if __name__ == "__main__":
    main()
