"""The CRD manifests: they install, accept the objects in the field unchanged, refuse what the
reference forbids (naming the field), and work with the real kubectl. (test_published_crds.py
compares them with the published CRDs themselves.)"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import types
import typing
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException
from pydantic import BaseModel

from kubesim import LocalCluster
from lscsde_spawner.cli import main
from lscsde_spawner.crds import MANIFESTS, crds_yaml, load_crds
from lscsde_spawner.models import (
    GROUP,
    VERSION,
    AnalyticsCrate,
    AnalyticsDataSource,
    AnalyticsDataSourceBinding,
    AnalyticsWorkspace,
    AnalyticsWorkspaceBinding,
    CRModel,
    ParseError,
    parse_one,
)
from lscsde_spawner.models.base import Resource
from tests.support.factories import (
    CLAIMS_BINDING,
    CRATE,
    DELETE,
    FIELD_NAMESPACE,
    FIELD_OBJECTS,
    FULL_DATASOURCE,
    FULL_DATASOURCE_BINDING,
    GENERIC_WORKSPACE,
    USER_BINDING,
    VM_WORKSPACE,
    Obj,
    changed,
)
from tests.support.kubectl import KUBECTL, Kubectl

NS = FIELD_NAMESPACE
# kubernetes_asyncio sends dict bodies as JSON patches unless told otherwise.
MERGE_PATCH: dict[str, Any] = {"_content_type": "application/merge-patch+json"}
MODELS: list[type[Resource]] = [
    AnalyticsWorkspace,
    AnalyticsWorkspaceBinding,
    AnalyticsDataSource,
    AnalyticsDataSourceBinding,
    AnalyticsCrate,
]
CRDS = {crd["spec"]["names"]["kind"]: crd for crd in load_crds()}


def plural(o: Obj) -> str:
    return str(CRDS[o["kind"]]["spec"]["names"]["plural"])


def schema_of(kind: str) -> Obj:
    version = CRDS[kind]["spec"]["versions"][0]
    return dict(version["schema"]["openAPIV3Schema"])


def as_written(o: Obj) -> Obj:
    """A copy of what a user or tool sends: no server-set metadata, no status (a create ignores
    it)."""
    meta = o["metadata"]
    kept = {k: meta[k] for k in ("name", "labels", "annotations") if k in meta}
    written = {
        "apiVersion": o["apiVersion"],
        "kind": o["kind"],
        "metadata": kept,
        "spec": o["spec"],
    }
    return copy.deepcopy(written)


# -- the manifests themselves --------------------------------------------------------------------

# The names of the field reference, exactly.
REFERENCE_NAMES = {
    "AnalyticsWorkspace": ("analyticsworkspaces", "analyticsworkspace", ["aws"],
                           ["krap", "krap-core"]),
    "AnalyticsWorkspaceBinding": ("analyticsworkspacebindings", "analyticsworkspacebinding",
                                  ["awsb"], ["krap"]),
    "AnalyticsDataSource": ("analyticsdatasources", "analyticsdatasource", ["ads"],
                            ["krap", "krap-core"]),
    "AnalyticsDataSourceBinding": ("analyticsdatasourcebindings", "analyticsdatasourcebinding",
                                   ["adsb"], ["krap"]),
    "AnalyticsCrate": ("analyticscrates", "analyticscrate", ["ac"], ["krap", "krap-core"]),
}  # fmt: skip


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.KIND)
def test_names_scope_and_versions_are_the_references(model: type[Resource]) -> None:
    crd = CRDS[model.KIND]
    plural_, singular, short, categories = REFERENCE_NAMES[model.KIND]
    names = crd["spec"]["names"]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == f"{plural_}.{GROUP}" == f"{model.PLURAL}.xlscsde.nhs.uk"
    assert (crd["spec"]["group"], crd["spec"]["scope"]) == ("xlscsde.nhs.uk", "Namespaced")
    assert (names["kind"], names["plural"], names["singular"]) == (model.KIND, plural_, singular)
    assert (names["shortNames"], names.get("categories")) == (short, categories)
    [version] = crd["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == (VERSION, True, True)
    scale = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}
    expected = {"status": {}, **({"scale": scale} if model is AnalyticsWorkspaceBinding else {})}
    assert version["subresources"] == expected


# The field's, exactly: what `kubectl get` prints on LSC-SDE clusters.
PRINTER_COLUMNS = {
    "AnalyticsWorkspace": [("DisplayName", ".spec.displayName"),
                           ("Expires", ".spec.validity.expires"),
                           ("Status", ".status.statusText"),
                           ("StorageClaim", ".status.persistentVolumeClaim")],
    "AnalyticsWorkspaceBinding": [("Workspace", ".spec.workspace"), ("Expires", ".spec.expires"),
                                  ("Status", ".status.statusText"),
                                  ("Deployment", ".status.deploymentName"),
                                  ("Replicas", ".spec.replicas")],
    "AnalyticsDataSource": [("Name", ".spec.displayName"), ("Status", ".status.statusText")],
    "AnalyticsDataSourceBinding": [("Workspace", ".spec.workspace"),
                                   ("DataSource", ".spec.datasource"),
                                   ("Status", ".status.statusText")],
    "AnalyticsCrate": [("Workspace", ".status.workspace"), ("Status", ".status.statusText")],
}  # fmt: skip


@pytest.mark.parametrize("kind", list(PRINTER_COLUMNS))
def test_printer_columns(kind: str) -> None:
    [version] = CRDS[kind]["spec"]["versions"]
    columns = version["additionalPrinterColumns"]
    assert [(c["name"], c["jsonPath"]) for c in columns] == PRINTER_COLUMNS[kind]
    # Dates are days, not ages; the binding's replicas are its one number.
    assert {c["name"]: c["type"] for c in columns if c["type"] != "string"} == (
        {"Replicas": "integer"} if kind == "AnalyticsWorkspaceBinding" else {}
    )


def test_manifest_files_are_one_per_kind_in_order() -> None:
    assert [c["spec"]["names"]["plural"] + ".yaml" for c in load_crds()] == list(MANIFESTS)
    assert list(yaml.safe_load_all(crds_yaml())) == load_crds()


def _walk(s: Obj, path: str = "") -> Iterator[tuple[str, Obj]]:
    yield path, s
    for key, sub in s.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{key}" if path else key)
    if isinstance(s.get("items"), dict):
        yield from _walk(s["items"], f"{path}[]")
    if isinstance(s.get("additionalProperties"), dict):
        yield from _walk(s["additionalProperties"], f"{path}{{}}")


def _collect(keyword: str) -> dict[str, Any]:
    return {
        f"{kind}:{path}": node[keyword]
        for kind in CRDS
        for path, node in _walk(schema_of(kind))
        if keyword in node
    }


APPROVAL_FIELDS = ["type", "name", "email", "jobTitle", "approvalGiven"]


def one_of(*names: str) -> list[Obj]:
    """anyOf alternatives that each require one field."""
    return [{"required": [name]} for name in names]


def test_required_fields_are_exactly_the_references() -> None:
    assert _collect("required") == {
        "AnalyticsWorkspace:spec": ["displayName", "description", "validity"],
        "AnalyticsWorkspace:spec.validity": ["availableFrom", "expires"],
        "AnalyticsWorkspace:spec.jupyterWorkspace": ["image"],
        "AnalyticsWorkspaceBinding:spec": ["workspace", "expires"],
        "AnalyticsDataSource:spec.approvals[]": APPROVAL_FIELDS,
        "AnalyticsDataSourceBinding:spec": ["workspace", "datasource"],
        "AnalyticsDataSourceBinding:spec.approvals[]": APPROVAL_FIELDS,
    }
    # One of these at least, at each place (the published anyOf rules).
    assert _collect("anyOf") == {
        "AnalyticsWorkspace:spec": one_of("jupyterWorkspace", "virtualMachineWorkspace"),
        "AnalyticsWorkspace:spec.virtualMachineWorkspace.maxHosts": [
            {"type": "integer"}, {"type": "string"}
        ],  # with x-kubernetes-int-or-string, the form a structural schema requires
        "AnalyticsWorkspaceBinding:spec": one_of("username", "claims"),
        "AnalyticsDataSource:spec.connections[]": one_of("connectionString",
                                                         "databricksConnection"),
        "AnalyticsDataSource:spec.connections[].roCrate": one_of("spec", "path"),
        "AnalyticsDataSource:spec.connections[].connectionString": one_of("secretName", "value"),
        "AnalyticsDataSource:spec.connections[].databricksConnection": one_of(
            "personalAccessToken", "oauth2Token"
        ),
    }  # fmt: skip


def test_formats_enums_defaults_and_free_form_objects() -> None:
    assert _collect("format") == {
        "AnalyticsWorkspace:spec.validity.availableFrom": "date",
        "AnalyticsWorkspace:spec.validity.expires": "date",
        "AnalyticsWorkspaceBinding:spec.expires": "date",
        "AnalyticsDataSource:spec.approvals[].approvalGiven": "date-time",
        "AnalyticsDataSourceBinding:spec.expires": "date",
        "AnalyticsDataSourceBinding:spec.approvals[].approvalGiven": "date-time",
    }
    # No enum: the claim operators are the published CRD's unanchored pattern, so the API
    # server admits e.g. NOT_EQUALS, and the spawner reports such a binding as malformed.
    assert _collect("enum") == {}
    assert _collect("pattern") == {
        "AnalyticsWorkspaceBinding:spec.claims[].operator": "EQUALS|NOT EQUALS|IN|NOT IN"
    }
    assert _collect("default") == {
        "AnalyticsWorkspace:status.statusText": "Waiting",
        "AnalyticsWorkspaceBinding:spec.replicas": 0,
        "AnalyticsDataSource:spec.connections[].roCrate.repo.secretKey": "TOKEN",
        "AnalyticsDataSource:spec.connections[].databricksConnection.personalAccessToken"
        ".secretKey": "TOKEN",
        "AnalyticsDataSource:spec.connections[].databricksConnection.oauth2Token"
        ".secretKey": "TOKEN",
        "AnalyticsCrate:spec.path": "/ro-crate-metadata.json",
        "AnalyticsCrate:spec.repo.branch": "main",
        "AnalyticsCrate:spec.repo.secretKey": "TOKEN",
        "AnalyticsCrate:status.statusText": "Waiting",
    }
    assert set(_collect("x-kubernetes-preserve-unknown-fields")) == {
        "AnalyticsWorkspace:spec.jupyterWorkspace.nodeSelector",
        "AnalyticsWorkspace:spec.jupyterWorkspace.tolerations[]",
        "AnalyticsWorkspace:spec.jupyterWorkspace.resources",
        "AnalyticsDataSource:spec.connections[].roCrate.spec",
    }
    assert _collect("x-kubernetes-int-or-string") == {
        "AnalyticsWorkspace:spec.virtualMachineWorkspace.maxHosts": True
    }
    string_maps = {
        k for k, v in _collect("additionalProperties").items() if v == {"type": "string"}
    }
    assert string_maps == {
        "AnalyticsWorkspace:spec.jupyterWorkspace.extraLabels",
        "AnalyticsWorkspace:status.additionalStorage",
    }


def test_yaml_comments_say_which_rules_the_models_enforce() -> None:
    text = crds_yaml()
    assert "additionalStorage[].mountPath is absolute and normalised" in text
    assert "one of username / claims names the grantee" in text
    assert text.count("lscsde_spawner.models") >= 2
    assert "no pattern on jupyterWorkspace.image" in text  # the one deliberate difference


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The CRModel inside `X`, `X | None` or `list[X]`, if there is one."""
    if isinstance(annotation, type) and issubclass(annotation, CRModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
    return None


def _undeclared(model: type[BaseModel], schema: Obj, path: str) -> list[str]:
    missing: list[str] = []
    if schema.get("type") == "array":
        schema = schema["items"]
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return missing  # free-form: the server keeps whatever is there
    props = schema.get("properties", {})
    for name, info in model.model_fields.items():
        alias = info.alias or name
        if alias not in props:
            missing.append(f"{path}.{alias}")
            continue
        sub = _model_of(info.annotation)
        if sub is not None:
            missing += _undeclared(sub, props[alias], f"{path}.{alias}")
    return missing


# Fields the models declare that the field reference (and so the schema) does not: a server with
# these CRDs prunes them, so the models never see them set. Reported to the models' owner.
MODEL_FIELDS_NOT_IN_REFERENCE = {
    # servicePrinciple is {secretName} in the reference; the model reuses {secretName, secretKey}.
    "AnalyticsDataSource": ["spec.connections.databricksConnection.servicePrinciple.secretKey",
                            # the data source's status is {statusText} in the reference
                            "status.lastActiveCheck"],
}  # fmt: skip


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.KIND)
def test_every_field_the_models_read_is_declared(model: type[Resource]) -> None:
    """A field the models know but the schema does not would be pruned by the server."""
    schema = schema_of(model.KIND)["properties"]
    missing = []
    for part in ("spec", "status"):
        sub = _model_of(model.model_fields[part].annotation)
        assert sub is not None
        missing += _undeclared(sub, schema[part], part)
    assert missing == MODEL_FIELDS_NOT_IN_REFERENCE.get(model.KIND, [])


def test_cli_prints_the_crds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crds"]) == 0
    out = capsys.readouterr().out
    assert out == crds_yaml()
    assert [d["metadata"]["name"] for d in yaml.safe_load_all(out)] == [
        "analyticsworkspaces.xlscsde.nhs.uk",
        "analyticsworkspacebindings.xlscsde.nhs.uk",
        "analyticsdatasources.xlscsde.nhs.uk",
        "analyticsdatasourcebindings.xlscsde.nhs.uk",
        "analyticscrates.xlscsde.nhs.uk",
    ]


# -- against the embedded API --------------------------------------------------------------------


def body_of(exc: ApiException) -> Obj:
    """The Kubernetes Status body of a failed call."""
    body: Obj = json.loads(exc.body or b"{}")
    assert body.get("kind") == "Status", body
    return body


@pytest.fixture
async def co(crds: ApiClient) -> client.CustomObjectsApi:
    """The CRDs installed, in a namespace of the field's name."""
    namespace: Any = {"metadata": {"name": NS}}  # the generated clients take plain dicts too
    await client.CoreV1Api(crds).create_namespace(namespace)
    return client.CustomObjectsApi(crds)


async def create(co: client.CustomObjectsApi, o: Obj, **kw: Any) -> Obj:
    made: Obj = await co.create_namespaced_custom_object(GROUP, VERSION, NS, plural(o), o, **kw)
    return made


async def get(co: client.CustomObjectsApi, o: Obj) -> Obj:
    got: Obj = await co.get_namespaced_custom_object(
        GROUP, VERSION, NS, plural(o), o["metadata"]["name"]
    )
    return got


async def test_every_crd_installs_and_is_served(
    crds: ApiClient, local_cluster: LocalCluster
) -> None:
    ext = client.ApiextensionsV1Api(crds)
    for kind, crd in CRDS.items():
        served = await ext.read_custom_resource_definition(crd["metadata"]["name"])
        conditions = {c.type: c.status for c in served.status.conditions}
        assert conditions["Established"] == "True", kind
        assert served.status.accepted_names.short_names == crd["spec"]["names"]["shortNames"]
        assert served.status.stored_versions == ["v1"]
    async with aiohttp.ClientSession(headers=local_cluster.headers) as http:
        response = await http.get(f"{local_cluster.url}/apis/{GROUP}/{VERSION}")
        discovery = await response.json()
    resources = {r["name"]: r for r in discovery["resources"]}
    assert set(resources) == {
        "analyticsworkspaces", "analyticsworkspaces/status",
        "analyticsworkspacebindings", "analyticsworkspacebindings/status",
        "analyticsworkspacebindings/scale",
        "analyticsdatasources", "analyticsdatasources/status",
        "analyticsdatasourcebindings", "analyticsdatasourcebindings/status",
        "analyticscrates", "analyticscrates/status",
    }  # fmt: skip
    assert resources["analyticsworkspaces"]["shortNames"] == ["aws"]
    for name, kind in (
        ("analyticsworkspaces", "AnalyticsWorkspace"),
        ("analyticsworkspacebindings", "AnalyticsWorkspaceBinding"),
        ("analyticsdatasources", "AnalyticsDataSource"),
        ("analyticsdatasourcebindings", "AnalyticsDataSourceBinding"),
        ("analyticscrates", "AnalyticsCrate"),
    ):
        assert resources[name]["categories"] == REFERENCE_NAMES[kind][3], name
    assert resources["analyticsworkspaces"]["namespaced"] is True


@pytest.mark.parametrize(("case", "model", "raw"), FIELD_OBJECTS, ids=[f[0] for f in FIELD_OBJECTS])
async def test_field_objects_are_accepted_unchanged(
    co: client.CustomObjectsApi, case: str, model: type[Resource], raw: Obj
) -> None:
    made = await create(co, as_written(raw), field_validation="Strict")
    assert made["spec"] == raw["spec"]
    assert "status" not in made  # a create never sets status
    if "status" in raw:
        await co.patch_namespaced_custom_object_status(
            GROUP, VERSION, NS, plural(raw), raw["metadata"]["name"], {"status": raw["status"]},
            **MERGE_PATCH,
        )  # fmt: skip
    got = await get(co, raw)
    assert got["spec"] == raw["spec"]
    assert got.get("status") == raw.get("status")
    for key in ("labels", "annotations"):
        assert got["metadata"].get(key) == raw["metadata"].get(key)
    parsed = parse_one(model, got)
    assert not isinstance(parsed, ParseError), parsed
    assert parsed.to_dict() == got


async def test_defaults_and_the_scale_subresource(co: client.CustomObjectsApi) -> None:
    binding = as_written(changed(USER_BINDING, "spec.replicas", DELETE))
    made = await create(co, binding)
    assert made["spec"]["replicas"] == 0
    scale = await co.get_namespaced_custom_object_scale(
        GROUP, VERSION, NS, "analyticsworkspacebindings", binding["metadata"]["name"]
    )
    # autoscaling/v1 ScaleSpec.replicas is omitempty; no labelSelectorPath, so no selector.
    assert (scale["spec"], scale["status"]) == ({}, {"replicas": 0})
    await co.patch_namespaced_custom_object_scale(
        GROUP, VERSION, NS, "analyticsworkspacebindings", binding["metadata"]["name"],
        {"spec": {"replicas": 1}}, **MERGE_PATCH,
    )  # fmt: skip
    assert (await get(co, binding))["spec"]["replicas"] == 1

    crate = as_written(CRATE)
    crate["spec"] = {"displayName": "bare", "repo": {"url": "https://example.org/x.git"}}
    made = await create(co, crate)
    assert made["spec"] == {
        "displayName": "bare",
        "path": "/ro-crate-metadata.json",
        "repo": {"url": "https://example.org/x.git", "branch": "main", "secretKey": "TOKEN"},
    }
    assert "status" not in made  # a status default applies only once there is a status
    status = await co.patch_namespaced_custom_object_status(
        GROUP, VERSION, NS, "analyticscrates", "omop-crate", {"status": {"commitId": "abc"}},
        **MERGE_PATCH,
    )  # fmt: skip
    assert status["status"] == {"commitId": "abc", "statusText": "Waiting"}


async def test_unknown_fields_are_pruned_except_in_free_form_objects(
    co: client.CustomObjectsApi,
) -> None:
    """Like the CRDs in the field: typos are caught (strict) or dropped, not stored."""
    ws = as_written(GENERIC_WORKSPACE)
    ws["spec"]["displayname"] = "typo"
    ws["spec"]["validity"]["until"] = "2031-01-01"
    ws["spec"]["jupyterWorkspace"]["resources"]["claims"] = [{"name": "gpu"}]
    ws["spec"]["jupyterWorkspace"]["tolerations"][0]["future"] = True
    with pytest.raises(ApiException) as info:
        await create(co, ws, field_validation="Strict")
    assert info.value.status == 400
    assert body_of(info.value)["message"] == (
        'AnalyticsWorkspace in version "v1" cannot be handled as a AnalyticsWorkspace: '
        'strict decoding error: unknown field "spec.displayname", '
        'unknown field "spec.validity.until"'
    )
    made = await create(co, ws)
    assert made["spec"] == {
        **GENERIC_WORKSPACE["spec"],
        "jupyterWorkspace": {
            **GENERIC_WORKSPACE["spec"]["jupyterWorkspace"],
            "resources": {"limits": {"cpu": "2", "memory": "8Gi"}, "claims": [{"name": "gpu"}]},
            "tolerations": [
                {**GENERIC_WORKSPACE["spec"]["jupyterWorkspace"]["tolerations"][0], "future": True}
            ],
        },
    }


_STORAGE = "spec.jupyterWorkspace.additionalStorage.0"
# (id, object, field the server names, words of its message)
SCHEMA_VIOLATIONS: list[tuple[str, Obj, str, str]] = [
    ("expires-not-a-date", changed(GENERIC_WORKSPACE, "spec.validity.expires", "2024-02-30"),
     "spec.validity.expires", 'must be of type date: "2024-02-30"'),
    ("available-from-not-a-date",
     changed(GENERIC_WORKSPACE, "spec.validity.availableFrom", "1st May"),
     "spec.validity.availableFrom", "must be of type date"),
    ("missing-validity", changed(GENERIC_WORKSPACE, "spec.validity", DELETE),
     "spec.validity", "Required value"),
    ("missing-expires", changed(GENERIC_WORKSPACE, "spec.validity.expires", DELETE),
     "spec.validity.expires", "Required value"),
    ("missing-description", changed(GENERIC_WORKSPACE, "spec.description", DELETE),
     "spec.description", "Required value"),
    ("missing-image", changed(GENERIC_WORKSPACE, "spec.jupyterWorkspace", {"defaultUri": "/lab"}),
     "spec.jupyterWorkspace.image", "Required value"),
    ("label-not-a-string",
     changed(GENERIC_WORKSPACE, "spec.jupyterWorkspace.extraLabels", {"tier": 1}),
     "spec.jupyterWorkspace.extraLabels.tier", "must be of type string"),
    ("tolerations-not-a-list",
     changed(GENERIC_WORKSPACE, "spec.jupyterWorkspace.tolerations", {"key": "x"}),
     "spec.jupyterWorkspace.tolerations", "must be of type array"),
    ("max-hosts-not-int-or-string", changed(VM_WORKSPACE, "spec.virtualMachineWorkspace.maxHosts",
                                            True),
     "spec.virtualMachineWorkspace.maxHosts", "must be of type integer,string"),
    ("binding-expires-not-a-date", changed(USER_BINDING, "spec.expires", "2030-06-31"),
     "spec.expires", "must be of type date"),
    ("binding-missing-workspace", changed(USER_BINDING, "spec.workspace", DELETE),
     "spec.workspace", "Required value"),
    ("binding-replicas-not-an-integer", changed(USER_BINDING, "spec.replicas", "two"),
     "spec.replicas", "must be of type integer"),
    ("claim-operator", changed(CLAIMS_BINDING, "spec.claims.0.operator", "LIKE"),
     "spec.claims[0].operator", "should match 'EQUALS|NOT EQUALS|IN|NOT IN'"),
    ("approval-not-a-date-time",
     changed(FULL_DATASOURCE, "spec.approvals.0.approvalGiven", "2024-03-01"),
     "spec.approvals[0].approvalGiven", "must be of type date-time"),
    ("datasource-binding-missing-datasource",
     changed(FULL_DATASOURCE_BINDING, "spec.datasource", DELETE),
     "spec.datasource", "Required value"),
    ("datasource-binding-approval",
     changed(FULL_DATASOURCE_BINDING, "spec.approvals.0.approvalGiven", "yesterday"),
     "spec.approvals[0].approvalGiven", "must be of type date-time"),
    ("crate-path-not-a-string", changed(CRATE, "spec.path", ["/a", "/b"]),
     "spec.path", "must be of type string"),
    # The published anyOf rules: the server names the first alternative as missing.
    ("neither-workspace-kind", changed(GENERIC_WORKSPACE, "spec.jupyterWorkspace", DELETE),
     "spec.jupyterWorkspace", "Required value"),
    ("neither-username-nor-claims", changed(USER_BINDING, "spec.username", DELETE),
     "spec.username", "Required value"),
    ("connection-of-only-a-crate", changed(FULL_DATASOURCE, "spec.connections.3.connectionString",
                                           DELETE),
     "spec.connections[3].connectionString", "Required value"),
    ("connection-string-empty", changed(FULL_DATASOURCE, "spec.connections.1.connectionString",
                                        {}),
     "spec.connections[1].connectionString.secretName", "Required value"),
    ("databricks-without-token",
     changed(changed(FULL_DATASOURCE, "spec.connections.0.databricksConnection.oauth2Token",
                     DELETE),
             "spec.connections.0.databricksConnection.personalAccessToken", DELETE),
     "spec.connections[0].databricksConnection.personalAccessToken", "Required value"),
    ("crate-without-spec", changed(FULL_DATASOURCE, "spec.connections.3.roCrate.spec", DELETE),
     "spec.connections[3].roCrate.spec", "Required value"),
    ("crate-spec-not-an-object",
     changed(FULL_DATASOURCE, "spec.connections.3.roCrate.spec", "https://w3id.org/ro/crate/1.1"),
     "spec.connections[3].roCrate.spec", "must be of type object"),
    ("approval-without-email", changed(FULL_DATASOURCE, "spec.approvals.1.email", DELETE),
     "spec.approvals[1].email", "Required value"),
    ("datasource-binding-approval-without-job-title",
     changed(FULL_DATASOURCE_BINDING, "spec.approvals.0.jobTitle", DELETE),
     "spec.approvals[0].jobTitle", "Required value"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "raw", "field", "words"), SCHEMA_VIOLATIONS, ids=[v[0] for v in SCHEMA_VIOLATIONS]
)
async def test_schema_violations_are_refused_naming_the_field(
    co: client.CustomObjectsApi, case: str, raw: Obj, field: str, words: str
) -> None:
    with pytest.raises(ApiException) as info:
        await create(co, as_written(raw))
    body = body_of(info.value)
    assert (info.value.status, body["reason"]) == (422, "Invalid"), body
    causes = body["details"]["causes"]
    assert field in [c["field"] for c in causes], causes
    assert any(words in c["message"] for c in causes if c["field"] == field), causes
    name = raw["metadata"]["name"]
    assert body["message"].startswith(f'{raw["kind"]}.{GROUP} "{name}" is invalid: ')
    assert f"{field}: " in body["message"]


async def test_status_is_validated_too(co: client.CustomObjectsApi) -> None:
    await create(co, as_written(GENERIC_WORKSPACE))
    with pytest.raises(ApiException) as info:
        await co.patch_namespaced_custom_object_status(
            GROUP, VERSION, NS, "analyticsworkspaces", "generic-jupyter",
            {"status": {"additionalStorage": {"shared": {"pvc": "x"}}}}, **MERGE_PATCH,
        )  # fmt: skip
    body = body_of(info.value)
    assert info.value.status == 422
    assert [c["field"] for c in body["details"]["causes"]] == ["status.additionalStorage.shared"]


# The rules only the models enforce: such objects may already exist, so the server takes them and
# the spawner skips each one on its own. (id, object, field the model names)
MODEL_ONLY_RULES: list[tuple[str, type[Resource], Obj, str]] = [
    ("relative-mount-path", AnalyticsWorkspace,
     changed(GENERIC_WORKSPACE, f"{_STORAGE}.mountPath", "shared"), f"{_STORAGE}.mountPath"),
    ("dotdot-mount-path", AnalyticsWorkspace,
     changed(GENERIC_WORKSPACE, f"{_STORAGE}.mountPath", "/a/../../etc"),
     f"{_STORAGE}.mountPath"),
    ("storage-without-claim", AnalyticsWorkspace,
     changed(GENERIC_WORKSPACE, f"{_STORAGE}.persistentVolumeClaim", DELETE),
     f"{_STORAGE}.persistentVolumeClaim"),
    ("invalid-pvc-name", AnalyticsWorkspace,
     changed(GENERIC_WORKSPACE, "spec.jupyterWorkspace.persistentVolumeClaim.name", "My PVC"),
     "spec.jupyterWorkspace.persistentVolumeClaim.name"),
    ("image-with-spaces", AnalyticsWorkspace,
     changed(GENERIC_WORKSPACE, "spec.jupyterWorkspace.image", "python:3.11 sh -c x"),
     "spec.jupyterWorkspace.image"),
    ("empty-claims-and-no-username", AnalyticsWorkspaceBinding,
     changed(changed(USER_BINDING, "spec.username", DELETE), "spec.claims", []), "spec"),
    ("limits-not-a-map", AnalyticsWorkspace,
     changed(GENERIC_WORKSPACE, "spec.jupyterWorkspace.resources", {"limits": "2 CPUs"}),
     "spec.jupyterWorkspace.resources.limits"),
    ("claim-without-value", AnalyticsWorkspaceBinding,
     changed(CLAIMS_BINDING, "spec.claims.0", {"name": "groups", "operator": "IN"}),
     "spec.claims.0.value"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "model", "raw", "field"), MODEL_ONLY_RULES, ids=[r[0] for r in MODEL_ONLY_RULES]
)
async def test_rules_only_the_models_enforce(
    co: client.CustomObjectsApi, case: str, model: type[Resource], raw: Obj, field: str
) -> None:
    written = as_written(raw)
    made = await create(co, written, field_validation="Strict")
    assert made["spec"] == written["spec"]
    err = parse_one(model, made)
    assert isinstance(err, ParseError)
    assert f"{field}: " in err.reason, err.reason


# -- with the real kubectl -----------------------------------------------------------------------

REQUIRES_KUBECTL = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed on this machine (not found on PATH)"
)


def cli_output() -> str:
    """`lscsde-spawner crds`, run the way a user runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "lscsde_spawner.cli", "crds"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return proc.stdout


def table(out: str) -> list[dict[str, str]]:
    """kubectl's table output as rows of {COLUMN: value}, cut at the header's column starts."""
    header, *rows = out.rstrip("\n").splitlines()
    names = header.split()
    starts = [header.index(f" {n} ") + 1 if i else 0 for i, n in enumerate(names[:-1])]
    starts.append(header.rindex(" " + names[-1]) + 1)
    bounds = [*starts[1:], None]
    return [
        {n: row[s:e].strip() for n, s, e in zip(names, starts, bounds, strict=True)} for row in rows
    ]


@pytest.fixture(scope="module")
def kubectl(module_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    k = Kubectl(module_cluster, tmp_path_factory.mktemp("kubectl-home"))
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
    k("apply", "-f", "-", stdin=yaml.safe_dump(namespace))
    return k


@pytest.fixture(scope="module")
def applied(kubectl: Kubectl) -> str:
    return kubectl("apply", "-f", "-", stdin=cli_output())


def _apply(kubectl: Kubectl, o: Obj) -> str:
    return kubectl("apply", "-n", NS, "-f", "-", stdin=yaml.safe_dump(as_written(o)))


def kubectl_test(f: Any) -> Any:
    return pytest.mark.kubectl(REQUIRES_KUBECTL(f))


@kubectl_test
def test_cli_output_applies_with_kubectl_default_validation(kubectl: Kubectl, applied: str) -> None:
    names = [c["metadata"]["name"] for c in load_crds()]
    assert applied.splitlines() == [
        f"customresourcedefinition.apiextensions.k8s.io/{n} created" for n in names
    ]
    again = kubectl("apply", "-f", "-", stdin=cli_output())
    assert again.splitlines() == [
        f"customresourcedefinition.apiextensions.k8s.io/{n} unchanged" for n in names
    ]


@pytest.fixture(scope="module")
def objects(kubectl: Kubectl, applied: str) -> Kubectl:
    """A workspace (with its status), its two bindings and a data source, applied with kubectl."""
    for o in (GENERIC_WORKSPACE, VM_WORKSPACE, USER_BINDING, CLAIMS_BINDING, FULL_DATASOURCE):
        assert "created" in _apply(kubectl, o)
    status = json.dumps({"status": GENERIC_WORKSPACE["status"]})
    kubectl(
        "patch", "-n", NS, "aws", "generic-jupyter", "--subresource=status", "--type=merge",
        "-p", status,
    )  # fmt: skip
    return kubectl


@kubectl_test
def test_kubectl_get_aws_prints_the_field_columns(objects: Kubectl) -> None:
    rows = table(objects("get", "-n", NS, "aws"))
    assert list(rows[0]) == ["NAME", "DISPLAYNAME", "EXPIRES", "STATUS", "STORAGECLAIM"]
    assert rows == [
        {
            "NAME": "generic-jupyter",
            "DISPLAYNAME": "Generic Jupyter Workspace",
            "EXPIRES": "2030-12-31",
            "STATUS": "Provisioned",
            "STORAGECLAIM": "generic-jupyter-pvc",
        },
        {
            "NAME": "vm-workspace",
            "DISPLAYNAME": "Windows desktop",
            "EXPIRES": "2025-01-01",
            "STATUS": "",
            "STORAGECLAIM": "",
        },
    ]


@kubectl_test
def test_kubectl_get_awsb_prints_the_field_columns(objects: Kubectl) -> None:
    rows = table(objects("get", "-n", NS, "awsb"))
    assert rows == [
        {"NAME": "generic-jupyter-analysts", "WORKSPACE": "generic-jupyter",
         "EXPIRES": "2025-03-31", "STATUS": "", "DEPLOYMENT": "", "REPLICAS": "1"},
        {"NAME": "generic-jupyter-jane-doe", "WORKSPACE": "generic-jupyter",
         "EXPIRES": "2030-06-30", "STATUS": "", "DEPLOYMENT": "", "REPLICAS": "0"},
    ]  # fmt: skip


@kubectl_test
def test_kubectl_categories_list_all_five_kinds(objects: Kubectl) -> None:
    for o in (FULL_DATASOURCE_BINDING, CRATE):
        assert "created" in _apply(objects, o)
    krap = objects("get", "-n", NS, "krap", "-o", "name").split()
    assert sorted(krap) == [
        "analyticscrate.xlscsde.nhs.uk/omop-crate",
        "analyticsdatasource.xlscsde.nhs.uk/omop-cdm",
        "analyticsdatasourcebinding.xlscsde.nhs.uk/generic-jupyter-omop-cdm",
        "analyticsworkspace.xlscsde.nhs.uk/generic-jupyter",
        "analyticsworkspace.xlscsde.nhs.uk/vm-workspace",
        "analyticsworkspacebinding.xlscsde.nhs.uk/generic-jupyter-analysts",
        "analyticsworkspacebinding.xlscsde.nhs.uk/generic-jupyter-jane-doe",
    ]
    core = objects("get", "-n", NS, "krap-core", "-o", "name").split()
    assert sorted(core) == [  # the bindings are in krap only
        "analyticscrate.xlscsde.nhs.uk/omop-crate",
        "analyticsdatasource.xlscsde.nhs.uk/omop-cdm",
        "analyticsworkspace.xlscsde.nhs.uk/generic-jupyter",
        "analyticsworkspace.xlscsde.nhs.uk/vm-workspace",
    ]
    assert objects("get", "-n", NS, "ads", "-o", "name").split() == [
        "analyticsdatasource.xlscsde.nhs.uk/omop-cdm"
    ]


@kubectl_test
def test_kubectl_round_trips_a_field_object_unchanged(objects: Kubectl) -> None:
    got = json.loads(objects("get", "-n", NS, "aws", "generic-jupyter", "-o", "json"))
    assert (got["spec"], got["status"]) == (GENERIC_WORKSPACE["spec"], GENERIC_WORKSPACE["status"])
    assert "unchanged" in _apply(objects, GENERIC_WORKSPACE)


@kubectl_test
def test_kubectl_default_validation_names_bad_and_unknown_fields(objects: Kubectl) -> None:
    bad_date = as_written(changed(GENERIC_WORKSPACE, "spec.validity.expires", "2024-02-30"))
    bad_date["metadata"]["name"] = "bad-date"
    out = objects("apply", "-n", NS, "-f", "-", stdin=yaml.safe_dump(bad_date), check=False)
    assert 'spec.validity.expires: Invalid value: "2024-02-30"' in out, out
    typo = as_written(GENERIC_WORKSPACE)
    typo["metadata"]["name"] = "typo"
    typo["spec"]["jupyterWorkspace"]["defaultURI"] = "/lab"
    out = objects("apply", "-n", NS, "-f", "-", stdin=yaml.safe_dump(typo), check=False)
    assert 'unknown field "spec.jupyterWorkspace.defaultURI"' in out, out
    assert objects("get", "-n", NS, "aws", "bad-date", "typo", check=False).count("NotFound") == 2
