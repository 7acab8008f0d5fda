"""Protobuf request bodies: the decoder by the generated tables, and hostile bytes over HTTP.

kubectl's own bodies are exercised end to end in test_kubectl_create.py; here bodies are built
field by field (a few lines of encoder below), to pin each rule of the wire format and of Go's
JSON of the decoded value, and the real server's error texts.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kubesim import LocalCluster
from kubesim.apiserver import protobuf
from kubesim.apiserver.protobuf_go import go_duration, rfc3339
from kubesim.registry.errors import ApiError
from tests.support.sample_crds import GROUP, WIDGET_CRD, widget

REPO = Path(__file__).resolve().parents[2]
MIRRORS = Path("/work/.mirror")
MODULES = ("kubernetes+api", "kubernetes+apimachinery", "kubernetes+apiextensions-apiserver")
SOURCES = [MIRRORS / name / "repo" for name in MODULES]

# -- a small encoder ---------------------------------------------------------------------------


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def num(number: int, value: int) -> bytes:
    return key(number, 0) + varint(value)


def ld(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return key(number, 2) + varint(len(data)) + data


def entry(number: int, k: str, v: bytes | str) -> bytes:
    return ld(number, ld(1, k) + ld(2, v))


def body(api_version: str, kind: str, raw: bytes) -> bytes:
    return b"k8s\x00" + ld(1, ld(1, api_version) + ld(2, kind)) + ld(2, raw)


def decode(raw: bytes, api_version: str = "v1", kind: str = "ConfigMap") -> dict[str, Any]:
    return protobuf.decode(body(api_version, kind, raw), api_version, kind)


def refused(data: bytes, api_version: str = "v1", kind: str = "ConfigMap") -> ApiError:
    with pytest.raises(ApiError) as info:
        protobuf.decode(data, api_version, kind)
    return info.value


META = ld(1, ld(1, "cm") + entry(11, "b", "2") + entry(11, "a", "") + ld(14, "f"))


# -- Go's JSON of what was decoded -------------------------------------------------------------


def test_configmap_fields_in_go_order_with_sorted_maps_and_base64_bytes() -> None:
    obj = decode(META + entry(3, "bin", b"\xff\x00") + entry(2, "k", "v") + num(4, 0))
    assert json.dumps(obj) == json.dumps({
        "kind": "ConfigMap",
        "apiVersion": "v1",
        # creationTimestamp is a Time value, not a pointer: the zero time is written as null
        "metadata": {"name": "cm", "creationTimestamp": None, "labels": {"a": "", "b": "2"},
                     "finalizers": ["f"]},
        "immutable": False,  # a pointer that was sent keeps its zero value
        "data": {"k": "v"},
        "binaryData": {"bin": "/wA="},
    })  # fmt: skip


def test_absent_fields_are_their_go_zero_values_unless_omitempty() -> None:
    # A Deployment with nothing but a name: what Go's encoder writes for the empty value.
    obj = decode(META, "apps/v1", "Deployment")
    assert obj["spec"] == {
        "selector": None,  # a pointer without omitempty
        "template": {"metadata": {"creationTimestamp": None}, "spec": {"containers": None}},
        "strategy": {},  # a struct is never omitted
    }
    assert obj["status"] == {}


def test_service_ports_int_or_string_and_the_kind_from_the_url() -> None:
    port = ld(4, num(1, 1) + ld(3, "http"))  # targetPort: the string form
    ports = ld(1, num(3, 80) + port) + ld(1, num(3, 443) + ld(4, num(2, 8443)))
    raw = ld(1, ld(1, "svc")) + ld(2, ports + entry(2, "app", "x"))
    # An envelope naming no kind takes the URL's (copyKindDefaults).
    obj = protobuf.decode(b"k8s\x00" + ld(2, raw), "v1", "Service")
    assert obj["kind"] == "Service" and obj["apiVersion"] == "v1"
    assert obj["spec"]["ports"] == [
        {"port": 80, "targetPort": "http"},
        {"port": 443, "targetPort": 8443},
    ]
    assert obj["spec"]["selector"] == {"app": "x"}
    assert obj["status"] == {"loadBalancer": {}}


def test_pod_inline_volume_source_quantities_and_packed_repeated_numbers() -> None:
    empty_dir = ld(2, ld(2, ld(1, "1000Mi")))  # emptyDir.sizeLimit
    volume = ld(1, ld(1, "scratch") + ld(2, empty_dir))
    limits = entry(1, "memory", ld(1, "1024Mi")) + entry(1, "cpu", ld(1, "1000m"))
    container = ld(2, ld(1, "c") + ld(2, "img") + ld(8, limits))
    packed = ld(4, varint(1000) + varint(2000))  # supplementalGroups, packed
    security = ld(14, packed + num(4, 3000))  # and one more unpacked
    obj = decode(META + ld(2, volume + container + security), "v1", "Pod")
    spec = obj["spec"]
    assert spec["volumes"] == [{"name": "scratch", "emptyDir": {"sizeLimit": "1000Mi"}}]
    assert spec["containers"][0]["resources"] == {"limits": {"cpu": "1", "memory": "1Gi"}}
    assert spec["securityContext"] == {"supplementalGroups": [1000, 2000, 3000]}


def test_times() -> None:
    created = ld(8, num(1, 1_700_000_000) + num(2, 999_999_999))  # Time drops the nanos
    event_time = ld(10, num(1, 1_700_000_000) + num(2, 123_456_789))  # MicroTime keeps micros
    obj = decode(ld(1, ld(1, "e") + created) + event_time, "v1", "Event")
    assert obj["metadata"]["creationTimestamp"] == "2023-11-14T22:13:20Z"
    assert obj["eventTime"] == "2023-11-14T22:13:20.123456Z"
    # The zero time (sent empty, or as year 1) is null.
    zero = decode(ld(1, ld(8, b"") + ld(1, "e")) + ld(10, b""), "v1", "Event")
    assert zero["metadata"]["creationTimestamp"] is None and zero["eventTime"] is None
    year_one = decode(ld(1, ld(8, num(1, -62_135_596_800))), "v1", "Event")
    assert year_one["metadata"]["creationTimestamp"] is None
    assert rfc3339(-62_135_596_801) == "0000-12-31T23:59:59Z"
    assert rfc3339(253_402_300_800) == "10000-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("nanos", "text"),
    [(0, "0s"), (1, "1ns"), (1500, "1.5µs"), (2_000_000, "2ms"), (1_500_000_000, "1.5s"),
     (90 * 60 * 10**9, "1h30m0s"), (-(3661 * 10**9 + 5), "-1h1m1.000000005s")],
)  # fmt: skip
def test_go_durations(nanos: int, text: str) -> None:
    assert go_duration(nanos) == text


def test_schema_unions_raw_json_and_doubles() -> None:
    string_schema = ld(5, "string")
    props = ld(29, ld(1, "a") + ld(2, string_schema))  # properties: {"a": {...}}
    schema = (
        ld(5, "object") + props
        + ld(24, ld(2, string_schema) + ld(2, ld(5, "integer")))  # items: an array of schemas
        + ld(30, num(1, 0))  # additionalProperties: false
        + ld(8, ld(1, '{"x": [1, 2]}'))  # default: raw JSON
        + key(9, 1) + b"\x00\x00\x00\x00\x00\x00\xf0?"  # maximum: 1.0, written as 1
        + num(38, 1)  # x-kubernetes-preserve-unknown-fields
    )  # fmt: skip
    version = ld(1, "v1") + num(2, 1) + num(3, 1) + ld(4, ld(1, schema))
    names = ld(1, "widgets") + ld(4, "Widget")
    spec = ld(1, "example.com") + ld(3, names) + ld(4, "Namespaced") + ld(7, version)
    obj = decode(ld(1, ld(1, "widgets.example.com")) + ld(2, spec),
                 "apiextensions.k8s.io/v1", "CustomResourceDefinition")  # fmt: skip
    got = obj["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert got == {
        "type": "object",
        "default": {"x": [1, 2]},
        "maximum": 1,
        "items": [{"type": "string"}, {"type": "integer"}],
        "properties": {"a": {"type": "string"}},
        "additionalProperties": False,
        "x-kubernetes-preserve-unknown-fields": True,
    }


def test_unknown_fields_and_groups_are_skipped_and_repeated_messages_merge() -> None:
    unknown = (
        num(99, 5) + ld(98, b"xyz") + key(97, 3) + num(1, 1) + key(97, 4) + key(96, 5) + b"abcd"
    )
    raw = ld(1, ld(1, "cm") + unknown) + unknown + ld(1, entry(11, "a", "b")) + entry(2, "k", "")
    obj = decode(raw + key(95, 1) + b"12345678")
    assert obj["metadata"] == {"name": "cm", "creationTimestamp": None, "labels": {"a": "b"}}
    assert obj["data"] == {"k": ""}


def test_invalid_utf8_is_replaced_as_go_writes_it() -> None:
    assert decode(META + entry(2, "k", b"\xffok"))["data"] == {"k": "\ufffdok"}


# -- wire-format errors: the real server's texts -----------------------------------------------

CANNOT = 'ConfigMap in version "v1" cannot be handled as a ConfigMap: '


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (META[:-1], "unexpected EOF"),
        (b"\x0a", "unexpected EOF"),  # a length missing
        (key(2, 2) + b"\xff" * 10 + b"\x01", "proto: integer overflow"),  # an 11-byte varint
        (key(2, 2) + varint(1 << 63), "proto: negative length found during unmarshaling"),
        (key(2, 2) + varint(1 << 40), "unexpected EOF"),  # a huge length
        (num(2, 1), "proto: wrong wireType = 0 for field Data"),
        (ld(1, num(1, 3)), "proto: wrong wireType = 0 for field Name"),
        (num(4, 1)[:1] + b"", "unexpected EOF"),
        (key(4, 2) + b"\x00", "proto: wrong wireType = 2 for field Immutable"),
        (b"\x00", "proto: ConfigMap: illegal tag 0 (wire type 0)"),
        (key(5, 4), "proto: ConfigMap: wiretype end group for non-group"),
        (key(9, 6), "proto: illegal wireType 6"),
        (key(9, 3) + key(9, 3) + key(9, 4), "unexpected EOF"),  # an unclosed group
        (ld(1, ld(1, "x")) + key(9, 1) + b"123", "unexpected EOF"),
    ],
)  # fmt: skip
def test_wire_errors(raw: bytes, error: str) -> None:
    err = refused(body("v1", "ConfigMap", raw))
    assert (err.code, err.reason, err.message) == (400, "BadRequest", CANNOT + error)


def test_value_errors_name_the_kind() -> None:
    bad = ld(2, ld(2, ld(1, "c") + ld(8, entry(1, "cpu", ld(1, "lots")))))
    err = refused(body("v1", "Pod", ld(1, ld(1, "p")) + bad), "v1", "Pod")
    assert err.message == (
        'Pod in version "v1" cannot be handled as a Pod: quantities must match the regular '
        "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )
    port = ld(2, ld(1, num(3, 80) + ld(4, num(1, 7))))
    err = refused(body("v1", "Service", port), "v1", "Service")
    assert err.message.endswith("cannot be handled as a Service: impossible IntOrString.Type")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the object provided is unrecognized (must be of type ConfigMap): empty data "
              "(<empty>)"),
        (b"k8s\x00", "the object provided is unrecognized (must be of type ConfigMap): empty "
                     "body (6b387300)"),
        (b'{"kind": "ConfigMap"}', "the object provided is unrecognized (must be of type "
         "ConfigMap): provided data does not appear to be a protobuf message, expected prefix "
         '[107 56 115 0] ({"kind": "ConfigMap"})'),
        (b"k8s\x00\x0a\x05", "the object provided is unrecognized (must be of type ConfigMap): "
                             "unexpected EOF (6b3873000a05)"),
        (body("v1", "Gadget", b""), 'Gadget in version "v1" cannot be handled as a ConfigMap: no '
         'kind "Gadget" is registered for version "v1" in scheme '
         '"pkg/api/legacyscheme/scheme.go:30"'),
        (body("a/b/c", "", b"\x00"), "ConfigMap in version \"v1\" cannot be handled as a "
                                     "ConfigMap: proto: ConfigMap: illegal tag 0 (wire type 0)"),
    ],
)  # fmt: skip
def test_envelope_errors(data: bytes, message: str) -> None:
    err = refused(data)
    assert (err.code, err.message) == (400, message)


def test_custom_resources_are_json_and_yaml_only() -> None:
    with pytest.raises(ApiError) as info:
        protobuf.decode(body("example.com/v1", "Widget", b""), "example.com/v1", "Widget",
                        custom=True)  # fmt: skip
    assert (info.value.code, info.value.reason, info.value.message) == (
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json, application/yaml",
    )


def test_deep_nesting_is_decoded_iteratively_and_bounded() -> None:
    def nested(depth: int) -> bytes:
        schema = ld(5, "string")
        for _ in range(depth):
            schema = ld(24, ld(1, schema))  # items: {items: {...}}
        version = ld(1, "v1") + ld(4, ld(1, schema))
        return body("apiextensions.k8s.io/v1", "CustomResourceDefinition", ld(2, ld(7, version)))

    start = time.monotonic()
    obj = protobuf.decode(nested(2000), "apiextensions.k8s.io/v1", "CustomResourceDefinition")
    depth, schema = 0, obj["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    while "items" in schema:
        schema, depth = schema["items"], depth + 1
    assert (depth, schema) == (2000, {"type": "string"})
    err = refused(nested(6000), "apiextensions.k8s.io/v1", "CustomResourceDefinition")
    assert err.code == 400 and "nested more than 10000 levels" in err.message
    assert time.monotonic() - start < 10


def test_embedded_objects_in_raw_extensions() -> None:
    def revision(raw: bytes, depth: int) -> bytes:
        for _ in range(depth):
            raw = body("apps/v1", "ControllerRevision", ld(2, ld(1, raw)) + num(3, 1))
        return raw

    obj = protobuf.decode(revision(b'{"a": 1}', 3), "apps/v1", "ControllerRevision")
    inner = obj["data"]["data"]
    assert inner["kind"] == "ControllerRevision" and inner["data"] == {"a": 1}
    err = refused(revision(b"{}", 400), "apps/v1", "ControllerRevision")
    assert err.code == 400 and "embedded more than 50 levels deep" in err.message
    err = refused(revision(b"{not json", 1), "apps/v1", "ControllerRevision")
    assert err.code == 400 and "json: error calling MarshalJSON" in err.message


# -- over HTTP: never a 500, never a hang ------------------------------------------------------


async def _post(cluster: LocalCluster, path: str, data: bytes) -> tuple[int, dict[str, Any]]:
    headers = {**cluster.headers, "Content-Type": protobuf.PROTOBUF}
    async with aiohttp.ClientSession(headers=headers) as http:
        resp = await http.post(cluster.url + path, data=data, timeout=aiohttp.ClientTimeout(10))
        return resp.status, json.loads(await resp.text())


async def test_http_create_update_and_refusals(module_cluster: LocalCluster) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    status, created = await _post(module_cluster, path, body("v1", "ConfigMap", META))
    assert status == 201, created
    assert created["metadata"]["labels"] == {"a": "", "b": "2"}
    assert created["metadata"]["creationTimestamp"]  # the server's, not the body's null
    # An update in protobuf, with the resourceVersion read back.
    rv = ld(6, created["metadata"]["resourceVersion"])
    headers = {**module_cluster.headers, "Content-Type": protobuf.PROTOBUF}
    async with aiohttp.ClientSession(headers=headers) as http:
        resp = await http.put(
            module_cluster.url + path + "/cm",
            data=body("v1", "ConfigMap", ld(1, ld(1, "cm") + rv) + entry(2, "k", "v")),
        )
        updated = await resp.json()
    assert resp.status == 200 and updated["data"] == {"k": "v"}, updated
    # Another kind than the URL's is refused as a JSON body naming it would be.
    status, doc = await _post(module_cluster, path, body("v1", "Secret", META))
    assert (status, doc["reason"]) == (400, "BadRequest")
    status, doc = await _post(module_cluster, path, b"k8s\x00\xff")
    assert (status, doc["kind"], doc["code"]) == (400, "Status", 400), doc
    # RBAC comes first: a token-less request is a 401 whatever the body.
    async with aiohttp.ClientSession() as http:
        resp = await http.post(module_cluster.url + path, data=b"k8s\x00",
                               headers={"Content-Type": protobuf.PROTOBUF})  # fmt: skip
        assert resp.status == 401


async def test_http_custom_resources_and_their_scale(local_cluster: LocalCluster) -> None:
    async with aiohttp.ClientSession(headers=local_cluster.headers) as http:
        crds = local_cluster.url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        assert (await http.post(crds, json=WIDGET_CRD)).status == 201
        widgets = local_cluster.url + f"/apis/{GROUP}/v1/namespaces/default/widgets"
        created = await (await http.post(widgets, json=widget("w", replicas=1))).json()
    path = f"/apis/{GROUP}/v1/namespaces/default/widgets"
    status, doc = await _post(local_cluster, path, body(f"{GROUP}/v1", "Widget", META))
    assert (status, doc["reason"], doc["message"]) == (
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json, application/yaml",
    )
    # The scale subresource is a typed autoscaling/v1 Scale, which protobuf can carry.
    rv = created["metadata"]["resourceVersion"]
    scale = ld(1, ld(1, "w") + ld(6, rv)) + ld(2, num(1, 3))
    headers = {**local_cluster.headers, "Content-Type": protobuf.PROTOBUF}
    async with aiohttp.ClientSession(headers=headers) as http:
        resp = await http.put(local_cluster.url + path + "/w/scale",
                              data=body("autoscaling/v1", "Scale", scale))  # fmt: skip
        got = await resp.json()
        assert resp.status == 200 and got["spec"] == {"replicas": 3}, got


async def test_fuzzed_bodies_get_a_clean_answer(module_cluster: LocalCluster) -> None:
    seeds = [
        body("v1", "ConfigMap", META + entry(2, "k", "v")),
        body("v1", "Service", ld(1, ld(1, "s")) + ld(2, ld(1, num(3, 80) + ld(4, num(2, 1))))),
        body("apps/v1", "Deployment", ld(1, ld(1, "d")) + ld(2, num(1, 2) + ld(3, ld(2, b"")))),
    ]
    paths = ["/api/v1/namespaces/default/configmaps", "/api/v1/namespaces/default/services",
             "/api/v1/namespaces/default/pods"]  # fmt: skip
    rng = random.Random(20240601)
    codes: set[int] = set()
    for i in range(150):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            op, at = rng.randrange(4), rng.randrange(4, max(len(data), 5))
            if op == 0 and at < len(data):
                data[at] = rng.randrange(256)
            elif op == 1:
                del data[at:]
            elif op == 2:
                data[at:at] = varint(rng.choice([1 << 62, 1 << 35, 0x7FFFFFFF, 300]))
            else:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
        status, doc = await _post(module_cluster, paths[i % 3], bytes(data))
        assert status < 500 and doc["kind"] in ("Status", "ConfigMap", "Service", "Pod"), doc
        codes.add(status)
    assert 400 in codes


# -- the generated tables ----------------------------------------------------------------------


@pytest.mark.skipif(
    not all((p / "HEAD").exists() for p in SOURCES),
    reason="the k8s.io/api, apimachinery and apiextensions mirrors are absent",
)
def test_generated_tables_match_the_sources() -> None:
    script = REPO / "scripts" / "protobuf_tables.py"
    proc = subprocess.run([sys.executable, str(script), *map(str, SOURCES), "--check"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
