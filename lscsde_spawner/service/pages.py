"""The service's pages at ``/services/workspaces/``: the same views as the REST API, rendered on
the server with Jinja2 (autoescaped), with plain HTML forms and no JavaScript at all.

    GET  /                                   my workspaces (a hub admin: and every other one)
    GET  /w/{ws}                             one workspace: its members (add, change, remove),
                                             sessions (stop) and events (filters, pages) for
                                             its admins; what it grants them for the others
    POST /w/{ws}/members                     add a member
    POST /w/{ws}/members/{username}          action=change (expires, accessLevel) or remove
    POST /w/{ws}/sessions/{username}         stop the server named by the ``server`` field

Every form carries JupyterHub's ``_xsrf`` token; a POST without the right one is refused (403)
before anything else. After a POST the browser is sent back to the workspace (303) with a
one-time message in a signed cookie.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from tornado import web

from .. import levels
from . import audit
from .base import BaseHandler
from .errors import BadRequest, Forbidden, NotFound, ServiceError, Unauthorized
from .rules import Caller

TEMPLATES = Path(__file__).with_name("templates")
FLASH = "lscsde-workspaces-flash"
SEGMENT = r"([^/]+)"
EVENT_TYPES = ("server", "member", *sorted(audit.REASONS))


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["segment"] = lambda value: quote(str(value), safe="")
    env.filters["when"] = when
    return env


def when(value: object) -> str:
    """An ISO time as people read it: ``2026-12-05 13:40:19 UTC`` (as given when unparsable)."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


class PageHandler(BaseHandler):
    checks_xsrf = True
    env = environment()

    def render_page(self, template: str, code: int = 200, **context: Any) -> None:
        self.set_status(code)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        page = self.env.get_template(template).render(
            prefix=self.prefix,
            xsrf=self.xsrf_token.decode("ascii"),
            user=self.current_user.get("name") if self.current_user else None,
            **context,
        )
        self.finish(page)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message = self._reason
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message
        self.render_page("error.html", status_code, status=status_code, message=message)

    def flash(self, kind: str, text: str) -> None:
        value = json.dumps({"kind": kind, "text": text[:2000]})
        self.set_secure_cookie(FLASH, value, path=self.prefix, httponly=True, samesite="Lax")

    def take_flash(self) -> dict[str, str] | None:
        raw = self.get_secure_cookie(FLASH, max_age_days=1)
        if raw is None:
            return None
        self.clear_cookie(FLASH, path=self.prefix)
        try:
            found = json.loads(raw)
        except ValueError:
            return None
        return found if isinstance(found, dict) else None

    def page_caller(self) -> Caller | None:
        """The caller; None after sending a GET to the hub's login."""
        try:
            return self.caller()
        except Unauthorized:
            if self.request.method == "GET":
                self.redirect(self.get_login_url())
                return None
            raise web.HTTPError(403, "log in again: your session is not valid") from None
        except ServiceError as exc:
            raise web.HTTPError(exc.status, exc.message) from None

    def workspace_url(self, ws: str) -> str:
        return f"{self.prefix}w/{quote(ws, safe='')}"

    async def act(self, ws: str, work: Callable[[Caller], Awaitable[str]]) -> None:
        """Run a form's action and go back to the workspace with its outcome."""
        caller = self.page_caller()
        if caller is None:
            return
        try:
            self.flash("ok", await work(caller))
        except (NotFound, Forbidden) as exc:
            raise web.HTTPError(exc.status, exc.message) from None
        except ServiceError as exc:
            self.flash("error", exc.message)
        self.redirect(self.workspace_url(ws), status=303)

    def form(self, *names: str) -> dict[str, Any]:
        """The named fields that were filled in (an empty field is left out)."""
        found = {}
        for name in names:
            value = self.get_body_argument(name, "")
            if value != "":
                found[name] = value
        return found


class IndexPage(PageHandler):
    route = "/"

    async def get(self) -> None:
        caller = self.page_caller()
        if caller is None:
            return
        try:
            data = await self.ops.my_workspaces(caller, everything=caller.hub_admin)
        except ServiceError as exc:
            raise web.HTTPError(exc.status, exc.message) from None
        self.render_page("index.html", data=data, flash=self.take_flash())


class WorkspacePage(PageHandler):
    route = "/w/{workspace}"

    async def get(self, ws: str) -> None:
        caller = self.page_caller()
        if caller is None:
            return
        try:
            mine = await self.ops.my_workspaces(caller)
            row = next((w for w in mine["workspaces"] if w["name"] == ws), None)
            manage = caller.hub_admin or bool(row and row["manage"])
            if row is None and not caller.hub_admin:
                raise NotFound(f"workspace {ws[:80]!r} not found")
            context: dict[str, Any] = {"ws": ws, "row": row, "manage": manage}
            if manage:
                context.update(await self._managed(caller, ws))
        except ServiceError as exc:
            raise web.HTTPError(exc.status, exc.message) from None
        self.render_page("workspace.html", flash=self.take_flash(), levels=levels.LEVELS,
                         **context)  # fmt: skip

    async def _managed(self, caller: Caller, ws: str) -> dict[str, Any]:
        names = ("type", "since", "user", "offset")
        args = {n: self.get_argument(n, None) for n in names}
        filter_error = None
        try:
            events = await self.ops.events(caller, ws, {**args, "limit": "25"})
        except BadRequest as exc:
            filter_error = exc.message
            events = await self.ops.events(caller, ws, {"limit": "25"})
        kept = {k: v for k, v in args.items() if v and k != "offset"}
        pages = {
            "newer": urlencode({**kept, "offset": max(0, events["offset"] - 25)})
            if events["offset"]
            else None,
            "older": urlencode({**kept, "offset": events["next"]}) if events["next"] else None,
        }
        listed = await self.ops.members(caller, ws)
        return {
            "members": listed["members"],
            "expires": listed["expires"],
            "sessions": (await self.ops.sessions(caller, ws))["sessions"],
            "events": events,
            "filters": args,
            "filter_error": filter_error,
            "event_types": EVENT_TYPES,
            "pages": pages,
            "today": self.ops.today().isoformat(),
        }


class AddMemberPage(PageHandler):
    route = "/w/{workspace}/members"

    async def post(self, ws: str) -> None:
        async def add(caller: Caller) -> str:
            body = self.form("username", "expires", "accessLevel", "comments")
            row = await self.ops.add_member(caller, ws, lambda: body)
            return f"Added {row['username']} as {row['accessLevel']} until {row['expires']}."

        await self.act(ws, add)


class MemberPage(PageHandler):
    route = "/w/{workspace}/members/{username}"

    async def post(self, ws: str, username: str) -> None:
        action = self.get_body_argument("action", "")

        async def change(caller: Caller) -> str:
            if action == "remove":
                done = await self.ops.remove_member(caller, ws, username)
                return f"Removed {done['username']}; their servers in {ws} stop."
            if action != "change":
                raise BadRequest(f"unknown action {action[:40]!r}")
            body = self.form("expires", "accessLevel", "comments")
            await self.ops.change_member(caller, ws, username, lambda: body)
            return f"Changed {username}."

        await self.act(ws, change)


class StopSessionPage(PageHandler):
    route = "/w/{workspace}/sessions/{username}"

    async def post(self, ws: str, username: str) -> None:
        server = self.get_body_argument("server", "")

        async def stop(caller: Caller) -> str:
            await self.ops.stop_session(caller, ws, username, server)
            return f"Stopping server {server or '(default)'} of {username}."

        await self.act(ws, stop)


class AddSlash(web.RequestHandler):
    """``/services/workspaces`` is the index: the cookies' path needs the slash."""

    def get(self) -> None:
        self.redirect(
            self.request.path + "/" + (f"?{self.request.query}" if self.request.query else "")
        )


def routes(prefix: str) -> list[tuple[str, type[web.RequestHandler]]]:
    return [
        (prefix.rstrip("/"), AddSlash),
        (prefix, IndexPage),
        (f"{prefix}w/{SEGMENT}/?", WorkspacePage),
        (f"{prefix}w/{SEGMENT}/members/?", AddMemberPage),
        (f"{prefix}w/{SEGMENT}/members/{SEGMENT}/?", MemberPage),
        (f"{prefix}w/{SEGMENT}/sessions/{SEGMENT}/?", StopSessionPage),
    ]


__all__ = ["routes"]
