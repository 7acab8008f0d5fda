"""The handler every route of the service builds on: who is calling, and how refusals look.

Identity is JupyterHub's: ``HubOAuth`` checks a hub token (``Authorization: token ...``) or the
service's OAuth cookie with the hub, and the caller must hold ``access:services!service=<name>``.
The check is made once per request, asynchronously, in ``prepare`` (HubAuth's synchronous path
would block the event loop on the hub's API). A cookie only counts on a request that changes
something when the request also carries the matching ``_xsrf`` token (JupyterHub's own rule,
``jupyterhub._xsrf_utils``); the pages' forms check it first and refuse with a 403.
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

from jupyterhub.services.auth import HubOAuth, HubOAuthenticated, UserNotAllowed
from tornado import web

from . import metrics
from .errors import Forbidden, Unauthorized
from .operations import Operations, caller_of
from .rules import Caller


class BaseHandler(HubOAuthenticated, web.RequestHandler):  # type: ignore[misc]
    #: The route template, for metrics (no names in labels).
    route: ClassVar[str] = ""
    #: Forms: the XSRF token is required on every request that changes something.
    checks_xsrf: ClassVar[bool] = False

    def initialize(self, ops: Operations, hub_auth: HubOAuth, prefix: str) -> None:
        self.ops = ops
        self.hub_auth = hub_auth
        self.prefix = prefix
        self._began = time.monotonic()

    async def prepare(self) -> None:
        if self.checks_xsrf and self.request.method not in ("GET", "HEAD", "OPTIONS"):
            self.check_xsrf_cookie()  # a 403 HTTPError on a forged or missing token
        model = await self.hub_auth.get_user(self, sync=False)
        allowed = None
        if model:
            try:
                allowed = self.check_hub_user(model)
            except UserNotAllowed:
                self.refused_model = model
        self._hub_auth_user_cache = allowed

    def caller(self) -> Caller:
        """The hub user calling, or Unauthorized/Forbidden."""
        model = self.current_user
        if not model:
            if getattr(self, "refused_model", None):
                wanted = " or ".join(sorted(self.hub_auth.access_scopes))
                raise Forbidden(f"this token may not use the workspaces service: it needs {wanted}")
            raise Unauthorized("log in, or send a JupyterHub API token: Authorization: token ...")
        return caller_of(model)

    def on_finish(self) -> None:
        route = self.route or "other"
        metrics.REQUESTS.labels(
            method=self.request.method, route=route, status=str(self.get_status())
        ).inc()
        metrics.DURATION.labels(route=route).observe(time.monotonic() - self._began)

    def set_default_headers(self) -> None:
        # No framing, no sniffing, nothing but our own origin: the pages hold forms that change
        # who may use a workspace.
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self' 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'",
        )
        self.set_header("Cache-Control", "no-store")

    def write_json(self, status: int, body: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body))

    def fail_json(self, status: int, message: str) -> None:
        """An error as JupyterHub's API writes one."""
        self.write_json(status, {"status": status, "message": message})


__all__ = ["BaseHandler"]
