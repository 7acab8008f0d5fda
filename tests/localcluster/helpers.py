"""Shared helpers for the embedded-API tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

T = TypeVar("T")


def status_of(exc: ApiException) -> dict[str, Any]:
    """The Kubernetes Status body of a failed call."""
    body = json.loads(exc.body)
    assert body["kind"] == "Status", body
    assert body["code"] == exc.status
    return body


async def expect_status(awaitable: Awaitable[Any], code: int, reason: str) -> dict[str, Any]:
    with pytest.raises(ApiException) as info:
        await awaitable
    body = status_of(info.value)
    assert (info.value.status, body["reason"]) == (code, reason), body
    return body


async def eventually(
    check: Callable[[], Awaitable[T]], *, timeout: float = 5.0, interval: float = 0.05
) -> T:
    """Poll `check` until it returns a truthy value or raises no AssertionError."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            result = await check()
            if result:
                return result
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)
