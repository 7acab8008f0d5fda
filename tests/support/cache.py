"""Helpers for the tests of the watch-fed WorkspaceCache against the embedded API: custom objects
created, patched and deleted in its namespace, a running cache, and polling until it converges."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from lscsde_spawner.kube.cache import WorkspaceCache
from lscsde_spawner.models import (
    GROUP,
    VERSION,
    AnalyticsDataSource,
    AnalyticsDataSourceBinding,
    AnalyticsWorkspace,
    AnalyticsWorkspaceBinding,
)

NS = "default"
WS, WSB = AnalyticsWorkspace.PLURAL, AnalyticsWorkspaceBinding.PLURAL
DS, DSB = AnalyticsDataSource.PLURAL, AnalyticsDataSourceBinding.PLURAL
MERGE = "application/merge-patch+json"


class Objects:
    """create/patch/delete custom objects in the test namespace."""

    def __init__(self, api: ApiClient) -> None:
        self.co: Any = client.CustomObjectsApi(api)  # takes _content_type, unlike its stubs

    async def create(self, plural: str, obj: dict[str, Any]) -> None:
        await self.co.create_namespaced_custom_object(GROUP, VERSION, NS, plural, obj)

    async def patch(self, plural: str, name: str, patch: dict[str, Any]) -> None:
        await self.co.patch_namespaced_custom_object(
            GROUP, VERSION, NS, plural, name, patch, _content_type=MERGE
        )

    async def delete(self, plural: str, name: str) -> None:
        await self.co.delete_namespaced_custom_object(GROUP, VERSION, NS, plural, name)


async def eventually(check: Callable[[], bool]) -> None:
    """Poll until `check()` is true, for up to 5 seconds."""
    deadline = asyncio.get_running_loop().time() + 5
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@asynccontextmanager
async def running(api: ApiClient, **kw: Any) -> AsyncIterator[WorkspaceCache]:
    """A started WorkspaceCache of NS, with short back-offs; stopped on the way out."""
    cache = WorkspaceCache(api, NS, backoff_initial=0.05, backoff_max=0.5, **kw)
    await cache.start()
    try:
        yield cache
    finally:
        await cache.stop()


def bindings_of(snap: Any) -> set[str]:
    """The names of the bindings of a snapshot or view."""
    return {b.name for b in snap.bindings}
