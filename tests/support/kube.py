"""Shared helpers for the embedded-API tests."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException


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
