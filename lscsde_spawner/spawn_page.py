"""The spawn page's HTML around the form: notices of servers stopped because their grant ended,
the message shown when no workspace is offered, and the cards, rendered so that one card that
cannot be rendered (or encoded) never hides the others; a workspace that cannot be offered is
logged once per version. Pure: the render callable and the log are passed in."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import profiles
from .models import AnalyticsWorkspace

Render = Callable[[list[dict[str, Any]]], str]
Log = logging.Logger | logging.LoggerAdapter[Any]

_WARNED: set[tuple[str, str | None, str]] = set()


def warn_once(log: Log, ws: AnalyticsWorkspace, text: str) -> None:
    """Log a problem with one version of a workspace once, not on every page view."""
    key = (ws.name, ws.metadata.resource_version, text)
    if key in _WARNED:
        return
    if len(_WARNED) >= 10_000:
        _WARNED.clear()
    _WARNED.add(key)
    log.warning("workspace %s: %s", ws.name, text)


def notices_html(notices: Iterable[Mapping[str, str]]) -> str:
    """Which of the user's servers were stopped because their grant ended, when and why."""
    items = "".join(
        f"<li>Your server <strong>{html.escape(n.get('server', ''))}</strong> in workspace "
        f"<strong>{html.escape(n.get('workspace', ''))}</strong> was stopped at "
        f"{html.escape(n.get('when', ''))}: {html.escape(n.get('why', ''))}</li>"
        for n in notices
    )
    if not items:
        return ""
    return f'<div class="alert alert-warning lscsde-revoked" role="status"><ul>{items}</ul></div>'


def no_workspaces_html(message: str) -> str:
    """The admin's message for a user with no workspace today, without the form's feedback."""
    return (
        "<style>#spawn_form .feedback-container { display: none; }</style>"
        f'<p class="lscsde-no-workspaces">{html.escape(message)}</p>'
    )


def render_cards(render: Render, profile_list: list[dict[str, Any]]) -> str:
    """The cards as ``render`` renders them; a page the hub could not send is an error here."""
    rendered = render(profile_list)
    rendered.encode("utf-8")
    return rendered


def form_body(
    profile_list: list[dict[str, Any]],
    render: Render,
    no_workspaces_message: str,
    log: Log,
) -> str:
    """The form: the no-workspaces message, else every card that can be rendered."""
    if not profile_list and no_workspaces_message:
        return no_workspaces_html(no_workspaces_message)
    try:
        return render_cards(render, profile_list)
    except Exception:
        pass
    # Some card cannot be rendered (or encoded): offer the others.
    good = []
    for profile in profile_list:
        try:
            render_cards(render, [profile])
        except Exception as exc:
            card = profile.get("lscsde")
            if isinstance(card, profiles.WorkspaceCard):
                log.warning("workspace %s cannot be shown: %r", card.slug, exc)
            continue
        good.append(profile)
    return render_cards(render, good)


__all__ = ["form_body", "no_workspaces_html", "notices_html", "render_cards", "warn_once"]
