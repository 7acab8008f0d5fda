"""CRD structural schemas: pruning, defaulting and validation as apiextensions does them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubesim.registry.schema import admit_custom_object, validate_crd
from tests.support.sample_crds import crd_manifest

GROUP = "xlscsde.nhs.uk"


def obj(spec: Any = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"apiVersion": f"{GROUP}/v1", "kind": "Thing", "metadata": {"name": "t"}}
    if spec is not None:
        out["spec"] = spec
    out.update(extra)
    return out


def spec_schema(properties: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """A root schema whose spec has these properties."""
    return {
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": properties, **spec}},
    }


def texts(schema: dict[str, Any] | None, o: dict[str, Any]) -> list[str]:
    return [e.text() for e in admit_custom_object(schema, o).errors]


# The AnalyticsWorkspace CRD as the workspace operator ships it (trimmed to what matters here).
WORKSPACE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["displayName", "description", "validity"],
            "properties": {
                "displayName": {"type": "string"},
                "description": {"type": "string"},
                "validity": {
                    "type": "object",
                    "required": ["availableFrom", "expires"],
                    "properties": {
                        "availableFrom": {"type": "string", "format": "date"},
                        "expires": {"type": "string", "format": "date"},
                    },
                },
                "jupyterWorkspace": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {"type": "string"},
                        "extraLabels": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        },
                        "tolerations": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                        "resources": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        },
                    },
                },
            },
        },
        "status": {"type": "object", "properties": {"statusText": {"type": "string"}}},
    },
}


def workspace(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "displayName": "My workspace",
        "description": "Analysis of things",
        "validity": {"availableFrom": "2024-01-01", "expires": "2030-12-31"},
        "jupyterWorkspace": {
            "image": "ghcr.io/lsc-sde/jupyter:1.0",
            "extraLabels": {"team": "a"},
            "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "resources": {"limits": {"nvidia.com/gpu": 1}},
        },
    }
    base.update(spec)
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "AnalyticsWorkspace",
        "metadata": {"name": "ws", "namespace": "default"},
        "spec": base,
    }


# -- pruning -------------------------------------------------------------------------------------

NESTED_PRESERVE = spec_schema(
    {
        "extra": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}},
        }
    }
)
ITEMS = spec_schema(
    {
        "items": {
            "type": "array",
            "items": {"type": "object", "properties": {"name": {"type": "string"}}},
        }
    }
)
MAP_OF_OBJECTS = spec_schema(
    {
        "byName": {
            "type": "object",
            "additionalProperties": {"type": "object", "properties": {"a": {"type": "string"}}},
        }
    }
)
EMBEDDED = spec_schema(
    {
        "template": {
            "type": "object",
            "x-kubernetes-embedded-resource": True,
            "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}}}},
        }
    }
)


@pytest.mark.parametrize(
    ("schema", "given", "kept", "unknown"),
    [
        pytest.param(
            spec_schema({"a": {"type": "string"}}),
            obj({"a": "x", "foo": 1, "bar": {"b": 2}}),
            obj({"a": "x"}),
            ["spec.bar", "spec.foo"],
            id="unknown-spec-fields",
        ),
        pytest.param(
            spec_schema({}),
            obj({}, extra="x", status={"phase": "Up"}),
            obj({}),
            ["extra", "status"],
            id="root-fields-but-not-meta",
        ),
        pytest.param(
            spec_schema({}),
            {**obj({}), "metadata": {"name": "t", "labels": {"a": "b"}, "bogus": 1}},
            {**obj({}), "metadata": {"name": "t", "labels": {"a": "b"}, "bogus": 1}},
            [],
            id="metadata-untouched",
        ),
        pytest.param(
            NESTED_PRESERVE,
            obj({"extra": {"free": {"deep": [1, {"x": 2}]}, "known": {"a": "y", "b": "z"}}}),
            obj({"extra": {"free": {"deep": [1, {"x": 2}]}, "known": {"a": "y"}}}),
            ["spec.extra.known.b"],
            id="preserve-unknown-keeps-but-known-nested-still-prunes",
        ),
        pytest.param(
            ITEMS,
            obj({"items": [{"name": "a"}, {"name": "b", "bogus": True}]}),
            obj({"items": [{"name": "a"}, {"name": "b"}]}),
            ["spec.items[1].bogus"],
            id="array-items",
        ),
        pytest.param(
            MAP_OF_OBJECTS,
            obj({"byName": {"k1": {"a": "x", "b": "y"}, "k2": {}}}),
            obj({"byName": {"k1": {"a": "x"}, "k2": {}}}),
            ["spec.byName.k1.b"],
            id="additional-properties-schema",
        ),
        pytest.param(
            spec_schema({"anything": {"type": "object", "additionalProperties": True}}),
            obj({"anything": {"k": "v", "n": 1}}),
            obj({"anything": {"k": "v", "n": 1}}),
            [],
            id="additional-properties-true",
        ),
        pytest.param(
            EMBEDDED,
            obj(
                {
                    "template": {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {"x": 1},
                        "spec": {"a": "b", "c": "d"},
                        "other": 1,
                    }
                }
            ),
            obj(
                {
                    "template": {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {"x": 1},
                        "spec": {"a": "b"},
                    }
                }
            ),
            ["spec.template.other", "spec.template.spec.c"],
            id="embedded-resource-keeps-type-and-object-meta",
        ),
        pytest.param(
            spec_schema(
                {
                    "list": {
                        "type": "array",
                        "x-kubernetes-preserve-unknown-fields": True,
                        "items": {"type": "object", "properties": {"a": {"type": "object"}}},
                    }
                }
            ),
            obj({"list": [{"free": 1, "a": {"b": 2}}]}),
            obj({"list": [{"free": 1, "a": {}}]}),
            ["spec.list[0].a.b"],
            id="preserve-unknown-passes-to-array-items",
        ),
        pytest.param(
            {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            obj({"anything": [1, 2]}, status={"x": 1}),
            obj({"anything": [1, 2]}, status={"x": 1}),
            [],
            id="preserve-at-root",
        ),
    ],
)
def test_pruning(
    schema: dict[str, Any], given: dict[str, Any], kept: dict[str, Any], unknown: list[str]
) -> None:
    before = copy.deepcopy(given)
    result = admit_custom_object(schema, given)
    assert result.obj == kept
    assert result.unknown_fields == unknown
    assert result.errors == []
    assert given == before  # the input is never changed


def test_no_schema_passes_a_copy_through() -> None:
    given = obj({"anything": {"goes": [1]}})
    result = admit_custom_object(None, given)
    assert result.obj == given and result.obj is not given
    assert result.obj["spec"]["anything"] is not given["spec"]["anything"]
    assert (result.errors, result.unknown_fields) == ([], [])


# -- defaulting ----------------------------------------------------------------------------------

DEFAULTS = spec_schema(
    {
        "replicas": {"type": "integer", "default": 1},
        "mode": {"type": "string", "default": "Auto"},
        "opt": {"type": "string", "nullable": True, "default": "d"},
        "plain": {"type": "string"},
        "nested": {
            "type": "object",
            "properties": {"level": {"type": "string", "default": "info"}},
        },
        "list": {
            "type": "array",
            "items": {"type": "object", "properties": {"port": {"type": "integer", "default": 80}}},
        },
        "tags": {"type": "object", "default": {"a": "b"}},
    }
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(
            {}, {"replicas": 1, "mode": "Auto", "opt": "d", "tags": {"a": "b"}}, id="absent"
        ),
        pytest.param(
            {"replicas": 3, "mode": "Manual"},
            {"replicas": 3, "mode": "Manual", "opt": "d", "tags": {"a": "b"}},
            id="given-values-win",
        ),
        pytest.param(
            {"replicas": None, "opt": None, "plain": None},
            {"replicas": 1, "mode": "Auto", "opt": None, "tags": {"a": "b"}},
            id="nulls",  # defaulted unless nullable; dropped when neither nullable nor defaulted
        ),
        pytest.param(
            {"nested": {}, "list": [{}, {"port": 8080}]},
            {
                "replicas": 1,
                "mode": "Auto",
                "opt": "d",
                "tags": {"a": "b"},
                "nested": {"level": "info"},
                "list": [{"port": 80}, {"port": 8080}],
            },
            id="nested-and-items",
        ),
    ],
)
def test_defaults(given: dict[str, Any], expected: dict[str, Any]) -> None:
    result = admit_custom_object(DEFAULTS, obj(given))
    assert result.errors == []
    assert result.obj["spec"] == expected


def test_defaults_are_copies_and_parents_are_not_invented() -> None:
    result = admit_custom_object(DEFAULTS, obj({}))
    assert "nested" not in result.obj["spec"]  # no default for the parent, so no child default
    result.obj["spec"]["tags"]["c"] = "d"
    assert DEFAULTS["properties"]["spec"]["properties"]["tags"]["default"] == {"a": "b"}


def test_defaults_apply_before_validation() -> None:
    schema = spec_schema(
        {"mode": {"type": "string", "enum": ["A", "B"], "default": "A"}}, required=["mode"]
    )
    assert admit_custom_object(schema, obj({})).errors == []


# -- validation ----------------------------------------------------------------------------------


def type_error(wanted: str, actual: str) -> str:
    return f'spec.x: Invalid value: "{actual}": spec.x in body must be of type {wanted}: "{actual}"'


INT_OR_STRING = {"x-kubernetes-int-or-string": True}
STRINGS = {"type": "array", "items": {"type": "string"}}


@pytest.mark.parametrize(
    ("prop", "value", "actual"),
    [
        ({"type": "integer"}, "1", "string"),
        ({"type": "integer"}, 1.5, "number"),
        ({"type": "integer"}, True, "boolean"),
        ({"type": "integer"}, 2.0, None),  # a float without fraction is an integer
        ({"type": "number"}, 3, None),
        ({"type": "number"}, "1", "string"),
        ({"type": "string"}, 5, "integer"),
        ({"type": "string"}, {"a": 1}, "object"),
        ({"type": "boolean"}, "true", "string"),
        ({"type": "boolean"}, 0, "integer"),
        ({"type": "object"}, [], "array"),
        (STRINGS, {}, "object"),
        ({"type": "string", "nullable": True}, None, None),
        (INT_OR_STRING, 5, None),
        (INT_OR_STRING, "50%", None),
        (INT_OR_STRING, True, "boolean"),
        (INT_OR_STRING, [1], "array"),
    ],
)
def test_type_errors(prop: dict[str, Any], value: Any, actual: str | None) -> None:
    wanted = "integer,string" if prop is INT_OR_STRING else prop["type"]
    result = texts(spec_schema({"x": prop}), obj({"x": value}))
    assert result == ([type_error(wanted, actual)] if actual else [])


@pytest.mark.parametrize(
    ("prop", "value", "expected"),
    [
        ({"type": "string", "enum": ["A", "B"]}, "x",
         'spec.x: Unsupported value: "x": supported values: "A", "B"'),
        ({"type": "integer", "enum": [1, 2]}, 3,
         'spec.x: Unsupported value: 3: supported values: "1", "2"'),
        ({"type": "string", "pattern": "^[a-z]+$"}, "Abc",
         "spec.x: Invalid value: \"Abc\": spec.x in body should match '^[a-z]+$'"),
        ({"type": "string", "pattern": "^[a-z]+$"}, "abc", None),
        ({"type": "string", "minLength": 2}, "a",
         'spec.x: Invalid value: "a": spec.x in body should be at least 2 chars long'),
        ({"type": "string", "maxLength": 3}, "abcd", "spec.x: Too long: may not be longer than 3"),
        ({"type": "integer", "minimum": 1}, 0,
         "spec.x: Invalid value: 0: spec.x in body should be greater than or equal to 1"),
        ({"type": "integer", "minimum": 1, "exclusiveMinimum": True}, 1,
         "spec.x: Invalid value: 1: spec.x in body should be greater than 1"),
        ({"type": "integer", "maximum": 10}, 11,
         "spec.x: Invalid value: 11: spec.x in body should be less than or equal to 10"),
        ({"type": "number", "maximum": 1000000, "exclusiveMaximum": True}, 1000000,
         "spec.x: Invalid value: 1000000: spec.x in body should be less than 1e+06"),
        ({"type": "number", "multipleOf": 0.5}, 0.7,
         "spec.x: Invalid value: 0.7: spec.x in body should be a multiple of 0.5"),
        ({**STRINGS, "minItems": 1}, [],
         "spec.x: Invalid value: 0: spec.x in body should have at least 1 items"),
        ({**STRINGS, "uniqueItems": True}, ["a", "a"],
         'spec.x: Invalid value: "": spec.x in body shouldn\'t contain duplicates'),
        ({"type": "object", "minProperties": 1}, {},
         "spec.x: Invalid value: 0: spec.x in body should have at least 1 properties"),
        ({"type": "string", "format": "int32"}, "not-a-number", None),  # unsupported: stripped
        ({"type": "string", "format": "byte"}, "aGVsbG8=", None),
        ({"type": "string", "format": "byte"}, "no base64!",
         'spec.x: Invalid value: "no base64!": spec.x in body must be of type byte: "no base64!"'),
        ({"type": "string", "format": "uuid"}, "6a2f41a3-c54c-fce8-32d2-0324e1c32e22", None),
        ({"type": "string", "format": "ipv4"}, "10.0.0.300",
         'spec.x: Invalid value: "10.0.0.300": spec.x in body must be of type ipv4: "10.0.0.300"'),
    ],
)  # fmt: skip
def test_keyword_errors(prop: dict[str, Any], value: Any, expected: str | None) -> None:
    result = texts(spec_schema({"x": prop}), obj({"x": value}))
    assert result == ([expected] if expected else [])


@pytest.mark.parametrize(
    ("prop", "value", "kind", "field"),
    [
        (
            {"type": "array", "items": {"type": "string"}, "maxItems": 1},
            ["a", "b"],
            "FieldValueTooMany",
            "spec.x",
        ),
        (
            {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 1},
            {"a": "1", "b": "2"},
            "FieldValueTooMany",
            "spec.x",
        ),
        ({"type": "string", "maxLength": 1}, "ab", "FieldValueTooLong", "spec.x"),
        ({"type": "integer"}, "1", "FieldValueTypeInvalid", "spec.x"),
        ({"type": "string", "enum": ["a"]}, "b", "FieldValueNotSupported", "spec.x"),
        ({"type": "string", "pattern": "a"}, "b", "FieldValueInvalid", "spec.x"),
    ],
)
def test_cause_reasons(prop: dict[str, Any], value: Any, kind: str, field: str) -> None:
    (error,) = admit_custom_object(spec_schema({"x": prop}), obj({"x": value})).errors
    assert (error.kind, error.field) == (kind, field)
    assert error.cause()["reason"] == kind


@pytest.mark.parametrize(
    ("fmt", "value", "ok"),
    [
        ("date", "2024-02-29", True),
        ("date", "2023-02-29", False),  # not a leap year
        ("date", "2024-02-30", False),
        ("date", "2024-13-01", False),
        ("date", "2024-1-01", False),
        ("date", "01/02/2024", False),
        ("date", "2024-01-01T00:00:00Z", False),
        ("date-time", "2024-01-01T10:00:00Z", True),
        ("date-time", "2024-01-01T10:00:00.123+01:00", True),
        ("date-time", "2024-01-01t10:00:00z", True),  # kube-openapi lower-cases before matching
        ("date-time", "2024-02-30T10:00:00Z", False),
        ("date-time", "2024-01-01T25:00:00Z", False),
        ("date-time", "2024-01-01 10:00:00Z", False),
        ("date-time", "2024-01-01", False),
    ],
)
def test_date_formats(fmt: str, value: str, ok: bool) -> None:
    result = texts(spec_schema({"when": {"type": "string", "format": fmt}}), obj({"when": value}))
    expected = (
        f'spec.when: Invalid value: "{value}": spec.when in body must be of type {fmt}: "{value}"'
    )
    assert result == ([] if ok else [expected])


REQUIRED = spec_schema(
    {
        "validity": {
            "type": "object",
            "required": ["availableFrom", "expires"],
            "properties": {"availableFrom": {"type": "string"}, "expires": {"type": "string"}},
        },
        "name": {"type": "string"},
    },
    required=["validity", "name"],
)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"validity": {"availableFrom": "a", "expires": "b"}, "name": "n"}, []),
        (
            {"validity": {"availableFrom": "a"}, "name": "n"},
            ["spec.validity.expires: Required value"],
        ),
        (
            {"validity": {"availableFrom": "a", "expires": None}, "name": "n"},
            ["spec.validity.expires: Required value"],
        ),
        ({}, ["spec.validity: Required value", "spec.name: Required value"]),
        (None, []),  # spec itself is not required here
    ],
)
def test_required(spec: Any, expected: list[str]) -> None:
    assert texts(REQUIRED, obj(spec)) == expected


def test_root_required() -> None:
    schema = {"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object"}}}
    assert texts(schema, obj()) == ["spec: Required value"]


def test_nullable_and_null_items() -> None:
    schema = spec_schema(
        {
            "maybe": {"type": "object", "nullable": True, "properties": {"a": {"type": "string"}}},
            "names": {"type": "array", "items": {"type": "string"}},
        }
    )
    result = admit_custom_object(schema, obj({"maybe": None, "names": ["a", None]}))
    assert result.obj["spec"]["maybe"] is None
    assert [e.text() for e in result.errors] == [
        'spec.names[1]: Invalid value: "null": spec.names[1] in body must be of type string: "null"'
    ]


def test_array_of_objects_paths() -> None:
    schema = spec_schema(
        {
            "ports": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                },
            }
        }
    )
    given = obj({"ports": [{"name": "a", "port": 1}, {"port": "x"}, {"name": 7}]})
    assert texts(schema, given) == [
        'spec.ports[1].port: Invalid value: "string": spec.ports[1].port in body must be of type '
        'integer: "string"',
        "spec.ports[1].name: Required value",
        'spec.ports[2].name: Invalid value: "integer": spec.ports[2].name in body must be of '
        'type string: "integer"',
    ]


def test_map_values_are_validated() -> None:
    schema = spec_schema({"labels": {"type": "object", "additionalProperties": {"type": "string"}}})
    assert texts(schema, obj({"labels": {"app.kubernetes.io/name": 5}})) == [
        'spec.labels.app.kubernetes.io/name: Invalid value: "integer": '
        'spec.labels.app.kubernetes.io/name in body must be of type string: "integer"'
    ]


def test_all_errors_are_reported() -> None:
    schema = spec_schema(
        {
            "replicas": {"type": "integer"},
            "mode": {"type": "string", "enum": ["A", "B"]},
            "until": {"type": "string", "format": "date"},
        },
        required=["name"],
    )
    given = obj({"replicas": "many", "mode": "C", "until": "2024-13-01"})
    assert texts(schema, given) == [
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: '
        '"string"',
        'spec.mode: Unsupported value: "C": supported values: "A", "B"',
        'spec.until: Invalid value: "2024-13-01": spec.until in body must be of type date: '
        '"2024-13-01"',
        "spec.name: Required value",
    ]


@pytest.mark.parametrize(
    ("prop", "value", "expected"),
    [
        (
            {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^[0-9]+%$"}]},
            "50%",
            [],
        ),
        (
            {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^[0-9]+%$"}]},
            "half",
            [
                '<nil>: Invalid value: "": "spec.x" must validate at least one schema (anyOf)',
                "spec.x: Invalid value: \"half\": spec.x in body should match '^[0-9]+%$'",
            ],
        ),
        (
            {"type": "string", "allOf": [{"minLength": 2}, {"maxLength": 3}]},
            "abcd",
            [
                "spec.x: Too long: may not be longer than 3",
                '<nil>: Invalid value: "": "spec.x" must validate all the schemas (allOf)',
            ],
        ),
        (
            {"type": "string", "oneOf": [{"pattern": "a"}, {"pattern": "b"}]},
            "ab",
            [
                '<nil>: Invalid value: "": "spec.x" must validate one and only one schema (oneOf). '
                "Found 2 valid alternatives"
            ],
        ),
        ({"type": "string", "oneOf": [{"pattern": "a"}, {"pattern": "b"}]}, "a", []),
        (
            {"type": "string", "not": {"enum": ["root"]}},
            "root",
            ['<nil>: Invalid value: "": "spec.x" must not validate the schema (not)'],
        ),
    ],
)
def test_junctors(prop: dict[str, Any], value: Any, expected: list[str]) -> None:
    assert texts(spec_schema({"x": prop}), obj({"x": value})) == expected


def test_embedded_resource_needs_type_meta() -> None:
    schema = spec_schema(
        {
            "template": {
                "type": "object",
                "x-kubernetes-embedded-resource": True,
                "x-kubernetes-preserve-unknown-fields": True,
            }
        }
    )
    assert texts(schema, obj({"template": {"metadata": {"name": "x"}}})) == [
        "spec.template.apiVersion: Required value",
        "spec.template.kind: Required value",
    ]
    assert texts(schema, obj({"template": {"apiVersion": "v1", "kind": "Pod"}})) == []


def test_status_is_subject_to_the_schema() -> None:
    result = admit_custom_object(
        WORKSPACE_SCHEMA, workspace() | {"status": {"statusText": 3, "x": 1}}
    )
    assert result.unknown_fields == ["status.x"]
    assert [e.text() for e in result.errors] == [
        'status.statusText: Invalid value: "integer": status.statusText in body must be of type '
        'string: "integer"'
    ]


# -- the AnalyticsWorkspace schema ---------------------------------------------------------------


def test_workspace_valid() -> None:
    given = workspace()
    result = admit_custom_object(WORKSPACE_SCHEMA, given)
    assert (result.errors, result.unknown_fields) == ([], [])
    assert result.obj == given
    # Free-form parts are kept whole.
    jupyter = result.obj["spec"]["jupyterWorkspace"]
    assert jupyter["tolerations"][0] == {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}
    assert jupyter["resources"] == {"limits": {"nvidia.com/gpu": 1}}


@pytest.mark.parametrize(
    ("spec", "errors", "unknown"),
    [
        pytest.param(
            {"validity": {"availableFrom": "2024-01-01", "expires": "2024-13-01"}},
            [
                'spec.validity.expires: Invalid value: "2024-13-01": spec.validity.expires in body '
                'must be of type date: "2024-13-01"'
            ],
            [],
            id="bad-expiry",
        ),
        pytest.param(
            {
                "validity": {"availableFrom": "2024-01-01"},
                "jupyterWorkspace": {"extraLabels": {"a": 1}},
            },
            [
                "spec.validity.expires: Required value",
                'spec.jupyterWorkspace.extraLabels.a: Invalid value: "integer": '
                'spec.jupyterWorkspace.extraLabels.a in body must be of type string: "integer"',
                "spec.jupyterWorkspace.image: Required value",
            ],
            [],
            id="missing-and-wrong",
        ),
        pytest.param(
            {"colour": "red", "jupyterWorkspace": {"image": "i", "gpus": 2}},
            [],
            ["spec.colour", "spec.jupyterWorkspace.gpus"],
            id="unknown-fields",
        ),
        pytest.param(
            {"displayName": None, "description": 42},
            [
                'spec.description: Invalid value: "integer": spec.description in body must be of '
                'type string: "integer"',
                "spec.displayName: Required value",
            ],
            [],
            id="null-required-is-missing",
        ),
    ],
)
def test_workspace_invalid(spec: dict[str, Any], errors: list[str], unknown: list[str]) -> None:
    result = admit_custom_object(WORKSPACE_SCHEMA, workspace(**spec))
    assert [e.text() for e in result.errors] == errors
    assert result.unknown_fields == unknown


# -- CustomResourceDefinition validation ---------------------------------------------------------


def crd(**changes: Any) -> dict[str, Any]:
    version = {"name": "v1", "served": True, "storage": True}
    version["schema"] = {"openAPIV3Schema": copy.deepcopy(WORKSPACE_SCHEMA)}
    out = crd_manifest(
        GROUP, "analyticsworkspaces", "AnalyticsWorkspace", [version], shortNames=["aw"]
    )
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = out
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return out


_DELETE = object()
ROOT = "spec.versions[0].schema.openAPIV3Schema"


def with_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return crd(spec__versions__0__schema={"openAPIV3Schema": schema})


def test_valid_crd() -> None:
    assert validate_crd(crd()) == []
    # singular and listKind are defaulted by the server before it validates
    assert validate_crd(crd(spec__names__singular=_DELETE)) == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            crd(metadata={"name": "workspaces.example.com"}),
            [
                'metadata.name: Invalid value: "workspaces.example.com": must be '
                'spec.names.plural+"."+spec.group'
            ],
        ),
        (
            crd(spec__group=_DELETE, metadata={"name": "analyticsworkspaces."}),
            ["spec.group: Required value"],
        ),
        (
            crd(spec__group="nodot", metadata={"name": "analyticsworkspaces.nodot"}),
            ['spec.group: Invalid value: "nodot": should be a domain with at least one dot'],
        ),
        (crd(spec__scope=_DELETE), ["spec.scope: Required value"]),
        (
            crd(spec__scope="Global"),
            ['spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"'],
        ),
        (
            crd(spec__names__kind=_DELETE),  # listKind is only defaulted from a kind
            ["spec.names.kind: Required value", "spec.names.listKind: Required value"],
        ),
        (
            crd(spec__names__plural=_DELETE, metadata={"name": f".{GROUP}"}),
            ["spec.names.plural: Required value"],
        ),
        (
            crd(spec__versions=[]),
            [
                'spec.versions: Invalid value: "array": must have exactly one version marked as '
                "storage version"
            ],
        ),
        (
            crd(spec__versions__0__storage=False),
            [
                'spec.versions: Invalid value: "array": must have exactly one version marked as '
                "storage version"
            ],
        ),
        (crd(spec__versions__0__schema=_DELETE), [f"{ROOT}: Required value: schemas are required"]),
        (
            with_schema({"type": "string"}),
            [f'{ROOT}.type: Invalid value: "string": must be object at the root'],
        ),
        (
            with_schema({"type": "object", "nullable": True}),
            [f"{ROOT}.nullable: Forbidden: nullable cannot be true at the root"],
        ),
        (
            with_schema({"properties": {"spec": {"type": "object"}}}),
            [f"{ROOT}.type: Required value: must not be empty at the root"],
        ),
        (
            with_schema(
                {
                    "type": "object",
                    "properties": {"spec": {"properties": {"a": {"type": "string"}}}},
                }
            ),
            [
                f"{ROOT}.properties[spec].type: Required value: must not be empty for specified "
                "object fields"
            ],
        ),
        (
            with_schema({"type": "object", "properties": {"l": {"type": "array"}}}),
            [f"{ROOT}.properties[l].items: Required value: must be specified"],
        ),
        (
            with_schema({"type": "object", "properties": {"l": {"type": "array", "items": {}}}}),
            [
                f"{ROOT}.properties[l].items.type: Required value: must not be empty for "
                "specified array items"
            ],
        ),
        (
            with_schema({"type": "object", "properties": {"x": {"type": "list"}}}),
            [
                f'{ROOT}.properties[x].type: Unsupported value: "list": supported values: "array", '
                '"boolean", "integer", "number", "object", "string"'
            ],
        ),
        (
            with_schema(
                {
                    "type": "object",
                    "properties": {
                        "l": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
                    },
                }
            ),
            [
                f"{ROOT}.properties[l].uniqueItems: Forbidden: uniqueItems cannot be set to true "
                "since "
                "the runtime complexity becomes quadratic"
            ],
        ),
        (
            with_schema(
                {
                    "type": "object",
                    "properties": {
                        "m": {
                            "type": "object",
                            "properties": {"a": {"type": "string"}},
                            "additionalProperties": {"type": "string"},
                        }
                    },
                }
            ),
            [
                f"{ROOT}.properties[m].additionalProperties: Forbidden: additionalProperties and "
                "properties "
                "are mutual exclusive"
            ],
        ),
        (
            with_schema(
                {
                    "type": "object",
                    "properties": {
                        "m": {"type": "object", "x-kubernetes-preserve-unknown-fields": False}
                    },
                }
            ),
            [
                f"{ROOT}.properties[m].x-kubernetes-preserve-unknown-fields: Invalid value: false: "
                "must be true or undefined"
            ],
        ),
        (
            with_schema(
                {
                    "type": "object",
                    "properties": {"x": {"type": "string", "anyOf": [{"type": "string"}]}},
                }
            ),
            [f"{ROOT}.properties[x].anyOf[0].type: Forbidden: must be empty to be structural"],
        ),
        (
            with_schema(
                {
                    "type": "object",
                    "properties": {
                        "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}
                    },
                }
            ),
            [
                f"{ROOT}.properties[metadata]: Forbidden: must not specify anything other than "
                "name and "
                "generateName, but metadata is implicitly specified"
            ],
        ),
        (
            with_schema(
                {"type": "object", "properties": {"x": {"type": "string", "pattern": "(unclosed"}}}
            ),
            [
                f'{ROOT}.properties[x].pattern: Invalid value: "(unclosed": must be a valid '
                "regular "
                "expression, but isn't: missing ), unterminated subpattern at position 0"
            ],
        ),
    ],
)
def test_invalid_crds(given: dict[str, Any], expected: list[str]) -> None:
    assert [e.text() for e in validate_crd(given)] == expected


def test_crd_versions_must_be_unique_and_named() -> None:
    version = crd()["spec"]["versions"][0]
    texts_ = [
        e.text() for e in validate_crd(crd(spec__versions=[version, {**version, "storage": False}]))
    ]
    assert texts_ == ['spec.versions: Invalid value: "array": must contain unique version names']
    bad_name = crd(spec__versions=[{**version, "name": "V1"}])
    (error,) = validate_crd(bad_name)
    assert error.field == "spec.versions[0].name"
    assert "a DNS-1035 label must consist of lower case alphanumeric characters" in error.text()


def test_crd_names_are_dns_labels() -> None:
    bad = crd(
        spec__names__plural="Workspaces",
        spec__names__kind="Analytics_Workspace",
        metadata={"name": f"Workspaces.{GROUP}"},
    )
    by_field = {e.field: e.text() for e in validate_crd(bad)}
    # listKind is defaulted from the kind, so it is wrong too
    assert set(by_field) == {"spec.names.plural", "spec.names.kind", "spec.names.listKind"}
    assert by_field["spec.names.plural"].startswith(
        'spec.names.plural: Invalid value: "Workspaces": a DNS-1035 label must consist of'
    )
    assert by_field["spec.names.kind"].startswith(
        'spec.names.kind: Invalid value: "Analytics_Workspace": may have mixed case, but should '
        "otherwise match: a DNS-1035 label"
    )


@pytest.mark.parametrize(
    "prop",
    [
        {"x-kubernetes-int-or-string": True},
        {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
        {"x-kubernetes-preserve-unknown-fields": True},
        {
            "type": "object",
            "x-kubernetes-embedded-resource": True,
            "x-kubernetes-preserve-unknown-fields": True,
        },
        {"type": "string", "format": "int32"},
    ],
)
def test_structural_exceptions_are_accepted(prop: dict[str, Any]) -> None:
    schema = {
        "type": "object",
        "properties": {
            "x": prop,
            "metadata": {
                "type": "object",
                "properties": {"name": {"type": "string", "maxLength": 20}},
            },
        },
    }
    assert validate_crd(with_schema(schema)) == []
