"""The REST API, under ``/services/workspaces/api/``: JSON in, JSON out.

    GET    workspaces                                  the caller's workspaces (?all=1: a hub
                                                       admin's list holds every workspace)
    GET    workspaces/{ws}/members                     its bindings
    POST   workspaces/{ws}/members                     add one {"username", "expires", ...}
    PATCH  workspaces/{ws}/members/{username}          change expiry, level or comments
    DELETE workspaces/{ws}/members/{username}          remove (their servers then stop)
    GET    workspaces/{ws}/sessions                    running servers in it
    DELETE workspaces/{ws}/sessions/{username}[/{server}]  stop one
    GET    workspaces/{ws}/events?type=&since=&user=&limit=&offset=   the audit trail

Errors are JupyterHub's shape, ``{"status": 404, "message": "..."}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .base import BaseHandler
from .errors import ServiceError
from .members import parse_body
from .rules import Caller

PREFIX = "api/workspaces"
SEGMENT = r"([^/]+)"


class ApiHandler(BaseHandler):
    # A cookie (a browser) counts on a write only with a matching X-XSRFToken header: HubOAuth
    # asks check_xsrf_cookie (JupyterHub's rule) before it accepts the cookie. Tokens need none.

    async def respond(self, work: Callable[[Caller], Awaitable[Any]], status: int = 200) -> None:
        try:
            result = await work(self.caller())
        except ServiceError as exc:
            self.fail_json(exc.status, exc.message)
            return
        self.write_json(status, result)

    def body(self) -> dict[str, Any]:
        return parse_body(self.request.body)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.fail_json(status_code, self._reason)


class WorkspacesHandler(ApiHandler):
    route = "/api/workspaces"

    async def get(self) -> None:
        everything = self.get_argument("all", "") in ("1", "true", "yes")
        await self.respond(lambda c: self.ops.my_workspaces(c, everything=everything))


class MembersHandler(ApiHandler):
    route = "/api/workspaces/{workspace}/members"

    async def get(self, ws: str) -> None:
        await self.respond(lambda c: self.ops.members(c, ws))

    async def post(self, ws: str) -> None:
        # The body is read once the caller may manage the workspace: to anyone else, a bad
        # body is the same 404 as a good one.
        await self.respond(lambda c: self.ops.add_member(c, ws, self.body), status=201)


class MemberHandler(ApiHandler):
    route = "/api/workspaces/{workspace}/members/{username}"

    async def patch(self, ws: str, username: str) -> None:
        await self.respond(lambda c: self.ops.change_member(c, ws, username, self.body))

    async def delete(self, ws: str, username: str) -> None:
        await self.respond(lambda c: self.ops.remove_member(c, ws, username))


class SessionsHandler(ApiHandler):
    route = "/api/workspaces/{workspace}/sessions"

    async def get(self, ws: str) -> None:
        await self.respond(lambda c: self.ops.sessions(c, ws))


class SessionHandler(ApiHandler):
    route = "/api/workspaces/{workspace}/sessions/{username}[/{server}]"

    async def delete(self, ws: str, username: str, server: str | None = None) -> None:
        await self.respond(
            lambda c: self.ops.stop_session(c, ws, username, server or ""), status=202
        )


class EventsHandler(ApiHandler):
    route = "/api/workspaces/{workspace}/events"

    async def get(self, ws: str) -> None:
        names = ("type", "since", "user", "limit", "offset")
        args = {n: self.get_argument(n, None) for n in names}
        await self.respond(lambda c: self.ops.events(c, ws, args))


class NotFoundHandler(ApiHandler):
    route = "/api/other"

    async def prepare(self) -> None:
        self.fail_json(404, f"no such API endpoint: {self.request.method} {self.request.path}")


def routes(prefix: str) -> list[tuple[str, type[ApiHandler]]]:
    base = f"{prefix}{PREFIX}"
    return [
        (f"{base}/?", WorkspacesHandler),
        (f"{base}/{SEGMENT}/members/?", MembersHandler),
        (f"{base}/{SEGMENT}/members/{SEGMENT}/?", MemberHandler),
        (f"{base}/{SEGMENT}/sessions/?", SessionsHandler),
        (f"{base}/{SEGMENT}/sessions/{SEGMENT}(?:/{SEGMENT})?/?", SessionHandler),
        (f"{base}/{SEGMENT}/events/?", EventsHandler),
        (f"{prefix}api(?:/.*)?", NotFoundHandler),
    ]


__all__ = ["routes"]
