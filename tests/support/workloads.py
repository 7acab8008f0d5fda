"""Bodies of workload objects and waiting for controllers, for the workload tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

Obj = dict[str, Any]


# The typed APIs, untyped: the tests send plain dict bodies, as clients may.
def apps_api(api: ApiClient) -> Any:
    return client.AppsV1Api(api)


def batch_api(api: ApiClient) -> Any:
    return client.BatchV1Api(api)


def core_api(api: ApiClient) -> Any:
    return client.CoreV1Api(api)


def pod_template(app: str, image: str = "nginx:1.25", **spec: Any) -> Obj:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [{"name": "main", "image": image}], **spec},
    }


def deployment(name: str, replicas: int = 2, image: str = "nginx:1.25", **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(name, image),
            **spec,
        },
    }


def replicaset(name: str, replicas: int = 2) -> Obj:
    body = deployment(name, replicas)
    return {**body, "kind": "ReplicaSet"}


def statefulset(name: str, replicas: int = 2, **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "serviceName": name,
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(name),
            **spec,
        },
    }


def daemonset(name: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": pod_template(name),
                 **spec},
    }  # fmt: skip


def job(name: str, command: list[str] | None = None, **spec: Any) -> Obj:
    template = pod_template(name, "busybox", restartPolicy="Never")
    template["metadata"] = {}
    if command:
        template["spec"]["containers"][0]["command"] = command
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"template": template, **spec},
    }


def cronjob(name: str, schedule: str = "*/5 * * * *", **spec: Any) -> Obj:
    template = pod_template(name, "busybox", restartPolicy="OnFailure")
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {"schedule": schedule, "jobTemplate": {"spec": {"template": template}}, **spec},
    }


async def body_of(call: Awaitable[Any]) -> Obj:
    """The JSON of a kubernetes_asyncio call made with _preload_content=False."""
    response = await call
    data: Obj = json.loads(await response.read())
    return data


async def wait_for(
    fetch: Callable[[], Awaitable[Obj]], check: Callable[[Obj], Any], seconds: float = 10
) -> Obj:
    """Poll `fetch` until `check` is true of what it returns (a controller's eventual work)."""
    deadline = time.monotonic() + seconds
    while True:
        value = await fetch()
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting; last: {json.dumps(value)[:2000]}")
        await asyncio.sleep(0.05)


def condition(obj: Obj, kind: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None
