"""Applying the sample through the Kubernetes API: create, then update without losing anything."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from lscsde_spawner.demo.apply import apply_sample
from lscsde_spawner.demo.sample import NAMESPACE, sample
from lscsde_spawner.kube import customresources as cr

TODAY = date(2026, 3, 1)


async def workspace(api: ApiClient, name: str) -> dict[str, Any]:
    got: dict[str, Any] = await client.CustomObjectsApi(api).get_namespaced_custom_object(
        "xlscsde.nhs.uk", "v1", NAMESPACE, "analyticsworkspaces", name
    )
    return got


async def test_a_second_apply_refreshes_dates_and_keeps_status_and_changes(
    kube_client: ApiClient,
) -> None:
    total = len(sample(TODAY).objects)
    assert await apply_sample(kube_client, TODAY) == {"created": total, "updated": 0}
    claims = await client.CoreV1Api(kube_client).list_namespaced_persistent_volume_claim(NAMESPACE)
    assert {c.metadata.name for c in claims.items} == set(sample(TODAY).datasource_claims.values())

    # What the spawner and an admin may have written since.
    workspaces = cr.workspaces(kube_client, NAMESPACE)
    await workspaces.patch_status("diabetes-outcomes", {"statusText": "Provisioned"})
    await workspaces.patch_merge("diabetes-outcomes", {"metadata": {"labels": {"team": "dm"}}})

    tomorrow = TODAY + timedelta(days=1)
    assert await apply_sample(kube_client, tomorrow) == {"created": 0, "updated": total}
    after = await workspace(kube_client, "diabetes-outcomes")
    expected = next(
        o for o in sample(tomorrow).objects if o["metadata"]["name"] == "diabetes-outcomes"
    )
    assert after["spec"]["validity"] == expected["spec"]["validity"]
    assert after["status"]["statusText"] == "Provisioned"
    assert after["metadata"]["labels"]["team"] == "dm"
    bindings = await cr.workspace_bindings(kube_client, NAMESPACE).list()
    assert {b.spec.expires for b in bindings.items if b.name == "bob-diabetes-outcomes"} == {
        tomorrow + timedelta(days=90)
    }
