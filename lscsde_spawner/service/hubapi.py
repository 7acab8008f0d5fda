"""The hub's REST API, as the service calls it with its own token (``JUPYTERHUB_API_TOKEN``).

Scopes used (``config.HUB_SCOPES``): ``list:users`` and ``read:servers`` to list the active
users' servers, ``read:users:groups`` for a caller's groups (their claims), ``delete:servers``
to stop a server. Lists are paged as JupyterHub pages them (``application/jupyterhub-pagination
+json``), so a hub with thousands of active users is read in full.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from . import metrics
from .errors import NotFound, Unavailable

PAGE = 200  # JupyterHub's largest page by default (api_page_max_limit)
PAGINATION = "application/jupyterhub-pagination+json"


class HubApi:
    def __init__(self, api_url: str, token: str, *, timeout: float = 20) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.http = AsyncHTTPClient()

    async def _request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        accept: str = "application/json",
    ) -> tuple[int, Any]:
        url = f"{self.api_url}/{path}" + (f"?{urlencode(params)}" if params else "")
        request = HTTPRequest(
            url,
            method=method,
            headers={"Authorization": f"token {self.token}", "Accept": accept},
            body=None,
            allow_nonstandard_methods=True,
            request_timeout=self.timeout,
        )
        metrics.HUB_REQUESTS.labels(verb=method).inc()
        try:
            response = await self.http.fetch(request)
        except HTTPClientError as exc:
            if exc.code == 404:
                raise NotFound(f"hub API {method} {path}: not found") from None
            body = exc.response.body.decode("utf-8", "replace")[:300] if exc.response else ""
            raise Unavailable(
                f"the hub's API answered {exc.code} to {method} {path}: {body}"
            ) from None
        except OSError as exc:
            raise Unavailable(f"the hub's API cannot be reached: {exc}") from None
        text = response.body.decode("utf-8") if response.body else ""
        return response.code, json.loads(text) if text else None

    async def user(self, name: str) -> dict[str, Any] | None:
        """The hub's model of user ``name`` (groups, servers), or None when there is none."""
        try:
            _, model = await self._request("GET", f"users/{quote(name, safe='')}")
        except NotFound:
            return None
        return model if isinstance(model, dict) else None

    async def active_users(self) -> list[dict[str, Any]]:
        """Every user with a running or starting server, page by page."""
        found: list[dict[str, Any]] = []
        offset = 0
        while True:
            params = {"state": "active", "offset": offset, "limit": PAGE}
            _, page = await self._request("GET", "users", params, accept=PAGINATION)
            if isinstance(page, list):  # a hub that does not page: one list
                return [u for u in page if isinstance(u, dict)]
            items = page.get("items") if isinstance(page, dict) else None
            found += [u for u in items or [] if isinstance(u, dict)]
            nxt = (page.get("_pagination") or {}).get("next") if isinstance(page, dict) else None
            if not nxt or not items:
                return found
            offset = int(nxt.get("offset", offset + len(items)))

    async def stop_server(self, name: str, server: str) -> int:
        """Stop (not delete) one of the user's servers; the hub's status (202: stopping)."""
        user = quote(name, safe="")
        path = (
            f"users/{user}/servers/{quote(server, safe='')}" if server else f"users/{user}/server"
        )
        status, _ = await self._request("DELETE", path)
        return status


__all__ = ["HubApi"]
