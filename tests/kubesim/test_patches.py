"""JSON patch, JSON merge patch and strategic merge patch, as kube-apiserver applies them."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from kubesim.apiserver.patches import (
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
)
from kubesim.registry.errors import ApiError

# -- JSON merge patch (RFC 7386, appendix A) ----------------------------------------------------


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
        ({"a": {"b": 1}}, {}, {"a": {"b": 1}}),
        (
            {"metadata": {"labels": {"a": "1", "b": "2"}}},
            {"metadata": {"labels": {"a": None, "c": "3"}}},
            {"metadata": {"labels": {"b": "2", "c": "3"}}},
        ),
    ],
)
def test_merge_patch_rfc7386(target: dict[str, Any], patch: Any, result: dict[str, Any]) -> None:
    before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
    out = apply_merge_patch(target, patch)
    assert out == result
    assert (target, patch) == (before, patch_before)


def test_merge_patch_result_shares_nothing_with_inputs() -> None:
    target, patch = {"keep": {"x": [1]}}, {"new": {"y": [2]}}
    out = apply_merge_patch(target, patch)
    out["keep"]["x"].append(9)
    out["new"]["y"].append(9)
    assert target == {"keep": {"x": [1]}} and patch == {"new": {"y": [2]}}


@pytest.mark.parametrize(
    ("patch", "code", "reason", "message"),
    [
        (None, 400, "BadRequest", "Invalid JSON Patch"),
        ("bar", 400, "BadRequest", "Invalid JSON Patch"),
        (5, 400, "BadRequest", "Invalid JSON Patch"),
        # an array replaces the document, which then does not decode as an object
        (
            ["c"],
            422,
            "Invalid",
            ' "" is invalid: patch: Invalid value: "[\\"c\\"]": json: cannot '
            "unmarshal array into Go value of type map[string]interface {}",
        ),
    ],
)
def test_merge_patch_that_is_not_an_object(
    patch: Any, code: int, reason: str, message: str
) -> None:
    with pytest.raises(ApiError) as info:
        apply_merge_patch({"a": "foo"}, patch)
    assert (info.value.code, info.value.reason, info.value.message) == (code, reason, message)


# -- JSON patch (RFC 6902 appendix A, as evanphx/json-patch v4 applies it) ----------------------


@pytest.mark.parametrize(
    ("doc", "patch", "result"),
    [
        pytest.param(
            {"foo": "bar"},
            [{"op": "add", "path": "/baz", "value": "qux"}],
            {"baz": "qux", "foo": "bar"},
            id="A.1-add-member",
        ),
        pytest.param(
            {"foo": ["bar", "baz"]},
            [{"op": "add", "path": "/foo/1", "value": "qux"}],
            {"foo": ["bar", "qux", "baz"]},
            id="A.2-add-element",
        ),
        pytest.param(
            {"baz": "qux", "foo": "bar"},
            [{"op": "remove", "path": "/baz"}],
            {"foo": "bar"},
            id="A.3-remove-member",
        ),
        pytest.param(
            {"foo": ["bar", "qux", "baz"]},
            [{"op": "remove", "path": "/foo/1"}],
            {"foo": ["bar", "baz"]},
            id="A.4-remove-element",
        ),
        pytest.param(
            {"baz": "qux", "foo": "bar"},
            [{"op": "replace", "path": "/baz", "value": "boo"}],
            {"baz": "boo", "foo": "bar"},
            id="A.5-replace",
        ),
        pytest.param(
            {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
            [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
            {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
            id="A.6-move",
        ),
        pytest.param(
            {"foo": ["all", "grass", "cows", "eat"]},
            [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
            {"foo": ["all", "cows", "eat", "grass"]},
            id="A.7-move-element",
        ),
        pytest.param(
            {"baz": "qux", "foo": ["a", 2, "c"]},
            [
                {"op": "test", "path": "/baz", "value": "qux"},
                {"op": "test", "path": "/foo/1", "value": 2},
            ],
            {"baz": "qux", "foo": ["a", 2, "c"]},
            id="A.8-test",
        ),
        pytest.param(
            {"foo": "bar"},
            [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
            {"foo": "bar", "child": {"grandchild": {}}},
            id="A.10-add-nested",
        ),
        pytest.param(
            {"foo": "bar"},
            [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
            {"foo": "bar", "baz": "qux"},
            id="A.11-ignore-unknown-members",
        ),
        pytest.param(
            {"/": 9, "~1": 10},
            [{"op": "test", "path": "/~01", "value": 10}],
            {"/": 9, "~1": 10},
            id="A.14-escapes",
        ),
        pytest.param(
            {"foo": ["bar"]},
            [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
            {"foo": ["bar", ["abc", "def"]]},
            id="A.16-add-array-value",
        ),
        pytest.param(
            {"a": {"b": 1}},
            [{"op": "copy", "from": "/a", "path": "/c"}],
            {"a": {"b": 1}, "c": {"b": 1}},
            id="copy",
        ),
        pytest.param({"a": 1}, None, {"a": 1}, id="null-is-an-empty-patch"),
        pytest.param(
            {"metadata": {"labels": {"a/b": "1"}}},
            [{"op": "remove", "path": "/metadata/labels/a~1b"}],
            {"metadata": {"labels": {}}},
            id="label-with-slash",
        ),
    ],
)
def test_json_patch_rfc6902(doc: dict[str, Any], patch: Any, result: dict[str, Any]) -> None:
    before, patch_before = copy.deepcopy(doc), copy.deepcopy(patch)
    assert apply_json_patch(doc, patch) == result
    assert (doc, patch) == (before, patch_before)


def test_json_patch_values_are_copied() -> None:
    value = {"x": [1]}
    out = apply_json_patch({}, [{"op": "add", "path": "/v", "value": value}])
    out["v"]["x"].append(2)
    assert value == {"x": [1]}


NOT_APPLIED = "the server rejected our request due to an error in our request"


# What evanphx/json-patch v4 (which kube-apiserver applies JSON patches with) does where RFC 6902
# would refuse, or say otherwise. Clients rely on these: lscsde-workspace-mgmt `replace`s /status
# on objects that have none (tests/kubesim/test_field_client.py).
V4_DOC: dict[str, Any] = {"a": {"b": 1}, "list": ["x", "y", "z"], "n": None}


@pytest.mark.parametrize(
    ("patch", "changes"),
    [
        pytest.param(
            [{"op": "replace", "path": "/status", "value": {"phase": "Up"}}],
            {"status": {"phase": "Up"}},
            id="replace-missing-member-adds-it",
        ),
        pytest.param(
            [{"op": "replace", "path": "/a/c", "value": 2}],
            {"a": {"b": 1, "c": 2}},
            id="replace-missing-nested-member-adds-it",
        ),
        pytest.param(
            [{"op": "add", "path": "/new"}], {"new": None}, id="add-without-value-sets-null"
        ),
        pytest.param(
            [{"op": "replace", "path": "/a"}], {"a": None}, id="replace-without-value-sets-null"
        ),
        pytest.param(
            [{"op": "copy", "from": "/nope", "path": "/c"}],
            {"c": None},
            id="copy-of-missing-member-copies-null",
        ),
        pytest.param(
            [{"op": "test", "path": "/nope", "value": None}], {}, id="test-missing-is-null"
        ),
        pytest.param([{"op": "test", "path": "/n", "value": None}], {}, id="test-null"),
        pytest.param(
            [{"op": "test", "path": "/a", "value": {"b": 1}}], {}, id="test-object-by-value"
        ),
        pytest.param(
            [{"op": "replace", "path": "/list/-1", "value": "Z"}],
            {"list": ["x", "y", "Z"]},
            id="negative-index-counts-from-the-end",
        ),
        pytest.param(
            [{"op": "add", "path": "/list/-1", "value": "w"}],
            {"list": ["x", "y", "z", "w"]},
            id="add-at-minus-1-appends",
        ),
        pytest.param(
            [{"op": "add", "path": "/list/-4", "value": "w"}],
            {"list": ["w", "x", "y", "z"]},
            id="add-at-minus-len-plus-1-prepends",
        ),
        pytest.param(
            [{"op": "remove", "path": "/list/-3"}], {"list": ["y", "z"]}, id="remove-negative"
        ),
        pytest.param(
            [{"op": "add", "path": "/list/+1", "value": "w"}, {"op": "remove", "path": "/list/01"}],
            {"list": ["x", "y", "z"]},
            id="signed-and-zero-padded-indices",
        ),
        pytest.param(
            [{"op": "add", "path": "x/a", "value": 1}], {"a": 1}, id="path-without-leading-slash"
        ),
        pytest.param([{"op": "add", "path": "/", "value": 1}], {"": 1}, id="empty-member-name"),
        pytest.param(
            [{"op": "add", "path": "/~2~01", "value": 1}], {"~2~1": 1}, id="unknown-escape-kept"
        ),
        pytest.param(
            [{"op": "replace", "path": "", "value": 5}], {}, id="replace-root-with-scalar-is-no-op"
        ),
        pytest.param(
            [{"op": "replace", "path": "", "value": {"only": True}}],
            None,
            id="replace-root-with-object",
        ),
    ],
)
def test_json_patch_v4_leniencies(patch: list[Any], changes: dict[str, Any] | None) -> None:
    before = copy.deepcopy(V4_DOC)
    out = apply_json_patch(V4_DOC, patch)
    assert out == ({"only": True} if changes is None else {**V4_DOC, **changes})
    assert before == V4_DOC


def test_json_patch_copies_are_capped_at_3_mib() -> None:
    """jsonpatch.AccumulatedCopySizeLimit, which the server sets from JSONPatchMaxCopyBytes."""
    doc = {"big": "x" * (1024 * 1024)}  # 1 MiB (and two quotes) of JSON per copy
    copies = [{"op": "copy", "from": "/big", "path": f"/c{i}"} for i in range(3)]
    with pytest.raises(ApiError) as info:
        apply_json_patch(doc, copies)
    assert (info.value.code, info.value.message) == (422, NOT_APPLIED)
    assert set(apply_json_patch(doc, copies[:2])) == {"big", "c0", "c1"}


@pytest.mark.parametrize(
    "patch",
    [
        pytest.param([{"op": "test", "path": "/baz", "value": "bar"}], id="A.9-failed-test"),
        pytest.param([{"op": "add", "path": "/baz/bat", "value": "qux"}], id="A.12-missing-parent"),
        pytest.param(
            [{"op": "test", "path": "/num", "value": "10"}], id="A.15-string-is-not-number"
        ),
        pytest.param([{"op": "test", "path": "/flag", "value": 1}], id="true-is-not-1"),
        pytest.param([{"op": "remove", "path": "/nope"}], id="remove-missing"),
        pytest.param([{"op": "remove", "path": "/list/1"}], id="remove-missing-item"),
        pytest.param([{"op": "remove", "path": "/list/-"}], id="remove-dash"),
        pytest.param([{"op": "replace", "path": "/list/1", "value": 1}], id="replace-missing-item"),
        pytest.param([{"op": "replace", "path": "/list/-", "value": 1}], id="replace-dash"),
        pytest.param(
            [{"op": "replace", "path": "/nope/x", "value": 1}], id="replace-below-missing-parent"
        ),
        pytest.param([{"op": "add", "path": "/list/9", "value": 1}], id="index-out-of-range"),
        pytest.param([{"op": "add", "path": "/list/-3", "value": 1}], id="negative-out-of-range"),
        pytest.param([{"op": "add", "path": "/list/x", "value": 1}], id="index-not-a-number"),
        pytest.param([{"op": "add", "path": "/list/1.0", "value": 1}], id="index-not-an-int"),
        pytest.param([{"op": "add", "path": "/baz/x", "value": 1}], id="add-below-a-string"),
        pytest.param([{"op": "add", "path": "/null/x", "value": 1}], id="add-below-null"),
        pytest.param([{"op": "add", "path": "", "value": {}}], id="add-to-the-root"),
        pytest.param([{"op": "add", "path": "baz", "value": 1}], id="path-without-slash"),
        pytest.param([{"op": "move", "from": "/nope", "path": "/x"}], id="move-missing"),
        pytest.param([{"op": "move", "from": "/baz", "path": "/baz/x"}], id="move-into-itself"),
        pytest.param([{"op": "copy", "from": "/list/5", "path": "/x"}], id="copy-missing-item"),
        pytest.param([{"op": "test", "path": "/nope", "value": 1}], id="test-missing"),
        pytest.param([{"op": "test", "path": "/nope"}], id="test-missing-without-value"),
        pytest.param([{"op": "test", "path": "/baz"}], id="test-without-value"),
        pytest.param([{"op": "test", "path": "/num", "value": 10.0}], id="test-10-is-not-10.0"),
        pytest.param([{"op": "test", "path": "/list", "value": [1, 2]}], id="test-array-length"),
        pytest.param([{"op": "test", "path": "", "value": {}}], id="test-the-root"),
        pytest.param([{"op": "frobnicate", "path": "/baz"}], id="unknown-op"),
        pytest.param([{"op": 1, "path": "/baz"}], id="op-not-a-string"),
        pytest.param([{"path": "/baz", "value": 1}], id="no-op"),
        pytest.param([None], id="null-operation"),
        pytest.param([{"op": "add", "value": 1}], id="no-path"),
        pytest.param([{"op": "add", "path": None, "value": 1}], id="null-path"),
        pytest.param([{"op": "add", "path": 1, "value": 1}], id="path-not-a-string"),
        pytest.param([{"op": "move", "path": "/x"}], id="no-from"),
        pytest.param([{"op": "copy", "path": "/x"}], id="copy-without-from"),
        pytest.param(
            [{"op": "add", "path": "/a", "value": 1}, {"op": "test", "path": "/a", "value": 2}],
            id="atomic",
        ),
    ],
)
def test_json_patch_that_cannot_be_applied(patch: list[Any]) -> None:
    doc = {"baz": "qux", "num": 10, "flag": True, "list": [1], "null": None}
    before = copy.deepcopy(doc)
    with pytest.raises(ApiError) as info:
        apply_json_patch(doc, patch)
    # A bare NewGenericServerResponse(422): no causes, the server keeps the reason to itself.
    assert info.value.status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": NOT_APPLIED,
        "reason": "Invalid",
        "code": 422,
        "details": {},
    }
    assert doc == before


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            {"op": "add", "path": "/a", "value": 1},
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
        ),
        ("[]", "json: cannot unmarshal string into Go value of type jsonpatch.Patch"),
        (42, "json: cannot unmarshal number into Go value of type jsonpatch.Patch"),
        (["add"], "json: cannot unmarshal string into Go value of type jsonpatch.Operation"),
        ([[]], "json: cannot unmarshal array into Go value of type jsonpatch.Operation"),
    ],
)
def test_json_patch_body_that_does_not_decode(patch: Any, message: str) -> None:
    with pytest.raises(ApiError) as info:
        apply_json_patch({"a": 1}, patch)
    assert (info.value.code, info.value.reason, info.value.message) == (400, "BadRequest", message)


def test_json_patch_operation_limit() -> None:
    with pytest.raises(ApiError) as info:
        apply_json_patch({}, [{"op": "test", "path": "", "value": {}}] * 10001)
    assert info.value.code == 413
    assert info.value.message.endswith("maximum operations in a JSON patch is 10000, got 10001")


def test_json_patch_replacing_the_document_with_a_non_object() -> None:
    with pytest.raises(ApiError) as info:
        apply_json_patch({"a": 1}, [{"op": "replace", "path": "", "value": [1]}])
    assert (info.value.code, info.value.reason) == (422, "Invalid")
    assert info.value.details is not None
    assert info.value.details["causes"][0]["field"] == "patch"


# -- strategic merge patch -----------------------------------------------------------------------


def pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "jupyter-alice",
            "labels": {"app": "jupyterhub", "component": "singleuser-server"},
            "finalizers": ["a"],
            "ownerReferences": [{"uid": "u1", "kind": "AnalyticsWorkspace", "name": "ws"}],
        },
        "spec": {
            "containers": [
                {
                    "name": "notebook",
                    "image": "jupyter:1",
                    "args": ["start", "--debug"],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    "ports": [{"containerPort": 8888, "name": "notebook-port"}],
                    "volumeMounts": [{"mountPath": "/home", "name": "home"}],
                },
                {"name": "sidecar", "image": "proxy:1"},
            ],
            "initContainers": [
                {"name": "init", "image": "busybox", "env": [{"name": "X", "value": "x"}]}
            ],
            "volumes": [
                {"name": "home", "persistentVolumeClaim": {"claimName": "claim-alice"}},
                {"name": "scratch", "emptyDir": {}},
            ],
            "tolerations": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}],
            "imagePullSecrets": [{"name": "reg"}],
        },
        "status": {"conditions": [{"type": "Ready", "status": "False"}]},
    }


def containers(p: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = p["spec"]["containers"]
    return found


def notebook(p: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in containers(p) if c["name"] == "notebook")


def spec_patch(**spec: Any) -> dict[str, Any]:
    return {"spec": spec}


Check = Callable[[dict[str, Any]], Any]

SMP_CASES: list[Any] = [
    pytest.param(
        spec_patch(containers=[{"name": "notebook", "image": "jupyter:2"}]),
        lambda p: (notebook(p)["image"], notebook(p)["env"], [c["name"] for c in containers(p)]),
        (
            "jupyter:2",
            [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            ["notebook", "sidecar"],
        ),
        id="containers-by-name",
    ),
    pytest.param(
        spec_patch(
            containers=[
                {
                    "name": "notebook",
                    "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
                }
            ]
        ),
        lambda p: notebook(p)["env"],
        [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
        id="env-by-name",
    ),
    pytest.param(
        spec_patch(containers=[{"name": "notebook", "env": [{"name": "A", "$patch": "delete"}]}]),
        lambda p: notebook(p)["env"],
        [{"name": "B", "value": "2"}],
        id="patch-delete-item",
    ),
    pytest.param(
        spec_patch(
            containers=[{"name": "notebook", "ports": [{"containerPort": 8888, "protocol": "TCP"}]}]
        ),
        lambda p: notebook(p)["ports"],
        [{"containerPort": 8888, "name": "notebook-port", "protocol": "TCP"}],
        id="container-ports-by-containerPort",
    ),
    pytest.param(
        spec_patch(
            containers=[
                {"name": "notebook", "volumeMounts": [{"mountPath": "/home", "readOnly": True}]}
            ]
        ),
        lambda p: notebook(p)["volumeMounts"],
        [{"mountPath": "/home", "name": "home", "readOnly": True}],
        id="volumeMounts-by-mountPath",
    ),
    pytest.param(
        spec_patch(volumes=[{"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}}]),
        lambda p: p["spec"]["volumes"],
        [
            {"name": "home", "persistentVolumeClaim": {"claimName": "claim-alice"}},
            {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
        ],
        id="volumes-by-name",
    ),
    pytest.param(
        spec_patch(initContainers=[{"name": "init", "env": [{"name": "Y", "value": "y"}]}]),
        lambda p: p["spec"]["initContainers"],
        # a new item goes before the server's items (see test_merged_list_order)
        [
            {
                "name": "init",
                "image": "busybox",
                "env": [{"name": "Y", "value": "y"}, {"name": "X", "value": "x"}],
            }
        ],
        id="init-container-env",
    ),
    pytest.param(
        spec_patch(tolerations=[{"key": "c", "operator": "Exists"}]),
        lambda p: p["spec"]["tolerations"],
        [{"key": "c", "operator": "Exists"}],
        id="tolerations-replaced",
    ),
    pytest.param(
        spec_patch(containers=[{"name": "notebook", "args": ["start"]}]),
        lambda p: notebook(p)["args"],
        ["start"],
        id="args-replaced",
    ),
    pytest.param(
        spec_patch(containers=[{"$patch": "replace"}, {"name": "only", "image": "x"}]),
        containers,
        [{"name": "only", "image": "x"}],
        id="patch-replace-list",
    ),
    pytest.param(
        {"metadata": {"labels": {"$patch": "replace", "new": "1"}}},
        lambda p: p["metadata"]["labels"],
        {"new": "1"},
        id="patch-replace-map",
    ),
    pytest.param(
        {"metadata": {"labels": {"$patch": "delete"}}},
        lambda p: p["metadata"]["labels"],
        {},
        id="patch-delete-map",
    ),
    pytest.param(
        {"metadata": {"labels": {"app": None, "tier": "hub"}}},
        lambda p: p["metadata"]["labels"],
        {"component": "singleuser-server", "tier": "hub"},
        id="null-deletes",
    ),
    pytest.param(
        spec_patch(imagePullSecrets=None, nodeName=None),
        lambda p: ("imagePullSecrets" in p["spec"], "nodeName" in p["spec"]),
        (False, False),
        id="null-deletes-lists-and-ignores-absent",
    ),
    pytest.param(
        {"metadata": {"finalizers": ["a", "b"]}},
        lambda p: p["metadata"]["finalizers"],
        ["a", "b"],
        id="finalizers-merge-as-set",
    ),
    pytest.param(
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
        lambda p: p["metadata"]["finalizers"],
        [],
        id="delete-from-primitive-list",
    ),
    pytest.param(
        {"metadata": {"ownerReferences": [{"uid": "u1", "controller": True}]}},
        lambda p: p["metadata"]["ownerReferences"],
        [{"uid": "u1", "kind": "AnalyticsWorkspace", "name": "ws", "controller": True}],
        id="ownerReferences-by-uid",
    ),
    pytest.param(
        {
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "Initialized", "status": "True"},
                ]
            }
        },
        lambda p: p["status"]["conditions"],
        [{"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "True"}],
        id="conditions-by-type",
    ),
    pytest.param(
        spec_patch(
            volumes=[
                {
                    "name": "scratch",
                    "$retainKeys": ["name", "configMap"],
                    "configMap": {"name": "c"},
                }
            ]
        ),
        lambda p: p["spec"]["volumes"][1],
        {"name": "scratch", "configMap": {"name": "c"}},
        id="retainKeys-switches-volume-source",
    ),
    pytest.param(
        spec_patch(
            containers=[
                {
                    "name": "new",
                    "$setElementOrder/env": [{"name": "E"}],
                    "env": [{"name": "E"}],
                    "securityContext": {"$retainKeys": ["runAsUser"], "runAsUser": 1},
                }
            ]
        ),
        lambda p: containers(p)[0],
        {"name": "new", "env": [{"name": "E"}], "securityContext": {"runAsUser": 1}},
        id="directives-in-new-values-are-dropped",
    ),
    pytest.param(
        spec_patch(hostAliases=[{"ip": "10.0.0.1", "hostnames": ["db"]}, {"$patch": "replace"}]),
        lambda p: p["spec"]["hostAliases"],
        [{"ip": "10.0.0.1", "hostnames": ["db"]}],
        id="replace-marker-anywhere-in-list",
    ),
    pytest.param(
        spec_patch(securityContext={"runAsUser": 1000, "fsGroup": None}),
        lambda p: p["spec"]["securityContext"],
        {"runAsUser": 1000},
        id="nulls-in-new-maps-are-dropped",
    ),
]


@pytest.mark.parametrize(("patch", "view", "expected"), SMP_CASES)
def test_strategic_merge_patch(patch: dict[str, Any], view: Check, expected: Any) -> None:
    original, patch_before = pod(), copy.deepcopy(patch)
    out = apply_strategic_merge_patch(original, patch, "Pod")
    assert view(out) == expected
    assert original == pod() and patch == patch_before  # inputs untouched
    assert not _directives(out)


def _directives(value: Any) -> list[str]:
    """Every key left in the result that is a patch directive."""
    if isinstance(value, dict):
        found = [k for k in value if str(k).startswith("$")]
        return found + [d for v in value.values() for d in _directives(v)]
    if isinstance(value, list):
        return [d for v in value for d in _directives(v)]
    return []


def test_strategic_merge_patch_leaves_other_fields_alone() -> None:
    out = apply_strategic_merge_patch(pod(), {"metadata": {"labels": {"x": "y"}}}, "Pod")
    expected = pod()
    expected["metadata"]["labels"]["x"] = "y"
    assert out == expected


@pytest.mark.parametrize(
    ("patch", "order"),
    [
        # Items of the patch keep the patch's order; the server's own items keep theirs, placed
        # by their position in the live list. A new item lands before the server-only items it
        # is compared with (normalizeElementOrder/mergeSortedSlice).
        ([{"name": "new", "image": "x"}], ["new", "notebook", "sidecar"]),
        (
            [{"name": "sidecar", "image": "proxy:2"}, {"name": "new", "image": "x"}],
            ["notebook", "sidecar", "new"],
        ),
        (
            [{"name": "sidecar", "image": "proxy:2"}, {"name": "notebook", "image": "jupyter:2"}],
            ["sidecar", "notebook"],
        ),
    ],
)
def test_merged_list_order(patch: list[dict[str, Any]], order: list[str]) -> None:
    out = apply_strategic_merge_patch(pod(), spec_patch(containers=patch), "Pod")
    assert [c["name"] for c in containers(out)] == order


# Vectors from apimachinery's strategicpatch tests, on real fields.
@pytest.mark.parametrize(
    ("current", "patch", "result"),
    [
        pytest.param(
            {"metadata": {"finalizers": ["1", "2"]}},
            {"metadata": {"finalizers": ["2", "3"]}},
            {"metadata": {"finalizers": ["1", "2", "3"]}},
            id="unique-scalars",
        ),
        pytest.param(
            {"metadata": {"finalizers": ["1", "2", "3"]}},
            {"metadata": {"finalizers": ["3", "1"]}},
            {"metadata": {"finalizers": ["2", "3", "1"]}},
            id="patch-order-for-scalars",
        ),
        pytest.param(
            {"spec": {"containers": [{"name": "1"}, {"name": "2", "image": "b"}, {"name": "3"}]}},
            {"spec": {"containers": [{"name": "3", "image": "c"}, {"name": "1", "image": "a"}]}},
            {
                "spec": {
                    "containers": [
                        {"name": "2", "image": "b"},
                        {"name": "3", "image": "c"},
                        {"name": "1", "image": "a"},
                    ]
                }
            },
            id="patch-order-for-maps",
        ),
        pytest.param(
            {"metadata": {"finalizers": ["1", "2", "3", "4"]}},
            {
                "metadata": {
                    "$setElementOrder/finalizers": ["1", "2"],
                    "$deleteFromPrimitiveList/finalizers": ["3"],
                }
            },
            {"metadata": {"finalizers": ["1", "2", "4"]}},
            id="delete-items-in-scalar-list",
        ),
        pytest.param(
            {"metadata": {"finalizers": ["1", "2", "3", "4"]}},
            {
                "metadata": {
                    "$setElementOrder/finalizers": ["1", "2", "4"],
                    "$deleteFromPrimitiveList/finalizers": ["3"],
                    "finalizers": ["4"],
                }
            },
            {"metadata": {"finalizers": ["1", "2", "4"]}},
            id="add-and-delete-scalars",
        ),
        pytest.param(
            {
                "spec": {
                    "containers": [
                        {"name": "1", "tty": True},
                        {"name": "2", "image": "b", "tty": False},
                    ]
                }
            },
            {
                "spec": {
                    "$setElementOrder/containers": [
                        {"name": "4"},
                        {"name": "1"},
                        {"name": "2"},
                        {"name": "3"},
                    ],
                    "containers": [{"name": "4", "image": "d"}, {"name": "3", "image": "c"}],
                }
            },
            {
                "spec": {
                    "containers": [
                        {"name": "4", "image": "d"},
                        {"name": "1", "tty": True},
                        {"name": "2", "image": "b", "tty": False},
                        {"name": "3", "image": "c"},
                    ]
                }
            },
            id="set-element-order-of-maps",
        ),
        pytest.param(
            {
                "spec": {
                    "containers": [
                        {"name": "1"},
                        {"name": "1"},
                        {"name": "2"},
                        {"name": "3"},
                        {"name": "3"},
                    ]
                }
            },
            {
                "spec": {
                    "containers": [
                        {"name": "1", "$patch": "delete"},
                        {"name": "3", "$patch": "delete"},
                    ]
                }
            },
            {"spec": {"containers": [{"name": "2"}]}},
            id="delete-removes-duplicates",
        ),
    ],
)
def test_upstream_vectors(
    current: dict[str, Any], patch: dict[str, Any], result: dict[str, Any]
) -> None:
    assert apply_strategic_merge_patch(current, patch, "Pod") == result


def test_service_ports_merge_by_port() -> None:
    svc = {
        "spec": {
            "ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}],
            "selector": {"app": "hub"},
        }
    }
    out = apply_strategic_merge_patch(
        svc, {"spec": {"ports": [{"port": 80, "targetPort": 8081}]}}, "Service"
    )
    assert out["spec"]["ports"] == [
        {"port": 80, "name": "http", "targetPort": 8081},
        {"port": 443, "name": "https"},
    ]
    # The same field name elsewhere has its own key: a Pod's container ports go by containerPort.
    pod_patch = spec_patch(
        containers=[{"name": "notebook", "ports": [{"port": 1, "containerPort": 9999}]}]
    )
    ports = notebook(apply_strategic_merge_patch(pod(), pod_patch, "Pod"))["ports"]
    assert [p["containerPort"] for p in ports] == [9999, 8888]


@pytest.mark.parametrize("kind", ["ConfigMap", "Secret"])
def test_maps_of_data(kind: str) -> None:
    obj = {"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}
    out = apply_strategic_merge_patch(obj, {"data": {"a": None, "c": "3"}}, kind)
    assert out["data"] == {"b": "2", "c": "3"}


def test_lists_of_unknown_kinds_are_replaced() -> None:
    obj = {"metadata": {"finalizers": ["x"]}, "spec": {"containers": [{"name": "a"}]}}
    patch = {"metadata": {"finalizers": ["y"]}, "spec": {"containers": [{"name": "b"}]}}
    out = apply_strategic_merge_patch(obj, patch, "Widget")
    assert out == {"metadata": {"finalizers": ["y", "x"]}, "spec": {"containers": [{"name": "b"}]}}


def test_service_account_secrets_merge_by_name() -> None:
    sa = {"secrets": [{"name": "a"}], "imagePullSecrets": [{"name": "x"}]}
    out = apply_strategic_merge_patch(
        sa, {"secrets": [{"name": "b"}], "imagePullSecrets": [{"name": "y"}]}, "ServiceAccount"
    )
    assert out == {"secrets": [{"name": "b"}, {"name": "a"}], "imagePullSecrets": [{"name": "y"}]}


@pytest.mark.parametrize(
    ("patch", "code", "message"),
    [
        (
            [{"spec": {}}],
            400,
            "json: cannot unmarshal array into Go value of type map[string]interface {}",
        ),
        ("x", 400, "json: cannot unmarshal string into Go value of type map[string]interface {}"),
        (
            spec_patch(containers=[{"image": "x"}]),
            500,
            "map: map[image:x] does not contain declared merge key: name",
        ),
        (
            spec_patch(containers=[{"image": "x", "$patch": "delete"}]),
            500,
            "map: map[$patch:delete image:x] does not contain declared merge key: name",
        ),
        (
            spec_patch(containers=[{"name": "notebook", "$patch": "merge"}]),
            500,
            "merging lists cannot yet be specified in the patch",
        ),
        (
            {"metadata": {"labels": {"$patch": "merge"}}},
            500,
            "unknown patch type: merge in map: map[$patch:merge]",
        ),
        (
            {"metadata": {"labels": {"$retainKeys": ["app"], "tier": "x"}}},
            400,
            "Invalid patch format of retainKeys",
        ),
        (
            {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
            400,
            "Invalid patch format of primitive list",
        ),
        (
            {"metadata": {"$setElementOrder/finalizers": "a"}},
            400,
            "Invalid patch format of setElementOrder list",
        ),
    ],
)
def test_strategic_merge_patch_errors(patch: Any, code: int, message: str) -> None:
    with pytest.raises(ApiError) as info:
        apply_strategic_merge_patch(pod(), patch, "Pod")
    assert (info.value.code, info.value.message) == (code, message)


def test_null_patches_change_nothing() -> None:
    assert apply_strategic_merge_patch(pod(), None, "Pod") == pod()
    assert apply_strategic_merge_patch(pod(), {}, "Pod") == pod()


def test_retain_keys_clears_the_rest() -> None:
    out = apply_strategic_merge_patch(
        pod(), {"metadata": {"labels": {"$retainKeys": ["app"], "app": "x"}}}, "Pod"
    )
    assert out["metadata"]["labels"] == {"app": "x"}
