"""Run `lscsde-demo` as a user does: a subprocess, stopped with a signal."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

SCRIPT = Path(sys.executable).parent / "lscsde-demo"
READY = re.compile(r"Ready in (?P<seconds>[\d.]+) s: open (?P<url>\S+) and log in")


def demo_command(*args: str) -> list[str]:
    if SCRIPT.exists():
        return [str(SCRIPT), *args]
    return [sys.executable, "-m", "lscsde_demo.cli", *args]


class DemoRun:
    """One run of the demo, its output collected line by line (so the pipe never fills)."""

    def __init__(self, data_dir: Path, port: int, runtime: str) -> None:
        self.data_dir = data_dir
        self.port = port
        self.runtime = runtime
        self.lines: list[str] = []
        self.ready_seconds = 0.0
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    @property
    def output(self) -> str:
        return "".join(self.lines)

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "cluster" / "kubeconfig"

    def start(self, timeout: float = 180) -> DemoRun:
        self.proc = subprocess.Popen(
            demo_command(
                f"--port={self.port}", f"--data-dir={self.data_dir}", f"--runtime={self.runtime}"
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = READY.search(line)
                if found:
                    self.ready_seconds = float(found["seconds"])
                    self.url = found["url"]
                    return self
            if self.proc.poll() is not None:
                self._reader.join(5)
                raise AssertionError(f"demo exited {self.proc.returncode}:\n{self.output}")
            time.sleep(0.1)
        self.stop(signal.SIGKILL)
        raise AssertionError(f"demo not ready after {timeout}s:\n{self.output}")

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def stop(self, sig: signal.Signals = signal.SIGINT, timeout: float = 120) -> int:
        """Signal the demo and wait for it to exit; its exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
            raise AssertionError(f"demo did not stop after {sig.name}:\n{self.output}") from None
        if self._reader is not None:
            self._reader.join(5)
        return code

    def kill_if_running(self) -> None:
        """Teardown after a failed test: stop politely, then for good."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(AssertionError):
            self.stop(signal.SIGINT, timeout=60)

    # -- the cluster's REST API, as kubectl would reach it ------------------------------------

    def cluster_url(self) -> str:
        config = yaml.safe_load(self.kubeconfig.read_text())
        return str(config["clusters"][0]["cluster"]["server"])

    def _open(self, path: str) -> Any:
        """GET a path as kubectl would: the kubeconfig's server, CA and token."""
        config = yaml.safe_load(self.kubeconfig.read_text())
        cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
        headers = {"Authorization": f"Bearer {user['token']}"} if user.get("token") else {}
        context = None
        if "certificate-authority-data" in cluster:
            ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
            context = ssl.create_default_context(cadata=ca)
        request = urllib.request.Request(cluster["server"] + path, headers=headers)
        return urllib.request.urlopen(request, timeout=10, context=context)

    def kube_get(self, path: str) -> Any:
        with self._open(path) as r:
            return json.loads(r.read())

    def kube_get_text(self, path: str) -> str:
        with self._open(path) as r:
            text: str = r.read().decode()
            return text


def get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
