"""The models read the objects already on LSC-SDE clusters and write them back unchanged.

FIELD_OBJECTS (tests/support/factories.py) are objects as they are found on clusters (as a
server with the published CRDs stores them); FORWARD_OBJECTS add fields that no schema here
knows, at every level, as a newer version of another tool might write them. Both must survive
`parse_one(...).to_dict()` exactly. Bad objects give a ParseError for that object alone, naming
the field.
"""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from lscsde_spawner.models import (
    AnalyticsCrate,
    AnalyticsDataSource,
    AnalyticsDataSourceBinding,
    AnalyticsWorkspace,
    AnalyticsWorkspaceBinding,
    CRModel,
    ParseError,
    parse_many,
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
    GPU_WORKSPACE,
    OPEN_DATASOURCE_BINDING,
    USER_BINDING,
    VM_WORKSPACE,
    Obj,
    changed,
    with_unknown,
)

NS = FIELD_NAMESPACE


# -- objects with fields no schema here declares -------------------------------------------------

FORWARD_OBJECTS: list[tuple[str, type[Resource], Obj]] = [
    (
        "workspace",
        AnalyticsWorkspace,
        with_unknown(
            GENERIC_WORKSPACE,
            "spec",
            "spec.validity",
            "spec.jupyterWorkspace",
            "spec.jupyterWorkspace.resources",
            "spec.jupyterWorkspace.persistentVolumeClaim",
            "spec.jupyterWorkspace.additionalStorage.1",
            "spec.jupyterWorkspace.tolerations.0",
            "status",
        ),
    ),
    (
        "workspace-vm",
        AnalyticsWorkspace,
        with_unknown(VM_WORKSPACE, "spec", "spec.virtualMachineWorkspace", "status"),
    ),
    (
        "binding",
        AnalyticsWorkspaceBinding,
        with_unknown(USER_BINDING, "spec", "status"),
    ),
    (
        "binding-claims",
        AnalyticsWorkspaceBinding,
        with_unknown(CLAIMS_BINDING, "spec", "spec.claims.0"),
    ),
    (
        "datasource",
        AnalyticsDataSource,
        with_unknown(
            FULL_DATASOURCE,
            "spec",
            "spec.publisher",
            "spec.publisher.contact",
            "spec.project",
            "spec.connections.0",
            "spec.connections.0.databricksConnection",
            "spec.connections.0.databricksConnection.personalAccessToken",
            "spec.connections.0.databricksConnection.servicePrinciple",
            "spec.connections.1.connectionString",
            "spec.connections.3.roCrate",
            "spec.connections.3.roCrate.repo",
            "spec.approvals.1",
            "status",
        ),
    ),
    (
        "datasource-binding",
        AnalyticsDataSourceBinding,
        with_unknown(FULL_DATASOURCE_BINDING, "spec", "spec.approvals.0", "status"),
    ),
    ("crate", AnalyticsCrate, with_unknown(CRATE, "spec", "spec.repo", "status")),
]


def _ids(table: list[tuple[str, type[Resource], Obj]]) -> list[str]:
    return [row[0] for row in table]


@pytest.mark.parametrize(("case", "model", "raw"), FIELD_OBJECTS, ids=_ids(FIELD_OBJECTS))
def test_field_objects_round_trip_exactly(case: str, model: type[Resource], raw: Obj) -> None:
    before = copy.deepcopy(raw)
    parsed = parse_one(model, raw)
    assert not isinstance(parsed, ParseError), parsed
    assert parsed.to_dict() == raw
    assert parsed.name == raw["metadata"]["name"]
    assert raw == before  # parsing never changes the caller's object


@pytest.mark.parametrize(("case", "model", "raw"), FORWARD_OBJECTS, ids=_ids(FORWARD_OBJECTS))
def test_unknown_fields_at_every_level_round_trip_exactly(
    case: str, model: type[Resource], raw: Obj
) -> None:
    parsed = parse_one(model, raw)
    assert not isinstance(parsed, ParseError), parsed
    assert parsed.to_dict() == raw


def test_read_modify_write_keeps_what_other_tools_wrote() -> None:
    raw = FORWARD_OBJECTS[0][2]
    ws = parse_one(AnalyticsWorkspace, raw)
    assert isinstance(ws, AnalyticsWorkspace) and ws.status is not None
    ws.status.status_text = "Waiting"
    ws.status.persistent_volume_claim = "generic-jupyter-pvc-2"
    expected = copy.deepcopy(raw)
    expected["status"]["statusText"] = "Waiting"
    expected["status"]["persistentVolumeClaim"] = "generic-jupyter-pvc-2"
    assert ws.to_dict() == expected


def test_typed_values_of_field_objects() -> None:
    ws = parse_one(AnalyticsWorkspace, GPU_WORKSPACE)
    assert isinstance(ws, AnalyticsWorkspace)
    assert ws.spec.validity.available_from == date(2024, 6, 1)
    assert ws.spec.validity.expires == date(2024, 12, 31)
    jw = ws.spec.jupyter_workspace
    assert jw is not None and jw.resources is not None
    assert jw.resources.limits == {"cpu": 4, "memory": "16Gi", "nvidia.com/gpu": 1}
    assert jw.resources.requests is not None
    assert jw.resources.requests["nvidia.com/gpu"] == 1
    assert [t["key"] for t in jw.tolerations] == ["nvidia.com/gpu", "node.kubernetes.io/not-ready"]

    generic = parse_one(AnalyticsWorkspace, GENERIC_WORKSPACE)
    assert isinstance(generic, AnalyticsWorkspace)
    gjw = generic.spec.jupyter_workspace
    assert gjw is not None and gjw.resources is not None
    # A limits-only workspace: requests stay absent (not an empty map) so a round trip is exact.
    assert gjw.resources.requests is None and gjw.resources.limits is not None
    assert gjw.resources.limits["memory"] == "8Gi"
    assert [s.mount_path for s in gjw.additional_storage] == ["/home/jovyan/shared", "/data/omop"]
    # Multi-line text is kept byte for byte, trailing newline and markup included.
    assert generic.spec.description == GENERIC_WORKSPACE["spec"]["description"]
    assert generic.spec.description.splitlines()[1:3] == [
        "",
        "Python 3.11 and R 4.3 with the OMOP tools.",
    ]

    binding = parse_one(AnalyticsWorkspaceBinding, CLAIMS_BINDING)
    assert isinstance(binding, AnalyticsWorkspaceBinding)
    assert binding.spec.username is None and binding.spec.expires == date(2025, 3, 31)
    assert [c.operator for c in binding.spec.claims] == ["IN", "NOT EQUALS", "EQUALS", "NOT IN"]

    open_binding = parse_one(AnalyticsDataSourceBinding, OPEN_DATASOURCE_BINDING)
    assert isinstance(open_binding, AnalyticsDataSourceBinding)
    assert open_binding.spec.expires is None

    crate = parse_one(AnalyticsCrate, {**CRATE, "spec": {"displayName": "bare"}})
    assert isinstance(crate, AnalyticsCrate)
    assert (crate.spec.path, crate.spec.repo) == ("/ro-crate-metadata.json", None)
    assert crate.to_dict()["spec"] == {"displayName": "bare"}  # defaults are not written back


# -- bad objects ---------------------------------------------------------------------------------

_STORAGE = "spec.jupyterWorkspace.additionalStorage.0"
# (id, model, object, field named in the error, words of the message)
BAD_OBJECTS: list[tuple[str, type[Resource], Obj, str, str]] = [
    ("missing-validity", AnalyticsWorkspace,
     changed(GENERIC_WORKSPACE, "spec.validity", DELETE), "spec.validity", "Field required"),
    ("missing-display-name", AnalyticsWorkspace,
     changed(GENERIC_WORKSPACE, "spec.displayName", DELETE), "spec.displayName",
     "Field required"),
    ("missing-expires", AnalyticsWorkspace,
     changed(GENERIC_WORKSPACE, "spec.validity.expires", DELETE), "spec.validity.expires",
     "Field required"),
    ("february-30th", AnalyticsWorkspace,
     changed(GENERIC_WORKSPACE, "spec.validity.expires", "2024-02-30"), "spec.validity.expires",
     "day value is outside expected range"),
    ("available-from-not-a-date", AnalyticsWorkspace,
     changed(GENERIC_WORKSPACE, "spec.validity.availableFrom", "next week"),
     "spec.validity.availableFrom", "valid date"),
    ("relative-mount-path", AnalyticsWorkspace,
     changed(GENERIC_WORKSPACE, f"{_STORAGE}.mountPath", "data/shared"), f"{_STORAGE}.mountPath",
     "'data/shared' is not an absolute, normalised mount path"),
    ("dotdot-mount-path", AnalyticsWorkspace,
     changed(GENERIC_WORKSPACE, f"{_STORAGE}.mountPath", "/home/jovyan/../../etc"),
     f"{_STORAGE}.mountPath", "'/home/jovyan/../../etc'"),
    ("root-mount-path", AnalyticsWorkspace,
     changed(GENERIC_WORKSPACE, f"{_STORAGE}.mountPath", "/"), f"{_STORAGE}.mountPath",
     "mount path"),
    ("invalid-storage-pvc-name", AnalyticsWorkspace,
     changed(GENERIC_WORKSPACE, f"{_STORAGE}.persistentVolumeClaim", "Shared_Data"),
     f"{_STORAGE}.persistentVolumeClaim",
     "'Shared_Data' is not a valid PersistentVolumeClaim name"),
    ("invalid-workspace-pvc-name", AnalyticsWorkspace,
     changed(GENERIC_WORKSPACE, "spec.jupyterWorkspace.persistentVolumeClaim.name", "-pvc"),
     "spec.jupyterWorkspace.persistentVolumeClaim.name", "not a valid PersistentVolumeClaim"),
    ("image-with-spaces", AnalyticsWorkspace,
     changed(GENERIC_WORKSPACE, "spec.jupyterWorkspace.image", "busybox:1.36 --privileged"),
     "spec.jupyterWorkspace.image", "is not a container image reference"),
    ("missing-image", AnalyticsWorkspace,
     changed(GENERIC_WORKSPACE, "spec.jupyterWorkspace.image", DELETE),
     "spec.jupyterWorkspace.image", "Field required"),
    ("neither-workspace-kind", AnalyticsWorkspace,
     changed(GENERIC_WORKSPACE, "spec.jupyterWorkspace", DELETE), "spec",
     "one of jupyterWorkspace or virtualMachineWorkspace is required"),
    ("neither-username-nor-claims", AnalyticsWorkspaceBinding,
     changed(USER_BINDING, "spec.username", DELETE), "spec",
     "one of username or claims is required"),
    ("empty-username", AnalyticsWorkspaceBinding,
     changed(USER_BINDING, "spec.username", ""), "spec", "one of username or claims is required"),
    ("binding-bad-expiry", AnalyticsWorkspaceBinding,
     changed(USER_BINDING, "spec.expires", "31/12/2030"), "spec.expires", "valid date"),
    ("binding-missing-workspace", AnalyticsWorkspaceBinding,
     changed(USER_BINDING, "spec.workspace", DELETE), "spec.workspace", "Field required"),
    # An unknown operator string parses (the published CRD admits it); access.applies makes
    # that binding malformed. A missing one is a parse error.
    ("claim-operator", AnalyticsWorkspaceBinding,
     changed(CLAIMS_BINDING, "spec.claims.1.operator", DELETE), "spec.claims.1.operator",
     "Field required"),
    ("datasource-binding-missing-datasource", AnalyticsDataSourceBinding,
     changed(FULL_DATASOURCE_BINDING, "spec.datasource", DELETE), "spec.datasource",
     "Field required"),
    ("datasource-binding-bad-expiry", AnalyticsDataSourceBinding,
     changed(FULL_DATASOURCE_BINDING, "spec.expires", "2030-13-01"), "spec.expires",
     "valid date"),
    ("datasource-connections-not-a-list", AnalyticsDataSource,
     changed(FULL_DATASOURCE, "spec.connections", {"type": "x"}), "spec.connections",
     "valid list"),
    ("crate-repo-not-an-object", AnalyticsCrate,
     changed(CRATE, "spec.repo", "https://github.com/x/y"), "spec.repo", "valid dictionary"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "model", "raw", "field", "words"), BAD_OBJECTS, ids=[b[0] for b in BAD_OBJECTS]
)
def test_bad_objects_give_a_parse_error_naming_the_field(
    case: str, model: type[Resource], raw: Obj, field: str, words: str
) -> None:
    err = parse_one(model, raw)
    assert isinstance(err, ParseError), err
    assert (err.kind, err.namespace, err.name) == (model.KIND, NS, raw["metadata"]["name"])
    # describe() writes "<dotted field>: <message>"; the field is named exactly, once.
    assert f"{field}: " in err.reason, err.reason
    assert words in err.reason, err.reason
    assert str(err).startswith(f"{model.KIND} {NS}/{raw['metadata']['name']} is malformed: ")


def test_every_problem_is_named_at_once() -> None:
    raw = changed(GENERIC_WORKSPACE, "spec.validity.expires", "2024-02-30")
    raw = changed(raw, "spec.jupyterWorkspace.image", "a b")
    raw = changed(raw, f"{_STORAGE}.mountPath", "relative")
    err = parse_one(AnalyticsWorkspace, raw)
    assert isinstance(err, ParseError)
    fields = [part.split(": ")[0] for part in err.reason.split("; ")]
    assert fields == ["spec.validity.expires", "spec.jupyterWorkspace.image",
                      f"{_STORAGE}.mountPath"]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "name"),
    [(None, "?"), ("not an object", "?"), ({"metadata": "nope"}, "?"), ({"metadata": {}}, "?")],
    ids=["none", "string", "metadata-not-an-object", "no-name"],
)
def test_objects_without_a_usable_name_still_give_a_parse_error(raw: Any, name: str) -> None:
    err = parse_one(AnalyticsWorkspace, raw)
    assert isinstance(err, ParseError)
    assert (err.kind, err.name) == ("AnalyticsWorkspace", name)


def test_parse_many_reports_the_bad_one_only() -> None:
    bad = changed(USER_BINDING, "spec.expires", "2024-02-30")
    bad["metadata"]["name"] = "broken"
    no_grantee = changed(USER_BINDING, "spec.username", DELETE)
    no_grantee["metadata"]["name"] = "nobody"
    good2 = changed(USER_BINDING, "metadata.name", "second")
    parsed = parse_many(
        AnalyticsWorkspaceBinding, [USER_BINDING, bad, CLAIMS_BINDING, no_grantee, good2]
    )
    assert [b.name for b in parsed.items] == [
        "generic-jupyter-jane-doe",
        "generic-jupyter-analysts",
        "second",
    ]
    assert [(e.name, e.reason.split(":")[0]) for e in parsed.errors] == [
        ("broken", "spec.expires"),
        ("nobody", "spec"),
    ]
    assert parsed.items[0].to_dict() == USER_BINDING


@pytest.mark.parametrize(
    ("model", "kind", "plural"),
    [
        (AnalyticsWorkspace, "AnalyticsWorkspace", "analyticsworkspaces"),
        (AnalyticsWorkspaceBinding, "AnalyticsWorkspaceBinding", "analyticsworkspacebindings"),
        (AnalyticsDataSource, "AnalyticsDataSource", "analyticsdatasources"),
        (AnalyticsDataSourceBinding, "AnalyticsDataSourceBinding", "analyticsdatasourcebindings"),
        (AnalyticsCrate, "AnalyticsCrate", "analyticscrates"),
    ],
)
def test_kind_and_plural(model: type[Resource], kind: str, plural: str) -> None:
    assert (kind, plural) == (model.KIND, model.PLURAL)
    assert issubclass(model, CRModel)


@pytest.mark.parametrize(
    "spec",
    [
        {"@context": "https://w3id.org/ro/crate/1.1/context", "@graph": [{"@id": "./"}]},
        "https://w3id.org/ro/crate/1.1",  # what an older version of our CRD declared
    ],
    ids=["object", "string"],
)
def test_a_crate_spec_is_kept_as_written(spec: Any) -> None:
    raw = changed(FULL_DATASOURCE, "spec.connections.3.roCrate.spec", spec)
    parsed = parse_one(AnalyticsDataSource, raw)
    assert isinstance(parsed, AnalyticsDataSource), parsed
    assert parsed.to_dict() == raw
    crate = parsed.spec.connections[3].ro_crate
    assert crate is not None and crate.spec == spec
