"""The spawn page around the form (``spawn_page``): revocation notices, the no-workspaces
message, and the cards, where one card that cannot be rendered never hides the others."""

from __future__ import annotations

import logging
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest

from lscsde_spawner import offers, profiles, spawn_page
from lscsde_spawner.access import PermittedWorkspace
from lscsde_spawner.models import AnalyticsWorkspace
from tests.support import factories


def profile(name: str) -> dict[str, Any]:
    ws = AnalyticsWorkspace.model_validate(factories.workspace(name))
    return profiles.profile_for(PermittedWorkspace(ws, date(2030, 1, 1), 9, ("b",)))


def render(profile_list: list[dict[str, Any]]) -> str:
    out = []
    for p in profile_list:
        if p["slug"] == "broken":
            raise ValueError("cannot render")
        out.append("\ud800" if p["slug"] == "surrogate" else f"<card {p['slug']}>")
    return "".join(out)


def test_notices_are_escaped_and_absent_when_none() -> None:
    assert spawn_page.notices_html([]) == ""
    notice = {"server": "<s>", "workspace": "w&1", "when": "today", "why": '"gone"'}
    html = spawn_page.notices_html([notice, {}])
    assert html.startswith('<div class="alert alert-warning lscsde-revoked" role="status"><ul>')
    assert "<strong>&lt;s&gt;</strong>" in html and "<strong>w&amp;1</strong>" in html
    assert "stopped at today: &quot;gone&quot;</li>" in html
    assert html.count("<li>") == 2  # a notice missing its fields still says a server stopped


def test_no_workspaces_message_only_when_none_is_offered() -> None:
    log = logging.getLogger("test")
    body = spawn_page.form_body([], render, "Ask <your> PI", log)
    assert 'class="lscsde-no-workspaces">Ask &lt;your&gt; PI</p>' in body
    assert "feedback-container { display: none; }" in body
    assert spawn_page.form_body([], render, "", log) == ""  # the admin turned it off
    assert spawn_page.form_body([profile("a")], render, "none", log) == "<card a>"


def test_one_card_that_cannot_render_hides_no_other(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test-cards")
    listed = [profile("a"), profile("broken"), profile("surrogate"), profile("b")]
    with caplog.at_level(logging.WARNING, "test-cards"):
        assert spawn_page.form_body(listed, render, "", log) == "<card a><card b>"
    warned = [r.getMessage() for r in caplog.records]
    assert any("workspace broken cannot be shown" in m for m in warned)
    assert any("workspace surrogate cannot be shown" in m for m in warned)
    # A page the hub could not send is an error.
    with pytest.raises(UnicodeEncodeError):
        spawn_page.render_cards(render, [profile("surrogate")])


def test_warn_once_per_workspace_version(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test-warn")
    body = factories.workspace("warned-ws")
    body["metadata"]["resourceVersion"] = "1"
    ws = AnalyticsWorkspace.model_validate(body)
    body["metadata"]["resourceVersion"] = "2"
    newer = AnalyticsWorkspace.model_validate(body)
    with caplog.at_level(logging.WARNING, "test-warn"):
        for _ in range(3):
            spawn_page.warn_once(log, ws, "bad image")
        spawn_page.warn_once(log, ws, "another problem")
        spawn_page.warn_once(log, newer, "bad image")
    assert [r.getMessage() for r in caplog.records] == [
        "workspace warned-ws: bad image",
        "workspace warned-ws: another problem",
        "workspace warned-ws: bad image",
    ]


async def test_offered_leaves_out_a_workspace_that_cannot_be_offered() -> None:
    grants = [
        PermittedWorkspace(
            AnalyticsWorkspace.model_validate(factories.workspace(n)), date(2030, 1, 1), 9, ("b",)
        )
        for n in ("a", "bad", "c")
    ]
    snap = SimpleNamespace(datasource_bindings=[], datasources=[])
    warned: list[tuple[str, str]] = []

    async def make(grant: PermittedWorkspace, ds: list[Any]) -> tuple[dict[str, Any], Any]:
        if grant.name == "bad":
            raise ValueError("no image")
        return {"slug": grant.name, "ds": ds}, None

    def warn(ws: AnalyticsWorkspace, exc: Exception) -> None:
        warned.append((ws.name, str(exc)))

    got = await offers.offered(grants, snap, date(2026, 3, 12), make, warn)
    assert got == [{"slug": "a", "ds": []}, {"slug": "c", "ds": []}]
    assert warned == [("bad", "no image")]
