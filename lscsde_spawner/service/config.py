"""Turning the workspaces service on: ``configure(c)`` in ``jupyterhub_config.py``.

It adds one managed service (started and stopped by the hub) to ``c.JupyterHub.services``, a
role giving the service's own hub token what it needs and nothing more, and the scope that lets
users reach the service to the ``user`` role (``c.JupyterHub.load_roles``). The service's
settings (namespace, time zone, claims) are read from the ``WorkspaceSpawner`` and
``KubeSpawner`` sections already set, so call it after them (next to ``validate_config``).

The settings travel to the service's process as command-line arguments
(``ServiceSettings.to_args`` / ``from_args``), so ``ps`` shows what it runs with.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

NAME = "workspaces"
DEFAULT_PORT = 10101
#: The least the service's own hub token needs: list active users and read their servers
#: (``user_options.profile`` says the workspace, with started and last activity), read a
#: caller's groups (their claims), and stop a server. Identity comes from the caller's token.
HUB_SCOPES = ("list:users", "read:servers", "read:users:groups", "delete:servers")
#: Environment the service's process inherits from the hub's (the Kubernetes client's).
PASS_ENV = ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "TZ")
_INCLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class ServiceSettings:
    """What the service's process runs with (see ``configure`` for where each comes from)."""

    namespace: str = "default"
    time_zone: str = "UTC"
    groups_claim: str = "groups"
    allow_negative_only_claims: bool = False
    case_sensitive_usernames: bool = False
    kubeconfig: str = ""  # a kubeconfig file for the service's own credentials
    token_dir: str = ""  # or a directory holding a service-account token and ca.crt
    ip: str = ""  # where to listen (default: the host of JUPYTERHUB_SERVICE_URL)
    authenticate_metrics: bool = True  # /metrics needs a hub token with read:metrics
    sync_timeout: float = 10.0  # how long a request waits for the cache's first sync

    def to_args(self) -> list[str]:
        args = []
        for f in fields(self):
            value = getattr(self, f.name)
            flag = "--" + f.name.replace("_", "-")
            if isinstance(value, bool):
                args.append(flag if value else "--no-" + flag[2:])
            elif value != "" or f.name == "groups_claim":
                args.append(f"{flag}={value}")
        return args

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(
            prog="python -m lscsde_spawner.service",
            description="The workspaces JupyterHub service (started by the hub).",
        )
        for f in fields(cls):
            flag = "--" + f.name.replace("_", "-")
            if isinstance(f.default, bool):
                parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
            elif isinstance(f.default, float):
                parser.add_argument(flag, type=float, default=f.default)
            else:
                parser.add_argument(flag, default=f.default)
        parser.add_argument("--log-level", default="INFO")
        return parser

    @classmethod
    def from_args(cls, argv: Sequence[str] | None = None) -> tuple[ServiceSettings, str]:
        """The settings and the log level from a command line."""
        ns = cls.parser().parse_args(argv)
        values = {f.name: getattr(ns, f.name) for f in fields(cls)}
        return cls(**values), str(ns.log_level)


def _get(section: Any, key: str, default: Any) -> Any:
    # Config.get does not create the key (attribute access would make a lazy value).
    value = section.get(key, default)
    return default if value is None or type(value).__name__ == "LazyConfigValue" else value


def _namespace(c: Any) -> str:
    for section, key in (("WorkspaceSpawner", "workspace_namespace"), ("KubeSpawner", "namespace")):
        value = _get(c[section], key, "")
        if value:
            return str(value)
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        return _INCLUSTER_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"


def _listed(c: Any, key: str) -> list[Any]:
    value = c.JupyterHub.get(key, None)
    if value is None:
        return []
    if type(value).__name__ == "LazyConfigValue":  # c.JupyterHub.x.append(...) before us
        return list(value.get_value([]))
    return list(value)


def settings_from_config(c: Any, **overrides: Any) -> ServiceSettings:
    """The service's settings as the spawner's config sections give them, then ``overrides``."""
    spawner = c["WorkspaceSpawner"]
    values: dict[str, Any] = {
        "namespace": _namespace(c),
        "time_zone": _get(spawner, "time_zone", "UTC"),
        "groups_claim": _get(spawner, "groups_claim", "groups"),
        "allow_negative_only_claims": bool(_get(spawner, "allow_negative_only_claims", False)),
        "case_sensitive_usernames": bool(_get(spawner, "case_sensitive_usernames", False)),
        "authenticate_metrics": bool(_get(c["JupyterHub"], "authenticate_prometheus", True)),
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ServiceSettings(**values)


def configure(
    c: Any,
    *,
    name: str = NAME,
    url: str = f"http://127.0.0.1:{DEFAULT_PORT}",
    ip: str | None = None,
    namespace: str | None = None,
    kubeconfig: str | None = None,
    token_dir: str | None = None,
    python: str = sys.executable,
    environment: dict[str, str] | None = None,
    sync_timeout: float | None = None,
) -> ServiceSettings:
    """Add the workspaces service to the hub's config ``c``; returns its settings.

    ``url``: where the proxy reaches the service (with zero-to-jupyterhub, e.g.
    ``http://hub:10101`` with ``ip="0.0.0.0"``). ``kubeconfig`` or ``token_dir``: the service's
    own Kubernetes credentials (its least-privilege Role; default: the hub's, from
    ``$KUBECONFIG`` or the pod's service account). ``environment``: more variables for its
    process. ``sync_timeout``: seconds a request waits for the cache's first sync (then 503)."""
    if urlparse(url).scheme not in ("http", "https") or not urlparse(url).port:
        raise ValueError(f"workspaces service url {url!r} must be http(s)://host:port")
    settings = settings_from_config(
        c,
        namespace=namespace,
        kubeconfig=kubeconfig,
        token_dir=token_dir,
        ip=ip,
        sync_timeout=sync_timeout,
    )
    env = {k: os.environ[k] for k in PASS_ENV if os.environ.get(k)}
    env.update(environment or {})
    service = {
        "name": name,
        "url": url,
        "command": [python, "-m", "lscsde_spawner.service", *settings.to_args()],
        "environment": env,
        "oauth_no_confirm": True,  # the hub's own service: no "authorize" page in between
        "display": True,
        "info": {"description": "Workspace members, sessions and audit trail"},
    }
    services = [s for s in _listed(c, "services") if s.get("name") != name]
    c.JupyterHub.services = [*services, service]

    roles = [r for r in _listed(c, "load_roles") if r.get("name") != f"{name}-service"]
    roles.append({"name": f"{name}-service", "scopes": list(HUB_SCOPES), "services": [name]})
    access = f"access:services!service={name}"
    users = next((r for r in roles if r.get("name") == "user"), None)
    if users is None:
        roles.append({"name": "user", "scopes": ["self", access]})
    elif access not in users.get("scopes", []):
        users["scopes"] = [*users.get("scopes", ["self"]), access]
    c.JupyterHub.load_roles = roles
    return settings


__all__ = ["DEFAULT_PORT", "HUB_SCOPES", "NAME", "ServiceSettings", "configure"]
