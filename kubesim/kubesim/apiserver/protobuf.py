"""Request bodies in Kubernetes' protobuf encoding, for the kinds kubectl's typed clients create.

kubectl sends `Content-Type: application/vnd.kubernetes.protobuf` for built-in kinds it creates
through client-go's typed clients: `kubectl create token` (TokenRequest), `kubectl auth can-i`
(SelfSubjectAccessReview, SelfSubjectRulesReview), `kubectl auth whoami` (SelfSubjectReview),
`kubectl create namespace|serviceaccount|role|clusterrole|rolebinding|clusterrolebinding`. The
body is the `k8s\\x00` magic, then a runtime.Unknown naming apiVersion and kind around the
object's own message (k8s.io/api/.../generated.proto). This decodes those kinds into the JSON
form the rest of the server works with; answers stay JSON, which those clients also accept.

Go's generated marshallers write every non-pointer field, empty or not: empty strings, zeros,
false and empty lists are dropped here, as `omitempty` would leave them out of JSON. Kinds not
listed below are refused with the 415 a JSON-only server answers.
"""

from __future__ import annotations

from typing import Any

from kubesim.registry.errors import ApiError, bad_request

PROTOBUF = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

# A message: field number -> (JSON name, type). A type is "string", "int64", "bool", "time",
# another message, ("repeated", type) or ("map", value type) (string keys).
Message = dict[int, tuple[str, Any]]

TIME: Message = {1: ("seconds", "int64"), 2: ("nanos", "int64")}
OWNER_REFERENCE: Message = {
    1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"),
    5: ("apiVersion", "string"), 6: ("controller", "bool"), 7: ("blockOwnerDeletion", "bool"),
}  # fmt: skip
OBJECT_META: Message = {
    1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
    5: ("uid", "string"), 6: ("resourceVersion", "string"), 7: ("generation", "int64"),
    8: ("creationTimestamp", "time"), 9: ("deletionTimestamp", "time"),
    10: ("deletionGracePeriodSeconds", "int64"), 11: ("labels", ("map", "string")),
    12: ("annotations", ("map", "string")), 13: ("ownerReferences", ("repeated", OWNER_REFERENCE)),
    14: ("finalizers", ("repeated", "string")),
}  # fmt: skip
LABEL_SELECTOR: Message = {
    1: ("matchLabels", ("map", "string")),
    2: ("matchExpressions", ("repeated", {
        1: ("key", "string"), 2: ("operator", "string"), 3: ("values", ("repeated", "string")),
    })),
}  # fmt: skip
EXTRA: Message = {1: ("items", ("repeated", "string"))}
RESOURCE_ATTRIBUTES: Message = {
    1: ("namespace", "string"), 2: ("verb", "string"), 3: ("group", "string"),
    4: ("version", "string"), 5: ("resource", "string"), 6: ("subresource", "string"),
    7: ("name", "string"),
}  # fmt: skip
NON_RESOURCE_ATTRIBUTES: Message = {1: ("path", "string"), 2: ("verb", "string")}
SAR_SPEC: Message = {
    1: ("resourceAttributes", RESOURCE_ATTRIBUTES),
    2: ("nonResourceAttributes", NON_RESOURCE_ATTRIBUTES),
    3: ("user", "string"), 4: ("groups", ("repeated", "string")),
    5: ("extra", ("map", EXTRA)), 6: ("uid", "string"),
}  # fmt: skip
POLICY_RULE: Message = {
    1: ("verbs", ("repeated", "string")), 2: ("apiGroups", ("repeated", "string")),
    3: ("resources", ("repeated", "string")), 4: ("resourceNames", ("repeated", "string")),
    5: ("nonResourceURLs", ("repeated", "string")),
}  # fmt: skip
SUBJECT: Message = {
    1: ("kind", "string"), 2: ("apiGroup", "string"), 3: ("name", "string"),
    4: ("namespace", "string"),
}  # fmt: skip
ROLE_REF: Message = {1: ("apiGroup", "string"), 2: ("kind", "string"), 3: ("name", "string")}
BINDING: Message = {
    1: ("metadata", OBJECT_META),
    2: ("subjects", ("repeated", SUBJECT)),
    3: ("roleRef", ROLE_REF),
}

KINDS: dict[tuple[str, str], Message] = {
    ("authentication.k8s.io/v1", "TokenRequest"): {
        1: ("metadata", OBJECT_META),
        2: ("spec", {
            1: ("audiences", ("repeated", "string")),
            3: ("boundObjectRef", {1: ("kind", "string"), 2: ("apiVersion", "string"),
                                   3: ("name", "string"), 4: ("uid", "string")}),
            4: ("expirationSeconds", "int64"),
        }),
    },
    ("authentication.k8s.io/v1", "TokenReview"): {
        1: ("metadata", OBJECT_META),
        2: ("spec", {1: ("token", "string"), 2: ("audiences", ("repeated", "string"))}),
    },
    ("authentication.k8s.io/v1", "SelfSubjectReview"): {1: ("metadata", OBJECT_META)},
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): {
        1: ("metadata", OBJECT_META),
        2: ("spec", {1: ("resourceAttributes", RESOURCE_ATTRIBUTES),
                     2: ("nonResourceAttributes", NON_RESOURCE_ATTRIBUTES)}),
    },
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): {
        1: ("metadata", OBJECT_META), 2: ("spec", {1: ("namespace", "string")}),
    },
    ("authorization.k8s.io/v1", "SubjectAccessReview"): {
        1: ("metadata", OBJECT_META), 2: ("spec", SAR_SPEC),
    },
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview"): {
        1: ("metadata", OBJECT_META), 2: ("spec", SAR_SPEC),
    },
    ("v1", "Namespace"): {
        1: ("metadata", OBJECT_META), 2: ("spec", {1: ("finalizers", ("repeated", "string"))}),
    },
    ("v1", "ServiceAccount"): {
        1: ("metadata", OBJECT_META),
        2: ("secrets", ("repeated", {1: ("kind", "string"), 2: ("namespace", "string"),
                                     3: ("name", "string"), 4: ("uid", "string"),
                                     5: ("apiVersion", "string")})),
        3: ("imagePullSecrets", ("repeated", {1: ("name", "string")})),
        4: ("automountServiceAccountToken", "bool"),
    },
    ("rbac.authorization.k8s.io/v1", "Role"): {
        1: ("metadata", OBJECT_META), 2: ("rules", ("repeated", POLICY_RULE)),
    },
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): {
        1: ("metadata", OBJECT_META), 2: ("rules", ("repeated", POLICY_RULE)),
        3: ("aggregationRule", {1: ("clusterRoleSelectors", ("repeated", LABEL_SELECTOR))}),
    },
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): BINDING,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): BINDING,
}  # fmt: skip

_UNKNOWN: Message = {
    1: ("typeMeta", {1: ("apiVersion", "string"), 2: ("kind", "string")}),
    2: ("raw", "bytes"),
    3: ("contentEncoding", "string"),
    4: ("contentType", "string"),
}


class _Malformed(Exception):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _Malformed("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) for each field: an int for varints, bytes for the rest."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise _Malformed("truncated field")
            out.append((number, data[pos : pos + length]))
            pos += length
        elif wire in (1, 5):  # fixed64 / fixed32: not in these kinds; skipped
            pos += 8 if wire == 1 else 4
        else:
            raise _Malformed(f"unsupported wire type {wire}")
    return out


def _scalar(kind: str, value: int | bytes) -> Any:
    if kind == "string":
        if not isinstance(value, bytes):
            raise _Malformed("a string field as a varint")
        return value.decode()
    if kind == "bytes":
        return value
    if not isinstance(value, int):
        raise _Malformed("a number field as bytes")
    if kind == "bool":
        return bool(value)
    return value - (1 << 64) if value >= 1 << 63 else value  # int64, two's complement


def _value(kind: Any, value: int | bytes) -> Any:
    if kind == "time":
        return None  # the server sets the timestamps a create may carry
    if isinstance(kind, dict):
        if not isinstance(value, bytes):
            raise _Malformed("a message field as a varint")
        return _message(kind, value)
    return _scalar(kind, value)


def _message(schema: Message, data: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, value in _fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        if isinstance(kind, tuple) and kind[0] == "repeated":
            out.setdefault(name, []).append(_value(kind[1], value))
        elif isinstance(kind, tuple) and kind[0] == "map":
            if not isinstance(value, bytes):
                raise _Malformed("a map entry as a varint")
            entry = dict(_fields(value))
            key = _scalar("string", entry.get(1, b""))
            out.setdefault(name, {})[key] = _value(kind[1], entry.get(2, b""))
        else:
            out[name] = _value(kind, value)
    return out


_STRING_MAPS = frozenset({"labels", "annotations", "matchLabels"})  # "" is a value there


def _omit_empty(value: Any) -> Any:
    if isinstance(value, dict):
        items = ((k, v if k in _STRING_MAPS else _omit_empty(v)) for k, v in value.items())
        return {k: v for k, v in items if v not in (None, "", 0, False, [], {})}
    if isinstance(value, list):
        return [_omit_empty(v) for v in value]
    return value


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object of one of KINDS; 415/400 otherwise."""
    try:
        if not body.startswith(MAGIC):
            raise _Malformed("the body does not start with the protobuf magic number")
        unknown = _message(_UNKNOWN, body[len(MAGIC) :])
        type_meta = unknown.get("typeMeta") or {}
        api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
        schema = KINDS.get((api_version, kind))
        if schema is None:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types "
                f'include: application/json, application/yaml (got "{PROTOBUF}" for {kind})',
            )
        obj = _omit_empty(_message(schema, unknown.get("raw") or b""))
    except (_Malformed, UnicodeDecodeError) as err:
        raise bad_request(f"unable to decode the protobuf body: {err}") from None
    return {"apiVersion": api_version, "kind": kind, **obj}
