"""Run peers' own test suites, unmodified, against the embedded Kubernetes API (kubesim).

Each suite runs from a local checkout, in a virtual environment of its own (their pins differ
from ours), against a fresh kubesim cluster started with the `kubesim` command; the suite finds
it through `KUBECONFIG`, as it would find a real cluster. Their code never enters this repo.

    make peer-suites PEERS="kubespawner=../kubespawner kubernetes_asyncio=../kubernetes_asyncio"
    .venv/bin/python scripts/peer_suites.py kubespawner=/path/to/kubespawner [...]

Suites known (name=checkout):
- kubespawner: jupyterhub/kubespawner, `tests/`, installed with its `test` extra;
- kubernetes_asyncio: tomplus/kubernetes_asyncio, `kubernetes_asyncio/e2e_test/`;
- kubernetes: kubernetes-client/python, `kubernetes/e2e_test/`.

All three suites exec into pods (and forward ports to servers running in them), so their
clusters run the `process` runtime (each container's command a local process), allowed only the
commands those suites' pods and execs name; kubesim's default elsewhere stays `stub`.
The host's programs play every image: the kubespawner suite's hub pods need JupyterHub's
`configurable-http-proxy` on PATH (this repo's node_modules/.bin is added when present).

Writes the counts and every failing test's id to `.peer/results.json` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import venv
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".peer"


@dataclass(frozen=True)
class Suite:
    tests: str  # the test folder, relative to the checkout
    installs: tuple[str, ...]  # pip arguments; {path} is the checkout
    pytest_args: tuple[str, ...] = ()
    kubesim_args: tuple[str, ...] = ()  # how its cluster is started


def process_runtime(*commands: str) -> tuple[str, ...]:
    """kubesim arguments: the process runtime, allowed to run these commands (and no other)."""
    return ("--runtime", "process", *(a for c in commands for a in ("--allow-command", c)))


SUITES = {
    # Its pytest-asyncio pin (<0.23) needs a pytest older than 8; kubernetes 35 and later
    # serialise kubernetes_asyncio's models differently, which its object tests compare.
    # Pods: the hub (`jupyterhub -f ...`), single-user servers, and the exec pod (`/bin/sh -c
    # "while true; do sleep 5; done"`), into which the tests exec `python3 -c ...`.
    "kubespawner": Suite(
        "tests",
        # jupyterlab: what the single-user image brings (its / redirects to /lab, which the
        # tests expect), for the single-user servers jupyterhub-singleuser runs. JupyterHub 5:
        # its ssl_app fixture calls init_internal_ssl() outside an event loop, which 6 refuses.
        ("-e", "{path}[test]", "pytest<8", "kubernetes<35", "jupyterlab", "jupyterhub<6"),
        kubesim_args=process_runtime("jupyterhub", "jupyterhub-singleuser", "python3", "sh"),
    ),
    # Pods: busybox `/bin/sh -c ...` (a loop, a Job's `sleep 5`) and nginx; execs: /bin/sh and
    # uptime through its WsApiClient (test_client.py).
    "kubernetes_asyncio": Suite(
        "kubernetes_asyncio/e2e_test",
        ("-e", "{path}", "pytest", "pytest-asyncio"),
        kubesim_args=process_runtime("sh", "uptime"),
    ),
    # Pods: busybox `/bin/sh -c ...` loops and `python -u port-server.py`; execs: /bin/sh, ls,
    # date, uptime, true, false (test_client.py); nginx needs no command (a stand-in plays it).
    "kubernetes": Suite(
        "kubernetes/e2e_test",
        ("-e", "{path}", "pytest"),
        kubesim_args=process_runtime(
            "sh", "ls", "date", "uptime", "true", "false", "cat", "python", "python3"
        ),
    ),
}


@dataclass
class Result:
    suite: str
    checkout: str
    commit: str
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failing: list[str] = field(default_factory=list)
    note: str = ""


def environment(name: str, suite: Suite, path: Path) -> Path:
    """A virtual environment with kubesim and the suite's package and test requirements."""
    where = WORK / f"{name}-venv"
    python = where / "bin" / "python"
    if not python.exists():
        venv.create(where, with_pip=True)
    installs = [a.format(path=path) for a in suite.installs]
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-e", str(REPO / "kubesim"), *installs],
        check=True,
    )
    return where


class Cluster:
    """`kubesim` in a child process, serving until closed."""

    def __init__(
        self, env_dir: Path, state: Path, args: tuple[str, ...] = (), log: Path | None = None
    ) -> None:
        self.kubeconfig = state / "kubeconfig"
        path = os.environ.get("PATH", os.defpath)
        node_bin = REPO / "node_modules" / ".bin"  # configurable-http-proxy, for hub pods
        if node_bin.is_dir():
            path = os.pathsep.join([str(node_bin), path])
        self.proc = subprocess.Popen(
            [str(env_dir / "bin" / "kubesim"), "--data-dir", str(state / "cluster"),
             "--kubeconfig", str(self.kubeconfig), *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PATH": path},
        )  # fmt: skip
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in self.proc.stdout:
            if "serving at" in line:
                # Keep reading what it says (to `log`), or a full pipe would stop it.
                threading.Thread(target=self._drain, args=(log,), daemon=True).start()
                return
            if time.monotonic() > deadline:
                break
        self.close()
        raise RuntimeError("kubesim did not start")

    def _drain(self, log: Path | None) -> None:
        assert self.proc.stdout is not None
        with open(log or os.devnull, "w") as out:
            for line in self.proc.stdout:
                out.write(line)
                out.flush()

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def commit_of(path: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or "?"


def run_suite(name: str, path: Path, timeout: float) -> Result:
    suite = SUITES[name]
    result = Result(name, str(path), commit_of(path))
    env_dir = environment(name, suite, path)
    with tempfile.TemporaryDirectory(prefix=f"peer-{name}-") as tmp:
        state = Path(tmp)
        cluster = Cluster(env_dir, state, suite.kubesim_args, log=WORK / f"{name}-kubesim.log")
        report = state / "junit.xml"
        started = time.monotonic()
        try:
            done = subprocess.run(
                [str(env_dir / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 "-p", "no:kubesim", f"--junitxml={report}", suite.tests, *suite.pytest_args],
                cwd=path, env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
                capture_output=True, text=True, timeout=timeout,
            )  # fmt: skip
            if not report.exists():
                result.note = (done.stdout + done.stderr)[-2000:]
        except subprocess.TimeoutExpired:
            result.note = f"timed out after {timeout:.0f} s"
        finally:
            result.seconds = round(time.monotonic() - started, 1)
            cluster.close()
        if report.exists():
            read_junit(report, result)
    return result


def read_junit(report: Path, result: Result) -> None:
    for case in ET.parse(report).getroot().iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        if case.find("failure") is not None:
            result.failed += 1
            result.failing.append(test_id)
        elif case.find("error") is not None:
            result.errors += 1
            result.failing.append(test_id)
        elif case.find("skipped") is not None:
            result.skipped += 1
        else:
            result.passed += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("suites", nargs="+", metavar="NAME=CHECKOUT", help=f"of {list(SUITES)}")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per suite")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    results = []
    for spec in args.suites:
        name, _, where = spec.partition("=")
        if name not in SUITES or not where:
            parser.error(f"{spec!r}: expected one of {list(SUITES)} = a checkout path")
        results.append(run_suite(name, Path(where).resolve(), args.timeout))
    out = WORK / "results.json"
    out.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    for r in results:
        total = r.passed + r.failed + r.errors
        print(f"{r.suite} @ {r.commit}: {r.passed} of {total} passed, {r.skipped} skipped, "
              f"{r.seconds} s{'; ' + r.note[-300:] if r.note else ''}")  # fmt: skip
        for test_id in r.failing:
            print(f"    failing: {test_id}")
    print(f"details: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
