"""lscsde-workspace-mgmt 0.1.14, the access lookup the field spawner makes now (the bench extra)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.api_client import ApiClient

from bench.access_data import field_label

OLD_TOOL = "lscsde-workspace-mgmt"
OLD_TOOL_VERSION = "0.1.14"


def require_old_tool() -> None:
    """Exit with how to install it, unless exactly `OLD_TOOL_VERSION` is installed."""
    try:
        import lscsde_workspace_mgmt.managers  # noqa: F401
    except ImportError:
        raise SystemExit(
            f"needs {OLD_TOOL}=={OLD_TOOL_VERSION}: .venv/bin/pip install -e '.[bench]'"
        ) from None
    if metadata.version(OLD_TOOL) != OLD_TOOL_VERSION:
        raise SystemExit(f"needs {OLD_TOOL}=={OLD_TOOL_VERSION}, not {metadata.version(OLD_TOOL)}")


async def old_tool_client(kubeconfig: str) -> ApiClient:
    """A kubernetes_asyncio client as a field deployment gets one: from a kubeconfig."""
    cfg = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    return ApiClient(cfg)


def check_old_label_format(usernames: list[str]) -> None:
    """Exit if the installed package labels any of `usernames` otherwise than `field_label`."""
    from lscsde_workspace_mgmt.models import KubernetesHelper

    helper = KubernetesHelper()
    for name in usernames:
        theirs = helper.format_as_label(name)
        if theirs != field_label(name):
            raise SystemExit(f"label format drifted: {name!r}: {theirs!r} != {field_label(name)!r}")


def their_lookup(
    api: ApiClient, namespace: str, username: str, log: logging.Logger
) -> Callable[[], Awaitable[list[str]]]:
    """What the field spawner does per page view: `get_permitted_workspaces`, then the slugs."""
    from lscsde_workspace_mgmt.managers import AnalyticsWorkspaceManager

    manager: Any = AnalyticsWorkspaceManager(api, log)

    async def theirs() -> list[str]:
        items = await manager.get_permitted_workspaces(namespace, username)
        return [item["slug"] for item in items]

    return theirs
