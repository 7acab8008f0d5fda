"""CustomResourceDefinition validation (apiextensions.k8s.io/v1), for what serving it needs.

The CRD's names and versions are checked, and each version's openAPIV3Schema must be a
structural schema: every node says what it is, outside of allOf/anyOf/oneOf/not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from kubesim.registry import schema_walk as walk
from kubesim.registry.errors import FieldError
from kubesim.registry.field import forbidden, invalid, not_supported, required
from kubesim.registry.names import dns1035_label_errors, dns1123_subdomain_errors
from kubesim.registry.schema_walk import Schema
from kubesim.registry.strategy import as_dict, as_list

_TYPES = ("array", "boolean", "integer", "number", "object", "string")
_UNSUPPORTED = ("id", "additionalItems", "patternProperties", "definitions", "dependencies", "$ref")
# What a node inside allOf/anyOf/oneOf/not may not carry, with the server's wording.
_NOT_NESTED = {
    "type": "must be empty", "additionalProperties": "must be undefined",
    "default": "must be undefined", "title": "must be empty", "description": "must be empty",
    "nullable": "must be false", "externalDocs": "must be undefined",
    walk.PRESERVE: "must be false", walk.EMBEDDED: "must be false",
    walk.INT_OR_STRING: "must be false",
    "x-kubernetes-list-map-keys": "must be empty", "x-kubernetes-list-type": "must be undefined",
    "x-kubernetes-map-type": "must be undefined", "x-kubernetes-validations": "must be empty",
}  # fmt: skip
_INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]
_EMPTY_TYPE = {
    "root": "must not be empty at the root",
    "item": "must not be empty for specified array items",
    "field": "must not be empty for specified object fields",
}
_META_DETAIL = (
    "must not specify anything other than name and generateName, but metadata is implicitly "
    "specified"
)


def _dns_label(value: str) -> str:
    # apiextensions joins a name check's messages into one error.
    return ",".join(dns1035_label_errors(value))


def _dns_subdomain(value: str) -> str:
    return ",".join(dns1123_subdomain_errors(value))


def validate_crd(crd: dict[str, Any]) -> list[FieldError]:
    """The checks the server makes on a v1 CustomResourceDefinition that matter for serving it."""
    spec = as_dict(crd.get("spec"))
    names: dict[str, Any] = {
        k: v if isinstance(v, list) else str(v or "") for k, v in as_dict(spec.get("names")).items()
    }
    kind = str(names.get("kind") or "")
    # v1 defaulting fills these in before validation runs.
    names["singular"] = names.get("singular") or kind.lower()
    names["listKind"] = names.get("listKind") or (kind + "List" if kind else "")
    group, plural = str(spec.get("group") or ""), names.get("plural") or ""
    errors: list[FieldError] = []
    name = as_dict(crd.get("metadata")).get("name")
    if name and name != f"{plural}.{group}":
        errors.append(invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    if not group:
        errors.append(required("spec.group"))
    elif _dns_subdomain(group) or "." not in group:
        detail = _dns_subdomain(group) or "should be a domain with at least one dot"
        errors.append(invalid("spec.group", group, detail))
    scope = str(spec.get("scope") or "")
    if scope not in ("Cluster", "Namespaced"):
        errors.append(not_supported("spec.scope", scope, ["Cluster", "Namespaced"]) if scope
                      else required("spec.scope"))  # fmt: skip
    versions = [as_dict(v) for v in as_list(spec.get("versions"))]
    schemas = [as_dict(v.get("schema")).get("openAPIV3Schema") for v in versions]
    for i, root in enumerate(schemas):
        if not root:
            errors.append(
                required(f"spec.versions[{i}].schema.openAPIV3Schema", "schemas are required")
            )
    for i, (version, root) in enumerate(zip(versions, schemas, strict=True)):
        vname = str(version.get("name") or "")
        if _dns_label(vname):
            errors.append(invalid(f"spec.versions[{i}].name", vname, _dns_label(vname)))
        if isinstance(root, dict):
            errors += _validate_openapi(root, f"spec.versions[{i}].schema.openAPIV3Schema")
    if len({str(v.get("name")) for v in versions}) != len(versions):
        errors.append(invalid("spec.versions", versions, "must contain unique version names"))
    if sum(bool(v.get("storage")) for v in versions) != 1:
        detail = "must have exactly one version marked as storage version"
        errors.append(invalid("spec.versions", versions, detail))
    errors += [
        required(f"spec.names.{k}")
        for k in ("plural", "singular", "kind", "listKind")
        if not names.get(k)
    ]
    return errors + _validate_names(names)


def _validate_names(names: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    for key in ("plural", "singular", "kind", "listKind"):
        value = str(names.get(key) or "")
        mixed = key in ("kind", "listKind")  # kinds may have mixed case
        problem = _dns_label(value.lower() if mixed else value) if value else ""
        if problem:
            prefix = "may have mixed case, but should otherwise match: " if mixed else ""
            errors.append(invalid(f"spec.names.{key}", value, prefix + problem))
    for key in ("shortNames", "categories"):
        for i, value in enumerate(as_list(names.get(key))):
            if _dns_label(str(value)):
                errors.append(invalid(f"spec.names.{key}[{i}]", value, _dns_label(str(value))))
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        detail = "kind and listKind may not be the same"
        errors.append(invalid("spec.names.listKind", names["listKind"], detail))
    return errors


def _validate_openapi(root: Schema, path: str) -> list[FieldError]:
    errors = [forbidden(f"{path}.nullable", "nullable cannot be true at the root")]
    errors = (errors if root.get("nullable") else []) + _openapi_node(root, path)
    # The structural checks come sorted by message, as the server sorts them.
    return errors + sorted(_structural(root, path, "root"), key=FieldError.text)


def _children(s: Schema, path: str) -> Iterator[tuple[str, Schema]]:
    for key, sub in walk.props(s).items():
        yield f"{path}.properties[{key}]", sub
    for key in ("additionalProperties", "items", "not"):
        if isinstance(s.get(key), dict):
            yield f"{path}.{key}", s[key]
    for key in ("allOf", "oneOf", "anyOf"):
        for i, sub in enumerate(as_list(s.get(key))):
            yield f"{path}.{key}[{i}]", sub


def _openapi_node(s: Schema, path: str) -> list[FieldError]:
    """Keywords a CRD schema may not use anywhere."""
    kind, extra = s.get("type"), s.get("additionalProperties")
    errors = [not_supported(f"{path}.type", kind, _TYPES)] if kind and kind not in _TYPES else []
    errors += [forbidden(f"{path}.{k}", f"{k} is not supported") for k in _UNSUPPORTED if k in s]
    checks = (
        (kind == "null", "type", "type cannot be set to null, use nullable as an alternative"),
        (isinstance(s.get("items"), list), "items",
         "items must be a schema object and not an array"),
        (s.get("uniqueItems") is True, "uniqueItems",
         "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"),
        (bool(s.get("properties")) and (extra is False or isinstance(extra, dict)),
         "additionalProperties", "additionalProperties and properties are mutual exclusive"),
    )  # fmt: skip
    errors += [forbidden(f"{path}.{key}", detail) for failed, key, detail in checks if failed]
    if s.get(walk.PRESERVE) is False:
        errors.append(invalid(f"{path}.{walk.PRESERVE}", False, "must be true or undefined"))
    for sub_path, sub in _children(s, path):
        errors += _openapi_node(sub, sub_path) if isinstance(sub, dict) else []
    return errors


def _structural(s: Schema, path: str, level: str) -> list[FieldError]:
    """ValidateStructural: every node says what it is, outside of allOf/anyOf/oneOf/not."""
    kind, embedded = s.get("type") or "", bool(s.get(walk.EMBEDDED))
    items, extra, props = s.get("items"), s.get("additionalProperties"), walk.props(s)
    errors = (
        [required(f"{path}.items", "must be specified")]
        if kind == "array" and items is None
        else []
    )
    subs = [(f"{path}.properties[{k}]", v, "field") for k, v in props.items()]
    subs += [(f"{path}.items", items, "item")] if isinstance(items, dict) else []
    subs += [(f"{path}.additionalProperties", extra, "field")] if isinstance(extra, dict) else []
    for sub_path, sub, sub_level in subs:
        errors += _structural(sub, sub_path, sub_level)
    if extra is not None and level == "root":
        errors.append(forbidden(f"{path}.additionalProperties", "must not be used at the root"))
    for key in (walk.PRESERVE, walk.EMBEDDED) if s.get(walk.INT_OR_STRING) else ():
        if s.get(key):
            errors.append(
                invalid(
                    f"{path}.{key}", True, "must be false if x-kubernetes-int-or-string is true"
                )
            )
    errors += _value_validation(s, path, s.get("anyOf") == _INT_OR_STRING_ANY_OF)
    if embedded and kind != "object":
        detail = "must be object if x-kubernetes-embedded-resource is true"
        errors.append(
            invalid(f"{path}.type", kind, detail) if kind else required(f"{path}.type", detail)
        )
    elif not kind and not s.get(walk.INT_OR_STRING) and not s.get(walk.PRESERVE):
        errors.append(required(f"{path}.type", _EMPTY_TYPE[level]))
    if embedded and extra is not None:
        detail = "must not be used if x-kubernetes-embedded-resource is set"
        errors.append(forbidden(f"{path}.additionalProperties", detail))
    if level == "root" and kind and kind != "object":
        errors.append(invalid(f"{path}.type", kind, "must be object at the root"))
    for key in ("kind", "apiVersion") if level == "root" or embedded else ():
        if key in props and props[key].get("type") != "string":
            errors.append(
                invalid(
                    f"{path}.properties[{key}].type", props[key].get("type", ""), "must be string"
                )
            )
    if "metadata" in props and (level == "root" or embedded):
        errors += _metadata_schema(
            props["metadata"], f"{path}.properties[metadata]", level == "root"
        )
    if embedded and not s.get(walk.PRESERVE) and not props:
        detail = "must not be empty if x-kubernetes-embedded-resource is true without "
        errors.append(
            required(f"{path}.properties", detail + "x-kubernetes-preserve-unknown-fields")
        )
    return errors


def _metadata_schema(s: Schema, path: str, root: bool) -> list[FieldError]:
    kind = s.get("type", "")
    errors = [] if kind == "object" else [invalid(f"{path}.type", kind, "must be object")]
    rest = {k: v for k, v in s.items() if k not in ("type", "default")}
    if walk.props(rest) and set(walk.props(rest)) <= {"name", "generateName"}:
        del rest["properties"]  # name and generateName may be restricted, nothing else
    return errors + ([forbidden(path, _META_DETAIL)] if root and rest else [])


def _value_validation(s: Schema, path: str, skip_any_of: bool = False) -> list[FieldError]:
    errors: list[FieldError] = []
    first = as_dict((as_list(s.get("allOf")) or [{}])[0])
    skip_first = first.get("anyOf") == _INT_OR_STRING_ANY_OF
    for key in ("allOf", "oneOf") if skip_any_of else ("anyOf", "allOf", "oneOf"):
        for i, sub in enumerate(as_list(s.get(key))):
            skip = key == "allOf" and i == 0 and skip_first  # int-or-string's own anyOf
            errors += _nested(sub, f"{path}.{key}[{i}]", skip) if isinstance(sub, dict) else []
    if isinstance(s.get("not"), dict):
        errors += _nested(s["not"], f"{path}.not")
    try:
        re.compile(str(s.get("pattern") or ""))
    except re.error as exc:
        detail = f"must be a valid regular expression, but isn't: {exc}"
        errors.append(invalid(f"{path}.pattern", s["pattern"], detail))
    return errors


def _nested(s: Schema, path: str, skip_any_of: bool = False) -> list[FieldError]:
    errors = _value_validation(s, path, skip_any_of)
    if isinstance(s.get("items"), dict):
        errors += _nested(s["items"], f"{path}.items")
    for key, sub in walk.props(s).items():
        errors += _nested(sub, f"{path}.properties[{key}]")
    for key, how in _NOT_NESTED.items():
        if s.get(key) not in (False, None, "", [], {}):
            errors.append(forbidden(f"{path}.{key}", f"{how} to be structural"))
    if "metadata" in walk.props(s):
        detail = "must not be specified in a nested context"
        errors.append(forbidden(f"{path}.properties[metadata]", detail))
    return errors
