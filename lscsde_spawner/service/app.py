"""The workspaces service's process: a tornado application started by the hub.

The hub runs ``python -m lscsde_spawner.service <settings>`` (see ``config.configure``) with the
usual service environment: ``JUPYTERHUB_API_TOKEN`` (its own token), ``JUPYTERHUB_API_URL``,
``JUPYTERHUB_SERVICE_URL`` (where to listen), ``JUPYTERHUB_SERVICE_PREFIX``
(``/services/workspaces/``) and the OAuth client's variables, which ``HubOAuth`` reads. It
starts the watch-fed cache, listens, and on SIGTERM (the hub stopping it) closes everything.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from tornado import web
from tornado.httpserver import HTTPServer

from ..usernames import exact, hub_default
from . import api, pages
from .base import BaseHandler
from .config import ServiceSettings
from .hubapi import HubApi
from .operations import Operations
from .store import Store, api_client

log = logging.getLogger("lscsde_spawner.service")
# The server's own limit (a larger body is cut off, and the proxy answers 503); JSON bodies are
# refused with a 413 past members.MAX_BODY.
MAX_REQUEST = 8 * 1024 * 1024


class MetricsHandler(BaseHandler):
    """Prometheus metrics of this process: with ``authenticate_metrics``, only for a hub token
    holding ``read:metrics`` (as the hub's own /hub/metrics)."""

    route = "/metrics"

    @property
    def hub_scopes(self) -> set[str] | None:
        return {"read:metrics"} if self.settings["authenticate_metrics"] else None

    async def get(self) -> None:
        if self.settings["authenticate_metrics"] and not self.current_user:
            # Any hub user or service holding read:metrics (a scraper's token is a service's).
            refused = getattr(self, "refused_model", None)
            status, why = (403, "this token lacks read:metrics") if refused else (401, "no token")
            self.fail_json(status, why)
            return
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest(REGISTRY))


class OAuthCallback(HubOAuthCallbackHandler):  # type: ignore[misc]
    def initialize(self, hub_auth: HubOAuth) -> None:
        self.hub_auth = hub_auth


def make_app(
    ops: Operations, hub_auth: HubOAuth, prefix: str, *, cookie_secret: bytes
) -> web.Application:
    kw = {"ops": ops, "hub_auth": hub_auth, "prefix": prefix}
    handlers: list[tuple[str, type[web.RequestHandler], dict[str, object]]] = [
        (f"{prefix}oauth_callback", OAuthCallback, {"hub_auth": hub_auth}),
        (f"{prefix}metrics", MetricsHandler, kw),
        *[(path, handler, kw) for path, handler in api.routes(prefix)],
        *[
            (path, handler, kw if issubclass(handler, BaseHandler) else {})
            for path, handler in pages.routes(prefix)
        ],
    ]
    return web.Application(
        handlers,
        cookie_secret=cookie_secret,
        login_url=hub_auth.login_url,
        authenticate_metrics=ops.settings.authenticate_metrics,
        xsrf_cookie_kwargs={"path": prefix, "httponly": False, "samesite": "Lax"},
    )


async def run(settings: ServiceSettings) -> None:
    token = os.environ["JUPYTERHUB_API_TOKEN"]
    api_url = os.environ.get("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api")
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/workspaces/")
    url = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101"))
    # The hub's default normalisation (lowercase), or none: a custom authenticator's own
    # normalize_username is not known here (see README).
    normalize = exact if settings.case_sensitive_usernames else hub_default
    client = await api_client(settings.kubeconfig, settings.token_dir)
    store = Store(client, settings.namespace, normalize=normalize)
    await store.start()
    ops = Operations(settings, store, HubApi(api_url, token))
    hub_auth = HubOAuth(api_token=token, api_url=api_url, cache_max_age=60)
    app = make_app(ops, hub_auth, prefix, cookie_secret=secrets.token_bytes(32))
    server = HTTPServer(app, xheaders=True, max_body_size=MAX_REQUEST)
    server.listen(url.port or 10101, address=settings.ip or url.hostname or "127.0.0.1")
    log.info("workspaces service for namespace %s at %s", settings.namespace, url.geturl())
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await stopping.wait()
    finally:
        server.stop()
        await store.stop()


def main(argv: Sequence[str] | None = None) -> int:
    settings, level = ServiceSettings.from_args(argv)
    logging.basicConfig(
        level=level.upper(),
        format="[%(levelname).1s %(asctime)s %(name)s] %(message)s",
        stream=sys.stderr,
    )
    asyncio.run(run(settings))
    return 0


__all__ = ["main", "make_app", "run"]
