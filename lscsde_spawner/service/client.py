"""A small client of the workspaces service's REST API, for the ``lscsde-spawner workspaces``
commands: the standard library only, a hub API token, JSON in and out."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode


class ClientError(Exception):
    """The service refused (``status``), or could not be reached (``status`` 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class WorkspacesClient:
    def __init__(
        self, hub_url: str, token: str, *, service: str = "workspaces", timeout: float = 30
    ) -> None:
        self.base = f"{hub_url.rstrip('/')}/services/{service}/api/workspaces"
        self.token = token
        self.timeout = timeout

    def request(
        self, method: str, path: str = "", body: Any = None, query: dict[str, Any] | None = None
    ) -> Any:
        url = self.base + path
        params = {k: v for k, v in (query or {}).items() if v not in (None, "")}
        if params:
            url += "?" + urlencode(params)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"token {self.token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                text = resp.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            raw = exc.read().decode("utf-8", "replace")
            try:
                message = json.loads(raw).get("message") or raw
            except (ValueError, AttributeError):
                message = raw[:300] or exc.reason
            raise ClientError(exc.code, str(message)) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ClientError(0, f"cannot reach {self.base}: {exc}") from None
        return json.loads(text) if text else None

    @staticmethod
    def seg(value: str) -> str:
        return quote(value, safe="")

    def workspaces(self, everything: bool = False) -> Any:
        return self.request("GET", "", query={"all": "1" if everything else None})

    def members(self, ws: str) -> Any:
        return self.request("GET", f"/{self.seg(ws)}/members")

    def add(self, ws: str, body: dict[str, Any]) -> Any:
        return self.request("POST", f"/{self.seg(ws)}/members", body)

    def change(self, ws: str, username: str, body: dict[str, Any]) -> Any:
        return self.request("PATCH", f"/{self.seg(ws)}/members/{self.seg(username)}", body)

    def remove(self, ws: str, username: str) -> Any:
        return self.request("DELETE", f"/{self.seg(ws)}/members/{self.seg(username)}")

    def sessions(self, ws: str) -> Any:
        return self.request("GET", f"/{self.seg(ws)}/sessions")

    def stop(self, ws: str, username: str, server: str = "") -> Any:
        tail = f"/{self.seg(server)}" if server else ""
        return self.request("DELETE", f"/{self.seg(ws)}/sessions/{self.seg(username)}{tail}")

    def events(self, ws: str, **query: Any) -> Any:
        return self.request("GET", f"/{self.seg(ws)}/events", query=query)


__all__ = ["ClientError", "WorkspacesClient"]
