"""Bodies (plain dicts, as sent to or read from the API) of the product's custom objects: the one
place tests and bench/ build AnalyticsWorkspace, AnalyticsWorkspaceBinding, AnalyticsDataSource
and AnalyticsDataSourceBinding bodies.

- `workspace`, `binding`, `datasource`, `datasource_binding`: a plain sample of each kind, with
  keyword arguments for what a test varies. Dates default to PAST and FUTURE (from today), so a
  sample is usable whenever the test runs.
- The field samples (GENERIC_WORKSPACE ... CRATE, FIELD_OBJECTS): objects as they are found on
  LSC-SDE clusters, as a server with the published CRDs stores them (server-set metadata too).
- `changed`, `with_unknown`: copies of a body with a field set or removed, or with fields no
  schema here declares.
"""

from __future__ import annotations

import copy
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

from lscsde_spawner.models import (
    API_VERSION,
    AnalyticsCrate,
    AnalyticsDataSource,
    AnalyticsDataSourceBinding,
    AnalyticsWorkspace,
    AnalyticsWorkspaceBinding,
)
from lscsde_spawner.models.base import Resource

Obj = dict[str, Any]
WS_IMAGE = "quay.io/jupyter/scipy-notebook:2024-05-01"
TODAY = datetime.now(UTC).date()


def day(offset: int) -> str:
    """The date `offset` days from today, as the CRDs write dates."""
    return str(TODAY + timedelta(days=offset))


PAST = day(-3)
FUTURE = day(365)

# The plural (the API path) of each kind built here.
PLURALS = {
    model.KIND: model.PLURAL
    for model in (
        AnalyticsWorkspace,
        AnalyticsWorkspaceBinding,
        AnalyticsDataSource,
        AnalyticsDataSourceBinding,
    )
}


# -- plain samples -------------------------------------------------------------------------------


def custom_object(
    kind: str,
    name: str,
    spec: Obj | None,
    *,
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    status: Obj | None = None,
) -> Obj:
    """A body of `kind` (of the product's group and version); the metadata fields and the status
    given, the spec unless it is None."""
    meta: Obj = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels is not None:
        meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    out: Obj = {"apiVersion": API_VERSION, "kind": kind, "metadata": meta}
    if spec is not None:
        out["spec"] = spec
    if status is not None:
        out["status"] = status
    return out


def workspace(
    name: str = "ws1",
    *,
    display: str | None = None,
    description: str = "a workspace",
    available: str = PAST,
    expires: str = FUTURE,
    image: str | None = WS_IMAGE,
    max_hosts: int | str | None = None,
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    status: Obj | None = None,
    **jupyter: Any,
) -> Obj:
    """An AnalyticsWorkspace displayed as `display` (else its name, titled): a jupyterWorkspace
    of `image` (left out if None) and the `jupyter` fields (camelCase, as the CRD names them), or
    with `max_hosts` a virtualMachineWorkspace instead."""
    spec: Obj = {
        "displayName": name.title() if display is None else display,
        "description": description,
        "validity": {"availableFrom": available, "expires": expires},
    }
    if max_hosts is not None:
        spec["virtualMachineWorkspace"] = {"maxHosts": max_hosts}
    else:
        spec["jupyterWorkspace"] = {**({} if image is None else {"image": image}), **jupyter}
    return custom_object(
        AnalyticsWorkspace.KIND, name, spec,
        namespace=namespace, labels=labels, annotations=annotations, status=status,
    )  # fmt: skip


def claim(name: str, operator: str, value: str) -> dict[str, str]:
    """One of a binding's `spec.claims`."""
    return {"name": name, "operator": operator, "value": value}


GROUP_CLAIM = claim("group", "EQUALS", "x")
BAD_CLAIM = {"name": "group"}  # the schema allows it; the model wants operator and value


def binding(
    name: str,
    ws: str = "ws1",
    username: str | None = None,
    *,
    claims: list[dict[str, str]] | None = None,
    expires: str = FUTURE,
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    status: Obj | None = None,
    **spec: Any,
) -> Obj:
    """An AnalyticsWorkspaceBinding of `ws` to `username` and/or every user `claims` hold for
    (with neither, a binding the models refuse), with the other `spec` fields given (comments,
    replicas)."""
    body: Obj = {"workspace": ws}
    if username is not None:
        body["username"] = username
    body["expires"] = expires
    if claims is not None:
        body["claims"] = claims
    return custom_object(
        AnalyticsWorkspaceBinding.KIND, name, {**body, **spec},
        namespace=namespace, labels=labels, annotations=annotations, status=status,
    )  # fmt: skip


def datasource(
    name: str,
    *,
    display: str | None = None,
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    status: Obj | None = None,
    **spec: Any,
) -> Obj:
    """An AnalyticsDataSource displayed as `display` (else its name), with the other `spec`
    fields given (type, description, ...)."""
    return custom_object(
        AnalyticsDataSource.KIND, name, {"displayName": display or name, **spec},
        namespace=namespace, labels=labels, annotations=annotations, status=status,
    )  # fmt: skip


def datasource_binding(
    name: str,
    ws: str,
    ds: str,
    *,
    expires: str | None = None,
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    status: Obj | None = None,
    **spec: Any,
) -> Obj:
    """An AnalyticsDataSourceBinding of data source `ds` to workspace `ws` (open-ended unless
    `expires` is given)."""
    body: Obj = {"workspace": ws, "datasource": ds}
    if expires is not None:
        body["expires"] = expires
    return custom_object(
        AnalyticsDataSourceBinding.KIND, name, {**body, **spec},
        namespace=namespace, labels=labels, annotations=annotations, status=status,
    )  # fmt: skip


# -- objects as a server stores them -------------------------------------------------------------

FIELD_NAMESPACE = "jupyterhub"


def server_metadata(name: str, **extra: Any) -> Obj:
    """Metadata as a real server returns it, fields our ObjectMeta model does not declare included
    (creationTimestamp, managedFields, finalizers)."""
    return {
        "name": name,
        "namespace": FIELD_NAMESPACE,
        "uid": f"6f1c5e52-0d7b-4c1e-9a8e-{zlib.crc32(name.encode()):012d}",
        "resourceVersion": "48213",
        "generation": 2,
        "creationTimestamp": "2024-04-02T08:15:27Z",
        "managedFields": [
            {
                "manager": "kubectl-client-side-apply",
                "operation": "Update",
                "apiVersion": API_VERSION,
                "time": "2024-04-02T08:15:27Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {".": {}, "f:displayName": {}}},
            }
        ],
        **extra,
    }


def field_object(
    kind: str, name: str, spec: Obj | None, status: Obj | None = None, **meta: Any
) -> Obj:
    """A body of `kind` with server-set metadata (and the `meta` fields: labels, annotations)."""
    out = custom_object(kind, name, spec, status=status)
    out["metadata"] = server_metadata(name, **meta)
    return out


GENERIC_WORKSPACE = field_object(
    "AnalyticsWorkspace",
    "generic-jupyter",
    {
        "displayName": "Generic Jupyter Workspace",
        "description": (
            "A general-purpose Jupyter workspace.\n\n"
            "Python 3.11 and R 4.3 with the OMOP tools.\n"
            "Data in /home/jovyan/shared is read-only: <b>do not</b> copy it out.\n"
        ),
        "validity": {"availableFrom": "2024-01-01", "expires": "2030-12-31"},
        "jupyterWorkspace": {
            "image": "lscsde/datascience-notebook-default:0.1.0",
            "extraLabels": {"xlscsde.nhs.uk/workspace": "generic-jupyter", "team": "omop"},
            "defaultUri": "/lab",
            "nodeSelector": {"kubernetes.azure.com/agentpool": "userpool"},
            "tolerations": [
                {
                    "key": "kubernetes.azure.com/scalesetpriority",
                    "operator": "Equal",
                    "value": "spot",
                    "effect": "NoSchedule",
                }
            ],
            "resources": {"limits": {"cpu": "2", "memory": "8Gi"}},  # limits only
            "persistentVolumeClaim": {
                "name": "generic-jupyter-pvc",
                "storageClassName": "jupyter-default",
            },
            "additionalStorage": [
                {
                    "mountPath": "/home/jovyan/shared",
                    "persistentVolumeClaim": "shared-reference-data",
                    "storageClassName": "azurefile-csi",
                },
                {"mountPath": "/data/omop", "persistentVolumeClaim": "omop-cdm-v5.4"},
            ],
        },
    },
    {
        "statusText": "Provisioned",
        "persistentVolumeClaim": "generic-jupyter-pvc",
        "additionalStorage": {
            "shared-reference-data": "shared-reference-data",
            "omop-cdm-v5.4": "omop-cdm-v5.4",
        },
    },
    labels={"xlscsde.nhs.uk/project": "generic"},
    annotations={"xlscsde.nhs.uk/owner": "sde-team@example.nhs.uk"},
)

GPU_WORKSPACE = field_object(
    "AnalyticsWorkspace",
    "gpu-workspace",
    {
        "displayName": "GPU workspace (PyTorch)",
        "description": "One NVIDIA GPU.",
        "validity": {"availableFrom": "2024-06-01", "expires": "2024-12-31"},
        "jupyterWorkspace": {
            # The published CRD's image pattern admits no registry host and no digest.
            "image": "lscsde/docker-datascience-pytorch:cuda12-2024.06",
            "resources": {
                "requests": {"cpu": "500m", "memory": "4Gi", "nvidia.com/gpu": 1},
                "limits": {"cpu": 4, "memory": "16Gi", "nvidia.com/gpu": 1},
            },
            "nodeSelector": {"accelerator": "nvidia-tesla-t4"},
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
            ],
        },
    },
)

MINIMAL_WORKSPACE = field_object(
    "AnalyticsWorkspace",
    "minimal",
    {
        "displayName": "Minimal",
        "description": "",
        "validity": {"availableFrom": "2024-02-29", "expires": "2024-02-29"},
        "jupyterWorkspace": {"image": "jupyter/base-notebook:latest"},
    },
)

VM_WORKSPACE = field_object(
    "AnalyticsWorkspace",
    "vm-workspace",
    {
        "displayName": "Windows desktop",
        "description": "A virtual machine, not started by JupyterHub.",
        "validity": {"availableFrom": "2024-01-01", "expires": "2025-01-01"},
        "virtualMachineWorkspace": {"maxHosts": 2},
    },
    {"statusText": "Waiting"},
)

VM_WORKSPACE_STRING_HOSTS = field_object(
    "AnalyticsWorkspace",
    "vm-workspace-string",
    {
        "displayName": "Linux desktop",
        "description": "maxHosts written as a string",
        "validity": {"availableFrom": "2024-01-01", "expires": "2025-01-01"},
        "virtualMachineWorkspace": {"maxHosts": "3"},
    },
)

USER_BINDING = field_object(
    "AnalyticsWorkspaceBinding",
    "generic-jupyter-jane-doe",
    {
        "workspace": "generic-jupyter",
        "username": "Jane.Doe@Example.NHS.uk",
        "expires": "2030-06-30",
        "comments": "Approved by the data access committee.\nTicket: DAC-1234",
        "replicas": 0,
    },
    {
        "statusText": "Active",
        "deploymentName": "jupyter-jane-doe",
        "lastActiveCheck": "2024-05-01T12:00:00Z",
        "replicas": 0,
    },
    labels={"xlscsde.nhs.uk/username": "jane.doe___example.nhs.uk"},
)

CLAIMS_BINDING = field_object(
    "AnalyticsWorkspaceBinding",
    "generic-jupyter-analysts",
    {
        "workspace": "generic-jupyter",
        "expires": "2025-03-31",
        "replicas": 1,
        "claims": [
            {"name": "groups", "operator": "IN", "value": "analysts"},
            {"name": "department", "operator": "NOT EQUALS", "value": "finance"},
            {"name": "email", "operator": "EQUALS", "value": "a@example.nhs.uk"},
            {"name": "role", "operator": "NOT IN", "value": "guest"},
        ],
    },
)

FULL_DATASOURCE = field_object(
    "AnalyticsDataSource",
    "omop-cdm",
    {
        "type": "Databricks",
        "displayName": "OMOP CDM (pseudonymised)",
        "description": "Pseudonymised primary and secondary care records.\nRefreshed monthly.",
        "license": "Restricted: approved projects only",
        "publisher": {
            "organisation": "Lancashire Teaching Hospitals",
            "contact": {"name": "Data Team", "role": "Data Controller"},
        },
        "project": {"id": "PRJ-0042"},
        "connections": [
            {
                "type": "databricks",
                "name": "primary",
                "databricksConnection": {
                    "hostName": "adb-1234567890123456.7.azuredatabricks.net",
                    "httpPath": "/sql/1.0/warehouses/abcdef1234567890",
                    "personalAccessToken": {"secretName": "dbx-pat", "secretKey": "token"},
                    "oauth2Token": {"secretName": "dbx-oauth", "secretKey": "access_token"},
                    "servicePrinciple": {"secretName": "dbx-sp"},
                },
            },
            {
                "type": "postgres",
                "name": "secret-string",
                "connectionString": {"secretName": "omop-postgres"},
            },
            {"type": "sqlite", "name": "inline", "connectionString": {"value": "sqlite:///x.db"}},
            {
                # A roCrate describes a connection (it is not one on its own); its spec is the
                # crate itself, kept as written.
                "type": "postgres",
                "name": "described",
                "connectionString": {"secretName": "omop-postgres"},
                "roCrate": {
                    "repo": {
                        "url": "https://github.com/lsc-sde-crates/omop-cdm",
                        "path": "/crates/omop",
                        "secretName": "github-token",
                        "secretKey": "TOKEN",
                    },
                    "spec": {
                        "@context": "https://w3id.org/ro/crate/1.1/context",
                        "@graph": [
                            {"@id": "./", "@type": "Dataset", "name": "OMOP CDM", "size": 42},
                            {"@id": "ro-crate-metadata.json", "about": {"@id": "./"}},
                        ],
                    },
                },
            },
        ],
        "approvals": [
            {
                "type": "IG",
                "name": "Alex Smith",
                "email": "alex.smith@example.nhs.uk",
                "jobTitle": "Information Governance Lead",
                "approvalGiven": "2024-03-01T10:15:00Z",
            },
            {
                "type": "Caldicott",
                "name": "Sam Jones",
                "email": "sam.jones@example.nhs.uk",
                "jobTitle": "Caldicott Guardian",
                "approvalGiven": "2024-03-02T09:00:00.123+01:00",
            },
        ],
    },
    {"statusText": "Available"},
)

EMPTY_DATASOURCE = field_object("AnalyticsDataSource", "placeholder", {})

FULL_DATASOURCE_BINDING = field_object(
    "AnalyticsDataSourceBinding",
    "generic-jupyter-omop-cdm",
    {
        "workspace": "generic-jupyter",
        "datasource": "omop-cdm",
        "expires": "2030-12-31",
        "comments": "Read-only.",
        "approvals": [
            {
                "type": "DAC",
                "name": "Pat Lee",
                "email": "pat.lee@example.nhs.uk",
                "jobTitle": "Data Access Committee Chair",
                "approvalGiven": "2024-04-01T00:00:00+00:00",
            }
        ],
    },
    {"statusText": "Attached", "lastActiveCheck": "2024-05-01T12:00:00Z"},
)

OPEN_DATASOURCE_BINDING = field_object(
    "AnalyticsDataSourceBinding",
    "gpu-workspace-omop-cdm",
    {"workspace": "gpu-workspace", "datasource": "omop-cdm"},  # no expiry
)

CRATE = field_object(
    "AnalyticsCrate",
    "omop-crate",
    {
        "displayName": "OMOP crate",
        "description": "The RO-Crate describing the OMOP project.\nSee the repository.",
        "path": "/ro-crate-metadata.json",
        "repo": {
            "url": "https://github.com/lsc-sde-crates/omop-cdm.git",
            "branch": "main",
            "secretName": "github-token",
            "secretKey": "TOKEN",
        },
    },
    {"statusText": "Synced", "commitId": "3f91352a7ddecd274ab479c32eedcd1a8cbb2613",
     "workspace": "generic-jupyter"},
)  # fmt: skip

# (id, model, object): objects as a server with the CRDs stores them.
FIELD_OBJECTS: list[tuple[str, type[Resource], Obj]] = [
    ("workspace-generic", AnalyticsWorkspace, GENERIC_WORKSPACE),
    ("workspace-gpu", AnalyticsWorkspace, GPU_WORKSPACE),
    ("workspace-minimal", AnalyticsWorkspace, MINIMAL_WORKSPACE),
    ("workspace-vm", AnalyticsWorkspace, VM_WORKSPACE),
    ("workspace-vm-string-hosts", AnalyticsWorkspace, VM_WORKSPACE_STRING_HOSTS),
    ("binding-username", AnalyticsWorkspaceBinding, USER_BINDING),
    ("binding-claims", AnalyticsWorkspaceBinding, CLAIMS_BINDING),
    ("datasource-full", AnalyticsDataSource, FULL_DATASOURCE),
    ("datasource-empty", AnalyticsDataSource, EMPTY_DATASOURCE),
    ("datasource-binding-full", AnalyticsDataSourceBinding, FULL_DATASOURCE_BINDING),
    ("datasource-binding-open", AnalyticsDataSourceBinding, OPEN_DATASOURCE_BINDING),
    ("crate", AnalyticsCrate, CRATE),
]


# -- copies with a change ------------------------------------------------------------------------

DELETE = object()


def changed(o: Obj, path: str, value: Any) -> Obj:
    """A copy of `o` with the dotted `path` set to `value` (or removed, for DELETE)."""
    out = copy.deepcopy(o)
    *parents, last = path.split(".")
    node: Any = out
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    key: Any = int(last) if isinstance(node, list) else last
    if value is DELETE:
        del node[key]
    else:
        node[key] = value
    return out


# What a newer version of another tool might write, in fields no schema here declares.
FUTURE_FIELDS = {"added": "later", "nested": {"list": [1, "two", None, {"x": True}]}, "n": 1.5}


def with_unknown(o: Obj, *paths: str) -> Obj:
    """A copy of `o` with unknown fields at the top level and under each dotted path
    (a number steps into a list)."""
    out = copy.deepcopy(o)
    out["futureTopLevel"] = copy.deepcopy(FUTURE_FIELDS)
    out["metadata"]["futureMetadata"] = "kept"
    for path in paths:
        node: Any = out
        for part in path.split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[f"future{len(path)}"] = copy.deepcopy(FUTURE_FIELDS)
    return out
