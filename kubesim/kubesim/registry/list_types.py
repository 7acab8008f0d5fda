"""The shapes of the built-in kinds for server-side apply: their list and map types.

Taken from the API types' markers (`+listType`, `+listMapKey`, `+mapType`, `+structType`), as
the generated OpenAPI carries them to structured-merge-diff. Only what changes merging or field
ownership is modelled: associative lists and their keys, sets, maps (whose keys are elements, not
fields), atomic structs, maps and lists, and the non-pointer structs a Go zero value holds (which
decide where a create's field set marks a node as owned). Any other struct is `OPEN` (every key
a field, merged granularly) and any other list atomic, as unmarked lists are.

The strategic-merge-patch keys of patches.py are a different table on purpose: a patch's merge
keys and apply's list types disagree in places (a container's ports merge on containerPort alone
in a patch but are keyed by containerPort and protocol here; pod IPs, host IPs and node volumes
are merged lists in a patch and atomic here).
"""

from __future__ import annotations

from typing import Any

from kubesim.registry.field_schema import (
    ANY_SHAPE,
    LIST,
    MAP,
    OPEN,
    SCALAR,
    STRING,
    STRUCT,
    Shape,
    crd_shape,
)

_STR = Shape(SCALAR, scalar=STRING)
STRING_MAP = Shape(MAP, elem=_STR)
ATOMIC_MAP = Shape(MAP, elem=_STR, atomic=True)
ATOMIC = Shape(LIST, elem=OPEN, atomic=True)
SET = Shape(LIST, elem=Shape(SCALAR), is_set=True)
ATOMIC_STRUCT = Shape(STRUCT, open=True, atomic=True)
QUANTITIES = Shape(MAP, elem=Shape(SCALAR))


def struct(present: bool = False, **fields: Shape) -> Shape:
    """A struct of the built-in API; `present` for a non-pointer field."""
    return Shape(STRUCT, fields=fields, open=True, present=present)


def keyed(item: Shape, *keys: str, **defaults: Any) -> Shape:
    """A list-map (`+listType=map`) keyed by `keys`, some of which may have defaults."""
    return Shape(LIST, elem=item, keys=keys, key_defaults=defaults)


_CONDITIONS = keyed(OPEN, "type")

OBJECT_META = Shape(
    STRUCT,
    fields={
        **{k: _STR for k in ("name", "generateName", "namespace", "selfLink", "uid",
                              "resourceVersion", "creationTimestamp", "deletionTimestamp")},
        "generation": Shape(SCALAR), "deletionGracePeriodSeconds": Shape(SCALAR),
        "labels": STRING_MAP, "annotations": STRING_MAP,
        "ownerReferences": keyed(ATOMIC_STRUCT, "uid"), "finalizers": SET,
        "managedFields": ATOMIC,
    },
    present=True,
)  # fmt: skip

_RESOURCES = struct(limits=QUANTITIES, requests=QUANTITIES, claims=keyed(OPEN, "name"))
_ENV_VAR = struct(
    valueFrom=struct(
        configMapKeyRef=ATOMIC_STRUCT, secretKeyRef=ATOMIC_STRUCT, fieldRef=ATOMIC_STRUCT,
        resourceFieldRef=ATOMIC_STRUCT, fileKeyRef=ATOMIC_STRUCT,
    )
)  # fmt: skip
_CONTAINER = struct(
    ports=keyed(OPEN, "containerPort", "protocol", protocol="TCP"),
    env=keyed(_ENV_VAR, "name"),
    volumeMounts=keyed(OPEN, "mountPath"),
    volumeDevices=keyed(OPEN, "devicePath"),
    resources=_RESOURCES,
    securityContext=struct(capabilities=struct()),
)
_KEY_ITEMS = struct(items=ATOMIC)
_VOLUME = struct(
    configMap=_KEY_ITEMS, secret=_KEY_ITEMS, downwardAPI=_KEY_ITEMS,
    projected=struct(sources=ATOMIC), emptyDir=struct(), persistentVolumeClaim=struct(),
    csi=struct(volumeAttributes=STRING_MAP, nodePublishSecretRef=ATOMIC_STRUCT),
)  # fmt: skip
POD_SPEC = struct(
    present=True,
    containers=keyed(_CONTAINER, "name"),
    initContainers=keyed(_CONTAINER, "name"),
    ephemeralContainers=keyed(_CONTAINER, "name"),
    volumes=keyed(_VOLUME, "name"),
    imagePullSecrets=keyed(ATOMIC_STRUCT, "name"),
    hostAliases=keyed(OPEN, "ip"),
    topologySpreadConstraints=keyed(OPEN, "topologyKey", "whenUnsatisfiable"),
    resourceClaims=keyed(OPEN, "name"),
    schedulingGates=keyed(OPEN, "name"),
    nodeSelector=ATOMIC_MAP,
    overhead=QUANTITIES,
    resources=_RESOURCES,
)
POD_STATUS = struct(
    present=True, conditions=_CONDITIONS, podIPs=keyed(OPEN, "ip"),
    resourceClaimStatuses=keyed(OPEN, "name"),
)  # fmt: skip
POD_TEMPLATE = struct(present=True, metadata=OBJECT_META, spec=POD_SPEC)
LABEL_SELECTOR = ATOMIC_STRUCT

_PVC_SPEC = struct(
    present=True, resources=struct(present=True, limits=QUANTITIES, requests=QUANTITIES),
    selector=LABEL_SELECTOR, dataSource=ATOMIC_STRUCT,
)  # fmt: skip
_PVC_STATUS = struct(
    present=True, capacity=QUANTITIES, conditions=_CONDITIONS, allocatedResources=QUANTITIES,
    allocatedResourceStatuses=STRING_MAP,
)  # fmt: skip
_JOB_SPEC = struct(present=True, selector=LABEL_SELECTOR, template=POD_TEMPLATE)
_WORKLOAD_STATUS = struct(present=True, conditions=_CONDITIONS)


def _workload(**spec: Shape) -> dict[str, Shape]:
    return {
        "spec": struct(present=True, selector=LABEL_SELECTOR, template=POD_TEMPLATE, **spec),
        "status": _WORKLOAD_STATUS,
    }


_ROLE_REF = Shape(STRUCT, open=True, atomic=True, present=True)
_EVENT = {"involvedObject": ATOMIC_STRUCT, "related": ATOMIC_STRUCT, "source": struct(True)}

# By (API group, kind): the fields of each built-in kind below its root (metadata is added).
_KINDS: dict[tuple[str, str], dict[str, Shape]] = {
    ("", "Pod"): {"spec": POD_SPEC, "status": POD_STATUS},
    ("", "PodTemplate"): {"template": POD_TEMPLATE},
    ("", "ConfigMap"): {"data": STRING_MAP, "binaryData": STRING_MAP},
    ("", "Secret"): {"data": STRING_MAP, "stringData": STRING_MAP},
    ("", "ServiceAccount"): {"secrets": keyed(ATOMIC_STRUCT, "name")},
    ("", "PersistentVolumeClaim"): {"spec": _PVC_SPEC, "status": _PVC_STATUS},
    ("", "Service"): {
        "spec": struct(
            present=True, ports=keyed(OPEN, "port", "protocol", protocol="TCP"),
            selector=ATOMIC_MAP,
        ),
        "status": struct(present=True, loadBalancer=struct(True), conditions=_CONDITIONS),
    },
    ("", "Namespace"): {
        "spec": struct(present=True), "status": struct(present=True, conditions=_CONDITIONS)
    },
    ("", "Node"): {
        "spec": struct(present=True, podCIDRs=SET),
        "status": struct(
            present=True, capacity=QUANTITIES, allocatable=QUANTITIES, conditions=_CONDITIONS,
            addresses=keyed(OPEN, "type"), nodeInfo=struct(True),
            daemonEndpoints=struct(True, kubeletEndpoint=struct(True)),
        ),
    },
    ("", "Event"): _EVENT,
    ("events.k8s.io", "Event"): {
        "regarding": ATOMIC_STRUCT, "related": ATOMIC_STRUCT, "deprecatedSource": struct(True),
    },
    ("rbac.authorization.k8s.io", "ClusterRole"): {
        "aggregationRule": struct(clusterRoleSelectors=ATOMIC)
    },
    ("rbac.authorization.k8s.io", "RoleBinding"): {"roleRef": _ROLE_REF},
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): {"roleRef": _ROLE_REF},
    ("apiextensions.k8s.io", "CustomResourceDefinition"): {
        "spec": struct(present=True, names=struct(True), conversion=struct()),
        "status": struct(present=True, conditions=_CONDITIONS, acceptedNames=struct(True)),
    },
    ("apps", "Deployment"): _workload(strategy=struct(True, rollingUpdate=struct())),
    ("apps", "ReplicaSet"): _workload(),
    ("apps", "StatefulSet"): _workload(updateStrategy=struct(True)),
    ("apps", "DaemonSet"): _workload(updateStrategy=struct(True)),
    ("batch", "Job"): {"spec": _JOB_SPEC, "status": struct(present=True)},
    ("batch", "CronJob"): {
        "spec": struct(True, jobTemplate=struct(True, metadata=OBJECT_META, spec=_JOB_SPEC)),
        "status": struct(present=True, active=ATOMIC),
    },
}  # fmt: skip


def builtin_shape(group: str, kind: str) -> Shape:
    """The shape of a built-in kind's objects (an open struct for kinds not modelled)."""
    fields = _BUILT.get((group, kind))
    if fields is None:
        return Shape(STRUCT, fields={"metadata": OBJECT_META}, open=True)
    return fields


def custom_shape(schema: dict[str, Any] | None) -> Shape:
    """The shape of a custom resource of a CRD version's schema."""
    return crd_shape(schema, OBJECT_META)


def zero_value(shape: Shape) -> dict[str, Any]:
    """The object as Go's zero value of the kind encodes it: the non-pointer structs, empty.
    What a create is compared with, so those are not marked as owned nodes of their own."""
    # metav1.Time is a struct that encodes its zero value as null.
    out: dict[str, Any] = {"creationTimestamp": None} if shape is OBJECT_META else {}
    for name, sub in shape.fields.items():
        if sub.kind == STRUCT and sub.present:
            out[name] = zero_value(sub)
    return out


_BUILT: dict[tuple[str, str], Shape] = {
    key: Shape(STRUCT, fields={"metadata": OBJECT_META, **fields}, open=True)
    for key, fields in _KINDS.items()
}

__all__ = ["ANY_SHAPE", "OBJECT_META", "builtin_shape", "custom_shape", "zero_value"]
