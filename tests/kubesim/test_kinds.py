"""Per-kind strategies: defaults, admission, validation and conversion, with the real messages."""

from __future__ import annotations

import base64
import copy
import dataclasses
import ipaddress
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from kubesim.registry import kinds
from kubesim.registry.datamaps import base64_error
from kubesim.registry.pod_validation import POD_UPDATE_FORBIDDEN
from kubesim.registry.pvc import PVC_SPEC_IMMUTABLE
from kubesim.registry.quantities import QuantityError, canonical_quantity, parse_quantity
from kubesim.registry.resources import BUILTIN_TYPES, ResourceType

Obj = dict[str, Any]
TYPES = {(rt.group, rt.plural): rt for rt in BUILTIN_TYPES}
POD = TYPES[("", "pods")]
PVC = TYPES[("", "persistentvolumeclaims")]
NAMESPACE = TYPES[("", "namespaces")]
SECRET = TYPES[("", "secrets")]
CONFIG_MAP = TYPES[("", "configmaps")]
SERVICE = TYPES[("", "services")]
EVENT = TYPES[("", "events")]
EVENTS_V1 = TYPES[("events.k8s.io", "events")]

QUANTITY_FORMAT = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
CONFIG_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def new_object(rt: ResourceType, body: Obj, name: str = "x", namespace: str = "default") -> Obj:
    """A body as api.create hands it to the strategy: metadata filled in, then prepared."""
    obj = copy.deepcopy(body)
    obj.setdefault("apiVersion", rt.api_version)
    obj.setdefault("kind", rt.kind)
    meta = obj.setdefault("metadata", {})
    meta.setdefault("name", name)
    if rt.namespaced:
        meta.setdefault("namespace", namespace)
    kinds.prepare_create(rt, obj)
    return obj


def updated(rt: ResourceType, old: Obj, change: Callable[[Obj], None]) -> Obj:
    """`old` changed by a client, then prepared as api._replace does (status kept)."""
    new = copy.deepcopy(old)
    change(new)
    new = kinds.to_storage(rt, new)
    if rt.has_status and "status" in old:
        new["status"] = copy.deepcopy(old["status"])
    kinds.prepare_update(rt, new, old)
    return new


def texts(rt: ResourceType, obj: Obj, old: Obj | None = None) -> list[str]:
    return [e.text() for e in kinds.validate(rt, obj, old)]


def get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


# -- quantities ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("1.5", Decimal("1.5")),
        ("1", Decimal(1)),
        ("1Gi", Decimal(2**30)),
        ("1.5Gi", Decimal(3 * 2**29)),
        ("512Mi", Decimal(512 * 2**20)),
        ("1Ki", Decimal(1024)),
        ("2Ti", Decimal(2 * 2**40)),
        ("1Pi", Decimal(2**50)),
        ("1Ei", Decimal(2**60)),
        ("512M", Decimal(512 * 10**6)),
        ("1k", Decimal(1000)),
        ("1G", Decimal(10**9)),
        ("3T", Decimal(3 * 10**12)),
        ("1P", Decimal(10**15)),
        ("2E", Decimal(2 * 10**18)),
        ("1n", Decimal("1e-9")),
        ("250u", Decimal("0.00025")),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("2.5e-3", Decimal("0.0025")),
        ("1e-10", Decimal("1e-9")),  # rounded up to a nano, never down to nothing
        ("0.1n", Decimal("1e-9")),
        ("-1", Decimal(-1)),
        ("+2", Decimal(2)),
        (".5", Decimal("0.5")),
        ("0", Decimal(0)),
        ("16Ei", Decimal(2**63 - 1)),  # capped at int64
        (1.0, Decimal(1)),  # JSON numbers are quantities too
        (1073741824, Decimal(2**30)),
        (None, Decimal(0)),  # JSON null is the zero quantity
    ],
)
def test_parse_quantity(text: Any, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", QUANTITY_FORMAT),
        ("abc", QUANTITY_FORMAT),
        ("1 Gi", QUANTITY_FORMAT),
        ("1KI", QUANTITY_FORMAT),
        ("1.5.5", QUANTITY_FORMAT),
        (True, QUANTITY_FORMAT),
        ("1k3", "unable to parse quantity's suffix"),
        ("1e", "unable to parse quantity's suffix"),
        ("1Gb", QUANTITY_FORMAT),
    ],
)
def test_parse_quantity_errors(text: Any, message: str) -> None:
    with pytest.raises(QuantityError) as info:
        parse_quantity(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("500m", "500m"),  # already canonical: kept as sent
        ("0.5", "500m"),
        ("1.0", "1"),
        (1.0, "1"),
        ("1000m", "1"),
        ("1.5", "1500m"),
        ("1000", "1k"),
        ("1024Mi", "1Gi"),
        ("1.5Gi", "1536Mi"),
        ("0.5Ki", "512"),  # small binary amounts print in decimal
        ("1073741824", "1073741824"),
        (1073741824, "1073741824"),
        ("1e3", "1e3"),
        ("1.5e3", "1500"),
        ("1e-10", "1e-9"),
        ("0", "0"),
        ("100Ki", "100Ki"),
    ],
)
def test_canonical_quantity(text: Any, canonical: str) -> None:
    assert canonical_quantity(text) == canonical


# -- pods: defaults and admission -----------------------------------------------------------------


def pod(**spec: Any) -> Obj:
    return {"spec": {"containers": [{"name": "main", "image": "busybox:1.36"}], **spec}}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.restartPolicy", "Always"),
        ("spec.dnsPolicy", "ClusterFirst"),
        ("spec.terminationGracePeriodSeconds", 30),
        ("spec.schedulerName", "default-scheduler"),
        ("spec.securityContext", {}),
        ("spec.serviceAccountName", "default"),
        ("spec.serviceAccount", "default"),
        ("spec.enableServiceLinks", True),
        ("spec.priority", 0),
        ("spec.preemptionPolicy", "PreemptLowerPriority"),
        ("spec.containers.0.terminationMessagePath", "/dev/termination-log"),
        ("spec.containers.0.terminationMessagePolicy", "File"),
        ("spec.containers.0.imagePullPolicy", "IfNotPresent"),
        ("spec.containers.0.resources", {}),
        ("status", {"phase": "Pending", "qosClass": "BestEffort"}),
    ],
)
def test_pod_create_defaults(path: str, value: Any) -> None:
    assert get(new_object(POD, pod()), path) == value


def test_pod_defaults_keep_what_was_set() -> None:
    body = pod(restartPolicy="Never", terminationGracePeriodSeconds=0, serviceAccountName="hub")
    created = new_object(POD, body)
    assert created["spec"]["restartPolicy"] == "Never"
    assert created["spec"]["terminationGracePeriodSeconds"] == 0
    assert (created["spec"]["serviceAccountName"], created["spec"]["serviceAccount"]) == (
        "hub",
        "hub",
    )


def test_pod_create_drops_client_status() -> None:
    body = {**pod(), "status": {"phase": "Running", "podIP": "1.2.3.4"}}
    assert new_object(POD, body)["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("busybox", "Always"),
        ("busybox:latest", "Always"),
        ("registry:5000/team/busybox", "Always"),  # a registry port is not a tag
        ("registry:5000/team/busybox:1.2", "IfNotPresent"),
        ("busybox:1.36", "IfNotPresent"),
        ("busybox@sha256:" + "a" * 64, "IfNotPresent"),
    ],
)
def test_pod_image_pull_policy_default(image: str, policy: str) -> None:
    created = new_object(POD, {"spec": {"containers": [{"name": "main", "image": image}]}})
    assert created["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_pod_container_details_defaulted() -> None:
    probe = {"httpGet": {"port": 8888}}
    container = {
        "name": "main",
        "image": "busybox:1",
        "ports": [{"containerPort": 8888}],
        "readinessProbe": probe,
        "env": [{"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
    }
    volumes = [{"name": "cfg", "configMap": {"name": "c"}}, {"name": "scratch"}]
    created = new_object(POD, {"spec": {"containers": [container], "volumes": volumes}})
    c = created["spec"]["containers"][0]
    assert c["ports"] == [{"containerPort": 8888, "protocol": "TCP"}]
    assert c["readinessProbe"] == {
        "httpGet": {"port": 8888, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    assert created["spec"]["volumes"][:2] == [
        {"name": "cfg", "configMap": {"name": "c", "defaultMode": 420}},
        {"name": "scratch", "emptyDir": {}},  # a volume without a source is an emptyDir
    ]


def test_pod_requests_default_to_limits_in_canonical_form() -> None:
    resources = {"limits": {"memory": 1073741824, "cpu": 1.0}, "requests": {"cpu": "0.5"}}
    body = {"spec": {"containers": [{"name": "m", "image": "i:1", "resources": resources}]}}
    created = new_object(POD, body)
    assert created["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "1", "memory": "1073741824"},
        "requests": {"cpu": "500m", "memory": "1073741824"},
    }


def resources_pod(*containers: Obj) -> Obj:
    return {
        "spec": {
            "containers": [
                {"name": f"c{i}", "image": "i:1", "resources": r} for i, r in enumerate(containers)
            ]
        }
    }


@pytest.mark.parametrize(
    ("containers", "qos"),
    [
        ([{}], "BestEffort"),
        ([{"limits": {"cpu": "1", "memory": "1Gi"}}], "Guaranteed"),
        ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m"}}], "Guaranteed"),
        ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}], "Burstable"),
        ([{"limits": {"cpu": "1"}}], "Burstable"),  # no memory limit
        ([{"requests": {"memory": "1Gi"}}], "Burstable"),
        ([{"limits": {"cpu": "1", "memory": "1Gi"}}, {}], "Burstable"),  # one container short
        ([{"limits": {"nvidia.com/gpu": "1"}}], "BestEffort"),  # only cpu/memory count
        ([{"requests": {"cpu": "0"}}], "BestEffort"),  # zero is no request
    ],
)
def test_pod_qos_class(containers: list[Obj], qos: str) -> None:
    assert new_object(POD, resources_pod(*containers))["status"]["qosClass"] == qos


TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def test_service_account_token_volume_mounted_everywhere() -> None:
    body = pod(initContainers=[{"name": "init", "image": "busybox:1"}])
    spec = new_object(POD, body)["spec"]
    [volume] = spec["volumes"]
    assert re.fullmatch(r"kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}", volume["name"])
    assert volume["projected"] == {
        "defaultMode": 420,
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {
                "configMap": {
                    "name": "kube-root-ca.crt",
                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                }
            },
            {
                "downwardAPI": {
                    "items": [
                        {
                            "path": "namespace",
                            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                        }
                    ]
                }
            },
        ],
    }
    mount = {"name": volume["name"], "readOnly": True, "mountPath": TOKEN_PATH}
    for c in spec["containers"] + spec["initContainers"]:
        assert c["volumeMounts"] == [mount]


def test_service_account_token_not_mounted_when_opted_out() -> None:
    spec = new_object(POD, pod(automountServiceAccountToken=False))["spec"]
    assert "volumes" not in spec
    assert "volumeMounts" not in spec["containers"][0]
    assert spec["serviceAccountName"] == "default"


def test_service_account_token_keeps_own_mount_at_token_path() -> None:
    own = {"name": "mine", "mountPath": TOKEN_PATH}
    body = {
        "spec": {
            "containers": [
                {"name": "a", "image": "i:1", "volumeMounts": [own]},
                {"name": "b", "image": "i:1"},
            ],
            "volumes": [{"name": "mine", "emptyDir": {}}],
        }
    }
    spec = new_object(POD, body)["spec"]
    assert spec["containers"][0]["volumeMounts"] == [own]
    assert spec["containers"][1]["volumeMounts"][0]["mountPath"] == TOKEN_PATH
    assert [v["name"][:16] for v in spec["volumes"]] == ["mine", "kube-api-access-"]


NOT_READY = {
    "key": "node.kubernetes.io/not-ready",
    "operator": "Exists",
    "effect": "NoExecute",
    "tolerationSeconds": 300,
}
UNREACHABLE = {**NOT_READY, "key": "node.kubernetes.io/unreachable"}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, [NOT_READY, UNREACHABLE]),
        (
            [{**NOT_READY, "tolerationSeconds": 5}],
            [{**NOT_READY, "tolerationSeconds": 5}, UNREACHABLE],
        ),
        ([{"operator": "Exists"}], [{"operator": "Exists"}]),  # tolerates everything already
        (
            [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
            [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}, NOT_READY, UNREACHABLE],
        ),
    ],
)
def test_default_toleration_seconds(given: list[Obj] | None, expected: list[Obj]) -> None:
    body = pod() if given is None else pod(tolerations=given)
    assert new_object(POD, body)["spec"]["tolerations"] == expected


def test_system_priority_class_resolves() -> None:
    spec = new_object(POD, pod(priorityClassName="system-node-critical"))["spec"]
    assert spec["priority"] == 2000001000


# -- pods: validation -----------------------------------------------------------------------------


def with_container(**fields: Any) -> Obj:
    return {"spec": {"containers": [{"name": "main", "image": "busybox:1", **fields}]}}


def res(**lists: Obj) -> Obj:
    return with_container(resources=lists)


R = "spec.containers[0].resources"

POD_ERRORS: list[tuple[str, Obj, list[str]]] = [
    ("no containers", {"spec": {"containers": []}}, ["spec.containers: Required value"]),
    ("no spec containers", {"spec": {}}, ["spec.containers: Required value"]),
    (
        "container without name",
        {"spec": {"containers": [{"image": "busybox:1"}]}},
        ["spec.containers[0].name: Required value"],
    ),
    (
        "container name not a DNS label",
        {"spec": {"containers": [{"name": "Main", "image": "busybox:1"}]}},
        [f'spec.containers[0].name: Invalid value: "Main": {LABEL_MSG}'],
    ),
    (
        "container without image",
        {"spec": {"containers": [{"name": "main"}]}},
        ["spec.containers[0].image: Required value"],
    ),
    (
        "same name in containers and initContainers",
        {
            "spec": {
                "containers": [{"name": "main", "image": "i:1"}],
                "initContainers": [{"name": "main", "image": "i:1"}],
            }
        },
        ['spec.initContainers[0].name: Duplicate value: "main"'],
    ),
    (
        "two containers with one name",
        {"spec": {"containers": [{"name": "a", "image": "i:1"}, {"name": "a", "image": "i:1"}]}},
        ['spec.containers[1].name: Duplicate value: "a"'],
    ),
    (
        "volume names clash",
        {**with_container(), "spec": {**with_container()["spec"], "volumes": [
            {"name": "x", "emptyDir": {}}, {"name": "x", "emptyDir": {}}]}},
        ['spec.volumes[1].name: Duplicate value: "x"'],
    ),
    (
        "volume without name",
        {**with_container(), "spec": {**with_container()["spec"], "volumes": [{"emptyDir": {}}]}},
        ["spec.volumes[0].name: Required value"],
    ),
    (
        "volume name not a DNS label",
        {**with_container(), "spec": {**with_container()["spec"], "volumes": [
            {"name": "My_Vol", "emptyDir": {}}]}},
        [f'spec.volumes[0].name: Invalid value: "My_Vol": {LABEL_MSG}'],
    ),
    (
        "volume with two sources",
        {**with_container(), "spec": {**with_container()["spec"], "volumes": [
            {"name": "x", "emptyDir": {}, "hostPath": {"path": "/tmp"}}]}},
        ["spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type"],
    ),
    (
        "pvc volume without claim name",
        {**with_container(), "spec": {**with_container()["spec"], "volumes": [
            {"name": "x", "persistentVolumeClaim": {}}]}},
        ["spec.volumes[0].persistentVolumeClaim.claimName: Required value"],
    ),
    (
        "mount of a volume that is not there",
        with_container(volumeMounts=[{"name": "nope", "mountPath": "/data"}]),
        ['spec.containers[0].volumeMounts[0].name: Not found: "nope"'],
    ),
    (
        "mount without a path",
        {"spec": {"containers": [{"name": "main", "image": "i:1", "volumeMounts": [
            {"name": "v"}]}], "volumes": [{"name": "v", "emptyDir": {}}]}},
        ["spec.containers[0].volumeMounts[0].mountPath: Required value"],
    ),
    (
        "two mounts at one path",
        {"spec": {"containers": [{"name": "main", "image": "i:1", "volumeMounts": [
            {"name": "v", "mountPath": "/data"}, {"name": "w", "mountPath": "/data"}]}],
            "volumes": [{"name": "v", "emptyDir": {}}, {"name": "w", "emptyDir": {}}]}},
        ['spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/data": must be unique'],
    ),
    (
        "subPath escaping the volume",
        {"spec": {"containers": [{"name": "main", "image": "i:1", "volumeMounts": [
            {"name": "v", "mountPath": "/d", "subPath": "../etc"}]}],
            "volumes": [{"name": "v", "emptyDir": {}}]}},
        ['spec.containers[0].volumeMounts[0].subPath: Invalid value: "../etc": '
         "must not contain '..'"],
    ),
    (
        "container port out of range",
        with_container(ports=[{"containerPort": 70000}]),
        ["spec.containers[0].ports[0].containerPort: Invalid value: 70000: "
         "must be between 1 and 65535, inclusive"],
    ),
    (
        "container port missing",
        with_container(ports=[{"name": "http"}]),
        ["spec.containers[0].ports[0].containerPort: Required value"],
    ),
    (
        "port protocol unknown",
        with_container(ports=[{"containerPort": 80, "protocol": "HTTP"}]),
        ['spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": '
         'supported values: "SCTP", "TCP", "UDP"'],
    ),
    (
        "port name too long",
        with_container(ports=[{"containerPort": 80, "name": "a-very-long-port-name"}]),
        ['spec.containers[0].ports[0].name: Invalid value: "a-very-long-port-name": '
         "must be no more than 15 characters"],
    ),
    (
        "quantity that does not parse",
        res(requests={"cpu": "lots"}),
        [f'{R}.requests[cpu]: Invalid value: "lots": {QUANTITY_FORMAT}'],
    ),
    (
        "cpu request above limit",
        res(limits={"cpu": "1"}, requests={"cpu": "2"}),
        [f'{R}.requests: Invalid value: "2": must be less than or equal to cpu limit of 1'],
    ),
    (
        "memory request above limit",
        res(limits={"memory": "1Gi"}, requests={"memory": "1.5Gi"}),
        [f'{R}.requests: Invalid value: "1536Mi": '
         "must be less than or equal to memory limit of 1Gi"],
    ),
    (
        "negative request",
        res(requests={"cpu": "-1"}),
        [f'{R}.requests[cpu]: Invalid value: "-1": must be greater than or equal to 0'],
    ),
    (
        "fractional extended resource (its request defaults to the limit)",
        res(limits={"nvidia.com/gpu": "0.5"}),
        [f'{R}.limits[nvidia.com/gpu]: Invalid value: "500m": must be an integer',
         f'{R}.requests[nvidia.com/gpu]: Invalid value: "500m": must be an integer'],
    ),
    (
        "extended resource request below its limit",
        res(limits={"nvidia.com/gpu": "2"}, requests={"nvidia.com/gpu": "1"}),
        [f'{R}.requests: Invalid value: "1": must be equal to nvidia.com/gpu limit of 2'],
    ),
    (
        "extended resource without a limit",
        res(requests={"nvidia.com/gpu": "1"}),
        [f"{R}.limits: Required value: Limit must be set for non overcommitable resources"],
    ),
    (
        "resource name that is not a container resource",
        res(limits={"gpu": "1"}),
        [f'{R}.limits[gpu]: Invalid value: "gpu": must be a standard resource type or fully '
         "qualified",
         f'{R}.limits[gpu]: Invalid value: "gpu": must be a standard resource for containers',
         f'{R}.requests[gpu]: Invalid value: "gpu": must be a standard resource type or fully '
         "qualified",
         f'{R}.requests[gpu]: Invalid value: "gpu": must be a standard resource for containers'],
    ),
    (
        "restart policy unknown",
        {"spec": {**with_container()["spec"], "restartPolicy": "Sometimes"}},
        ['spec.restartPolicy: Unsupported value: "Sometimes": '
         'supported values: "Always", "OnFailure", "Never"'],
    ),
    (
        "pull policy unknown",
        with_container(imagePullPolicy="Sometimes"),
        ['spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": '
         'supported values: "Always", "IfNotPresent", "Never"'],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in POD_ERRORS], ids=[c[0] for c in POD_ERRORS]
)
def test_pod_validation(body: Obj, expected: list[str]) -> None:
    assert texts(POD, new_object(POD, body)) == expected


@pytest.mark.parametrize(
    "body",
    [
        pod(),
        res(limits={"nvidia.com/gpu": "1", "cpu": "2", "memory": "4Gi"}, requests={"cpu": "1"}),
        with_container(ports=[{"containerPort": 8888, "name": "notebook-port"}]),
        {"spec": {"containers": [{"name": "m", "image": "i:1", "volumeMounts": [
            {"name": "home", "mountPath": "/home/jovyan", "subPath": "u/alice"}]}],
            "volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": "claim-alice"}}]}},
    ],
)  # fmt: skip
def test_pod_validation_accepts(body: Obj) -> None:
    assert texts(POD, new_object(POD, body)) == []


def test_field_errors_carry_the_cause_reason() -> None:
    body = with_container(volumeMounts=[{"name": "nope", "mountPath": "/d"}])
    [error] = kinds.validate(POD, new_object(POD, body), None)
    # errors.NewInvalid: the cause's message is the ErrorBody, without the field path.
    assert error.cause() == {
        "reason": "FieldValueNotFound",
        "message": 'Not found: "nope"',
        "field": "spec.containers[0].volumeMounts[0].name",
    }
    assert error.text() == 'spec.containers[0].volumeMounts[0].name: Not found: "nope"'


# -- pods: updates --------------------------------------------------------------------------------


def set_image(p: Obj) -> None:
    p["spec"]["containers"][0]["image"] = "busybox:2"


def add_toleration(p: Obj) -> None:
    p["spec"]["tolerations"].append({"key": "k", "operator": "Exists", "effect": "NoSchedule"})


def change_toleration_seconds(p: Obj) -> None:
    p["spec"]["tolerations"][0]["tolerationSeconds"] = 30


def set_deadline(p: Obj) -> None:
    p["spec"]["activeDeadlineSeconds"] = 600


def add_label(p: Obj) -> None:
    p["metadata"]["labels"] = {"a": "b"}


def drop_defaults(p: Obj) -> None:
    # A client that omits defaulted fields: they are defaulted again, so nothing changes.
    for key in ("restartPolicy", "dnsPolicy", "schedulerName", "priority"):
        del p["spec"][key]
    del p["spec"]["containers"][0]["terminationMessagePath"]


@pytest.mark.parametrize(
    "change",
    [set_image, add_toleration, change_toleration_seconds, set_deadline, add_label, drop_defaults],
)
def test_pod_update_allowed(change: Callable[[Obj], None]) -> None:
    old = new_object(POD, pod())
    assert texts(POD, updated(POD, old, change), old) == []


def add_volume(p: Obj) -> None:
    p["spec"]["volumes"].append({"name": "b", "emptyDir": {}})


def add_port(p: Obj) -> None:
    p["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]


def change_resources(p: Obj) -> None:
    p["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1"}}


def set_node(p: Obj) -> None:
    p["spec"]["nodeName"] = "elsewhere"


def change_service_account(p: Obj) -> None:
    p["spec"]["serviceAccountName"] = "hub"


@pytest.mark.parametrize(
    "change", [add_volume, add_port, change_resources, set_node, change_service_account]
)
def test_pod_update_forbidden(change: Callable[[Obj], None]) -> None:
    old = new_object(POD, pod())
    [error] = texts(POD, updated(POD, old, change), old)
    assert error.startswith(f"spec: Forbidden: {POD_UPDATE_FORBIDDEN}\n")


def test_pod_update_message_text() -> None:
    assert POD_UPDATE_FORBIDDEN == (
        "pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
        "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
        "set to 1 if it was previously negative)"
    )


def add_container(p: Obj) -> None:
    p["spec"]["containers"].append({"name": "two", "image": "i:1"})


def remove_toleration(p: Obj) -> None:
    del p["spec"]["tolerations"][0]


def clear_image(p: Obj) -> None:
    p["spec"]["containers"][0]["image"] = ""


def raise_deadline(p: Obj) -> None:
    p["spec"]["activeDeadlineSeconds"] = 9000


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (add_container,
         ["spec.containers: Forbidden: pod updates may not add or remove containers"]),
        (remove_toleration, ["spec.tolerations: Forbidden: existing toleration can not be "
                             "modified except its tolerationSeconds"]),
        (clear_image, ["spec.containers[0].image: Required value"]),  # reported once
        (raise_deadline, ["spec.activeDeadlineSeconds: Invalid value: 9000: "
                          "must be less than or equal to previous value"]),
    ],
)  # fmt: skip
def test_pod_update_specific_errors(change: Callable[[Obj], None], expected: list[str]) -> None:
    old = new_object(POD, pod(activeDeadlineSeconds=600))
    assert texts(POD, updated(POD, old, change), old) == expected


def test_pod_update_keeps_admission_priority() -> None:
    old = new_object(POD, pod())

    def drop(p: Obj) -> None:
        del p["spec"]["priority"], p["spec"]["preemptionPolicy"]

    new = updated(POD, old, drop)
    assert (new["spec"]["priority"], new["spec"]["preemptionPolicy"]) == (0, "PreemptLowerPriority")


# -- persistent volume claims ---------------------------------------------------------------------


def claim(**spec: Any) -> Obj:
    base = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    return {"spec": {**base, **spec}}


@pytest.mark.parametrize(
    ("body", "path", "value"),
    [
        (claim(), "spec.volumeMode", "Filesystem"),
        (claim(), "spec.storageClassName", "standard"),  # the default StorageClass
        (claim(storageClassName=""), "spec.storageClassName", ""),  # "" opts out
        (claim(storageClassName="fast"), "spec.storageClassName", "fast"),
        (claim(volumeMode="Block"), "spec.volumeMode", "Block"),
        (claim(resources={"requests": {"storage": "1024Mi"}}),
         "spec.resources.requests.storage", "1Gi"),
        (claim(), "status", {"phase": "Pending"}),
    ],
)  # fmt: skip
def test_pvc_create_defaults(body: Obj, path: str, value: Any) -> None:
    assert get(new_object(PVC, body), path) == value


ACCESS_MODES_SUPPORTED = (
    'supported values: "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"'
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (claim(), []),
        (claim(accessModes=[]),
         ["spec.accessModes: Required value: at least 1 access mode is required"]),
        ({"spec": {"resources": {"requests": {"storage": "1Gi"}}}},
         ["spec.accessModes: Required value: at least 1 access mode is required"]),
        (claim(accessModes=["ReadWriteSometimes"]),
         [f'spec.accessModes: Unsupported value: "ReadWriteSometimes": {ACCESS_MODES_SUPPORTED}']),
        (claim(accessModes=["ReadWriteOncePod", "ReadWriteOnce"]),
         ["spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes"]),
        (claim(resources={}), ["spec.resources[storage]: Required value"]),
        (claim(resources={"requests": {"storage": "0"}}),
         ['spec.resources[storage]: Invalid value: "0": must be greater than zero']),
        (claim(resources={"requests": {"storage": "lots"}}),
         [f'spec.resources[storage]: Invalid value: "lots": {QUANTITY_FORMAT}']),
        (claim(volumeMode="Blocky"),
         ['spec.volumeMode: Unsupported value: "Blocky": supported values: "Block", "Filesystem"']),
    ],
)  # fmt: skip
def test_pvc_validation(body: Obj, expected: list[str]) -> None:
    assert texts(PVC, new_object(PVC, body)) == expected


def bind(p: Obj, capacity: str = "1Gi") -> Obj:
    """What the binder writes (through system_write, which skips validation)."""
    p = copy.deepcopy(p)
    p["spec"]["volumeName"] = "pvc-1"
    p["status"] = {"phase": "Bound", "capacity": {"storage": capacity}}
    return p


def storage(size: str) -> Callable[[Obj], None]:
    def change(p: Obj) -> None:
        p["spec"]["resources"]["requests"]["storage"] = size

    return change


def access_modes(p: Obj) -> None:
    p["spec"]["accessModes"] = ["ReadWriteMany"]


def class_name(p: Obj) -> None:
    p["spec"]["storageClassName"] = "fast"


def volume_name(p: Obj) -> None:
    p["spec"]["volumeName"] = "pvc-other"


PVC_FORBIDDEN = f"spec: Forbidden: {PVC_SPEC_IMMUTABLE}"


@pytest.mark.parametrize(
    ("bound", "change", "expected"),
    [
        (False, volume_name, []),  # binding sets volumeName once
        (False, storage("2Gi"), [PVC_FORBIDDEN]),  # only bound claims resize
        (False, access_modes, [PVC_FORBIDDEN]),
        (False, class_name, [PVC_FORBIDDEN]),
        (True, storage("2Gi"), []),
        (True, storage("2048Mi"), []),
        (True, storage("512Mi"), ["spec.resources.requests.storage: Forbidden: "
                                  "field can not be less than status.capacity"]),
        (True, volume_name, [PVC_FORBIDDEN]),
        (True, access_modes, [PVC_FORBIDDEN]),
    ],
)  # fmt: skip
def test_pvc_update(bound: bool, change: Callable[[Obj], None], expected: list[str]) -> None:
    old = new_object(PVC, claim())
    if bound:
        old = bind(old)
    assert texts(PVC, updated(PVC, old, change), old) == expected


def test_pvc_update_message_text() -> None:
    assert PVC_FORBIDDEN == (
        "spec: Forbidden: spec is immutable after creation except resources.requests and "
        "volumeAttributesClassName for bound claims"
    )


# -- namespaces -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "path", "value"),
    [
        ({}, "status", {"phase": "Active"}),
        ({}, "spec.finalizers", ["kubernetes"]),
        ({"spec": {"finalizers": ["example.com/x"]}}, "spec.finalizers",
         ["example.com/x", "kubernetes"]),
        ({}, "metadata.labels", {"kubernetes.io/metadata.name": "team-a"}),
        ({"metadata": {"labels": {"a": "b"}}}, "metadata.labels",
         {"a": "b", "kubernetes.io/metadata.name": "team-a"}),
    ],
)  # fmt: skip
def test_namespace_create(body: Obj, path: str, value: Any) -> None:
    assert get(new_object(NAMESPACE, body, name="team-a"), path) == value


def test_namespace_update_keeps_finalizers_and_name_label() -> None:
    old = new_object(NAMESPACE, {}, name="team-a")

    def strip(ns: Obj) -> None:
        ns["spec"] = {}
        ns["metadata"]["labels"] = {}

    new = updated(NAMESPACE, old, strip)
    assert new["spec"] == {"finalizers": ["kubernetes"]}
    assert new["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}


# -- secrets and config maps ----------------------------------------------------------------------


def test_secret_string_data_merged_into_data() -> None:
    body = {"data": {"b": b64("old"), "a": b64("keep")}, "stringData": {"b": "new", "c": "x y"}}
    created = new_object(SECRET, body)
    assert "stringData" not in created
    assert created["data"] == {"a": b64("keep"), "b": b64("new"), "c": b64("x y")}
    assert list(created["data"]) == ["a", "b", "c"]  # keys come back sorted
    assert created["type"] == "Opaque"
    assert texts(SECRET, created) == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"data": {"bad key": b64("x")}},
         [f'data[bad key]: Invalid value: "bad key": {CONFIG_KEY_MSG}']),
        ({"stringData": {"..": "x"}}, ['data[..]: Invalid value: "..": must not be \'..\'']),
        ({"data": {"..x": b64("x")}},
         ['data[..x]: Invalid value: "..x": must not start with \'..\'']),
        ({"data": {"a": "not base64!"}},
         ['data[a]: Invalid value: "<secret contents redacted>": '
          "illegal base64 data at input byte 3"]),
        ({"data": {"a": 5}},
         ["data[a]: Invalid value: 5: json: cannot unmarshal number into Go struct field "
          "Secret.data of type []uint8"]),
        ({"type": "kubernetes.io/tls", "data": {"tls.crt": b64("c")}},
         ["data[tls.key]: Required value"]),
        ({"type": "kubernetes.io/basic-auth"},
         ["data[username]: Required value", "data[password]: Required value"]),
        ({"type": "kubernetes.io/dockerconfigjson"}, ["data[.dockerconfigjson]: Required value"]),
        ({"type": "kubernetes.io/service-account-token"},
         ["metadata.annotations[kubernetes.io/service-account.name]: Required value"]),
        ({"data": {"big": b64("x" * ((1 << 20) + 1))}},
         ["data: Too long: must have at most 1048576 bytes"]),
    ],
)  # fmt: skip
def test_secret_validation(body: Obj, expected: list[str]) -> None:
    assert texts(SECRET, new_object(SECRET, body)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("YWJj", None),
        ("YQ==", None),
        ("YWI=", None),
        ("YW\nJj", None),  # line breaks are skipped
        ("abc", "illegal base64 data at input byte 0"),
        ("abcde", "illegal base64 data at input byte 4"),
        ("a===", "illegal base64 data at input byte 1"),
        ("ab=c", "illegal base64 data at input byte 2"),
        ("ab=", "illegal base64 data at input byte 3"),
        ("YQ==YQ==", "illegal base64 data at input byte 4"),
        ("YW*j", "illegal base64 data at input byte 2"),
    ],
)
def test_base64_errors(value: str, expected: str | None) -> None:
    assert base64_error(value) == expected


def change_type(s: Obj) -> None:
    s["type"] = "example.com/custom"


def change_data(s: Obj) -> None:
    s["data"]["a"] = b64("other")


def unset_immutable(s: Obj) -> None:
    s["immutable"] = False


IMMUTABLE_DETAIL = "field is immutable when `immutable` is set"


@pytest.mark.parametrize(
    ("immutable", "change", "expected"),
    [
        (False, change_data, []),
        (False, change_type, ['type: Invalid value: "example.com/custom": field is immutable']),
        (True, change_data, [f"data: Forbidden: {IMMUTABLE_DETAIL}"]),
        (True, unset_immutable, [f"immutable: Forbidden: {IMMUTABLE_DETAIL}"]),
    ],
)
def test_secret_update(immutable: bool, change: Callable[[Obj], None], expected: list[str]) -> None:
    old = new_object(SECRET, {"data": {"a": b64("x")}, "immutable": immutable})
    assert texts(SECRET, updated(SECRET, old, change), old) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"data": {"a.conf": "x"}, "binaryData": {"b.bin": b64("y")}}, []),
        ({"data": {"a b": "x"}}, [f'data[a b]: Invalid value: "a b": {CONFIG_KEY_MSG}']),
        ({"data": {"a": "x"}, "binaryData": {"a": b64("y")}},
         ['binaryData[a]: Invalid value: "a": duplicate of key present in data']),
        ({"binaryData": {"b": "%%%"}},
         ['binaryData[b]: Invalid value: "<secret contents redacted>": '
          "illegal base64 data at input byte 0"]),
        ({"data": {"a": 1}},
         ["data[a]: Invalid value: 1: json: cannot unmarshal number into Go struct field "
          "ConfigMap.data of type string"]),
    ],
)  # fmt: skip
def test_config_map_validation(body: Obj, expected: list[str]) -> None:
    assert texts(CONFIG_MAP, new_object(CONFIG_MAP, body)) == expected


def test_immutable_config_map_data_is_fixed() -> None:
    old = new_object(CONFIG_MAP, {"data": {"a": "1"}, "immutable": True})

    def change(cm: Obj) -> None:
        cm["data"]["a"] = "2"

    assert texts(CONFIG_MAP, updated(CONFIG_MAP, old, change), old) == [
        f"data: Forbidden: {IMMUTABLE_DETAIL}"
    ]


# -- services -------------------------------------------------------------------------------------


def service(**spec: Any) -> Obj:
    return {"spec": {"selector": {"app": "x"}, "ports": [{"port": 80}], **spec}}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.type", "ClusterIP"),
        ("spec.sessionAffinity", "None"),
        ("spec.internalTrafficPolicy", "Cluster"),
        ("spec.ipFamilies", ["IPv4"]),
        ("spec.ipFamilyPolicy", "SingleStack"),
        ("spec.ports.0.protocol", "TCP"),
        ("spec.ports.0.targetPort", 80),
        ("status", {"loadBalancer": {}}),
    ],
)
def test_service_defaults(path: str, value: Any) -> None:
    assert get(new_object(SERVICE, service()), path) == value


def test_service_cluster_ips_are_allocated_and_unique() -> None:
    a = new_object(SERVICE, service(), name="hub", namespace="ns-a")["spec"]
    b = new_object(SERVICE, service(), name="hub", namespace="ns-b")["spec"]
    for spec in (a, b):
        assert ipaddress.ip_address(spec["clusterIP"]) in ipaddress.ip_network("10.96.0.0/12")
        assert spec["clusterIPs"] == [spec["clusterIP"]]
    assert a["clusterIP"] != b["clusterIP"]


@pytest.mark.parametrize(
    ("spec", "check"),
    [
        ({"clusterIP": "None"}, lambda s: s["clusterIP"] == "None" and s["clusterIPs"] == ["None"]),
        ({"clusterIP": "10.96.0.10"}, lambda s: s["clusterIPs"] == ["10.96.0.10"]),
        ({"type": "ExternalName", "externalName": "db.example.com", "ports": []},
         lambda s: "clusterIP" not in s),
        ({"type": "NodePort"}, lambda s: 30000 <= s["ports"][0]["nodePort"] <= 32767
         and s["externalTrafficPolicy"] == "Cluster"),
        ({"type": "LoadBalancer"}, lambda s: s["allocateLoadBalancerNodePorts"] is True
         and "nodePort" in s["ports"][0]),
        ({"sessionAffinity": "ClientIP"},
         lambda s: s["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}),
        ({"ports": [{"port": 80, "targetPort": "http"}]},
         lambda s: s["ports"][0]["targetPort"] == "http"),
    ],
)  # fmt: skip
def test_service_create_variants(spec: Obj, check: Callable[[Obj], bool]) -> None:
    created = new_object(SERVICE, service(**spec))
    assert check(created["spec"]), created["spec"]
    assert texts(SERVICE, created) == []


RANGE = "must be between 1 and 65535, inclusive"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"ports": []}, ["spec.ports: Required value"]),
        ({"ports": [{"port": 0, "targetPort": 8080}]},
         [f"spec.ports[0].port: Invalid value: 0: {RANGE}"]),
        ({"ports": [{"port": 80}, {"port": 81}]},
         ["spec.ports[0].name: Required value", "spec.ports[1].name: Required value"]),
        ({"ports": [{"port": 80, "name": "a"}, {"port": 80, "name": "b"}]},
         ['spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", '
          'AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, '
          'StrVal:""}, NodePort:0}']),
        ({"ports": [{"port": 80, "protocol": "ICMP"}]},
         ['spec.ports[0].protocol: Unsupported value: "ICMP": '
          'supported values: "SCTP", "TCP", "UDP"']),
        ({"ports": [{"port": 80, "nodePort": 30080}]},
         ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]),
        ({"type": "Weird"},
         ['spec.type: Unsupported value: "Weird": supported values: "ClusterIP", "ExternalName", '
          '"LoadBalancer", "NodePort"']),
        ({"type": "ExternalName", "ports": []}, ["spec.externalName: Required value"]),
        ({"clusterIP": "1.2.3.4"},
         ['spec.clusterIPs: Invalid value: "1.2.3.4": failed to allocate IP 1.2.3.4: provided IP '
          "(1.2.3.4) is not in the valid range. The range of valid IPs is 10.96.0.0/12"]),
    ],
)  # fmt: skip
def test_service_validation(spec: Obj, expected: list[str]) -> None:
    assert texts(SERVICE, new_object(SERVICE, service(**spec))) == expected


def test_service_update_keeps_allocations_and_refuses_new_ip() -> None:
    old = new_object(SERVICE, service(type="NodePort"))

    def omit(s: Obj) -> None:
        for key in ("clusterIP", "clusterIPs"):
            del s["spec"][key]
        del s["spec"]["ports"][0]["nodePort"]

    kept = updated(SERVICE, old, omit)
    assert kept["spec"] == old["spec"]
    assert texts(SERVICE, kept, old) == []

    def move(s: Obj) -> None:
        s["spec"]["clusterIP"] = s["spec"]["clusterIPs"][0] = "10.96.5.5"

    assert texts(SERVICE, updated(SERVICE, old, move), old) == [
        'spec.clusterIPs[0]: Invalid value: "10.96.5.5": may not change once set'
    ]


# -- events ---------------------------------------------------------------------------------------

INVOLVED = {"kind": "Pod", "namespace": "default", "name": "jupyter-alice", "uid": "u1"}


def core_event(**fields: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "e1", "namespace": "default"},
        "involvedObject": INVOLVED,
        "reason": "Started",
        "message": "Started container notebook",
        "type": "Normal",
        **fields,
    }


def events_event(**fields: Any) -> Obj:
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "e2", "namespace": "default"},
        "eventTime": "2024-01-01T00:00:00.000000Z",
        "reportingController": "example.com/spawner",
        "reportingInstance": "spawner-1",
        "action": "Spawn",
        "reason": "Spawned",
        "regarding": INVOLVED,
        "note": "spawned",
        "type": "Normal",
        **fields,
    }


def test_core_event_presented_with_every_key() -> None:
    stored = core_event()
    shown = kinds.present(EVENT, stored)
    assert {k: shown[k] for k in ("firstTimestamp", "lastTimestamp", "eventTime")} == dict.fromkeys(
        ("firstTimestamp", "lastTimestamp", "eventTime")
    )
    assert (shown["reportingComponent"], shown["reportingInstance"], shown["source"]) == (
        "",
        "",
        {},
    )
    assert "firstTimestamp" not in stored  # the stored object is left alone


def test_events_api_converts_to_core_storage_and_back() -> None:
    created = events_event(deprecatedSource={}, related={"kind": "Node", "name": "n"}, series=None)
    stored = kinds.to_storage(EVENTS_V1, created)
    assert stored == {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "e2", "namespace": "default"},
        "eventTime": "2024-01-01T00:00:00.000000Z",
        "reportingComponent": "example.com/spawner",
        "reportingInstance": "spawner-1",
        "action": "Spawn",
        "reason": "Spawned",
        "involvedObject": INVOLVED,
        "message": "spawned",
        "type": "Normal",
        "source": {},
        "related": {"kind": "Node", "name": "n"},
        "series": None,
    }
    shown = kinds.present(EVENTS_V1, stored)
    assert shown == {
        **created,
        "deprecatedFirstTimestamp": None,
        "deprecatedLastTimestamp": None,
    }


def test_core_event_seen_through_events_api_and_back() -> None:
    core = core_event(
        source={"component": "kubelet", "host": "node-1"},
        firstTimestamp="2024-01-01T00:00:00Z",
        lastTimestamp="2024-01-01T00:00:05Z",
        count=2,
        reportingComponent="kubelet",
        reportingInstance="node-1",
    )
    seen = kinds.present(EVENTS_V1, core)
    assert {k: seen[k] for k in ("regarding", "note", "deprecatedSource", "deprecatedCount",
                                  "deprecatedFirstTimestamp", "deprecatedLastTimestamp",
                                  "reportingController", "reportingInstance")} == {
        "regarding": INVOLVED,
        "note": "Started container notebook",
        "deprecatedSource": {"component": "kubelet", "host": "node-1"},
        "deprecatedCount": 2,
        "deprecatedFirstTimestamp": "2024-01-01T00:00:00Z",
        "deprecatedLastTimestamp": "2024-01-01T00:00:05Z",
        "reportingController": "kubelet",
        "reportingInstance": "node-1",
    }  # fmt: skip
    assert seen["eventTime"] is None
    assert kinds.to_storage(EVENTS_V1, seen) == {**core, "eventTime": None}
    # The same event read back through core/v1 loses nothing.
    again = kinds.present(EVENT, kinds.to_storage(EVENTS_V1, seen))
    assert again == kinds.present(EVENT, core)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (core_event(), []),
        (core_event(involvedObject={**INVOLVED, "namespace": "other"}),
         ['involvedObject.namespace: Invalid value: "other": does not match event.namespace']),
        (core_event(involvedObject={"kind": "Node", "name": "n"}), []),  # cluster object, "default"
        (core_event(eventTime="2024-01-01T00:00:00.000000Z", reportingComponent="kubelet",
                    reportingInstance="node-1", action="Started"), []),
        (core_event(eventTime="2024-01-01T00:00:00.000000Z", reportingComponent="kubelet",
                    reportingInstance="node-1"), ["action: Required value"]),
    ],
)  # fmt: skip
def test_core_event_validation(event: Obj, expected: list[str]) -> None:
    assert texts(EVENT, event) == expected


def without(key: str) -> Obj:
    event = events_event()
    del event[key]
    return event


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (events_event(), []),
        (without("eventTime"), ["eventTime: Required value"]),
        (without("action"), ["action: Required value"]),
        (without("reportingInstance"), ["reportingInstance: Required value"]),
        (events_event(type="Info"), ['type: Invalid value: "": has invalid value: Info']),
        (events_event(reportingController="not a name!"),
         ['reportingController: Invalid value: "not a name!": name part must consist of '
          "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
          "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
          "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"]),
        (events_event(deprecatedCount=3), ['count: Invalid value: "": needs to be unset']),
        (events_event(deprecatedSource={"component": "x"}),
         ['source: Invalid value: "": needs to be unset']),
        (events_event(series={"count": 1, "lastObservedTime": "2024-01-01T00:00:00.000000Z"}),
         ['series.count: Invalid value: "": should be at least 2']),
    ],
)  # fmt: skip
def test_events_api_create_validation(event: Obj, expected: list[str]) -> None:
    assert texts(EVENTS_V1, event) == expected


def test_events_api_missing_controller() -> None:
    errors = texts(EVENTS_V1, without("reportingController"))
    assert errors[0] == "reportingController: Required value"


def test_events_api_update_may_not_change_the_note() -> None:
    old = kinds.to_storage(EVENTS_V1, events_event())
    shown = kinds.present(EVENTS_V1, old)
    new = kinds.to_storage(EVENTS_V1, {**shown, "note": "changed"})
    assert texts(EVENTS_V1, new, old) == ['message: Invalid value: "changed": field is immutable']
    series = {"count": 2, "lastObservedTime": "2024-01-01T00:01:00.000000Z"}
    grown = kinds.to_storage(EVENTS_V1, {**shown, "series": series})
    assert texts(EVENTS_V1, grown, old) == []


# -- kinds without a strategy ---------------------------------------------------------------------


def test_custom_resources_get_the_generic_behaviour() -> None:
    custom = dataclasses.replace(POD, group="example.com", custom=True)
    body = {"apiVersion": "example.com/v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {}}
    obj = copy.deepcopy(body)
    kinds.prepare_create(custom, obj)
    assert obj == body
    assert kinds.validate(custom, obj, None) == []


def test_service_accounts_pass_through() -> None:
    sa = TYPES[("", "serviceaccounts")]
    obj = new_object(sa, {})
    assert obj == {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "x", "namespace": "default"},
    }
