"""Suite-wide hooks and fixtures. The embedded cluster's fixtures (`local_cluster`, `kube_client`,
...) come from kubesim's pytest11 entry point; the hub fixtures from tests/e2e/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from kubernetes_asyncio.client.api_client import ApiClient

from tests.support.crds import install_crds


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Every test that starts a real hub needs configurable-http-proxy: mark it, so
    # `pytest -m "not hub"` runs on a machine without one.
    for item in items:
        if "hub_factory" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.hub)


@pytest_asyncio.fixture
async def crds(kube_client: ApiClient) -> AsyncIterator[ApiClient]:
    """`kube_client`, with the product's CRDs installed (and served) in its cluster."""
    await install_crds(kube_client)
    yield kube_client
