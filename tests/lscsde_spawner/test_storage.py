"""Storage planning: which PVCs a workspace's pod gets, where, and how they reach the pod."""

from __future__ import annotations

import copy
import re
from typing import Any, cast

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException
from kubespawner.objects import make_pod

from lscsde_spawner.models import AnalyticsDataSource, AnalyticsWorkspace
from lscsde_spawner.storage import (
    ClaimMissing,
    ClaimRefused,
    ClaimToEnsure,
    ExistingClaim,
    Mount,
    StoragePlan,
    StoragePlanError,
    StorageSettings,
    apply_plan,
    check_claims,
    datasource_claim_name,
    parse_selector,
    plan_storage,
    running_from_pod,
    volume_name,
    workspace_claim_name,
    workspace_storage_class,
)
from tests.support import factories

NS = "sde"
S = StorageSettings()
LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
ANNOTATION = "xlscsde.nhs.uk/persistent-volume-claim"


def workspace(
    name: str = "ws1",
    *,
    pvc: str | None = None,
    storage_class: str | None = None,
    status_pvc: str | None = None,
    additional: list[dict[str, Any]] | None = None,
) -> AnalyticsWorkspace:
    jupyter: dict[str, Any] = {}
    claim = {k: v for k, v in (("name", pvc), ("storageClassName", storage_class)) if v is not None}
    if claim:
        jupyter["persistentVolumeClaim"] = claim
    if additional is not None:
        jupyter["additionalStorage"] = additional
    status = None if status_pvc is None else {"persistentVolumeClaim": status_pvc}
    raw = factories.workspace(name, namespace=NS, status=status, **jupyter)
    return AnalyticsWorkspace.model_validate(raw)


def datasource(name: str, claim: str | None = None) -> AnalyticsDataSource:
    annotations = None if claim is None else {ANNOTATION: claim}
    raw = factories.datasource(name, namespace=NS, annotations=annotations)
    return AnalyticsDataSource.model_validate(raw)


def by_path(plan: StoragePlan) -> dict[str, Mount]:
    return {m.mount_path: m for m in plan.mounts}


def volumes_by_name(plan: StoragePlan) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in plan.volumes()}


# -- the workspace PVC -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec_name", "status_name", "prefix", "expected"),
    [
        ("spec-pvc", "status-pvc", "workspace-", "spec-pvc"),
        ("spec-pvc", None, "workspace-", "spec-pvc"),
        # The status never names the claim: whoever writes status must not redirect the mount.
        (None, "status-pvc", "workspace-", "workspace-ws1"),
        (None, "hub-db-dir", "workspace-", "workspace-ws1"),
        (None, None, "workspace-", "workspace-ws1"),
        (None, None, "ws-", "ws-ws1"),
        (None, None, "", "ws1"),
        ("", "", "workspace-", "workspace-ws1"),  # empty strings count as unset
        ("", "status-pvc", "workspace-", "workspace-ws1"),
        ("team.storage", None, "workspace-", "team.storage"),  # a dotted PVC name is valid
    ],
)
def test_workspace_claim_precedence(
    spec_name: str | None, status_name: str | None, prefix: str, expected: str
) -> None:
    ws = workspace(pvc=spec_name, status_pvc=status_name)
    settings = StorageSettings(claim_prefix=prefix)
    assert workspace_claim_name(ws, settings) == expected
    plan = plan_storage(ws, [], settings)
    assert plan.claims[0].name == expected
    assert plan.mounts[0].claim == expected
    assert plan.mounts[0].purpose == "workspace"


@pytest.mark.parametrize(
    ("status_name", "prefix", "name", "fragment"),
    [
        (None, "Workspace_", "ws1", "claim prefix"),
        (None, "workspace-", "w" * 250, "claim prefix"),  # > 253 characters
    ],
)
def test_invalid_workspace_claim_names_are_refused(
    status_name: str | None, prefix: str, name: str, fragment: str
) -> None:
    ws = workspace(name, status_pvc=status_name)
    with pytest.raises(StoragePlanError, match=re.escape(fragment)):
        plan_storage(ws, [], StorageSettings(claim_prefix=prefix))


def test_workspace_claim_is_ensured_with_settings() -> None:
    settings = StorageSettings(access_modes=("ReadWriteOnce",), capacity="25Gi")
    (claim,) = plan_storage(workspace(), [], settings).claims
    assert claim == ClaimToEnsure(
        "workspace-ws1", None, ("ReadWriteOnce",), "25Gi", {"xlscsde.nhs.uk/workspace": "ws1"}
    )


def test_a_long_workspace_name_gets_a_valid_label_value() -> None:
    name = "w" * 100
    (claim,) = plan_storage(workspace(name), [], StorageSettings(claim_prefix="p-")).claims
    value = claim.labels["xlscsde.nhs.uk/workspace"]
    assert len(value) <= 63 and re.fullmatch(r"[a-z0-9-]+", value)


@pytest.mark.parametrize("modes", [(), ("ReadWriteSometimes",)])
def test_invalid_access_modes_are_refused(modes: tuple[str, ...]) -> None:
    with pytest.raises(StoragePlanError, match="access modes"):
        plan_storage(workspace(), [], StorageSettings(access_modes=modes))


def test_a_virtual_machine_workspace_has_no_pod_storage() -> None:
    raw = workspace().to_dict()
    raw["spec"]["virtualMachineWorkspace"] = {"maxHosts": 1}
    del raw["spec"]["jupyterWorkspace"]
    ws = AnalyticsWorkspace.model_validate(raw)
    with pytest.raises(StoragePlanError, match="not a Jupyter workspace"):
        plan_storage(ws, [], S)


# -- storage classes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("own", "configured", "expected"),
    [
        ("fast", "slow", "fast"),  # the workspace's class wins
        ("fast", None, "fast"),
        (None, "slow", "slow"),
        (None, None, None),  # the cluster's default class
        ("", "slow", "slow"),  # empty in the object counts as unset
        (None, "", ""),  # an explicit "no class" from the admin is kept
    ],
)
def test_storage_class_precedence(
    own: str | None, configured: str | None, expected: str | None
) -> None:
    ws = workspace(storage_class=own)
    settings = StorageSettings(storage_class=configured)
    assert workspace_storage_class(ws, settings) == expected
    assert plan_storage(ws, [], settings).claims[0].storage_class == expected


# -- additional storage ------------------------------------------------------------------------


def test_additional_storage_is_mounted_and_created_only_with_a_class() -> None:
    ws = workspace(
        storage_class="fast",
        additional=[
            {"mountPath": "/shared/project", "persistentVolumeClaim": "project-data"},
            {
                "mountPath": "/scratch",
                "persistentVolumeClaim": "scratch",
                "storageClassName": "local-ssd",
            },
        ],
    )
    plan = plan_storage(ws, [], StorageSettings(storage_class="slow", capacity="5Gi"))
    mounts = by_path(plan)
    assert set(mounts) == {"/home/jovyan/ws1", "/shared/project", "/scratch"}
    assert mounts["/shared/project"].claim == "project-data"
    assert mounts["/scratch"].claim == "scratch"
    assert all(not m.read_only for m in plan.mounts)
    assert {m.purpose for m in plan.mounts if m.mount_path != "/home/jovyan/ws1"} == {"additional"}
    # The entry's class wins; an entry without one names a claim that must already exist.
    assert [(c.name, c.storage_class, c.size) for c in plan.claims] == [
        ("workspace-ws1", "fast", "5Gi"),
        ("scratch", "local-ssd", "5Gi"),
    ]
    assert plan.required_claims() == ("project-data",)
    assert {v["persistentVolumeClaim"]["claimName"] for v in plan.volumes()} == {
        "workspace-ws1",
        "project-data",
        "scratch",
    }


def test_the_same_writable_claim_at_two_paths_shares_one_volume() -> None:
    ws = workspace(
        pvc="shared",
        additional=[{"mountPath": "/mnt/shared", "persistentVolumeClaim": "shared"}],
    )
    plan = plan_storage(ws, [], S)
    assert len(plan.volumes()) == 1
    assert [m["mountPath"] for m in plan.volume_mounts()] == ["/home/jovyan/ws1", "/mnt/shared"]
    assert len({m["name"] for m in plan.volume_mounts()}) == 1
    assert [c.name for c in plan.claims] == ["shared"]


# -- data sources ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "template", "expected"),
    [
        (None, "datasource-{datasource}", "datasource-census"),
        ("census-2021-pvc", "datasource-{datasource}", "census-2021-pvc"),  # annotation wins
        ("", "datasource-{datasource}", "datasource-census"),  # empty counts as absent
        (None, "{datasource}-data", "census-data"),
        (None, "shared-data", "shared-data"),
    ],
)
def test_datasource_claim_name(annotation: str | None, template: str, expected: str) -> None:
    settings = StorageSettings(datasource_claim_template=template)
    assert datasource_claim_name(datasource("census", annotation), settings) == expected


@pytest.mark.parametrize(
    ("annotation", "template", "fragment"),
    [
        ("Not A PVC", "datasource-{datasource}", "annotation"),
        ("../escape", "datasource-{datasource}", "annotation"),
        (None, "Data_{datasource}", "datasource_claim_template"),
        (None, "ds-{workspace}", "may only use"),  # no workspace in a claim template
        (None, "ds-{datasource.__class__}", "may only use"),
    ],
)
def test_invalid_datasource_claims_are_refused(
    annotation: str | None, template: str, fragment: str
) -> None:
    settings = StorageSettings(datasource_claim_template=template)
    with pytest.raises(StoragePlanError, match=re.escape(fragment)):
        datasource_claim_name(datasource("census", annotation), settings)


def test_the_annotation_key_is_configurable_and_can_be_switched_off() -> None:
    ds = datasource("census", "annotated-pvc")
    assert datasource_claim_name(ds, StorageSettings(datasource_claim_annotation="")) == (
        "datasource-census"
    )
    other = StorageSettings(datasource_claim_annotation="example.org/pvc")
    assert datasource_claim_name(ds, other) == "datasource-census"


@pytest.mark.parametrize(
    ("template", "expected_paths"),
    [
        ("/data/{datasource}", ["/data/census", "/data/gp-records", "/data/hes"]),
        ("/home/jovyan/data/{datasource}", [  # the default: data/<name> in JupyterLab
            "/home/jovyan/data/census",
            "/home/jovyan/data/gp-records",
            "/home/jovyan/data/hes",
        ]),
        ("/mnt/{workspace}/data/{datasource}/", [
            "/mnt/ws1/data/census",
            "/mnt/ws1/data/gp-records",
            "/mnt/ws1/data/hes",
        ]),
    ],
)  # fmt: skip
def test_several_datasources_are_mounted_read_only(
    template: str, expected_paths: list[str]
) -> None:
    read_only = True  # always: there is no setting that makes a data source writable
    settings = StorageSettings(datasource_mount_template=template)
    sources = [datasource("census"), datasource("gp-records", "gp.records.v2"), datasource("hes")]
    plan = plan_storage(workspace(), sources, settings)
    ds_mounts = [m for m in plan.mounts if m.purpose == "datasource"]
    assert [m.mount_path for m in ds_mounts] == expected_paths
    assert [m.source for m in ds_mounts] == ["census", "gp-records", "hes"]
    assert [m.claim for m in ds_mounts] == ["datasource-census", "gp.records.v2", "datasource-hes"]
    # Data-source claims are never created: they must exist.
    assert [c.name for c in plan.claims] == ["workspace-ws1"]
    assert plan.required_claims() == ("datasource-census", "gp.records.v2", "datasource-hes")

    vols = volumes_by_name(plan)
    json_mounts = {m["mountPath"]: m for m in plan.volume_mounts()}
    for m in ds_mounts:
        assert m.read_only is read_only
        source = vols[m.volume]["persistentVolumeClaim"]
        assert source.get("readOnly", False) is read_only
        assert json_mounts[m.mount_path].get("readOnly", False) is read_only
    # The workspace's own storage stays writable either way.
    ws_mount = json_mounts["/home/jovyan/ws1"]
    assert "readOnly" not in ws_mount
    assert "readOnly" not in vols[ws_mount["name"]]["persistentVolumeClaim"]


def test_a_datasource_passed_twice_is_mounted_once() -> None:
    plan = plan_storage(workspace(), [datasource("census"), datasource("census")], S)
    assert [m.mount_path for m in plan.mounts] == ["/home/jovyan/ws1", "/home/jovyan/data/census"]


IN_WS = StorageSettings(datasource_mount_template="/home/jovyan/{workspace}/d/{datasource}")
WS_IN_DATA = StorageSettings(mount_path_template="/home/jovyan/data/census/{workspace}")


def extra(path: str) -> list[dict[str, str]]:
    return [{"mountPath": path, "persistentVolumeClaim": "x"}]


@pytest.mark.parametrize(
    ("ws", "settings", "inner", "outer"),
    [
        # The data inside the workspace's folder: its mount points would be made on the PVC.
        (workspace(), IN_WS, "data source 'census'", "the storage of workspace 'ws1'"),
        # A workspace named "data", mounted where the data sources go (the default templates).
        (workspace("data"), S, "data source 'census'", "the storage of workspace 'data'"),
        # Additional storage over the data folder.
        (workspace(additional=extra("/home/jovyan/data")), S, "data source 'census'",
         "additional storage of workspace 'ws1' (PVC 'x')"),
        # Writable storage inside a data source (whose mount point cannot be made: read-only).
        (workspace(additional=extra("/home/jovyan/data/census/out/")), S,
         "additional storage of workspace 'ws1' (PVC 'x')", "data source 'census'"),
        (workspace(pvc="p"), WS_IN_DATA, "the storage of workspace 'ws1'", "data source 'census'"),
    ],
)  # fmt: skip
def test_a_datasource_and_writable_storage_never_nest(
    ws: AnalyticsWorkspace, settings: StorageSettings, inner: str, outer: str
) -> None:
    """Nothing is written to the workspace's PVC, and no storage is mounted on the read-only
    data: the runtime would create the inner mount point on the outer volume."""
    with pytest.raises(StoragePlanError, match="inside") as err:
        plan_storage(ws, [datasource("census")], settings)
    message = str(err.value)
    assert message.index(inner) < message.index("inside") < message.index(outer), message


def test_data_beside_the_workspace_and_inside_the_admins_home_is_fine() -> None:
    """Siblings (/home/jovyan/ws1 and /home/jovyan/data/x) and one mount path a prefix of
    another's without being its parent (/home/jovyan/data vs /home/jovyan/data-2) do not nest."""
    ws = workspace(additional=extra("/home/jovyan/data-2"))
    plan = plan_storage(ws, [datasource("census")], S)
    assert [m.mount_path for m in plan.mounts] == [
        "/home/jovyan/ws1",
        "/home/jovyan/data-2",
        "/home/jovyan/data/census",
    ]
    ws = workspace(
        "d", additional=[{"mountPath": "/home/jovyan/dat", "persistentVolumeClaim": "x"}]
    )
    assert plan_storage(ws, [datasource("census")], S).mounts


def test_a_claim_both_read_only_and_writable_is_refused() -> None:
    # A data source pointed at the workspace's own PVC would be writable through the workspace.
    ws = workspace(pvc="shared")
    with pytest.raises(StoragePlanError, match="read-only for data source 'census'") as err:
        plan_storage(ws, [datasource("census", "shared")], S)
    assert "writable for the storage of workspace 'ws1'" in str(err.value)


# -- whose claim it is ------------------------------------------------------------------------

WS_OWN = {"xlscsde.nhs.uk/workspace": "ws1"}


def ext(**labels: str) -> ExistingClaim:
    return ExistingClaim({k.replace("__", "/").replace("_", "."): v for k, v in labels.items()})


def full_plan() -> StoragePlan:
    ws = workspace(additional=[
        {"mountPath": "/mnt/made", "persistentVolumeClaim": "made", "storageClassName": "std"},
        {"mountPath": "/mnt/given", "persistentVolumeClaim": "given"},
    ])  # fmt: skip
    return plan_storage(ws, [datasource("census")], S)


def test_owned_claims_pass_and_missing_ensurable_ones_are_created() -> None:
    existing = {
        "workspace-ws1": None,  # ours to create
        "made": ExistingClaim(WS_OWN),
        "given": ExistingClaim({**WS_OWN, "team": "x"}),
        "datasource-census": ExistingClaim({"xlscsde.nhs.uk/datasource": "census"}),
    }
    create = check_claims(full_plan(), existing, S, namespace="ns")
    assert [c.name for c in create] == ["workspace-ws1"]
    assert create[0].labels == WS_OWN  # what the spawner creates carries the workspace's label


@pytest.mark.parametrize(
    ("claim", "labels", "adopt"),
    [
        ("workspace-ws1", {}, "xlscsde.nhs.uk/workspace=ws1"),  # e.g. hub-db-dir, claim-bob
        ("workspace-ws1", {"xlscsde.nhs.uk/workspace": "ws2"}, "xlscsde.nhs.uk/workspace=ws1"),
        ("given", {"component": "singleuser-storage"}, "xlscsde.nhs.uk/workspace=ws1"),
        ("made", {"xlscsde.nhs.uk/datasource": "census"}, "xlscsde.nhs.uk/workspace=ws1"),
        # A data source's claim needs the data source's label; a workspace label is no proof.
        ("datasource-census", WS_OWN, "xlscsde.nhs.uk/datasource=census"),
        ("datasource-census", {"xlscsde.nhs.uk/datasource": "other"},
         "xlscsde.nhs.uk/datasource=census"),
    ],
)  # fmt: skip
def test_a_claim_without_its_owners_label_is_refused(
    claim: str, labels: dict[str, str], adopt: str
) -> None:
    existing: dict[str, ExistingClaim | None] = {
        "workspace-ws1": ExistingClaim(WS_OWN),
        "made": ExistingClaim(WS_OWN),
        "given": ExistingClaim(WS_OWN),
        "datasource-census": ExistingClaim({"xlscsde.nhs.uk/datasource": "census"}),
    }
    existing[claim] = ExistingClaim(labels)
    with pytest.raises(ClaimRefused) as err:
        check_claims(full_plan(), existing, S, namespace="sde")
    assert f"kubectl label pvc {claim} -n sde {adopt}" in str(err.value)
    assert f"(PVC {claim!r})" in str(err.value)


@pytest.mark.parametrize("claim", ["given", "datasource-census"])
def test_a_required_claim_that_is_missing_is_an_error(claim: str) -> None:
    existing: dict[str, ExistingClaim | None] = {
        "workspace-ws1": None,
        "made": None,
        "given": ExistingClaim(WS_OWN),
        "datasource-census": ExistingClaim({"xlscsde.nhs.uk/datasource": "census"}),
    }
    existing[claim] = None
    with pytest.raises(ClaimMissing, match=re.escape(f"(PVC {claim!r}) does not exist")):
        check_claims(full_plan(), existing, S, namespace="sde")


def test_a_claim_being_deleted_is_an_error() -> None:
    existing = {"workspace-ws1": ExistingClaim(WS_OWN, being_deleted=True)}
    with pytest.raises(StoragePlanError, match="being deleted"):
        check_claims(plan_storage(workspace(), [], S), existing, S, namespace="sde")


def test_the_admins_selector_adopts_workspace_storage_but_never_data() -> None:
    trusted = StorageSettings(trusted_claim_selector=parse_selector("shared=yes, legacy"))
    plan = plan_storage(workspace(), [datasource("census")], trusted)
    ok = {"workspace-ws1": ExistingClaim({"legacy": ""}),
          "datasource-census": ExistingClaim({"xlscsde.nhs.uk/datasource": "census"})}  # fmt: skip
    assert check_claims(plan, ok, trusted, namespace="sde") == ()
    ok["workspace-ws1"] = ExistingClaim({"shared": "no"})
    with pytest.raises(ClaimRefused):
        check_claims(plan, ok, trusted, namespace="sde")
    ok["workspace-ws1"] = ExistingClaim({"shared": "yes"})
    ok["datasource-census"] = ExistingClaim({"shared": "yes", "legacy": "1"})
    with pytest.raises(ClaimRefused, match="data source 'census'"):
        check_claims(plan, ok, trusted, namespace="sde")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("a=b", (("a", "b"),)),
        (" a = b , example.org/c ", (("a", "b"), ("example.org/c", None))),
    ],
)
def test_parse_selector(text: str, expected: tuple[tuple[str, str | None], ...]) -> None:
    assert parse_selector(text) == expected


@pytest.mark.parametrize("text", ["a!=b", "!a", "a=", "a in (b)", "a=b c", "-a=b", "a=b\nc"])
def test_parse_selector_refuses_what_it_does_not_support(text: str) -> None:
    with pytest.raises(ValueError):
        parse_selector(text)


# -- mount-path collisions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("additional", "sources", "settings", "first", "second"),
    [
        (  # additional storage over the workspace mount (trailing slash is the same path)
            [{"mountPath": "/home/jovyan/ws1/", "persistentVolumeClaim": "extra"}],
            [],
            S,
            "the storage of workspace 'ws1'",
            "additional storage of workspace 'ws1' (PVC 'extra')",
        ),
        (  # two additional entries at one path
            [
                {"mountPath": "/mnt/a", "persistentVolumeClaim": "a"},
                {"mountPath": "/mnt/a", "persistentVolumeClaim": "b"},
            ],
            [],
            S,
            "(PVC 'a')",
            "(PVC 'b')",
        ),
        (  # additional storage vs a data source
            [{"mountPath": "/home/jovyan/data/census", "persistentVolumeClaim": "extra"}],
            ["census"],
            S,
            "additional storage of workspace 'ws1' (PVC 'extra')",
            "data source 'census'",
        ),
        (  # a data-source template without {datasource} and two data sources
            [],
            ["census", "hes"],
            StorageSettings(datasource_mount_template="/data"),
            "data source 'census'",
            "data source 'hes'",
        ),
        (  # the workspace template and a data-source template that agree
            [],
            ["census"],
            StorageSettings(mount_path_template="/srv/{workspace}",
                            datasource_mount_template="/srv/{workspace}"),
            "the storage of workspace 'ws1'",
            "data source 'census'",
        ),
    ],
)  # fmt: skip
def test_mount_path_collisions_name_both(
    additional: list[dict[str, Any]],
    sources: list[str],
    settings: StorageSettings,
    first: str,
    second: str,
) -> None:
    ws = workspace(additional=additional)
    with pytest.raises(StoragePlanError, match="is used twice") as err:
        plan_storage(ws, [datasource(n) for n in sources], settings)
    message = str(err.value)
    assert first in message and second in message
    assert message.index(first) < message.index(second)


def test_nested_mount_paths_are_allowed() -> None:
    ws = workspace(
        additional=[
            {"mountPath": "/home/jovyan/ws1/extra", "persistentVolumeClaim": "extra"},
            {"mountPath": "/home/jovyan/ws1/extra/deeper", "persistentVolumeClaim": "deeper"},
        ]
    )
    plan = plan_storage(ws, [datasource("census")], S)
    assert len(plan.mounts) == 4


# -- volume names ------------------------------------------------------------------------------

LONG = "a" * 70


@pytest.mark.parametrize(
    "claims",
    [
        ["team.data", "team-data"],  # differ only by a dot
        ["a.b.c", "a-b.c", "a.b-c", "a-b-c"],
        [LONG + "-one", LONG + "-two"],  # differ only beyond 63 characters
        ["x" * 56, "x" * 57, "x" * 253],
        ["v" * 253, "v" * 252 + "w"],  # the longest names, differing in the last character
    ],
)
def test_volume_names_are_unique_labels(claims: list[str]) -> None:
    ws = workspace(
        pvc=claims[0],
        additional=[
            {"mountPath": f"/mnt/{i}", "persistentVolumeClaim": c} for i, c in enumerate(claims)
        ][1:],
    )
    plan = plan_storage(ws, [], S)
    names = [v["name"] for v in plan.volumes()]
    assert len(names) == len(set(names)) == len(claims)
    assert all(len(n) <= 63 and LABEL_RE.fullmatch(n) for n in names)
    assert [v["persistentVolumeClaim"]["claimName"] for v in plan.volumes()] == claims


def test_volume_names_are_stable_and_readable() -> None:
    assert volume_name("workspace-ws1") == "lscsde-workspace-ws1"
    assert volume_name("team.data") == volume_name("team.data")
    assert volume_name("team.data").startswith("lscsde-team-data-")
    taken = {"lscsde-workspace-ws1"}
    other = volume_name("workspace-ws1", taken)
    assert other not in taken and LABEL_RE.fullmatch(other)
    # A crafted claim named like another's hashed volume name still gets its own.
    crafted = volume_name("team.data")[len("lscsde-") :]
    assert volume_name(crafted, {volume_name("team.data")}) != volume_name("team.data")


# -- templates and hostile names ---------------------------------------------------------------


@pytest.mark.parametrize(
    "hostile",
    ["../etc", "a/b", "UPPER", "has space", "x}{workspace", "ws\n", "a..b", "-ws", ".", ""],
)
def test_hostile_workspace_names_never_reach_a_template(hostile: str) -> None:
    ws = workspace()
    ws.metadata.name = hostile
    with pytest.raises(StoragePlanError, match="workspace name"):
        plan_storage(ws, [], S)


@pytest.mark.parametrize("hostile", ["../../etc", "a/b", "Census", "x y", "{datasource}"])
def test_hostile_datasource_names_never_reach_a_template(hostile: str) -> None:
    ds = datasource("census")
    ds.metadata.name = hostile
    with pytest.raises(StoragePlanError, match="data source name"):
        plan_storage(workspace(), [ds], S)


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        (StorageSettings(mount_path_template="/home/{workspace.__class__}"), "may only use"),
        (StorageSettings(mount_path_template="/home/{0}"), "may only use"),
        (StorageSettings(mount_path_template="/home/{}"), "may only use"),
        (StorageSettings(mount_path_template="/home/{workspace!r}"), "may only use"),
        (StorageSettings(mount_path_template="/home/{workspace:>80}"), "may only use"),
        (StorageSettings(mount_path_template="/home/{datasource}"), "may only use"),
        (StorageSettings(mount_path_template="/home/{workspace"), "not a valid template"),
        (StorageSettings(mount_path_template="{workspace}"), "absolute"),  # relative
        (StorageSettings(mount_path_template="/home/../{workspace}"), "absolute"),
        (StorageSettings(mount_path_template="/home/./{workspace}"), "absolute"),
        (StorageSettings(mount_path_template="//{workspace}"), "absolute"),
        (StorageSettings(datasource_mount_template="/data/{datasource[0]}"), "may only use"),
        (StorageSettings(datasource_mount_template="/"), "absolute"),
        (StorageSettings(datasource_mount_template="/data/{user}"), "may only use"),
    ],
)
def test_bad_templates_are_refused(settings: StorageSettings, fragment: str) -> None:
    with pytest.raises(StoragePlanError, match=re.escape(fragment)):
        plan_storage(workspace(), [datasource("census")], settings)


# -- apply_plan --------------------------------------------------------------------------------


def base_pod(*, admin: bool = True, certs: bool = True, sidecar: bool = True) -> dict[str, Any]:
    """A pod as KubeSpawner builds it, in JSON shape."""
    volumes = []
    mounts = []
    if admin:
        volumes.append({"name": "home", "persistentVolumeClaim": {"claimName": "claim-alice"}})
        mounts.append({"name": "home", "mountPath": "/home/jovyan"})
    pod = make_pod(
        name="jupyter-alice",
        cmd=["jupyterhub-singleuser"],
        port=8888,
        image="jupyter/base-notebook:latest",
        env={},  # KubeSpawner always passes its environment
        volumes=volumes,
        volume_mounts=mounts,
        ssl_secret_name="alice-certs" if certs else None,
        ssl_secret_mount_path="/etc/jupyterhub/ssl/" if certs else None,
        extra_containers=(
            [{"name": "sidecar", "image": "busybox",
              "volumeMounts": [{"name": "home", "mountPath": "/backup"}]}]
            if sidecar and admin else None
        ),
    )  # fmt: skip
    shaped: dict[str, Any] = to_json(pod)
    return shaped


def to_json(obj: Any) -> Any:
    """``ApiClient().sanitize_for_serialization(obj)``, without the HTTP session (and event
    loop) an ApiClient opens: serialising reads only class attributes."""
    return ApiClient.sanitize_for_serialization(ApiClient.__new__(ApiClient), obj)


def container(pod: dict[str, Any], name: str = "notebook") -> dict[str, Any]:
    return next(c for c in pod["spec"]["containers"] if c["name"] == name)


def mount_names(pod: dict[str, Any], name: str = "notebook") -> list[str]:
    return [m["name"] for m in container(pod, name).get("volumeMounts") or []]


def test_apply_plan_keeps_admin_volumes() -> None:
    pod = base_pod()
    before = copy.deepcopy(pod)
    plan = plan_storage(workspace(), [datasource("census")], S)
    out = apply_plan(pod, plan, keep_admin_volumes=True)
    assert pod == before  # the input is untouched
    assert [v["name"] for v in out["spec"]["volumes"]] == [
        "home",
        "jupyterhub-internal-certs",
        "lscsde-workspace-ws1",
        "lscsde-datasource-census",
    ]
    assert mount_names(out) == [
        "home",
        "jupyterhub-internal-certs",
        "lscsde-workspace-ws1",
        "lscsde-datasource-census",
    ]
    assert mount_names(out, "sidecar") == ["home"]
    assert container(out)["volumeMounts"][-1] == {
        "name": "lscsde-datasource-census",
        "mountPath": "/home/jovyan/data/census",
        "readOnly": True,
    }


def test_apply_plan_drops_only_the_admins_volumes() -> None:
    pod = base_pod()
    before = copy.deepcopy(pod)
    plan = plan_storage(workspace(), [], S)
    out = apply_plan(pod, plan, keep_admin_volumes=False)
    assert pod == before
    assert [v["name"] for v in out["spec"]["volumes"]] == [
        "jupyterhub-internal-certs",  # KubeSpawner's own stays
        "lscsde-workspace-ws1",
    ]
    assert mount_names(out) == ["jupyterhub-internal-certs", "lscsde-workspace-ws1"]
    # No container keeps a mount of a dropped volume.
    assert mount_names(out, "sidecar") == []


@pytest.mark.parametrize(
    ("admin", "certs"), [(False, False), (False, True), (True, False), (True, True)]
)
@pytest.mark.parametrize("keep", [True, False])
def test_apply_plan_on_pods_with_and_without_volumes(admin: bool, certs: bool, keep: bool) -> None:
    pod = base_pod(admin=admin, certs=certs)
    out = apply_plan(pod, plan_storage(workspace(), [], S), keep_admin_volumes=keep)
    expected = (["home"] if admin and keep else []) + (
        ["jupyterhub-internal-certs"] if certs else []
    )
    assert [v["name"] for v in out["spec"]["volumes"]] == [*expected, "lscsde-workspace-ws1"]
    assert mount_names(out) == [*expected, "lscsde-workspace-ws1"]


def test_apply_plan_on_a_pod_without_volume_keys() -> None:
    pod = {"spec": {"containers": [{"name": "notebook", "image": "x"}]}}
    out = apply_plan(pod, plan_storage(workspace(), [], S), keep_admin_volumes=False)
    assert out["spec"]["volumes"] == [
        {"name": "lscsde-workspace-ws1", "persistentVolumeClaim": {"claimName": "workspace-ws1"}}
    ]
    assert pod == {"spec": {"containers": [{"name": "notebook", "image": "x"}]}}


ADMINS = "the admin's volume 'home'"
CERTS = "KubeSpawner's volume 'jupyterhub-internal-certs'"


@pytest.mark.parametrize(
    ("admin_path", "settings", "theirs", "ours"),
    [
        ("/home/jovyan/ws1", S, ADMINS, "the storage of workspace 'ws1'"),
        ("/home/jovyan/ws1/", S, ADMINS, "the storage of workspace 'ws1'"),
        ("/home/jovyan/data/census", S, ADMINS, "data source 'census'"),
        (None, StorageSettings(datasource_mount_template="/etc/jupyterhub/ssl"), CERTS,
         "data source 'census'"),
    ],
)  # fmt: skip
def test_apply_plan_refuses_a_path_the_pod_already_mounts(
    admin_path: str | None, settings: StorageSettings, theirs: str, ours: str
) -> None:
    pod = base_pod()
    if admin_path is not None:
        container(pod)["volumeMounts"].append({"name": "home", "mountPath": admin_path})
    plan = plan_storage(workspace(), [datasource("census")], settings)
    for keep in (True, False):  # KubeSpawner's own mounts stay even when the admin's go
        if not keep and theirs == ADMINS:
            continue
        with pytest.raises(StoragePlanError, match="is used twice") as err:
            apply_plan(pod, plan, keep_admin_volumes=keep)
        message = str(err.value)
        assert message.index(theirs) < message.index(ours)


def test_apply_plan_allows_a_mount_inside_the_admins_home() -> None:
    # /home/jovyan (the admin's) contains /home/jovyan/ws1 (ours): nesting is allowed.
    out = apply_plan(base_pod(), plan_storage(workspace(), [], S), keep_admin_volumes=True)
    assert "lscsde-workspace-ws1" in mount_names(out)


def test_dropping_admin_volumes_removes_their_collisions() -> None:
    pod = base_pod()
    container(pod)["volumeMounts"].append({"name": "home", "mountPath": "/home/jovyan/ws1"})
    out = apply_plan(pod, plan_storage(workspace(), [], S), keep_admin_volumes=False)
    assert mount_names(out) == ["jupyterhub-internal-certs", "lscsde-workspace-ws1"]


def test_apply_plan_renames_a_volume_name_the_pod_already_uses() -> None:
    pod = base_pod()
    pod["spec"]["volumes"].append({"name": "lscsde-workspace-ws1", "emptyDir": {}})
    out = apply_plan(pod, plan_storage(workspace(), [], S), keep_admin_volumes=True)
    names = [v["name"] for v in out["spec"]["volumes"]]
    assert len(names) == len(set(names))
    ours = out["spec"]["volumes"][-1]
    assert ours["persistentVolumeClaim"] == {"claimName": "workspace-ws1"}
    assert ours["name"] != "lscsde-workspace-ws1" and LABEL_RE.fullmatch(ours["name"])
    assert container(out)["volumeMounts"][-1]["name"] == ours["name"]


def test_apply_plan_needs_the_notebook_container() -> None:
    pod = base_pod()
    with pytest.raises(StoragePlanError, match="no container named 'lab'"):
        apply_plan(pod, plan_storage(workspace(), [], S), container="lab", keep_admin_volumes=True)
    with pytest.raises(StoragePlanError, match="no spec"):
        apply_plan({"metadata": {}}, plan_storage(workspace(), [], S), keep_admin_volumes=True)


# -- against the embedded Kubernetes API ------------------------------------------------------


@pytest.mark.parametrize("keep", [True, False])
async def test_the_api_server_accepts_the_planned_pod(kube_client: ApiClient, keep: bool) -> None:
    core = client.CoreV1Api(kube_client)
    ws = workspace(
        "ws1",
        pvc="team.storage." + "x" * 60,  # dotted and long: its volume name is hashed
        additional=[
            {"mountPath": "/home/jovyan/ws1/shared", "persistentVolumeClaim": "team-storage"},
            {"mountPath": "/scratch", "persistentVolumeClaim": "scratch", "storageClassName": "x"},
        ],
    )
    sources = [datasource("census"), datasource("hes", "hes.2024")]
    plan = plan_storage(ws, sources, S)
    pod = apply_plan(base_pod(), plan, keep_admin_volumes=keep)

    # The server really checks: the same pod with a mount path used twice is refused.
    broken = copy.deepcopy(pod)
    container(broken)["volumeMounts"].append(
        {"name": plan.mounts[0].volume, "mountPath": "/home/jovyan/data/census"}
    )
    with pytest.raises(ApiException) as err:
        await core.create_namespaced_pod("default", cast(Any, broken))
    assert err.value.status == 422

    # The client sends a dict body as it is (the stubs only admit the model).
    created = await core.create_namespaced_pod("default", cast(Any, pod))
    stored = kube_client.sanitize_for_serialization(
        await core.read_namespaced_pod(created.metadata.name, "default")
    )
    admin = (["home"] if keep else []) + ["jupyterhub-internal-certs"]
    assert [v["name"] for v in stored["spec"]["volumes"]] == admin + [
        v["name"] for v in plan.volumes()
    ]
    assert [v for v in stored["spec"]["volumes"] if v["name"] not in admin] == plan.volumes()
    stored_mounts = container(stored)["volumeMounts"]
    assert [m for m in stored_mounts if m["name"] not in admin] == plan.volume_mounts()
    assert [m["name"] for m in stored_mounts if m["name"] in admin] == admin
    assert [m["name"] for m in container(stored, "sidecar").get("volumeMounts") or []] == (
        ["home"] if keep else []
    )


# -- what a running pod says about itself ------------------------------------------------------


def test_the_pod_records_the_data_sources_it_mounts() -> None:
    plan = plan_storage(workspace(), [datasource("census"), datasource("hes")], S)
    pod = apply_plan(
        {"metadata": {"labels": {"xlscsde.nhs.uk/workspace": "ws1"}},
         "spec": {"containers": [{"name": "notebook"}]}},
        plan, keep_admin_volumes=True,
    )  # fmt: skip
    assert running_from_pod(pod) == ("ws1", frozenset({"census", "hes"}))


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        (None, None),
        ({}, None),
        ({"metadata": {"labels": {"component": "singleuser-server"}}}, None),
        ({"metadata": {"labels": {"xlscsde.nhs.uk/workspace": "ws1"}}}, ("ws1", None)),
        ({"metadata": {"labels": {"xlscsde.nhs.uk/workspace": "ws1"},
                       "annotations": {"lscsde-spawner.xlscsde.nhs.uk/datasources": "{bad"}}},
         ("ws1", None)),
        ({"metadata": {"labels": {"xlscsde.nhs.uk/workspace": "ws1"},
                       "annotations": {"lscsde-spawner.xlscsde.nhs.uk/datasources": "[]"}}},
         ("ws1", frozenset())),
    ],
)  # fmt: skip
def test_running_from_pod(pod: Any, expected: Any) -> None:
    assert running_from_pod(pod) == expected
