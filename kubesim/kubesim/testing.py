"""pytest fixtures: a fresh embedded cluster per test (or per module).

Installing kubesim registers them with pytest (the `pytest11` entry point `kubesim`), so a test
only names them; `kube_client` needs the `kubesim[pytest]` extra.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from kubesim import LocalCluster


@pytest.fixture
def local_cluster() -> Iterator[LocalCluster]:
    """A fresh embedded cluster for one test."""
    with LocalCluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def module_cluster() -> Iterator[LocalCluster]:
    """One embedded cluster shared by the tests of a module."""
    with LocalCluster() as cluster:
        yield cluster


def client_configuration(cluster: LocalCluster) -> client.Configuration:
    """A kubernetes_asyncio configuration for the cluster, as its admin (no global state
    touched)."""
    config = client.Configuration()
    config.host = cluster.url
    if cluster.token:
        config.api_key = {"BearerToken": f"Bearer {cluster.token}"}
    return config


@pytest_asyncio.fixture
async def kube_client(local_cluster: LocalCluster) -> AsyncIterator[ApiClient]:
    """A kubernetes_asyncio ApiClient talking to `local_cluster`."""
    async with ApiClient(client_configuration(local_cluster)) as api_client:
        yield api_client
