"""Measuring helpers the benches share: percentiles, a process's memory, the machine."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import platform
import statistics
import subprocess
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any


def percentile(values: list[float], q: float) -> float:
    """The inclusive `q` percentile (q in 0..1) of at least one value."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def percentile_ms(seconds: list[float], q: float) -> float:
    """`percentile` of durations in seconds, in milliseconds to 0.1; 0.0 when there are none."""
    return round(percentile(seconds, q) * 1000, 1) if seconds else 0.0


def rss_mib() -> float:
    """This process's resident set size, in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def settled_rss_mib() -> float:
    """RSS after a full collection and handing freed heap back to the OS."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_mib()


def git_commit() -> str:
    """The checkout's short commit, marked when tracked files have uncommitted changes."""
    commit = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = ["git", "-C", str(Path(__file__).parent)]
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if commit and dirty:
            commit += "+uncommitted changes"
    return commit


def machine(packages: Iterable[str] = ()) -> dict[str, Any]:
    """Where a run ran: CPUs, the load at the start, Python, `packages`' versions, the commit."""
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "load_average_1m_at_start": os.getloadavg()[0],  # other work on the machine
        "python": platform.python_version(),
        "platform": platform.platform(),
        **{name: metadata.version(name) for name in packages},
        "git_commit": git_commit(),
    }
