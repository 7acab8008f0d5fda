"""The field's own client library, lscsde-workspace-mgmt 0.1.14, driven unmodified against the
embedded API with the CRDs the LSC-SDE chart publishes (tests/support/published_crds).

Its `patch_status`, `patch(body=...)` and `mount_workspace` send JSON patches that `replace`
/status on objects that have none. A real kube-apiserver applies JSON patches with
evanphx/json-patch v4, where such a `replace` adds the member, so they work on real clusters; an
emulator applying RFC 6902 to the letter answered 422. Each test checks what reached the store,
read back with a plain client.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import pytest_asyncio
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from tests.support.crds import install_crds
from tests.support.published_crds import load_published_crds

managers = pytest.importorskip("lscsde_workspace_mgmt.managers")
models = pytest.importorskip("lscsde_workspace_mgmt.models")

GROUP, VERSION = "xlscsde.nhs.uk", "v1"
NS = "jupyterhub"
LOG = logging.getLogger("test_field_client")
Obj = dict[str, Any]


class Field:
    """The field tool's managers, and a plain client to see what they stored."""

    def __init__(self, api: ApiClient) -> None:
        self.workspaces: Any = managers.AnalyticsWorkspaceManager(api, LOG)
        self.datasources: Any = managers.AnalyticsDataSourceManager(api, LOG)
        self.co = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.events = client.EventsV1Api(api)

    async def stored(self, plural: str, name: str) -> Obj:
        got: Obj = await self.co.get_namespaced_custom_object(GROUP, VERSION, NS, plural, name)
        return got

    async def event_reasons(self, name: str) -> list[str]:
        events = await self.events.list_namespaced_event(NS)
        return sorted(e.reason for e in events.items if e.regarding.name == name)


@pytest_asyncio.fixture
async def field(kube_client: ApiClient) -> Field:
    await install_crds(kube_client, load_published_crds())
    namespace: Any = {"metadata": {"name": NS}}
    await client.CoreV1Api(kube_client).create_namespace(namespace)
    return Field(kube_client)


def workspace(name: str, **jupyter: Any) -> Any:
    return models.AnalyticsWorkspace.model_validate(
        {
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "displayName": f"Workspace {name}",
                "description": "A workspace.\nTwo lines.",
                "validity": {"availableFrom": "2024-01-01", "expires": "2030-12-31"},
                "jupyterWorkspace": {
                    "image": "lscsde/datascience-notebook-default:0.1.0",
                    **jupyter,
                },
            },
        }
    )


async def test_workspaces(field: Field) -> None:
    wsc = field.workspaces.workspace_client
    made = await wsc.create(workspace("generic", defaultUri="/lab"))
    assert made.metadata.resource_version
    stored = await field.stored("analyticsworkspaces", "generic")
    # Its nulls are dropped, the status it sent is not taken on create.
    assert stored["spec"] == {
        "displayName": "Workspace generic",
        "description": "A workspace.\nTwo lines.",
        "validity": {"availableFrom": "2024-01-01", "expires": "2030-12-31"},
        "jupyterWorkspace": {
            "image": "lscsde/datascience-notebook-default:0.1.0",
            "defaultUri": "/lab",
            "persistentVolumeClaim": {},
        },
    }
    assert "status" not in stored

    got = await wsc.get(NS, "generic")
    assert (got.spec.display_name, got.spec.validity.expires) == ("Workspace generic", "2030-12-31")
    await wsc.create(workspace("other"))
    assert sorted(w.metadata.name for w in await wsc.list(NS)) == ["generic", "other"]

    # patch_status: `replace /status` on an object without one adds it, defaults applied.
    status = models.AnalyticsWorkspaceStatus.model_validate({"persistentVolumeClaim": "ws-pvc"})
    patched = await wsc.patch_status(NS, "generic", status)
    assert patched.status.persistent_volume_claim == "ws-pvc"
    assert (await field.stored("analyticsworkspaces", "generic"))["status"] == {
        "statusText": "Waiting",
        "persistentVolumeClaim": "ws-pvc",
    }

    # patch(body=...): `replace /spec` and `replace /status` on the main resource, of an object
    # without a status: the spec changes, the status is the status subresource's to change.
    other = await wsc.get(NS, "other")
    other.spec.description = "Rewritten."
    other.status.status_text = "Ignored"
    updated = await wsc.patch(body=other)
    assert updated.spec.description == "Rewritten."
    stored = await field.stored("analyticsworkspaces", "other")
    assert stored["spec"]["description"] == "Rewritten."
    assert "status" not in stored
    assert await field.event_reasons("other") == ["WorkspaceCreated", "WorkspaceUpdated"]


async def test_mount_workspace(field: Field) -> None:
    """What the field's spawner does at each start: the PVC made, mounted, the status set."""
    await field.workspaces.workspace_client.create(workspace("generic"))
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(
            name="jupyter-alice", namespace=NS, labels={"workspace": "generic"}
        ),
        spec=client.V1PodSpec(containers=[client.V1Container(name="notebook", image="x:1")]),
    )
    await field.workspaces.mount_workspace(
        pod, "jupyter-default", "/home/jovyan", storage_prefix="ws-"
    )  # it changes the pod it is given
    [volume] = pod.spec.volumes
    [mount] = pod.spec.containers[0].volume_mounts
    assert (volume.name, volume.persistent_volume_claim.claim_name) == ("ws-generic", "ws-generic")
    assert (mount.mount_path, mount.read_only) == ("/home/jovyan/generic", False)

    pvc = await field.core.read_namespaced_persistent_volume_claim("ws-generic", NS)
    assert pvc.spec.storage_class_name == "jupyter-default"
    assert pvc.spec.resources.requests == {"storage": "1Gi"}
    stored = await field.stored("analyticsworkspaces", "generic")
    assert stored["status"] == {"statusText": "Provisioned", "persistentVolumeClaim": "ws-generic"}

    # A second start finds the PVC and the status as they should be: nothing more is written.
    before = stored["metadata"]["resourceVersion"]
    await field.workspaces.mount_workspace(pod, "jupyter-default", "/home/jovyan")
    stored = await field.stored("analyticsworkspaces", "generic")
    assert stored["metadata"]["resourceVersion"] == before


async def test_workspace_bindings(field: Field) -> None:
    bc = field.workspaces.binding_client
    binding = models.AnalyticsWorkspaceBinding.model_validate(
        {
            "metadata": {"name": "generic-jane", "namespace": NS},
            "spec": {
                "workspace": "generic",
                "username": "Jane.Doe@Example.NHS.uk",
                "expires": "2030-06-30",
                "comments": "DAC-1234",
            },
        }
    )
    await bc.create(binding)
    stored = await field.stored("analyticsworkspacebindings", "generic-jane")
    assert stored["metadata"]["labels"] == {"xlscsde.nhs.uk/username": "jane.doe___example.nhs.uk"}
    assert stored["spec"] == {
        "workspace": "generic",
        "username": "Jane.Doe@Example.NHS.uk",
        "expires": "2030-06-30",
        "comments": "DAC-1234",
        "replicas": 0,  # the published default
    }

    # An unlabelled binding, as older tools wrote them: list_by_username labels it (JSON patch).
    await field.co.create_namespaced_custom_object(
        GROUP, VERSION, NS, "analyticsworkspacebindings",
        {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "AnalyticsWorkspaceBinding",
            "metadata": {"name": "other-jane"},
            "spec": {"workspace": "other", "username": "jane.doe@example.nhs.uk",
                     "expires": "2029-01-01"},
        },
    )  # fmt: skip
    found = await bc.list_by_username(NS, "Jane.Doe@Example.NHS.uk")
    assert sorted(b.metadata.name for b in found) == ["generic-jane", "other-jane"]
    stored = await field.stored("analyticsworkspacebindings", "other-jane")
    assert stored["metadata"]["labels"] == {"xlscsde.nhs.uk/username": "jane.doe___example.nhs.uk"}

    status = models.AnalyticsWorkspaceBindingStatus.model_validate({"statusText": "Active"})
    await bc.patch_status(NS, "generic-jane", status)
    stored = await field.stored("analyticsworkspacebindings", "generic-jane")
    assert stored["status"] == {"statusText": "Active"}

    got = await bc.get(NS, "generic-jane")
    got.spec.expires = "2031-01-31"
    await bc.patch(body=got)
    stored = await field.stored("analyticsworkspacebindings", "generic-jane")
    assert (stored["spec"]["expires"], stored["status"]) == ("2031-01-31", {"statusText": "Active"})
    assert await field.event_reasons("generic-jane") == [
        "WorkspaceBindingUpdated",
        "WorkspaceBindingUpdated",
    ]


async def test_data_sources_and_their_bindings(field: Field) -> None:
    dsc = field.datasources.datasource_client
    source = models.AnalyticsDataSource.model_validate(
        {
            "metadata": {"name": "omop-cdm", "namespace": NS},
            "spec": {
                "type": "Databricks",
                "displayName": "OMOP CDM",
                "connections": [
                    {
                        "type": "databricks",
                        "name": "primary",
                        "databricksConnection": {
                            "hostName": "adb-1.azuredatabricks.net",
                            "personalAccessToken": {"secretName": "dbx-pat"},
                        },
                    }
                ],
            },
        }
    )
    await dsc.create(source)
    stored = await field.stored("analyticsdatasources", "omop-cdm")
    assert stored["spec"] == {
        "type": "Databricks",
        "displayName": "OMOP CDM",
        "publisher": {"contact": {}},
        "project": {},
        "connections": [
            {
                "type": "databricks",
                "name": "primary",
                "databricksConnection": {
                    "hostName": "adb-1.azuredatabricks.net",
                    # It sent null: the published default replaces it.
                    "personalAccessToken": {"secretName": "dbx-pat", "secretKey": "TOKEN"},
                },
            }
        ],
    }
    assert [s.metadata.name for s in await dsc.list(NS)] == ["omop-cdm"]

    status = models.AnalyticsDataSourceStatus.model_validate({"statusText": "Available"})
    await dsc.patch_status(NS, "omop-cdm", status)
    # lastActiveCheck (which the tool sends) is not a field of the published status: pruned.
    assert (await field.stored("analyticsdatasources", "omop-cdm"))["status"] == {
        "statusText": "Available"
    }
    got = await dsc.get(NS, "omop-cdm")
    got.spec.description = "Pseudonymised."
    await dsc.patch(body=got)
    stored = await field.stored("analyticsdatasources", "omop-cdm")
    assert stored["spec"]["description"] == "Pseudonymised."
    assert stored["status"] == {"statusText": "Available"}

    bc = field.datasources.binding_client
    binding = models.AnalyticsDataSourceBinding.model_validate(
        {
            "metadata": {"name": "generic-omop", "namespace": NS},
            "spec": {"workspace": "generic", "datasource": "omop-cdm", "expires": "2030-12-31"},
        }
    )
    await bc.create(binding)
    stored = await field.stored("analyticsdatasourcebindings", "generic-omop")
    assert stored["metadata"]["labels"] == {"xlscsde.nhs.uk/workspace": "generic"}
    assert [b.metadata.name for b in await bc.list_by_workspace(NS, "generic")] == ["generic-omop"]
    status = models.AnalyticsDataSourceBindingStatus.model_validate({"statusText": "Attached"})
    await bc.patch_status(NS, "generic-omop", status)
    got = await bc.get(NS, "generic-omop")
    got.spec.comments = "Read-only."
    await bc.patch(body=got)
    stored = await field.stored("analyticsdatasourcebindings", "generic-omop")
    assert stored["spec"] == {
        "workspace": "generic",
        "datasource": "omop-cdm",
        "expires": "2030-12-31",
        "comments": "Read-only.",
    }
    assert stored["status"] == {"statusText": "Attached"}
    assert await field.event_reasons("omop-cdm") == ["DataSourceCreated", "DataSourceUpdated"]
