"""Custom objects, PVCs and starts for the hub tests: what an admin or data team would create
through the Kubernetes API, and what a REST client would post."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from lscsde_spawner.models import GROUP, VERSION
from lscsde_spawner.spawner import WorkspaceSpawner
from lscsde_spawner.storage import DATASOURCE_LABEL
from tests.support import factories
from tests.support.factories import FUTURE, PAST, PLURALS, WS_IMAGE
from tests.support.hub import NAMESPACE, RunningHub, StartHub


async def create(api: ApiClient, body: dict[str, Any]) -> None:
    """Create the custom object `body` (see tests.support.factories) in the test namespace."""
    await client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURALS[body["kind"]], body
    )


async def workspace(
    api: ApiClient,
    name: str,
    *,
    available: str = PAST,
    expires: str = FUTURE,
    jupyter: dict[str, Any] | None = None,
    vm: bool = False,
) -> None:
    """A workspace whose description is markup (the pages must escape it): its jupyterWorkspace
    is `jupyter` (else the image WS_IMAGE), or with `vm` a virtual machine workspace."""
    fields = dict(jupyter or {"image": WS_IMAGE})
    body = factories.workspace(
        name,
        description=f"<script>alert('{name}')</script>",
        available=available,
        expires=expires,
        max_hosts=1 if vm else None,
        image=fields.pop("image", None),
        **fields,
    )
    await create(api, body)


async def bind(api: ApiClient, name: str, ws: str, user: str, expires: str = FUTURE) -> None:
    await create(api, factories.binding(name, ws, user, expires=expires))


async def datasource(api: ApiClient, name: str, ws: str, **spec: Any) -> None:
    """A data source approved for `ws`, with its claim `datasource-<name>` provisioned (with
    its data, as an admin would: the spawner never creates a data source's claim)."""
    await create(api, factories.datasource(name, **spec))
    await create(api, factories.datasource_binding(f"{name}-{ws}", ws, name))
    await client.CoreV1Api(api).create_namespaced_persistent_volume_claim(
        NAMESPACE,
        cast(
            Any,
            {
                # The data source's label is the claim's proof that it holds that data.
                "metadata": {"name": f"datasource-{name}", "labels": {DATASOURCE_LABEL: name}},
                "spec": {
                    "accessModes": ["ReadOnlyMany"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
        ),
    )


async def pods(api: ApiClient) -> list[str]:
    listed = await client.CoreV1Api(api).list_namespaced_pod(NAMESPACE)
    return sorted(p.metadata.name for p in listed.items)


async def pvcs(api: ApiClient) -> list[str]:
    listed = await client.CoreV1Api(api).list_namespaced_persistent_volume_claim(NAMESPACE)
    return sorted(p.metadata.name for p in listed.items)


async def start_hub(hub_factory: StartHub, **config: Any) -> RunningHub:
    hub = await hub_factory(spawner_class=WorkspaceSpawner, spawner_config=config)
    return hub


async def alice_with_ws1(hub_factory: StartHub, api: ApiClient) -> RunningHub:
    """Workspace ws1 granted to alice, and a hub running (the CRDs installed: the `crds`
    fixture)."""
    await workspace(api, "ws1")
    await bind(api, "b1", "ws1", "alice")
    return await start_hub(hub_factory)


def wait_for_spawns(hub: RunningHub, seconds: float = 20) -> None:
    """Make POST .../server wait for the spawn, so a refusal is the response's status."""
    hub.app.tornado_application.settings["slow_spawn_timeout"] = seconds


async def post_start(hub: RunningHub, user: str, options: Any, server: str = "") -> tuple[int, str]:
    path = f"users/{user}/servers/{server}" if server else f"users/{user}/server"
    async with hub.http.post(
        hub.url("hub/api", path), headers=hub.headers, json={"user_options": options}
    ) as r:
        return r.status, await r.text()


async def stop_and_wait(hub: RunningHub, api: ApiClient, user: str) -> None:
    """Stop the user's default server through the REST API and wait for its pod to go."""
    await hub.api("DELETE", f"users/{user}/server", expect=(202, 204))
    for _ in range(100):
        if f"jupyter-{user}" not in await pods(api):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the pod of {user} is still there")


async def create_pvc(api: ApiClient, name: str, labels: dict[str, str] | None = None) -> None:
    """A PVC as an admin would provision it, with these labels."""
    body = {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    await client.CoreV1Api(api).create_namespaced_persistent_volume_claim(
        NAMESPACE, cast(Any, body)
    )


async def patch(api: ApiClient, plural: str, name: str, body: dict[str, Any]) -> None:
    """A JSON merge patch of a custom object (null deletes a key)."""
    custom: Any = client.CustomObjectsApi(api)  # takes _content_type, unlike its stubs
    await custom.patch_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, plural, name, body,
        _content_type="application/merge-patch+json",
    )  # fmt: skip


async def delete(api: ApiClient, plural: str, name: str) -> None:
    await client.CustomObjectsApi(api).delete_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, plural, name
    )


async def events_about(api: ApiClient, name: str) -> list[dict[str, Any]]:
    """events.k8s.io events regarding the object `name`, as raw JSON (the kubelet's own events
    lack eventTime, which the client's model rejects)."""
    events = client.EventsV1Api(api)
    # With _preload_content=False the call answers the raw response, not the model its stubs name.
    resp = cast(
        aiohttp.ClientResponse,
        await events.list_namespaced_event(NAMESPACE, _preload_content=False),
    )
    items = (await resp.json())["items"]
    return [e for e in items if (e.get("regarding") or {}).get("name") == name]
