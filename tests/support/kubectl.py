"""A real kubectl against an embedded cluster: its own HOME and discovery cache per cluster."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from kubesim import LocalCluster

KUBECTL = shutil.which("kubectl")


class Kubectl:
    def __init__(self, cluster: LocalCluster, home: Path) -> None:
        # a fresh discovery cache for every cluster
        self.env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "HOME": str(home)}
        self.cache = str(home / "cache")

    def argv(self, *args: str) -> list[str]:
        assert KUBECTL is not None
        return [KUBECTL, "--cache-dir", self.cache, *args]

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), input=stdin, capture_output=True, text=True,
                              env=self.env, timeout=60)  # fmt: skip

    def __call__(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        """stdout, failing the test on a non-zero exit; unchecked, stdout and stderr."""
        proc = self.run(*args, stdin=stdin)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
        return proc.stdout if check else proc.stdout + proc.stderr

    def popen(self, *args: str, merge_stderr: bool = False) -> subprocess.Popen[str]:
        stderr = subprocess.STDOUT if merge_stderr else subprocess.PIPE
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=stderr,
                                text=True, env=self.env)  # fmt: skip
