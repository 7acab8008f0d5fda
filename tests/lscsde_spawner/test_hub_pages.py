"""Each running server's workspace and days left, as the hub's pages show them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from jupyterhub.app import JupyterHub
from kubespawner import spawner as kubespawner_module
from traitlets.config import Config

from lscsde_spawner import clock
from lscsde_spawner.hub_pages import (
    TEMPLATE_VAR,
    ServerWorkspace,
    enable_home_page,
    render_running,
    running_servers,
)
from lscsde_spawner.spawner import WorkspaceSpawner
from lscsde_spawner.templating import HUB_TEMPLATE_DIR

TODAY = date(2026, 3, 10)
XSS = "<script>alert(1)</script>"


def server(name: str = "", days: int | None = 3, **kw: Any) -> ServerWorkspace:
    expires = TODAY + timedelta(days=days) if days is not None else None
    fields: dict[str, Any] = {"workspace": "ws1", "display_name": "Cardiac imaging"}
    fields.update(kw)
    return ServerWorkspace(name, expires=expires, today=TODAY, **fields)


class FakeSpawner:
    def __init__(self, name: str, info: Any, ready: bool = True) -> None:
        self.name, self.info, self.ready = name, info, ready

    def running_workspace(self) -> Any:
        if isinstance(self.info, Exception):
            raise self.info
        return self.info


class PlainSpawner:  # e.g. another spawner class: no running_workspace
    name = "plain"
    ready = True


class FakeUser:
    name = "alice"

    def __init__(self, *spawners: Any) -> None:
        self.spawners = {s.name: s for s in spawners}

    def server_url(self, name: str = "") -> str:
        return f"/user/alice/{name}/" if name else "/user/alice/"


@pytest.mark.parametrize(
    ("days", "left", "soon"), [(10, 10, False), (7, 7, False), (6, 6, True), (0, 0, True)]
)
def test_days_left_and_expiring_soon(days: int, left: int, soon: bool) -> None:
    s = server(days=days)
    assert (s.days_left, s.expiring_soon) == (left, soon)


def test_an_unknown_expiry_has_no_days_left() -> None:
    s = server(days=None)
    assert (s.days_left, s.expiring_soon) == (None, False)


def test_running_servers_lists_the_ready_workspace_servers_default_first() -> None:
    user = FakeUser(
        FakeSpawner("zeta", server("zeta")),
        FakeSpawner("", server("")),
        FakeSpawner("alpha", server("alpha")),
        FakeSpawner("pending", server("pending"), ready=False),
        FakeSpawner("other", None),  # not a workspace's server
        FakeSpawner("odd", "not a ServerWorkspace"),
        PlainSpawner(),
    )
    found = running_servers(user)
    assert [s.server for s in found] == ["", "alpha", "zeta"]
    assert [s.url for s in found] == ["/user/alice/", "/user/alice/alpha/", "/user/alice/zeta/"]


def test_running_servers_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    user = FakeUser(FakeSpawner("broken", RuntimeError("boom")), FakeSpawner("", server("")))
    assert [s.server for s in running_servers(user)] == [""]
    assert "could not describe server 'broken'" in caplog.text
    assert running_servers(None) == []
    assert running_servers(object()) == []


@pytest.mark.parametrize(
    ("days", "text"),
    [
        (12, "(12 days left)"),
        (1, "(1 day left)"),
        (0, "(expires today)"),
        (-1, "(access has ended)"),
    ],
)
def test_the_partial_says_the_days_left(days: int, text: str) -> None:
    html = render_running([server("", days=days)])
    assert text in html
    assert f'datetime="{TODAY + timedelta(days=days)}"' in html
    assert "Cardiac imaging" in html and "<code>ws1</code>" in html
    assert ("lscsde-running-days-left lscsde-running-soon" in html) is (days < 7)


def test_the_partial_without_an_expiry_and_without_servers() -> None:
    html = render_running([server("", days=None, display_name="ws1")])
    assert "available until" not in html and "<code>" not in html  # name shown once
    assert render_running([]) == ""


def test_everything_the_partial_shows_is_escaped() -> None:
    hostile = server(
        f"s{XSS}", workspace=f"w{XSS}", display_name=f'd{XSS}" onmouseover="x', url=f'/u"{XSS}'
    )
    html = render_running([hostile])
    assert "<script>" not in html and 'onmouseover="x' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34; onmouseover=&#34;x" in html


def test_an_admin_template_replaces_the_partial(tmp_path: Any) -> None:
    (tmp_path / "lscsde-running.html").write_text(
        "{% for s in lscsde_servers %}[{{ s.workspace }}]{% endfor %}"
    )
    assert render_running([server(workspace=XSS)], [str(tmp_path)]) == (
        "[&lt;script&gt;alert(1)&lt;/script&gt;]"  # autoescape on in an admin's template too
    )


def test_enable_home_page_puts_the_templates_first_and_keeps_the_admins() -> None:
    c = Config()
    c.JupyterHub.template_paths = ["/srv/my-templates"]
    c.JupyterHub.template_vars = {"announcement": "Hello"}
    WorkspaceSpawner.enable_home_page(c)
    hub = JupyterHub(config=c)
    assert hub.template_paths == [HUB_TEMPLATE_DIR, "/srv/my-templates"]
    assert hub.template_vars == {"announcement": "Hello", TEMPLATE_VAR: running_servers}


def test_enable_home_page_on_a_fresh_config_keeps_jupyterhubs_templates() -> None:
    c = Config()
    enable_home_page(c)
    hub = JupyterHub(config=c)
    assert hub.template_paths[0] == HUB_TEMPLATE_DIR
    assert hub.template_paths[1:] == JupyterHub().template_paths  # the hub's own, after ours
    assert hub.template_vars == {TEMPLATE_VAR: running_servers}


# -- the spawner's side: what it remembers of its running server -------------------------------


@pytest.fixture
def make_spawner() -> Iterator[Any]:
    """A WorkspaceSpawner with no cluster (KubeSpawner's client setup stubbed)."""
    with (
        mock.patch.object(kubespawner_module, "load_config"),
        mock.patch.object(kubespawner_module, "shared_client"),
    ):
        yield lambda **config: WorkspaceSpawner(
            _mock=True, config=Config({"WorkspaceSpawner": config})
        )


def test_the_running_workspace_survives_a_hub_restart_in_the_spawners_state(
    make_spawner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 3, 10, 23, 30, tzinfo=UTC))
    first = make_spawner(time_zone="Europe/London", expiring_days=3)
    first._serving = ("ws1", "Cardiac imaging", date(2026, 3, 12))
    state = json.loads(json.dumps(first.get_state()))  # as the hub's database keeps it
    second = make_spawner(time_zone="Pacific/Auckland", expiring_days=3)
    second.load_state(state)
    info = second.running_workspace()
    assert info == ServerWorkspace(
        "", "ws1", "Cardiac imaging", date(2026, 3, 12), date(2026, 3, 11), expiring_days=3
    )  # "today" is the spawner's own zone's: 11 March in Auckland already
    assert (info.days_left, info.expiring_soon) == (1, True)


@pytest.mark.parametrize(
    "saved",
    [
        {"workspace": "ws1", "display_name": "x", "expires": "soon"},
        {"workspace": "ws1"},
        "ws1",
    ],
)
def test_a_damaged_state_is_forgotten_not_fatal(make_spawner: Any, saved: Any) -> None:
    spawner = make_spawner()
    spawner.load_state({"lscsde_workspace": saved})
    assert spawner._serving is None
    assert spawner.running_workspace() is None  # no pod known either
