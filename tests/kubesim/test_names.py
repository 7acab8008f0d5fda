"""Name and metadata validation with the real server's messages."""

from __future__ import annotations

from typing import Any

import pytest

from kubesim.registry.names import (
    NAME_RULES,
    dns1035_label_errors,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    label_value_errors,
    name_errors,
    name_rule_for,
    path_segment_errors,
    qualified_name_errors,
    validate_object_meta,
)

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
QUALIFIED_3_PARTS_MSG = (
    "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS "
    "subdomain prefix and '/' (e.g. 'example.com/MyName')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
MAX63 = "must be no more than 63 characters"
MAX253 = "must be no more than 253 characters"


def label63(ch: str = "a") -> str:
    return ch * 63


@pytest.mark.parametrize(
    ("value", "errors"),
    [
        ("a", []),
        ("0", []),
        ("example.com", []),
        ("a-b.c-d.e", []),
        ("jupyter-alice", []),
        (".".join([label63()] * 4)[:253], []),
        ("", [SUBDOMAIN_MSG]),
        ("A", [SUBDOMAIN_MSG]),
        ("-a", [SUBDOMAIN_MSG]),
        ("a-", [SUBDOMAIN_MSG]),
        ("a_b", [SUBDOMAIN_MSG]),
        (".a", [SUBDOMAIN_MSG]),
        ("a.", [SUBDOMAIN_MSG]),
        ("a..b", [SUBDOMAIN_MSG]),
        ("a/b", [SUBDOMAIN_MSG]),
        ("é", [SUBDOMAIN_MSG]),
        ("a" * 254, [MAX253]),
        ("A" * 254, [MAX253, SUBDOMAIN_MSG]),
        ("é" * 127, [MAX253, SUBDOMAIN_MSG]),  # 254 bytes: lengths count UTF-8 bytes, as Go's
    ],
)
def test_dns1123_subdomain(value: str, errors: list[str]) -> None:
    assert dns1123_subdomain_errors(value) == errors


@pytest.mark.parametrize(
    ("value", "errors"),
    [
        ("a", []),
        ("123-abc", []),
        (label63(), []),
        ("a.b", ["must not contain dots"]),
        ("", [LABEL_MSG]),
        ("A", [LABEL_MSG]),
        ("a-", [LABEL_MSG]),
        ("a_b", [LABEL_MSG]),
        ("a" * 64, [MAX63]),
        ("a" * 64 + "_", [MAX63, LABEL_MSG]),
        ("a." + "b" * 62, [MAX63, "must not contain dots"]),
    ],
)
def test_dns1123_label(value: str, errors: list[str]) -> None:
    assert dns1123_label_errors(value) == errors


@pytest.mark.parametrize(
    ("value", "errors"),
    [
        ("svc", []),
        ("abc-123", []),
        ("1svc", [DNS1035_MSG]),
        ("svc-", [DNS1035_MSG]),
        ("a.b", [DNS1035_MSG]),
        ("a" * 64, [MAX63]),
    ],
)
def test_dns1035_label(value: str, errors: list[str]) -> None:
    assert dns1035_label_errors(value) == errors


@pytest.mark.parametrize(
    ("value", "errors"),
    [
        ("a", []),
        ("MyName", []),
        ("my.name_x-Y", []),
        ("example.com/MyName", []),
        ("a" * 253 + "/" + "b" * 63, []),
        ("", ["name part must be non-empty", NAME_PART_MSG]),
        ("-a", [NAME_PART_MSG]),
        ("a_", [NAME_PART_MSG]),
        ("a b", [NAME_PART_MSG]),
        ("b" * 64, ["name part " + MAX63]),
        ("/a", ["prefix part must be non-empty"]),
        ("a/", ["name part must be non-empty", NAME_PART_MSG]),
        ("Example.com/a", ["prefix part " + SUBDOMAIN_MSG]),
        ("a_b/c", ["prefix part " + SUBDOMAIN_MSG]),
        ("a" * 254 + "/b", ["prefix part " + MAX253]),
        ("a/b/c", [QUALIFIED_3_PARTS_MSG]),
        ("-x/-y", ["prefix part " + SUBDOMAIN_MSG, NAME_PART_MSG]),
    ],
)
def test_qualified_name(value: str, errors: list[str]) -> None:
    assert qualified_name_errors(value) == errors


@pytest.mark.parametrize(
    ("value", "errors"),
    [
        ("", []),
        ("a", []),
        ("My_Value-1.2", []),
        ("v" * 63, []),
        ("-a", [LABEL_VALUE_MSG]),
        ("a.", [LABEL_VALUE_MSG]),
        ("a/b", [LABEL_VALUE_MSG]),
        ("v" * 64, [MAX63]),
        ("v" * 63 + "-", [MAX63, LABEL_VALUE_MSG]),
    ],
)
def test_label_value(value: str, errors: list[str]) -> None:
    assert label_value_errors(value) == errors


@pytest.mark.parametrize(
    ("value", "prefix", "errors"),
    [
        ("Anything_Goes here", False, []),
        ("a" * 1000, False, []),  # no length limit
        (".", False, ["may not be '.'"]),
        ("..", False, ["may not be '..'"]),
        ("...", False, []),
        (".", True, []),  # a prefix may be '.' or '..': a suffix follows
        ("a/b", False, ["may not contain '/'"]),
        ("a%b", False, ["may not contain '%'"]),
        ("%/", True, ["may not contain '/'", "may not contain '%'"]),
    ],
)
def test_path_segment(value: str, prefix: bool, errors: list[str]) -> None:
    assert path_segment_errors(value, prefix) == errors


@pytest.mark.parametrize(
    ("value", "rule", "prefix", "errors"),
    [
        ("web-", "subdomain", True, []),  # generateName may end with '-'
        ("web-", "subdomain", False, [SUBDOMAIN_MSG]),
        ("Web-", "subdomain", True, [SUBDOMAIN_MSG]),
        # Upstream masks the trailing dash by dropping two characters: "a-.-" checks as "a-a".
        ("a-.-", "subdomain", True, []),
        ("ns-", "label", True, []),
        ("a.b-", "label", True, ["must not contain dots"]),
        ("svc-", "dns1035", True, []),
        ("1svc-", "dns1035", True, [DNS1035_MSG]),
        ("Odd/", "path", True, ["may not contain '/'"]),
        ("Odd_Name", "path", False, []),
    ],
)
def test_name_errors(value: str, rule: str, prefix: bool, errors: list[str]) -> None:
    assert name_errors(value, rule, prefix=prefix) == errors


def test_name_rules_match_the_real_strategies() -> None:
    assert NAME_RULES == {
        "pods": "subdomain",
        "persistentvolumeclaims": "subdomain",
        "events": "path",
        "secrets": "subdomain",
        "configmaps": "subdomain",
        "services": "dns1035",
        "serviceaccounts": "subdomain",
        "namespaces": "label",
        "nodes": "subdomain",
        "statefulsets": "label",  # ValidateStatefulSetName: NameIsDNSLabel
        "customresourcedefinitions": "subdomain",
        "apiservices": "path",  # and must be <version>.<group> (registry/apiservices.py)
        "roles": "path",
        "clusterroles": "path",
        "rolebindings": "path",
        "clusterrolebindings": "path",
    }


@pytest.mark.parametrize(
    ("plural", "group", "custom", "rule"),
    [
        ("pods", "", False, "subdomain"),
        ("services", "", False, "dns1035"),
        ("namespaces", "", False, "label"),
        ("events", "", False, "path"),
        ("events", "events.k8s.io", False, "subdomain"),
        ("customresourcedefinitions", "apiextensions.k8s.io", False, "subdomain"),
        ("workspaces", "xlscsde.nhs.uk", True, "subdomain"),
        ("unknowns", "", False, "subdomain"),
    ],
)
def test_name_rule_for(plural: str, group: str, custom: bool, rule: str) -> None:
    assert name_rule_for(plural, group, custom=custom) == rule


def texts(meta: Any, **kwargs: Any) -> list[str]:
    kwargs.setdefault("namespaced", True)
    return [e.text() for e in validate_object_meta(meta, **kwargs)]


@pytest.mark.parametrize(
    ("meta", "kwargs", "expected"),
    [
        ({"name": "ok"}, {}, []),
        ({}, {}, []),  # a missing name is the caller's "name or generateName is required"
        (
            {
                "name": "jupyter-alice",
                "generateName": "jupyter-",
                "namespace": "hub",
                "labels": {"app": "jupyter", "example.com/user": "alice", "empty": ""},
                "annotations": {"Example.COM/Note": "any text, at all = fine"},
                "finalizers": ["example.com/cleanup", "kubernetes"],
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u", "controller": True}
                ],
                "generation": 3,
            },
            {},
            [],
        ),
        ("x", {}, ['metadata: Invalid value: "x": must be of type object']),
        (None, {}, ["metadata: Invalid value: null: must be of type object"]),
        ({"name": "Bad_Name"}, {}, [f'metadata.name: Invalid value: "Bad_Name": {SUBDOMAIN_MSG}']),
        ({"name": "a" * 254}, {}, [f'metadata.name: Invalid value: "{"a" * 254}": {MAX253}']),
        (
            {"name": "a.b"},
            {"name_rule": "label", "namespaced": False},
            ['metadata.name: Invalid value: "a.b": must not contain dots'],
        ),
        (
            {"name": "n" * 64},
            {"name_rule": "label"},
            [f'metadata.name: Invalid value: "{"n" * 64}": {MAX63}'],
        ),
        (
            {"name": "1svc"},
            {"name_rule": "dns1035"},
            [f'metadata.name: Invalid value: "1svc": {DNS1035_MSG}'],
        ),
        (
            {"name": "a/b"},
            {"name_rule": "path"},
            ["metadata.name: Invalid value: \"a/b\": may not contain '/'"],
        ),
        ({"name": "Upper_Case"}, {"name_rule": "path"}, []),
        ({"name": 5}, {}, ["metadata.name: Invalid value: 5: must be of type string"]),
        (
            {"name": "Web-abcde", "generateName": "Web-"},
            {},
            [
                f'metadata.generateName: Invalid value: "Web-": {SUBDOMAIN_MSG}',
                f'metadata.name: Invalid value: "Web-abcde": {SUBDOMAIN_MSG}',
            ],
        ),
        (
            {"name": "ok", "namespace": "Bad"},
            {},
            [f'metadata.namespace: Invalid value: "Bad": {LABEL_MSG}'],
        ),
        ({"name": "ok", "namespace": "Bad"}, {"namespaced": False}, []),  # the server clears it
        (
            {"name": "ok", "generation": -1},
            {},
            ["metadata.generation: Invalid value: -1: must be greater than or equal to 0"],
        ),
        (
            {"name": "ok", "labels": "app=x"},
            {},
            ['metadata.labels: Invalid value: "app=x": must be of type object'],
        ),
        (
            {"name": "ok", "labels": {"app": 1}},
            {},
            ["metadata.labels[app]: Invalid value: 1: must be of type string"],
        ),
        ({"name": "ok", "labels": None, "annotations": None}, {}, []),
        (
            {"name": "ok", "labels": {"a_": "x"}},
            {},
            [f'metadata.labels: Invalid value: "a_": {NAME_PART_MSG}'],
        ),
        (
            {"name": "ok", "labels": {"Example.com/app": "x"}},
            {},
            [f'metadata.labels: Invalid value: "Example.com/app": prefix part {SUBDOMAIN_MSG}'],
        ),
        (
            {"name": "ok", "labels": {"a" * 254 + "/app": "x"}},
            {},
            [f'metadata.labels: Invalid value: "{"a" * 254}/app": prefix part {MAX253}'],
        ),
        (
            {"name": "ok", "labels": {"example.com/" + "k" * 64: "x"}},
            {},
            [f'metadata.labels: Invalid value: "example.com/{"k" * 64}": name part {MAX63}'],
        ),
        (
            {"name": "ok", "labels": {"a/b/c": "x"}},
            {},
            [f'metadata.labels: Invalid value: "a/b/c": {QUALIFIED_3_PARTS_MSG}'],
        ),
        (
            {"name": "ok", "labels": {"app": "v" * 64}},
            {},
            [f'metadata.labels: Invalid value: "{"v" * 64}": {MAX63}'],
        ),
        (
            {"name": "ok", "labels": {"app": "bad value"}},
            {},
            [f'metadata.labels: Invalid value: "bad value": {LABEL_VALUE_MSG}'],
        ),
        (
            {"name": "ok", "annotations": {"Bad_": "x"}},
            {},
            [f'metadata.annotations: Invalid value: "Bad_": {NAME_PART_MSG}'],
        ),
        (
            {"name": "ok", "annotations": {"a": 1}},
            {},
            ["metadata.annotations[a]: Invalid value: 1: must be of type string"],
        ),
        ({"name": "ok", "annotations": {"a": "x" * (262144 - 1)}}, {}, []),
        (
            {"name": "ok", "annotations": {"a": "x" * 262144}},
            {},
            ["metadata.annotations: Too long: must have at most 262144 bytes"],
        ),
        (
            {"name": "ok", "annotations": {"a": "x" * 131072, "b": "é" * 65536}},
            {},
            ["metadata.annotations: Too long: must have at most 262144 bytes"],
        ),
        (
            {"name": "ok", "finalizers": ["a/b/c"]},
            {},
            [f'metadata.finalizers: Invalid value: "a/b/c": {QUALIFIED_3_PARTS_MSG}'],
        ),
        (
            {"name": "ok", "finalizers": "x"},
            {},
            ['metadata.finalizers: Invalid value: "x": must be of type array'],
        ),
        (
            {"name": "ok", "finalizers": ["orphan", "foregroundDeletion"]},
            {},
            [
                'metadata.finalizers: Invalid value: "array": '
                "finalizer orphan and foregroundDeletion cannot be both set"
            ],
        ),
        (
            {"name": "ok", "ownerReferences": [{"apiVersion": "a/b/c"}]},
            {},
            [
                'metadata.ownerReferences.apiVersion: Invalid value: "a/b/c": '
                "version must not be empty",
                'metadata.ownerReferences.kind: Invalid value: "": must not be empty',
                'metadata.ownerReferences.name: Invalid value: "": must not be empty',
                'metadata.ownerReferences.uid: Invalid value: "": must not be empty',
            ],
        ),
        (
            {
                "name": "ok",
                "ownerReferences": [{"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "u"}],
            },
            {},
            [
                'metadata.ownerReferences: Invalid value: "object": '
                "/v1, Kind=Event is disallowed from being an owner"
            ],
        ),
        (
            {
                "name": "ok",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "name": "a",
                        "uid": "1",
                        "controller": True,
                    },
                    {
                        "apiVersion": "apps/v1",
                        "kind": "StatefulSet",
                        "name": "b",
                        "uid": "2",
                        "controller": True,
                    },
                ],
            },
            {},
            [
                'metadata.ownerReferences: Invalid value: "array": Only one reference can have '
                'Controller set to true. Found "true" in references for Pod/a and StatefulSet/b'
            ],
        ),
        (
            {"name": "Bad", "labels": {"app": "-"}},
            {"path": "spec.template.metadata"},
            [
                f'spec.template.metadata.name: Invalid value: "Bad": {SUBDOMAIN_MSG}',
                f'spec.template.metadata.labels: Invalid value: "-": {LABEL_VALUE_MSG}',
            ],
        ),
    ],
)
def test_validate_object_meta(meta: Any, kwargs: dict[str, Any], expected: list[str]) -> None:
    assert texts(meta, **kwargs) == expected


def test_validate_object_meta_causes() -> None:
    errors = validate_object_meta(
        {"name": "ok", "labels": {"app": 1, "b_": "x"}, "annotations": {"a": "x" * 262144}},
        namespaced=True,
    )
    assert [(e.field, e.kind) for e in errors] == [
        ("metadata.labels[app]", "FieldValueTypeInvalid"),
        ("metadata.labels", "FieldValueInvalid"),
        ("metadata.annotations", "FieldValueTooLong"),
    ]
    assert errors[1].cause() == {
        "reason": "FieldValueInvalid",
        "message": f'Invalid value: "b_": {NAME_PART_MSG}',
        "field": "metadata.labels",
    }


@pytest.mark.parametrize(
    ("plural", "bad_name", "ok_name"),
    [
        ("pods", "Pod_1", "pod.1"),
        ("persistentvolumeclaims", "Claim", "claim-home.alice"),
        ("events", "a/b", "Pod_1.Weird Name"),
        ("secrets", "Secret", "tls.example.com"),
        ("configmaps", "-cm", "cm.v1"),
        ("services", "1svc", "svc-1"),
        ("serviceaccounts", "SA", "sa.x"),
        ("namespaces", "ns.x", "ns-x"),
        ("customresourcedefinitions", "Widgets.example.com", "widgets.example.com"),
    ],
)
def test_each_builtin_kind_name_rule(plural: str, bad_name: str, ok_name: str) -> None:
    rule = NAME_RULES[plural]
    assert texts({"name": ok_name}, name_rule=rule) == []
    errors = validate_object_meta({"name": bad_name}, namespaced=True, name_rule=rule)
    assert [e.field for e in errors] == ["metadata.name"]
    assert errors[0].kind == "FieldValueInvalid"
