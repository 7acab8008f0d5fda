"""Label and field selectors: grammar, matching and the real server's error texts."""

from __future__ import annotations

from typing import Any

import pytest

from kubesim.apiserver.selectors import (
    FieldRequirement,
    FieldSelector,
    LabelSelector,
    Requirement,
    escape_field_value,
    field_value,
    selector_matches,
)
from kubesim.registry.errors import ApiError
from kubesim.registry.resources import BUILTIN_TYPES, ResourceType

LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
PREFIX_PART_MSG = (
    "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
    "'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
OPERATORS = "in, notin, =, ==, !=, gt, lt"


def rtype(plural: str, group: str = "") -> ResourceType:
    return next(rt for rt in BUILTIN_TYPES if rt.plural == plural and rt.group == group)


def bad(exc: pytest.ExceptionInfo[ApiError]) -> str:
    assert exc.value.code == 400
    assert exc.value.reason == "BadRequest"
    assert exc.value.status()["code"] == 400
    return exc.value.message


# --- label selectors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("a=b", {"a": "b"}, True),
        ("a=b", {"a": "c"}, False),
        ("a=b", {}, False),
        ("a==b", {"a": "b"}, True),
        ("a==b", {"a": "bb"}, False),
        ("a!=b", {"a": "c"}, True),
        ("a!=b", {"a": "b"}, False),
        ("a!=b", {}, True),  # absent keys satisfy !=
        ("a in (b,c)", {"a": "c"}, True),
        ("a in (b,c)", {"a": "d"}, False),
        ("a in (b,c)", {}, False),
        ("a notin (b,c)", {"a": "d"}, True),
        ("a notin (b,c)", {"a": "b"}, False),
        ("a notin (b,c)", {}, True),  # and notin
        ("a", {"a": ""}, True),
        ("a", {"b": "a"}, False),
        ("!a", {}, True),
        ("!a", {"a": "x"}, False),
        ("a>5", {"a": "6"}, True),
        ("a>5", {"a": "5"}, False),
        ("a>5", {"a": "x"}, False),
        ("a>5", {}, False),
        ("a<5", {"a": "-10"}, True),
        ("a<5", {"a": "+4"}, True),
        ("a<5", {"a": "5"}, False),
        ("a<5", {"a": "99999999999999999999"}, False),  # out of int64 range
        ("a=", {"a": ""}, True),
        ("a=", {"a": "x"}, False),
        ("a=", {}, False),
        ("a in ()", {"a": ""}, True),
        ("a in (,b)", {"a": ""}, True),
        ("a in (,b)", {"a": "b"}, True),
        ("a in (b,)", {"a": ""}, True),
        ("a in (b,,c)", {"a": ""}, True),
        ("a=b,c=d", {"a": "b", "c": "d"}, True),
        ("a=b,c=d", {"a": "b", "c": "x"}, False),
        ("a=b,!c", {"a": "b"}, True),
        ("a=b,!c", {"a": "b", "c": ""}, False),
        ("example.com/app=web", {"example.com/app": "web"}, True),
        ("example.com/app=web", {"app": "web"}, False),
        ("in in (in)", {"in": "in"}, True),
        ("a notin (in,notin)", {"a": "notin"}, False),
        ("a notin (in,notin)", {"a": "x"}, True),
        # Whitespace as the real lexer tolerates it.
        ("  a  =  b  ", {"a": "b"}, True),
        ("a\t==\nb", {"a": "b"}, True),
        (" a in ( b , c ) , d ", {"a": "c", "d": "1"}, True),
        ("a in(b)", {"a": "b"}, True),
        ("! a", {}, True),
        ("a,\t!b", {"a": "1", "b": "2"}, False),
    ],
)
def test_label_selector_matches(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert LabelSelector.parse(selector).matches(labels) is expected


@pytest.mark.parametrize("text", [None, "", "   ", "\t\n"])
def test_empty_label_selector_matches_everything(text: str | None) -> None:
    selector = LabelSelector.parse(text)
    assert selector.empty
    assert selector.requirements == ()
    assert selector.matches({"a": "b"})
    assert selector.matches(None)
    assert str(selector) == ""


@pytest.mark.parametrize(
    ("selector", "expected"), [("!a", True), ("a!=b", True), ("a", False), ("a=b", False)]
)
def test_label_selector_on_no_labels(selector: str, expected: bool) -> None:
    assert LabelSelector.parse(selector).matches(None) is expected


@pytest.mark.parametrize(
    ("text", "string", "requirements"),
    [
        ("a=b", "a=b", [Requirement("a", "=", ("b",))]),
        ("a==b", "a==b", [Requirement("a", "==", ("b",))]),
        ("a!=b", "a!=b", [Requirement("a", "!=", ("b",))]),
        ("a in (c,b)", "a in (b,c)", [Requirement("a", "in", ("b", "c"))]),
        ("a notin (b)", "a notin (b)", [Requirement("a", "notin", ("b",))]),
        ("a", "a", [Requirement("a", "exists")]),
        ("!a", "!a", [Requirement("a", "!")]),
        ("a>1", "a>1", [Requirement("a", "gt", ("1",))]),
        ("a<1", "a<1", [Requirement("a", "lt", ("1",))]),
        ("x in (foo,,baz)", "x in (,baz,foo)", [Requirement("x", "in", ("", "baz", "foo"))]),
        ("z notin ()", "z notin ()", [Requirement("z", "notin", ("",))]),
        # Sorted by key, as the real parser leaves them.
        ("b=1,a=2", "a=2,b=1", [Requirement("a", "=", ("2",)), Requirement("b", "=", ("1",))]),
    ],
)
def test_label_selector_requirements_and_str(
    text: str, string: str, requirements: list[Requirement]
) -> None:
    selector = LabelSelector.parse(text)
    assert list(selector.requirements) == requirements
    assert str(selector) == string
    assert not selector.empty


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a=(b)", "unable to parse requirement: found '(', expected: identifier"),
        ("a b", f"unable to parse requirement: found 'b', expected: {OPERATORS}"),
        ("a!b", f"unable to parse requirement: found '!', expected: {OPERATORS}"),
        ("a)", f"unable to parse requirement: found ')', expected: {OPERATORS}"),
        (",a", "found ',', expected: !, identifier, or 'end of string'"),
        ("(a)", "found '(', expected: !, identifier, or 'end of string'"),
        ("=b", "found '=', expected: !, identifier, or 'end of string'"),
        ("a,", "found '', expected: identifier after ','"),
        ("a=b,,c", "found ',', expected: identifier after ','"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        ("!!a", "unable to parse requirement: found '!', expected: identifier"),
        ("a>=1", "unable to parse requirement: found '=', expected: identifier"),
        ("a!==b", "unable to parse requirement: found '=', expected: identifier"),
        ("a in", "unable to parse requirement: found '' expected: '('"),
        ("a notin b", "unable to parse requirement: found 'b' expected: '('"),
        ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
        ("a in (b,(c)", "unable to parse requirement: found '(', expected: ',', or identifier"),
        ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        (
            "k>x",
            'unable to parse requirement: values[0]: Invalid value: "x": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (
            "k<1.5",
            'unable to parse requirement: values[0]: Invalid value: "1.5": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
    ],
)
def test_label_selector_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(ApiError) as exc:
        LabelSelector.parse(text)
    assert bad(exc) == message


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("a_=b", '<nil>: Invalid value: "a_": ' + NAME_PART_MSG),
        ("-a", '<nil>: Invalid value: "-a": ' + NAME_PART_MSG),
        ("!_a", '<nil>: Invalid value: "_a": ' + NAME_PART_MSG),
        ("Example.com/a=b", '<nil>: Invalid value: "Example.com/a": ' + PREFIX_PART_MSG),
        ("/a", '<nil>: Invalid value: "/a": prefix part must be non-empty'),
        (
            "a/=b",
            '<nil>: Invalid value: "a/": name part must be non-empty; ' + NAME_PART_MSG,
        ),
        (
            "k" * 64 + "=v",
            f'<nil>: Invalid value: "{"k" * 64}": name part must be no more than 63 characters',
        ),
        (
            "a/b/c",
            '<nil>: Invalid value: "a/b/c": a qualified name must consist of alphanumeric '
            "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
            "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix "
            "and '/' (e.g. 'example.com/MyName')",
        ),
        ("a=-b", 'values[0][a]: Invalid value: "-b": ' + LABEL_VALUE_MSG),
        ("a=b_", 'values[0][a]: Invalid value: "b_": ' + LABEL_VALUE_MSG),
        (
            "a=" + "v" * 64,
            f'values[0][a]: Invalid value: "{"v" * 64}": must be no more than 63 characters',
        ),
        # Values are validated in sorted order; both bad ones are reported.
        (
            "a in (ok,-x,_y)",
            f'[values[0][a]: Invalid value: "-x": {LABEL_VALUE_MSG}, '
            f'values[1][a]: Invalid value: "_y": {LABEL_VALUE_MSG}]',
        ),
        (
            'a="b"',
            'values[0][a]: Invalid value: "\\"b\\"": ' + LABEL_VALUE_MSG,
        ),
    ],
)
def test_label_selector_invalid_keys_and_values(text: str, detail: str) -> None:
    with pytest.raises(ApiError) as exc:
        LabelSelector.parse(text)
    assert bad(exc) == "unable to parse requirement: " + detail


def test_label_selector_long_valid_key_with_prefix() -> None:
    key = "a" * 253 + "/" + "b" * 63
    assert LabelSelector.parse(f"{key}=v").matches({key: "v"})
    with pytest.raises(ApiError) as exc:
        LabelSelector.parse("a" * 254 + "/b")
    assert "prefix part must be no more than 253 characters" in bad(exc)


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("a=b", "a", "b"),
        ("a==b", "a", "b"),
        ("a in (b)", "a", "b"),
        ("a in (b,c)", "a", None),
        ("a!=b", "a", None),
        ("a=b", "c", None),
    ],
)
def test_label_requires_exact_match(text: str, key: str, expected: str | None) -> None:
    assert LabelSelector.parse(text).requires_exact_match(key) == expected


# --- field selectors -------------------------------------------------------------------------

POD_FIELDS = rtype("pods").selectable_fields
EVENT_FIELDS = rtype("events").selectable_fields

POD: dict[str, Any] = {
    "metadata": {"name": "jupyter-alice", "namespace": "hub", "labels": {"app": "jupyter"}},
    "spec": {
        "nodeName": "node-1",
        "restartPolicy": "OnFailure",
        "schedulerName": "default-scheduler",
        "serviceAccountName": "hub-user",
        "hostNetwork": True,
    },
    "status": {"phase": "Running", "podIP": "10.0.0.7", "nominatedNodeName": "node-2"},
}
EVENT: dict[str, Any] = {
    "metadata": {"name": "jupyter-alice.17a", "namespace": "hub"},
    "involvedObject": {
        "kind": "Pod",
        "namespace": "hub",
        "name": "jupyter-alice",
        "uid": "1234-abcd",
        "apiVersion": "v1",
        "resourceVersion": "42",
        "fieldPath": "spec.containers{notebook}",
    },
    "reason": "Scheduled",
    "reportingComponent": "default-scheduler",
    "source": {"component": "kubelet", "host": "node-1"},
    "type": "Normal",
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("metadata.name", "jupyter-alice"),
        ("metadata.namespace", "hub"),
        ("spec.nodeName", "node-1"),
        ("spec.restartPolicy", "OnFailure"),
        ("spec.schedulerName", "default-scheduler"),
        ("spec.serviceAccountName", "hub-user"),
        ("spec.hostNetwork", "true"),
        ("status.phase", "Running"),
        ("status.podIP", "10.0.0.7"),
        ("status.nominatedNodeName", "node-2"),
    ],
)
def test_every_pod_field(field: str, value: str) -> None:
    assert field in POD_FIELDS
    assert field_value(POD, field) == value
    for op in ("=", "=="):
        assert FieldSelector.parse(f"{field}{op}{value}", POD_FIELDS, "pods").matches(POD)
        assert not FieldSelector.parse(f"{field}{op}other", POD_FIELDS, "pods").matches(POD)
    assert not FieldSelector.parse(f"{field}!={value}", POD_FIELDS, "pods").matches(POD)
    assert FieldSelector.parse(f"{field}!=other", POD_FIELDS, "pods").matches(POD)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("metadata.name", "jupyter-alice.17a"),
        ("metadata.namespace", "hub"),
        ("involvedObject.kind", "Pod"),
        ("involvedObject.namespace", "hub"),
        ("involvedObject.name", "jupyter-alice"),
        ("involvedObject.uid", "1234-abcd"),
        ("involvedObject.apiVersion", "v1"),
        ("involvedObject.resourceVersion", "42"),
        ("involvedObject.fieldPath", "spec.containers{notebook}"),
        ("reason", "Scheduled"),
        ("reportingComponent", "default-scheduler"),
        ("source", "kubelet"),  # source means source.component
        ("type", "Normal"),
    ],
)
def test_every_event_field(field: str, value: str) -> None:
    assert field in EVENT_FIELDS
    assert field_value(EVENT, field) == value
    assert FieldSelector.parse(f"{field}={value}", EVENT_FIELDS, "events").matches(EVENT)
    assert not FieldSelector.parse(f"{field}=other", EVENT_FIELDS, "events").matches(EVENT)
    assert FieldSelector.parse(f"{field}!=other", EVENT_FIELDS, "events").matches(EVENT)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("regarding.kind", "Pod"),
        ("regarding.name", "jupyter-alice"),
        ("regarding.fieldPath", "spec.containers{notebook}"),
        ("reportingController", "default-scheduler"),
        ("reason", "Scheduled"),
        ("type", "Normal"),
    ],
)
def test_events_k8s_io_fields(field: str, value: str) -> None:
    fields = rtype("events", "events.k8s.io").selectable_fields
    shaped = {
        "metadata": EVENT["metadata"],
        "regarding": EVENT["involvedObject"],
        "reportingController": "default-scheduler",
        "reason": "Scheduled",
        "type": "Normal",
    }
    for obj in (shaped, EVENT):  # either storage shape answers either API's field names
        assert FieldSelector.parse(f"{field}={value}", fields, "events").matches(obj)
        assert not FieldSelector.parse(f"{field}=other", fields, "events").matches(obj)


@pytest.mark.parametrize(
    ("pod", "selector", "expected"),
    [
        ({"spec": {}}, "spec.hostNetwork=false", True),  # unset bool is Go's false
        ({"spec": {}}, "spec.hostNetwork!=false", False),
        ({}, "spec.hostNetwork=false", True),
        ({"spec": {"hostNetwork": False}}, "spec.hostNetwork=false", True),
        ({"spec": {"hostNetwork": True}}, "spec.hostNetwork=true", True),
        ({"spec": {"hostNetwork": True}}, "spec.hostNetwork=True", False),
        ({"spec": {}}, "spec.nodeName=", True),  # unscheduled: missing is ""
        ({"spec": {}}, "spec.nodeName!=", False),
        ({"spec": {"nodeName": "n"}}, "spec.nodeName!=", True),
        ({"status": None}, "status.phase=", True),
        ({"metadata": {"name": "a"}}, "metadata.namespace=", True),
        ({"spec": {"nodeName": "n1"}}, "spec.host=n1", True),  # old clients' alias
    ],
)
def test_field_defaults_and_booleans(pod: dict[str, Any], selector: str, expected: bool) -> None:
    assert FieldSelector.parse(selector, POD_FIELDS, "pods").matches(pod) is expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("metadata.name=a\\,b", "a,b"),
        ("metadata.name=a\\=b", "a=b"),
        ("metadata.name=a\\\\b", "a\\b"),
        ("metadata.name==\\=", "="),
        ("metadata.name=", ""),
        ("metadata.name=a b", "a b"),  # no whitespace trimming in values
    ],
)
def test_field_selector_escaping(text: str, value: str) -> None:
    selector = FieldSelector.parse(text, POD_FIELDS, "pods")
    assert selector.requirements == (FieldRequirement("metadata.name", "=", value),)
    assert selector.matches({"metadata": {"name": value}})
    assert not selector.matches({"metadata": {"name": value + "x"}})
    assert str(selector) == "metadata.name=" + escape_field_value(value)
    assert FieldSelector.parse(str(selector), POD_FIELDS, "pods") == selector


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo", "invalid selector: 'foo'; can't understand 'foo'"),
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("metadata.name=a,b", "invalid selector: 'metadata.name=a,b'; can't understand 'b'"),
        ("a!b", "invalid selector: 'a!b'; can't understand 'a!b'"),
        ("metadata.name=a=b", "invalid field selector: unescaped character in value: 61"),
        ("metadata.name=a\\,b,x=y=z", "invalid field selector: unescaped character in value: 61"),
        ("metadata.name=a\\x", "invalid field selector: invalid escape sequence: \\x"),
        ("metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"),
        ("metadata.name = a", "field label not supported: metadata.name "),
        ("metadata.nam=a", "field label not supported: metadata.nam"),
        ("=a", "field label not supported: "),
        ("spec.containers=a", "field label not supported: spec.containers"),
        ("a\\,b=c", "field label not supported: a\\,b"),
        # Unknown fields are rejected after the whole selector parses, in sorted term order.
        ("z=1,b=2", "field label not supported: b"),
    ],
)
def test_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(ApiError) as exc:
        FieldSelector.parse(text, POD_FIELDS, "pods")
    assert bad(exc) == message


@pytest.mark.parametrize(
    ("plural", "group", "field", "message"),
    [
        ("events", "", "involvedObject.foo", "field label not supported: involvedObject.foo"),
        ("secrets", "", "data", "field label not supported: data"),
        ("namespaces", "", "spec.finalizers", "field label not supported: spec.finalizers"),
        ("services", "", "spec.ports", "field label not supported: spec.ports"),
        ("events", "events.k8s.io", "source", "field label not supported: source"),
        # Kinds without a field label conversion use the default conversion's wording.
        (
            "configmaps",
            "",
            "data.x",
            '"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"',
        ),
        (
            "persistentvolumeclaims",
            "",
            "spec.volumeName",
            '"spec.volumeName" is not a known field selector: only "metadata.name", '
            '"metadata.namespace"',
        ),
        (
            "serviceaccounts",
            "",
            "secrets",
            '"secrets" is not a known field selector: only "metadata.name", "metadata.namespace"',
        ),
        (
            "customresourcedefinitions",
            "apiextensions.k8s.io",
            "spec.group",
            '"spec.group" is not a known field selector: only "metadata.name", '
            '"metadata.namespace"',
        ),
    ],
)
def test_unsupported_field_messages(plural: str, group: str, field: str, message: str) -> None:
    rt = rtype(plural, group)
    with pytest.raises(ApiError) as exc:
        FieldSelector.parse(f"{field}=x", rt.selectable_fields, rt.plural)
    assert bad(exc) == message


def test_secret_type_field() -> None:
    fields = rtype("secrets").selectable_fields
    selector = FieldSelector.parse("type=kubernetes.io/tls", fields, "secrets")
    assert selector.matches({"type": "kubernetes.io/tls"})
    assert not selector.matches({"type": "Opaque"})


@pytest.mark.parametrize("text", [None, "", ",", ",,"])
def test_empty_field_selector_matches_everything(text: str | None) -> None:
    selector = FieldSelector.parse(text, POD_FIELDS, "pods")
    assert selector.empty
    assert selector.matches({})
    assert selector.matches(POD)


def test_field_selector_ands_terms_in_sorted_order() -> None:
    selector = FieldSelector.parse(
        "status.phase!=Failed,metadata.name==jupyter-alice", POD_FIELDS, "pods"
    )
    assert selector.requirements == (
        FieldRequirement("metadata.name", "=", "jupyter-alice"),
        FieldRequirement("status.phase", "!=", "Failed"),
    )
    assert str(selector) == "metadata.name=jupyter-alice,status.phase!=Failed"
    assert selector.matches(POD)
    assert not selector.matches({**POD, "status": {"phase": "Failed"}})
    assert not selector.matches({**POD, "metadata": {"name": "jupyter-bob"}})
    assert selector.requires_exact_match("metadata.name") == "jupyter-alice"
    assert selector.requires_exact_match("status.phase") is None


@pytest.mark.parametrize(
    ("labels", "fields", "expected"),
    [
        ("app=jupyter", "metadata.name=jupyter-alice", True),
        ("app=jupyter", "metadata.name=jupyter-bob", False),
        ("app=other", "metadata.name=jupyter-alice", False),
        ("", "", True),
        ("!app", "", False),
        ("app notin (x)", "spec.nodeName=node-1", True),
    ],
)
def test_selector_matches(labels: str, fields: str, expected: bool) -> None:
    label_selector = LabelSelector.parse(labels)
    field_selector = FieldSelector.parse(fields, POD_FIELDS, "pods")
    assert selector_matches(POD, label_selector, field_selector) is expected


def test_selector_matches_without_labels() -> None:
    obj = {"metadata": {"name": "a"}}
    fields = FieldSelector.parse("metadata.name=a", POD_FIELDS, "pods")
    assert selector_matches(obj, LabelSelector.parse("!app"), fields)
    assert not selector_matches(obj, LabelSelector.parse("app"), fields)
    assert selector_matches(
        {}, LabelSelector.parse(None), FieldSelector.parse(None, POD_FIELDS, "pods")
    )
