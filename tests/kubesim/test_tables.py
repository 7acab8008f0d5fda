"""Server-side printing (meta.k8s.io Table) of the embedded API server."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubesim.apiserver.cells import human_duration, parse_time
from kubesim.apiserver.tables import column_definitions, object_table, to_table, wants_table
from kubesim.registry.errors import ApiError
from kubesim.registry.resources import Registry, ResourceType
from tests.support.sample_crds import crd_manifest

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
GROUP = "xlscsde.nhs.uk"


def ago(**kwargs: float) -> str:
    return (NOW - timedelta(**kwargs)).strftime("%Y-%m-%dT%H:%M:%SZ")


WORKSPACE_CRD: dict[str, Any] = crd_manifest(
    GROUP,
    "analyticsworkspaces",
    "AnalyticsWorkspace",
    [
        {
            "name": "v1",
            "served": True,
            "storage": True,
            "subresources": {"status": {}},
            "additionalPrinterColumns": [
                {"name": "Display Name", "type": "string", "jsonPath": ".spec.displayName"},
                {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                {"name": "Weight", "type": "number", "jsonPath": ".spec.weight"},
                {"name": "Enabled", "type": "boolean", "jsonPath": ".spec.enabled"},
                {
                    "name": "Ready",
                    "type": "string",
                    "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
                },
                {
                    "name": "Project",
                    "type": "string",
                    "jsonPath": ".metadata.labels.xlscsde\\.nhs\\.uk/project",
                    "priority": 1,
                    "description": "The project the workspace belongs to.",
                },
                {"name": "Expires", "type": "date", "jsonPath": ".spec.validity.endDate"},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            ],
            "schema": {
                "openAPIV3Schema": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                }
            },
        },
        {"name": "v1beta1", "served": True, "storage": False},
    ],
    shortNames=["aw"],
)


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    reg.set_crd(copy.deepcopy(WORKSPACE_CRD))
    return reg


def rt_of(registry: Registry, group: str, version: str, plural: str) -> ResourceType:
    rt = registry.get(group, version, plural)
    assert rt is not None
    return rt


def workspace(name: str = "ws1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "AnalyticsWorkspace",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": "8c3b7a5e-0000-4000-8000-000000000001",
            "resourceVersion": "42",
            "creationTimestamp": ago(minutes=5),
            "labels": {"xlscsde.nhs.uk/project": "p1"},
        },
        "spec": spec,
    }


def cells(table: dict[str, Any]) -> list[list[Any]]:
    return [row["cells"] for row in table["rows"]]


def one_row(rt: ResourceType, obj: dict[str, Any]) -> list[Any]:
    return cells(to_table(rt, [obj], list_meta={}, now=NOW))[0]


# -- content negotiation -------------------------------------------------------------------------

KUBECTL_GET_ACCEPT = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (KUBECTL_GET_ACCEPT, "meta.k8s.io/v1"),
        ("application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json",
         "meta.k8s.io/v1beta1"),
        ("application/json", None),
        ("", None),
        (None, None),
        ("application/json, application/json;as=Table;v=v1;g=meta.k8s.io", None),
        # Protobuf tables are not served; the JSON one after it is.
        ("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,"
         "application/json;as=Table;v=v1;g=meta.k8s.io", "meta.k8s.io/v1"),
        ("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json", None),
        ("application/json;as=Table;v=v2;g=meta.k8s.io,application/json", None),
    ],
)  # fmt: skip
def test_wants_table(accept: str | None, expected: str | None) -> None:
    assert wants_table(accept) == expected


# -- ages -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-3, "<invalid>"), (-2, "<invalid>"), (-1, "0s"), (0, "0s"), (1, "1s"), (59, "59s"),
        (119, "119s"), (120, "2m"), (121, "2m1s"), (9 * 60 + 59, "9m59s"), (10 * 60, "10m"),
        (10 * 60 + 59, "10m"), (179 * 60 + 59, "179m"), (3 * 3600, "3h"), (3 * 3600 + 60, "3h1m"),
        (7 * 3600 + 59 * 60 + 59, "7h59m"), (8 * 3600, "8h"), (47 * 3600 + 3599, "47h"),
        (48 * 3600, "2d"), (49 * 3600, "2d1h"), (7 * 86400 + 23 * 3600, "7d23h"),
        (8 * 86400, "8d"), (729 * 86400, "729d"), (730 * 86400, "2y"), (731 * 86400, "2y1d"),
        (8 * 365 * 86400, "8y"), (8 * 365 * 86400 + 200 * 86400, "8y"), (12 * 365 * 86400, "12y"),
    ],
)  # fmt: skip
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(timedelta(seconds=seconds)) == text


def test_parse_time() -> None:
    assert parse_time("2025-03-01T11:55:00Z") == NOW - timedelta(minutes=5)
    assert parse_time("2025-03-01T11:55:00.123456789Z") == NOW - timedelta(
        minutes=5, microseconds=-123456
    )
    assert parse_time("2025-03-01T13:00:00+01:00") == NOW
    assert parse_time("2025-03-01") is None
    assert parse_time(None) is None
    assert parse_time(12) is None


# -- custom resources -----------------------------------------------------------------------------


def test_crd_columns(registry: Registry) -> None:
    cols = column_definitions(rt_of(registry, GROUP, "v1", "analyticsworkspaces"))
    assert [(c["name"], c["type"], c["priority"]) for c in cols] == [
        ("Name", "string", 0), ("Display Name", "string", 0), ("Replicas", "integer", 0),
        ("Weight", "number", 0), ("Enabled", "boolean", 0), ("Ready", "string", 0),
        ("Project", "string", 1), ("Expires", "date", 0), ("Age", "date", 0),
    ]  # fmt: skip
    assert cols[0]["format"] == "name"
    assert cols[1]["description"] == (
        "Custom resource definition column (in JSONPath format): .spec.displayName"
    )
    assert cols[6]["description"] == "The project the workspace belongs to."
    assert all(set(c) == {"name", "type", "format", "description", "priority"} for c in cols)


def test_crd_cells_are_evaluated_like_the_real_server(registry: Registry) -> None:
    rt = rt_of(registry, GROUP, "v1", "analyticsworkspaces")
    obj = workspace(
        displayName="Cancer cohort", replicas=2.0, weight=3, enabled=True,
        validity={"endDate": ago(days=-3)},
    )  # fmt: skip
    obj["status"] = {
        "conditions": [
            {"type": "Scheduled", "status": "True"},
            {"type": "Ready", "status": "False"},
        ]
    }
    assert one_row(rt, obj) == [
        "ws1",
        "Cancer cohort",
        2,
        3.0,
        True,
        "False",
        "p1",
        "<invalid>",
        "5m",
    ]


def test_crd_missing_and_odd_values(registry: Registry) -> None:
    rt = rt_of(registry, GROUP, "v1", "analyticsworkspaces")
    obj = workspace(replicas="two", enabled="yes", validity={"endDate": "soon"})
    del obj["metadata"]["labels"]
    # Missing fields and values of the wrong type are null cells (kubectl shows them empty);
    # an unparsable date is "<invalid>".
    assert one_row(rt, obj) == ["ws1", None, None, None, None, None, None, "<invalid>", "5m"]

    obj = workspace(displayName={"b": 1, "a": [1.5, None]}, weight=True)
    obj["spec"]["validity"] = {"endDate": ago(days=2, hours=3)}
    row = one_row(rt, obj)
    assert row[1] == '{"a":[1.5,null],"b":1}'  # as client-go's jsonpath prints an object
    assert row[3] is None  # a boolean is not a number
    assert row[7] == "2d3h"

    obj = workspace(displayName=1e6)
    assert one_row(rt, obj)[1] == "1e+06"  # Go's %v of a float64
    obj = workspace(displayName=None)
    assert one_row(rt, obj)[1] == "<no value>"


def test_crd_without_printer_columns_gets_age(registry: Registry) -> None:
    rt = rt_of(registry, GROUP, "v1beta1", "analyticsworkspaces")
    cols = column_definitions(rt)
    assert [(c["name"], c["type"]) for c in cols] == [("Name", "string"), ("Age", "date")]
    obj = workspace()
    obj["metadata"]["creationTimestamp"] = ago(days=400)
    assert one_row(rt, obj) == ["ws1", "400d"]


# -- Table envelope and includeObject ----------------------------------------------------------


def test_table_envelope_and_include_object(registry: Registry) -> None:
    rt = rt_of(registry, GROUP, "v1", "analyticsworkspaces")
    objs = [workspace("a"), workspace("b")]
    meta = {"resourceVersion": "77", "continue": "", "remainingItemCount": None}
    table = to_table(rt, objs, list_meta=meta, now=NOW)
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "77"}
    assert [c["name"] for c in table["columnDefinitions"]][:2] == ["Name", "Display Name"]
    assert [r["cells"][0] for r in table["rows"]] == ["a", "b"]
    assert table["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": objs[0]["metadata"],
    }

    beta = to_table(rt, objs, list_meta={}, include_object="", table_version="meta.k8s.io/v1beta1")
    assert beta["apiVersion"] == "meta.k8s.io/v1beta1"
    assert beta["rows"][1]["object"]["apiVersion"] == "meta.k8s.io/v1beta1"

    full = to_table(rt, objs, list_meta={}, include_object="Object", now=NOW)
    assert full["rows"][1]["object"] == objs[1]
    bare = to_table(rt, objs, list_meta={}, include_object="None", now=NOW)
    assert [r["object"] for r in bare["rows"]] == [None, None]
    assert to_table(rt, [], list_meta={"resourceVersion": "9"}, now=NOW)["rows"] == []

    with pytest.raises(ApiError) as err:
        to_table(rt, objs, list_meta={}, include_object="Everything")
    assert err.value.code == 400
    assert err.value.message == (
        'Unable to convert to Table as requested: includeObject: Unsupported value: "Everything":'
        ' supported values: "Metadata", "None", "Object"'
    )


def test_object_table_for_get_and_watch_events(registry: Registry) -> None:
    rt = rt_of(registry, GROUP, "v1", "analyticsworkspaces")
    first = object_table(rt, workspace(displayName="x"), now=NOW)
    assert first["metadata"] == {"resourceVersion": "42"}
    assert len(first["columnDefinitions"]) == 9
    assert cells(first) == [["ws1", "x", None, None, None, None, "p1", None, "5m"]]
    later = object_table(rt, workspace(), now=NOW, include_columns=False)
    assert later["columnDefinitions"] is None
    assert len(later["rows"]) == 1


# -- built-in kinds -------------------------------------------------------------------------------


def pod(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "jupyter-alice",
            "namespace": "default",
            "creationTimestamp": ago(hours=3),
        },
        "spec": {"containers": [{"name": "notebook", "image": "jupyter"}], "nodeName": "node-a"},
        "status": status,
    }


def running(name: str = "notebook", restarts: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "ready": True,
        "restartCount": restarts,
        "state": {"running": {}},
        **extra,
    }


def test_pod_columns(registry: Registry) -> None:
    cols = column_definitions(rt_of(registry, "", "v1", "pods"))
    assert [(c["name"], c["priority"]) for c in cols] == [
        ("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1),
        ("Node", 1), ("Nominated Node", 1), ("Readiness Gates", 1),
    ]  # fmt: skip


def test_pod_rows(registry: Registry) -> None:
    rt = rt_of(registry, "", "v1", "pods")
    ok = pod(phase="Running", podIPs=[{"ip": "10.0.0.7"}], containerStatuses=[running()])
    assert one_row(rt, ok) == [
        "jupyter-alice", "1/1", "Running", "0", "3h", "10.0.0.7", "node-a", "<none>", "<none>",
    ]  # fmt: skip

    crashed = running(restarts=4, lastState={"terminated": {"finishedAt": ago(minutes=7)}})
    crashed.update(ready=False, state={"waiting": {"reason": "CrashLoopBackOff"}})
    row = one_row(rt, pod(phase="Running", containerStatuses=[crashed]))
    assert row[1:4] == ["0/1", "CrashLoopBackOff", "4 (7m ago)"]
    assert row[5] == "<none>"  # no IP yet

    deleting = pod(phase="Running", containerStatuses=[running()])
    deleting["metadata"]["deletionTimestamp"] = ago(seconds=10)
    assert one_row(rt, deleting)[2] == "Terminating"

    pending = pod(phase="Pending")
    pending["spec"]["initContainers"] = [{"name": "fetch", "image": "busybox"}]
    pending["status"]["initContainerStatuses"] = [
        {"name": "fetch", "ready": False, "restartCount": 0, "state": {"waiting": {}}}
    ]
    assert one_row(rt, pending)[1:3] == ["0/1", "Init:0/1"]

    gated = pod(phase="Pending", conditions=[{"type": "PodScheduled", "reason": "SchedulingGated"}])
    assert one_row(rt, gated)[2] == "SchedulingGated"

    gates = pod(
        phase="Running",
        containerStatuses=[running()],
        conditions=[
            {"type": "example.com/a", "status": "True"},
            {"type": "Ready", "status": "True"},
        ],
    )
    gates["spec"]["readinessGates"] = [
        {"conditionType": "example.com/a"}, {"conditionType": "example.com/b"},
    ]  # fmt: skip
    assert one_row(rt, gates)[8] == "1/2"

    done = pod(
        phase="Succeeded",
        containerStatuses=[{"name": "notebook", "ready": False, "restartCount": 0,
                            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
    )  # fmt: skip
    table = to_table(rt, [done], list_meta={}, now=NOW)
    assert table["rows"][0]["cells"][1:3] == ["0/1", "Completed"]
    assert table["rows"][0]["conditions"] == [
        {"type": "Completed", "status": "True", "reason": "Succeeded",
         "message": "The pod has completed successfully."},
    ]  # fmt: skip


def test_pod_with_a_sidecar(registry: Registry) -> None:
    rt = rt_of(registry, "", "v1", "pods")
    obj = pod(
        phase="Running",
        conditions=[{"type": "Initialized", "status": "True"}],
        initContainerStatuses=[running("proxy", restarts=1, started=True)],
        containerStatuses=[running(restarts=2)],
    )
    obj["spec"]["initContainers"] = [{"name": "proxy", "image": "envoy", "restartPolicy": "Always"}]
    assert one_row(rt, obj)[1:4] == ["2/2", "Running", "3"]


def test_pvc_rows(registry: Registry) -> None:
    rt = rt_of(registry, "", "v1", "persistentvolumeclaims")
    assert [c["name"] for c in column_definitions(rt)] == [
        "Name", "Status", "Volume", "Capacity", "Access Modes", "StorageClass",
        "VolumeAttributesClass", "Age", "VolumeMode",
    ]  # fmt: skip
    bound = {
        "metadata": {"name": "home-alice", "creationTimestamp": ago(days=3)},
        "spec": {"volumeName": "pv-1", "storageClassName": "standard", "volumeMode": "Filesystem",
                 "resources": {"requests": {"storage": "10Gi"}}},
        "status": {"phase": "Bound", "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                   "capacity": {"storage": "10Gi"}},
    }  # fmt: skip
    assert one_row(rt, bound) == [
        "home-alice", "Bound", "pv-1", "10Gi", "RWO,RWX", "standard", "<unset>", "3d", "Filesystem",
    ]  # fmt: skip
    pending = {
        "metadata": {"name": "scratch", "creationTimestamp": ago(seconds=30),
                     "annotations": {"volume.beta.kubernetes.io/storage-class": "fast"},
                     "deletionTimestamp": ago(seconds=1)},
        "spec": {"storageClassName": "standard", "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Pending"},
    }  # fmt: skip
    assert one_row(rt, pending) == [
        "scratch", "Terminating", "", "", "", "fast", "<unset>", "30s", "<unset>",
    ]  # fmt: skip


def test_event_rows(registry: Registry) -> None:
    core = rt_of(registry, "", "v1", "events")
    assert [c["name"] for c in column_definitions(core) if c["priority"] == 0] == [
        "Last Seen", "Type", "Reason", "Object", "Message",
    ]  # fmt: skip
    event = {
        "metadata": {"name": "jupyter-alice.17f", "creationTimestamp": ago(minutes=9)},
        "involvedObject": {"kind": "Pod", "name": "jupyter-alice",
                           "fieldPath": "spec.containers{x}"},
        "reason": "Pulled", "type": "Normal", "message": "  Pulled image\n",
        "source": {"component": "kubelet", "host": "node-a"},
        "firstTimestamp": ago(minutes=9), "lastTimestamp": ago(minutes=2),
    }  # fmt: skip
    assert one_row(core, event) == [
        "2m", "Normal", "Pulled", "pod/jupyter-alice", "spec.containers{x}", "kubelet, node-a",
        "Pulled image", "9m", 1, "jupyter-alice.17f",
    ]  # fmt: skip

    new = rt_of(registry, "events.k8s.io", "v1", "events")
    series = {
        "metadata": {"name": "ns-1.abc", "creationTimestamp": ago(minutes=30)},
        "regarding": {"kind": "Namespace", "name": "ns-1"},
        "note": "Quota exceeded", "reason": "FailedCreate", "type": "Warning",
        "eventTime": ago(minutes=30), "reportingController": "lscsde-spawner",
        "series": {"count": 5, "lastObservedTime": ago(seconds=40)},
    }  # fmt: skip
    assert one_row(new, series) == [
        "40s", "Warning", "FailedCreate", "namespace/ns-1", "", "lscsde-spawner",
        "Quota exceeded", "30m", 5, "ns-1.abc",
    ]  # fmt: skip
    assert one_row(core, {"metadata": {"name": "e"}, "involvedObject": {"kind": "Node"}})[:4] == [
        "<unknown>", "", "", "node",
    ]  # fmt: skip


def test_other_builtin_rows(registry: Registry) -> None:
    ns = {"metadata": {"name": "lscsde", "creationTimestamp": ago(days=1)},
          "status": {"phase": "Active"}}  # fmt: skip
    assert one_row(rt_of(registry, "", "v1", "namespaces"), ns) == ["lscsde", "Active", "24h"]

    secret = {"metadata": {"name": "token", "creationTimestamp": ago(seconds=5)},
              "type": "Opaque", "data": {"a": "YQ==", "b": "Yg=="}}  # fmt: skip
    assert one_row(rt_of(registry, "", "v1", "secrets"), secret) == ["token", "Opaque", 2, "5s"]

    cm = {"metadata": {"name": "cfg", "creationTimestamp": ago(seconds=5)},
          "data": {"a": "1"}, "binaryData": {"b": "AA=="}}  # fmt: skip
    assert one_row(rt_of(registry, "", "v1", "configmaps"), cm) == ["cfg", 2, "5s"]

    sa = {"metadata": {"name": "default", "creationTimestamp": ago(seconds=5)}}
    assert one_row(rt_of(registry, "", "v1", "serviceaccounts"), sa) == ["default", 0, "5s"]

    svc: dict[str, Any] = {
        "metadata": {"name": "hub", "creationTimestamp": ago(minutes=4)},
        "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                 "selector": {"component": "hub", "app": "jupyterhub"},
                 "ports": [{"port": 80, "protocol": "TCP"},
                           {"port": 443, "nodePort": 30443, "protocol": "TCP"}]},
    }  # fmt: skip
    assert one_row(rt_of(registry, "", "v1", "services"), svc) == [
        "hub", "NodePort", "10.96.0.10", "<none>", "80/TCP,443:30443/TCP", "4m",
        "app=jupyterhub,component=hub",
    ]  # fmt: skip
    svc["spec"]["type"] = "LoadBalancer"
    assert one_row(rt_of(registry, "", "v1", "services"), svc)[3] == "<pending>"

    crd_rt = rt_of(registry, "apiextensions.k8s.io", "v1", "customresourcedefinitions")
    assert [(c["name"], c["type"]) for c in column_definitions(crd_rt)] == [
        ("Name", "string"), ("Created At", "date"),
    ]  # fmt: skip
    crd = copy.deepcopy(WORKSPACE_CRD)
    crd["metadata"]["creationTimestamp"] = "2024-05-06T07:08:09Z"
    # The default convertor prints the timestamp itself, not an age.
    assert one_row(crd_rt, crd) == [f"analyticsworkspaces.{GROUP}", "2024-05-06T07:08:09Z"]
