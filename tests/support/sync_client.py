"""The synchronous `kubernetes` client, configured for an embedded cluster (no global state)."""

from __future__ import annotations

from kubernetes import client

from kubesim import LocalCluster


def configuration(cluster: LocalCluster, token: str | None = None) -> client.Configuration:
    """A configuration for `cluster`, as its admin or as the bearer of `token`."""
    config = client.Configuration()
    config.host = cluster.url
    config.api_key = {"authorization": f"Bearer {token or cluster.token}"}
    return config
