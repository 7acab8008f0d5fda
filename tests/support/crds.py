"""The one installer of the product's CRDs (lscsde_spawner.crds), for tests and bench/.

Tests name the `crds` fixture (tests/conftest.py) rather than calling `install_crds` themselves.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from lscsde_spawner.crds import load_crds

WAIT_SECONDS = 30


async def install_crds(api: ApiClient, crds: list[dict[str, Any]] | None = None) -> None:
    """Create the five CRDs (the product's, unless `crds` gives others, such as the published
    ones of tests/support/published_crds), then wait until each is Established (served)."""
    ext: Any = client.ApiextensionsV1Api(api)  # takes plain dicts, whatever its stubs say
    crds = load_crds() if crds is None else crds
    for crd in crds:
        await ext.create_custom_resource_definition(crd)
    async with asyncio.timeout(WAIT_SECONDS):
        for crd in crds:
            while True:
                if await _established(ext, crd["metadata"]["name"]):
                    break
                await asyncio.sleep(0.05)


async def _established(ext: Any, name: str) -> bool:
    served = await ext.read_custom_resource_definition(name)
    conditions = (served.status and served.status.conditions) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)
