"""`lscsde-spawner demo` as a subprocess, with the stub runtime (fast; no JupyterLab needed):
it gets ready, keeps its state across runs, stops cleanly on a signal, and explains a busy port.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

from lscsde_spawner.demo.sample import NAMESPACE, OFFERED

from .conftest import free_port
from .demorun import DemoRun, demo_command, get_json

WORKSPACES = f"/apis/xlscsde.nhs.uk/v1/namespaces/{NAMESPACE}/analyticsworkspaces"


def test_demo_starts_keeps_its_state_and_stops_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    first = DemoRun(data, free_port(), "stub")
    try:
        first.start()
        assert first.url == f"http://127.0.0.1:{first.port}"
        assert "log in as alice, bob or carol (password: demo)" in first.output
        assert "14 objects created, 0 updated" in first.output
        assert get_json(first.url + "/hub/api")["version"]
        names = {w["metadata"]["name"] for w in first.kube_get(WORKSPACES)["items"]}
        assert OFFERED["alice"] | OFFERED["bob"] <= names
        # The state a second run must keep.
        secret = (data / "hub" / "jupyterhub_cookie_secret").read_bytes()
        assert first.stop(signal.SIGTERM) == 0
    finally:
        first.kill_if_running()
    assert "Stopping JupyterHub" in first.output
    assert first.output.rstrip().endswith("run again to carry on.")
    assert "Traceback" not in first.output

    second = DemoRun(data, free_port(), "stub")
    try:
        second.start()
        assert "0 objects created, 14 updated" in second.output
        assert (data / "hub" / "jupyterhub_cookie_secret").read_bytes() == secret
        assert second.stop(signal.SIGINT) == 0
    finally:
        second.kill_if_running()
    assert "Traceback" not in second.output


def test_a_busy_port_is_explained_without_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            demo_command(f"--port={port}", f"--data-dir={tmp_path}", "--runtime=stub"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"Port {port} on 127.0.0.1 is in use" in done.stderr
    assert "--port" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "cluster").exists()  # nothing was started
