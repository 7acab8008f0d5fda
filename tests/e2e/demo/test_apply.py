"""Applying the sample through the Kubernetes API: create, then update without losing anything."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from lscsde_demo.apply import apply_crds, apply_sample
from lscsde_demo.sample import NAMESPACE, sample
from lscsde_spawner.kube import customresources as cr
from tests.support.factories import binding, claim

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
    # The claim binding, as the spawner reads it back: no username, the group's claim.
    [team] = [b for b in bindings.items if b.name == "cardiac-team-cardiac-imaging"]
    assert team.spec.username is None
    rules = [(c.name, c.operator, c.value) for c in team.spec.claims]
    assert rules == [("groups", "EQUALS", "cardiac-team")]


async def test_applying_to_an_older_demo_removes_the_retired_default_uri(
    kube_client: ApiClient,
) -> None:
    """Earlier samples set defaultUri "/lab" on every workspace; a merge patch would keep it, so
    the servers of an old demo's cluster would not open in their workspace's folder."""
    await apply_crds(kube_client)
    old = next(o for o in sample(TODAY).objects if o["metadata"]["name"] == "cardiac-imaging")
    old["spec"]["jupyterWorkspace"]["defaultUri"] = "/lab"
    await client.CustomObjectsApi(kube_client).create_namespaced_custom_object(
        "xlscsde.nhs.uk", "v1", NAMESPACE, "analyticsworkspaces", old
    )
    await apply_sample(kube_client, TODAY)
    jupyter = (await workspace(kube_client, "cardiac-imaging"))["spec"]["jupyterWorkspace"]
    assert "defaultUri" not in jupyter
    assert jupyter["image"] == old["spec"]["jupyterWorkspace"]["image"]  # the rest stays
    assert all(
        "defaultUri" not in o["spec"].get("jupyterWorkspace", {}) for o in sample(TODAY).objects
    )


def claim_binding(name: str, operator: str) -> dict[str, Any]:
    claims = [claim("groups", operator, "cardiac-team")]
    return binding(
        name, "cardiac-imaging", claims=claims, expires="2030-01-01", namespace=NAMESPACE
    )


async def create_binding(api: ApiClient, body: dict[str, Any]) -> Any:
    return await client.CustomObjectsApi(api).create_namespaced_custom_object(
        "xlscsde.nhs.uk", "v1", NAMESPACE, "analyticsworkspacebindings", body
    )


# The shipped CRD checks a claim's operator with the published reference's unanchored pattern,
# EQUALS|NOT EQUALS|IN|NOT IN: the API server admits any string containing one of them (such
# a binding the spawner treats as malformed), and refuses only one that contains none.
@pytest.mark.parametrize(
    "operator", ["EQUALS", "NOT EQUALS", "IN", "NOT IN", "NOT_EQUALS", "not in IN", "CONTAINS"]
)
async def test_the_crd_admits_an_operator_the_pattern_finds(
    kube_client: ApiClient, operator: str
) -> None:
    await apply_crds(kube_client)
    made = await create_binding(kube_client, claim_binding("b", operator))
    assert made["spec"]["claims"][0]["operator"] == operator


@pytest.mark.parametrize("operator", ["LIKE", "equals", "NOT EQUAL", ""])
async def test_the_crd_refuses_an_operator_the_pattern_does_not_find(
    kube_client: ApiClient, operator: str
) -> None:
    await apply_crds(kube_client)
    with pytest.raises(ApiException) as info:
        await create_binding(kube_client, claim_binding("b", operator))
    assert info.value.status == 422
    body = json.loads(info.value.body or "{}")
    [cause] = body["details"]["causes"]
    assert cause["field"] == "spec.claims[0].operator"
    assert "should match 'EQUALS|NOT EQUALS|IN|NOT IN'" in cause["message"]
