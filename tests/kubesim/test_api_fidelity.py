"""Where kube-apiserver's answers are exact to the byte, through kubernetes_asyncio: Status bodies
in Go's field order, field-error causes, the decoder's errors, and the form objects are stored in.
"""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from kubesim.registry.errors import FieldError, invalid
from tests.support.kube import expect_status
from tests.support.sample_crds import GROUP, WIDGET_CRD, widget

MERGE: dict[str, Any] = {"_content_type": "application/merge-patch+json"}
# metav1.Status and StatusDetails as encoding/json writes them: struct field order, and the
# newline json.Encoder.Encode ends every document with.
STATUS_KEYS = ["kind", "apiVersion", "metadata", "status", "message", "reason", "details", "code"]
RV_ON_CREATE = (
    '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
    '"message":"resourceVersion should not be set on objects to be created","code":500}\n'
)


async def failure(awaitable: Any) -> tuple[int, str]:
    """The status code and raw body text of a call that fails."""
    with pytest.raises(ApiException) as info:
        await awaitable
    body = info.value.body
    return info.value.status, body.decode() if isinstance(body, bytes) else str(body)


def keys_in_order(text: str) -> list[list[str]]:
    """The key order of every JSON object in `text`, outermost last."""
    seen: list[list[str]] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen.append([k for k, _ in pairs])
        return dict(pairs)

    json.loads(text, object_pairs_hook=hook)
    return seen


async def raw(awaitable: Any) -> Any:
    """The JSON of a call made with _preload_content=False (the server's own text)."""
    response = await awaitable
    return json.loads(await response.read())


async def install_widgets(api: ApiClient) -> client.CustomObjectsApi:
    await client.ApiextensionsV1Api(api).create_custom_resource_definition(cast(Any, WIDGET_CRD))
    return client.CustomObjectsApi(api)


# -- Status bodies --------------------------------------------------------------------------


async def test_status_bodies_are_written_in_go_field_order(kube_client: ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    code, text = await failure(v1.read_namespaced_config_map("nope", "default"))
    assert (code, text) == (
        404,
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"configmaps \\"nope\\" not found","reason":"NotFound",'
        '"details":{"name":"nope","kind":"configmaps"},"code":404}\n',
    )
    bad: Any = {"metadata": {"name": "Bad_Name"}}
    code, text = await failure(v1.create_namespaced_config_map("default", bad))
    cause, details, status = keys_in_order(text)[-3:]
    assert code == 422
    assert status == STATUS_KEYS
    assert details == ["name", "kind", "causes"]
    assert cause == ["reason", "message", "field"]


async def test_invalid_causes_name_the_field_apart_from_the_message(
    kube_client: ApiClient,
) -> None:
    """errors.NewInvalid: the message aggregates `<field>: <body>`; each cause holds the body
    alone, so kubectl's `<field>: <message>` lines name the field once."""
    v1 = client.CoreV1Api(kube_client)
    bad: Any = {"metadata": {"name": "Bad_Name"}}
    body = await expect_status(v1.create_namespaced_config_map("default", bad), 422, "Invalid")
    [cause] = body["details"]["causes"]
    assert cause["field"] == "metadata.name"
    assert cause["message"].startswith('Invalid value: "Bad_Name": a lowercase RFC 1123')
    assert body["message"] == f'ConfigMap "Bad_Name" is invalid: metadata.name: {cause["message"]}'

    co = await install_widgets(kube_client)
    blue = widget("w")
    blue["spec"]["colour"] = "blue"
    body = await expect_status(
        co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", blue), 422, "Invalid"
    )
    unsupported = 'Unsupported value: "blue": supported values: "red", "green"'
    assert body["details"] == {
        "name": "w",
        "group": GROUP,
        "kind": "Widget",
        "causes": [{"reason": "FieldValueNotSupported", "message": unsupported,
                    "field": "spec.colour"}],
    }  # fmt: skip
    assert body["message"] == f'Widget.{GROUP} "w" is invalid: spec.colour: {unsupported}'


def test_invalid_aggregates_repeated_errors_once() -> None:
    """ErrorList.ToAggregate drops repeats from the message; the causes keep every error."""
    same = FieldError("spec.x", "FieldValueRequired")
    other = FieldError("spec.y", "FieldValueInvalid", "must be odd", 2)
    body = invalid("Thing", "example.com", "t", [same, same, other]).status()
    assert body["message"] == (
        'Thing.example.com "t" is invalid: [spec.x: Required value, spec.y: Invalid value: 2: '
        "must be odd]"
    )
    assert [c["message"] for c in body["details"]["causes"]] == [
        "Required value", "Required value", "Invalid value: 2: must be odd",
    ]  # fmt: skip
    one = invalid("Thing", "", "t", [same, same]).status()
    assert one["message"] == 'Thing "t" is invalid: spec.x: Required value'


# -- the decoder's errors -------------------------------------------------------------------


async def test_strict_field_validation_errors_read_as_the_decoders(kube_client: ApiClient) -> None:
    co = await install_widgets(kube_client)
    typo = widget("w")
    typo["spec"]["x"] = 1
    strict = 'strict decoding error: unknown field "spec.x"'
    # Create and update: handlers.transformDecodeError's 400.
    body = await expect_status(
        co.create_namespaced_custom_object(
            GROUP, "v1", "default", "widgets", typo, field_validation="Strict"
        ),
        400,
        "BadRequest",
    )
    assert body["message"] == f'Widget in version "v1" cannot be handled as a Widget: {strict}'
    made = await co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", widget("w"))
    body = await expect_status(
        co.replace_namespaced_custom_object(
            GROUP, "v1", "default", "widgets", "w",
            {**made, "spec": {**made["spec"], "x": 1}}, field_validation="Strict",
        ),
        400,
        "BadRequest",
    )  # fmt: skip
    assert body["message"] == f'Widget in version "v1" cannot be handled as a Widget: {strict}'
    # A patch: a bare 422 on the field `patch`, showing the patched object's JSON.
    untyped: Any = co
    code, text = await failure(
        untyped.patch_namespaced_custom_object(
            GROUP, "v1", "default", "widgets", "w", {"spec": {"x": 1}},
            field_validation="Strict", **MERGE,
        )
    )  # fmt: skip
    body = json.loads(text)
    assert (code, body["reason"]) == (422, "Invalid")
    [cause] = body["details"]["causes"]
    assert body["details"] == {"causes": [cause]}  # no name, group or kind: all omitted
    assert cause["field"] == "patch" and cause["reason"] == "FieldValueInvalid"
    assert cause["message"].startswith('Invalid value: "{\\"apiVersion\\":\\"example.lscsde.test')
    assert cause["message"].endswith(f'": {strict}')
    assert '\\"x\\":1' in cause["message"]
    assert body["message"] == f' "" is invalid: patch: {cause["message"]}'
    assert keys_in_order(text)[-1] == STATUS_KEYS


async def test_event_time_is_stored_as_a_micro_time(kube_client: ApiClient) -> None:
    """metav1.MicroTime: parsed with RFC3339Micro (six fractional digits), stored in UTC."""
    core = client.CoreV1Api(kube_client)
    regarding = {"kind": "Pod", "name": "p", "namespace": "default"}
    ev: Any = {
        "metadata": {"name": "e1"},
        "involvedObject": regarding,
        "reason": "Started", "action": "Start", "type": "Normal",
        "reportingComponent": "kubesim-test", "reportingInstance": "i",
        "eventTime": "2024-05-01T12:00:00.123456+02:00",
        "series": {"count": 2, "lastObservedTime": "2024-05-01T09:30:00,000001-00:30"},
    }  # fmt: skip
    made = await raw(core.create_namespaced_event("default", ev, _preload_content=False))
    assert made["eventTime"] == "2024-05-01T10:00:00.123456Z"
    assert made["series"]["lastObservedTime"] == "2024-05-01T10:00:00.000001Z"
    got = await raw(core.read_namespaced_event("e1", "default", _preload_content=False))
    assert got["eventTime"] == "2024-05-01T10:00:00.123456Z"

    events = client.EventsV1Api(kube_client)
    new: Any = {
        "metadata": {"name": "e2"},
        "regarding": regarding,
        "reason": "Started", "action": "Start", "type": "Normal",
        "reportingController": "kubesim-test", "reportingInstance": "i",
        "eventTime": "2024-05-01T12:00:00Z",
    }  # fmt: skip
    body = await expect_status(events.create_namespaced_event("default", new), 400, "BadRequest")
    assert body["message"] == (
        'Event in version "v1" cannot be handled as a Event: parsing time '
        '"2024-05-01T12:00:00Z" as "2006-01-02T15:04:05.000000Z07:00": '
        'cannot parse "Z" as ".000000"'
    )
    new["eventTime"] = "2024-05-01T12:00:00.123456789Z"
    body = await expect_status(events.create_namespaced_event("default", new), 400, "BadRequest")
    assert body["message"].endswith('cannot parse "789Z" as "Z07:00"')
    new["eventTime"] = 5
    body = await expect_status(events.create_namespaced_event("default", new), 400, "BadRequest")
    assert body["message"].endswith(
        "json: cannot unmarshal number into Go struct field Event.eventTime of type string"
    )
    # A merge patch that leaves a bad time: the patch's 422, showing the patched object.
    untyped: Any = core
    body = await expect_status(
        untyped.patch_namespaced_event(
            "e1", "default", {"eventTime": "2024-02-30T00:00:00.000000Z"}, **MERGE
        ),
        422,
        "Invalid",
    )
    [cause] = body["details"]["causes"]
    assert cause["field"] == "patch"
    assert cause["message"].endswith(
        ': parsing time "2024-02-30T00:00:00.000000Z": day out of range'
    )
    assert '\\"eventTime\\":\\"2024-02-30T00:00:00.000000Z\\"' in cause["message"]


# -- creates and the stored form ------------------------------------------------------------


async def test_create_refuses_a_resource_version(kube_client: ApiClient) -> None:
    """etcd3's store.Create: storage.ErrResourceVersionSetOnCreate, a plain error, so a 500
    without a reason. A dry run never reaches etcd; a version that is not a number (or 0) is
    dropped without a word."""
    v1 = client.CoreV1Api(kube_client)
    with_rv: Any = {"metadata": {"name": "rv", "resourceVersion": "5"}}
    assert await failure(v1.create_namespaced_config_map("default", with_rv)) == (
        500,
        RV_ON_CREATE,
    )
    await v1.create_namespaced_config_map("default", with_rv, dry_run="All")
    await expect_status(v1.read_namespaced_config_map("rv", "default"), 404, "NotFound")
    for rv in ("0", "", "not-a-number"):
        made = await v1.create_namespaced_config_map(
            "default", cast(Any, {"metadata": {"name": f"rv{len(rv)}", "resourceVersion": rv}})
        )
        assert int(made.metadata.resource_version) > 0

    co = await install_widgets(kube_client)
    cr = widget("w")
    cr["metadata"]["resourceVersion"] = "12"
    assert await failure(
        co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", cr)
    ) == (500, RV_ON_CREATE)


async def test_empty_metadata_maps_and_lists_are_not_stored(kube_client: ApiClient) -> None:
    """ObjectMeta's omitempty fields: an empty map or list is stored as absent."""
    v1 = client.CoreV1Api(kube_client)
    empty: dict[str, Any] = {
        "labels": {}, "annotations": {}, "finalizers": [], "ownerReferences": []
    }  # fmt: skip
    body: Any = {"metadata": {"name": "e", "generateName": "", **empty}}
    made = await raw(v1.create_namespaced_config_map("default", body, _preload_content=False))
    assert not {*empty, "generateName"} & set(made["metadata"])
    # An update that empties the annotations drops the key.
    made["metadata"]["annotations"] = {"a": "1"}
    annotated = await v1.replace_namespaced_config_map("e", "default", made)
    cleared: Any = {**made, "metadata": {**made["metadata"], "annotations": {}}}
    cleared["metadata"]["resourceVersion"] = annotated.metadata.resource_version
    replaced = await raw(
        v1.replace_namespaced_config_map("e", "default", cleared, _preload_content=False)
    )
    assert "annotations" not in replaced["metadata"]

    co = await install_widgets(kube_client)
    cr = widget("w")
    cr["metadata"].update(empty)
    stored = await co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", cr)
    assert not set(empty) & set(stored["metadata"])


# -- what DELETE answers ----------------------------------------------------------------------


async def test_delete_answers_a_success_status_unless_the_kind_returns_the_object(
    kube_client: ApiClient,
) -> None:
    """The registry store's finalizeDelete: a Status of Success naming the resource, except
    for stores with ReturnDeletedObject (pods, services, service accounts, namespaces) and for
    deletions that only mark the object (finalizers, a grace period)."""
    v1 = client.CoreV1Api(kube_client)
    made = await v1.create_namespaced_config_map("default", cast(Any, {"metadata": {"name": "c"}}))
    response: Any = await v1.delete_namespaced_config_map("c", "default", _preload_content=False)
    text = await response.text()
    assert text == (
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success",'
        f'"details":{{"name":"c","kind":"configmaps","uid":"{made.metadata.uid}"}}}}\n'
    )
    co = await install_widgets(kube_client)
    cr = await co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", widget("w"))
    gone = await co.delete_namespaced_custom_object(GROUP, "v1", "default", "widgets", "w")
    assert gone["details"] == {
        "name": "w", "group": GROUP, "kind": "widgets", "uid": cr["metadata"]["uid"]
    }  # fmt: skip

    await v1.create_namespaced_service_account("default", cast(Any, {"metadata": {"name": "a"}}))
    account = await raw(
        v1.delete_namespaced_service_account("a", "default", _preload_content=False)
    )
    assert (account["kind"], account["metadata"]["name"]) == ("ServiceAccount", "a")

    held: Any = {"metadata": {"name": "held", "finalizers": ["example.test/hold"]}}
    await v1.create_namespaced_config_map("default", held)
    marked = await raw(v1.delete_namespaced_config_map("held", "default", _preload_content=False))
    assert marked["kind"] == "ConfigMap" and marked["metadata"]["deletionTimestamp"]
    # a dry run answers as the deletion would
    dry = await raw(
        v1.delete_namespaced_config_map("held", "default", dry_run="All", _preload_content=False)
    )
    assert dry["kind"] == "ConfigMap"
    await v1.create_namespaced_config_map("default", cast(Any, {"metadata": {"name": "d"}}))
    dry = await raw(
        v1.delete_namespaced_config_map("d", "default", dry_run="All", _preload_content=False)
    )
    assert (dry["status"], dry["details"]["name"]) == ("Success", "d")
    assert (await v1.read_namespaced_config_map("d", "default")).metadata.name == "d"
