"""Shared helpers for the embedded-API tests."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from kubesim import LocalCluster
from kubesim.testing import client_configuration


def status_of(exc: ApiException) -> dict[str, Any]:
    """The Kubernetes Status body of a failed call."""
    assert exc.body is not None, exc
    body: dict[str, Any] = json.loads(exc.body)
    assert body["kind"] == "Status", body
    assert body["code"] == exc.status
    return body


async def expect_status(awaitable: Awaitable[Any], code: int, reason: str) -> dict[str, Any]:
    with pytest.raises(ApiException) as info:
        await awaitable
    body = status_of(info.value)
    assert (info.value.status, body["reason"]) == (code, reason), body
    return body


async def account_token(
    cluster: LocalCluster, name: str, rules: list[dict[str, Any]], namespace: str = "default"
) -> str:
    """A ServiceAccount bound to a Role of just `rules` in `namespace`; a token of it."""
    async with ApiClient(client_configuration(cluster)) as api:
        core: Any = client.CoreV1Api(api)
        rbac: Any = client.RbacAuthorizationV1Api(api)
        await core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
        await rbac.create_namespaced_role(namespace, {"metadata": {"name": name}, "rules": rules})
        await rbac.create_namespaced_role_binding(namespace, {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name}],
        })  # fmt: skip
        made = await core.create_namespaced_service_account_token(name, namespace, {"spec": {}})
        token: str = made.status.token
        return token
