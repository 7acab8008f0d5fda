"""`lscsde-demo` as a subprocess, with the stub runtime (fast; no JupyterLab needed):
it gets ready, keeps its state across runs, stops cleanly on a signal, and explains a busy port.
"""

from __future__ import annotations

import re
import signal
import socket
import sqlite3
import subprocess
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from lscsde_demo.sample import GROUPS, NAMESPACE, OFFERED, PASSWORD
from tests.support.demorun import DemoRun, demo_command, free_port, get_json

WORKSPACES = f"/apis/xlscsde.nhs.uk/v1/namespaces/{NAMESPACE}/analyticsworkspaces"


# The demo runs a real JupyterHub with configurable-http-proxy.
pytestmark = pytest.mark.hub


def test_demo_starts_keeps_its_state_and_stops_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    first = DemoRun(data, free_port(), "stub")
    try:
        first.start()
        assert first.url == f"http://127.0.0.1:{first.port}"
        assert "log in as alice, bob, carol or dave (password: demo)" in first.output
        assert "15 objects created, 0 updated" in first.output
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
        assert "0 objects created, 15 updated" in second.output
        assert (data / "hub" / "jupyterhub_cookie_secret").read_bytes() == secret
        assert second.stop(signal.SIGINT) == 0
    finally:
        second.kill_if_running()
    assert "Traceback" not in second.output


def spawn_page(url: str, user: str) -> str:
    """Log in as ``user`` with a plain HTTP client and fetch the spawn page's HTML."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(url + "/hub/login", timeout=10) as r:
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', r.read().decode())
    assert xsrf
    form = {"username": user, "password": PASSWORD, "_xsrf": xsrf.group(1)}
    with opener.open(url + "/hub/login", urllib.parse.urlencode(form).encode(), timeout=10):
        pass
    with opener.open(url + "/hub/spawn", timeout=30) as r:
        page: str = r.read().decode()
    return page


def group_members(database: Path) -> dict[str, set[str]]:
    """Each JupyterHub group and its members, from the hub's own database."""
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT groups.name, users.name FROM groups"
            " JOIN user_group_map ON user_group_map.group_id = groups.id"
            " JOIN users ON users.id = user_group_map.user_id"
        ).fetchall()
    members: dict[str, set[str]] = {}
    for group, user in rows:
        members.setdefault(group, set()).add(user)
    return members


def test_dave_is_in_the_cardiac_team_and_sees_cardiac_imaging_via_his_group(
    tmp_path: Path,
) -> None:
    data = tmp_path / "demo"
    run = DemoRun(data, free_port(), "stub")
    try:
        run.start()
        # The hub created the group at start, before anyone logged in.
        assert group_members(data / "hub" / "jupyterhub.sqlite") == {
            group: set(members) for group, members in GROUPS.items()
        }
        page = spawn_page(run.url, "dave")
        assert run.stop(signal.SIGTERM) == 0
    finally:
        run.kill_if_running()
    assert OFFERED["dave"] == {"cardiac-imaging"}
    assert "Cardiac imaging" in page
    assert "via group cardiac-team" in page
    for other in ("Diabetes outcomes", "Genomics (GPU)", "COVID-19 cohort (2023)"):
        assert other not in page


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
