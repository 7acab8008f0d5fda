"""CRD structural schemas as apiextensions-apiserver applies them: prune, default, validate.

The order is the real server's: unknown fields are pruned (and reported, for fieldValidation
Strict/Warn), non-nullable nulls without a default are dropped, defaults are applied, and only
then is the object validated. Keyword checks run through jsonschema (Draft 4 is the OpenAPI v3.0
dialect, with boolean exclusiveMinimum/Maximum); its errors are mapped to the field errors and
messages that kube-openapi and apiextensions produce.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

import rfc3339_validator
from jsonschema import Draft4Validator, ValidationError, validators

from kubesim.registry import deepjson
from kubesim.registry.errors import FieldError

Schema = dict[str, Any]
_META_FIELDS = ("apiVersion", "kind", "metadata")
_PRESERVE = "x-kubernetes-preserve-unknown-fields"
_EMBEDDED = "x-kubernetes-embedded-resource"
_INT_OR_STRING = "x-kubernetes-int-or-string"


@dataclass
class Admission:
    """The object as it would be stored, and what the server has to say about it."""

    obj: dict[str, Any]
    errors: list[FieldError] = field(default_factory=list)
    # Dotted paths of pruned fields ("spec.foo", "spec.items[0].bar"), sorted like the server.
    unknown_fields: list[str] = field(default_factory=list)


def admit_custom_object(schema: Schema | None, obj: dict[str, Any]) -> Admission:
    """Prune, default and validate a custom object against its version's openAPIV3Schema."""
    out = deepjson.deepcopy(obj)
    if schema is None:
        return Admission(out)
    pruned: list[str] = []
    _prune(out, schema, "", pruned, embedded=True)  # the root keeps apiVersion/kind/metadata
    _prune_nulls(out, schema)
    _default(out, schema)
    errors = [_field_error(e) for e in _Validator(_to_jsonschema(schema)).iter_errors(out)]
    errors += _validate_embedded(out, schema, "", root=True)
    return Admission(out, errors, sorted(pruned))


# -- pruning and defaulting (hand-written: no library knows structural pruning) -------------------


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _node(s: Schema | None, key: str) -> Schema | None:
    """A sub-schema (items, ...), if the node has one that is a schema."""
    sub = (s or {}).get(key)
    return sub if isinstance(sub, dict) else None


def _props(s: Any) -> dict[str, Schema]:
    """The properties of a schema node that are schemas (malformed entries are ignored)."""
    props = s.get("properties") if isinstance(s, dict) else None
    return (
        {k: v for k, v in props.items() if isinstance(v, dict)} if isinstance(props, dict) else {}
    )


def _sub(s: Schema | None, key: str) -> tuple[bool, Schema | None]:
    """(is the key known, its schema): properties first, then additionalProperties."""
    props = _props(s)
    if key in props:
        return True, props[key]
    extra = (s or {}).get("additionalProperties")
    # `additionalProperties: true` knows every key but has no schema below it.
    return extra is not None, extra if isinstance(extra, dict) else None


def _prune(
    x: Any,
    s: Schema | None,
    path: str,
    pruned: list[str],
    embedded: bool = False,
    preserve: bool = False,
) -> None:
    # Below x-kubernetes-preserve-unknown-fields unknown keys stay, in array items too; known keys
    # keep their own schema.
    preserve = preserve or bool(s and s.get(_PRESERVE))
    if s is None and preserve:
        return  # nothing below can be pruned (and free-form data may nest 10,000 levels)
    if isinstance(x, dict):
        embedded = embedded or bool(s and s.get(_EMBEDDED))
        for key in list(x):
            known, sub = _sub(s, key)
            if embedded and key in _META_FIELDS:
                continue
            if known:
                _prune(x[key], sub, _join(path, key), pruned)
            elif not preserve:
                pruned.append(_join(path, key))
                del x[key]
    elif isinstance(x, list):
        for i, v in enumerate(x):
            _prune(v, _node(s, "items"), f"{path}[{i}]", pruned, preserve=preserve)


def _prune_nulls(x: Any, s: Schema | None) -> None:
    """Nulls go where the schema neither allows them (nullable) nor defaults them."""
    if s is None:
        return  # no schema, no rule: nothing below is dropped (free-form data may nest deeply)
    if isinstance(x, dict):
        for key in list(x):
            sub = _sub(s, key)[1]
            droppable = x[key] is None and sub is not None and not sub.get("nullable")
            if droppable and (sub or {}).get("default") is None:
                del x[key]
            else:
                _prune_nulls(x[key], sub)
    elif isinstance(x, list):
        for v in x:
            _prune_nulls(v, _node(s, "items"))


def _defaults_null(s: Schema | None) -> bool:
    """A null the schema replaces with its default."""
    return s is not None and not s.get("nullable") and s.get("default") is not None


def _default(x: Any, s: Schema | None) -> None:
    if s is None:
        return
    if isinstance(x, dict):
        for key, prop in _props(s).items():
            if key not in x and prop.get("default") is not None:
                x[key] = copy.deepcopy(prop["default"])
        for key in x:
            sub = _sub(s, key)[1]
            if x[key] is None and sub is not None and _defaults_null(sub):
                x[key] = copy.deepcopy(sub["default"])
            _default(x[key], sub)
    elif isinstance(x, list):
        items = _node(s, "items")
        for i in range(len(x)):
            if x[i] is None and isinstance(items, dict) and _defaults_null(items):
                x[i] = copy.deepcopy(items["default"])
            _default(x[i], items)


# -- validation through jsonschema ---------------------------------------------------------------

# The formats apiextensions keeps; any other (int32, float, ...) is stripped from the schema.
_FORMATS = frozenset(
    ["bsonobjectid", "uri", "email", "hostname", "ipv4", "ipv6", "cidr", "mac", "uuid", "uuid3",
     "uuid4", "uuid5", "isbn", "isbn10", "isbn13", "creditcard", "ssn", "hexcolor", "rgbcolor",
     "byte", "password", "date", "duration", "datetime"]
)  # fmt: skip
# The keywords validated and the JSON types they take, in the order kube-openapi runs its
# validators (so errors come out in its order). A keyword of another type is ignored: the real
# server would not have decoded such a CRD at all.
_NUMBER, _COUNT = (int, float), (int,)
_KEYWORDS: dict[str, tuple[type, ...]] = {
    "type": (str,), "nullable": (bool,), "allOf": (list,), "anyOf": (list,), "oneOf": (list,),
    "not": (dict,), "maxLength": _COUNT, "minLength": _COUNT, "pattern": (str,), "format": (str,),
    "multipleOf": _NUMBER, "maximum": _NUMBER, "exclusiveMaximum": (bool,), "minimum": _NUMBER,
    "exclusiveMinimum": (bool,), "items": (dict,), "maxItems": _COUNT, "minItems": _COUNT,
    "uniqueItems": (bool,), "enum": (list,), "maxProperties": _COUNT, "minProperties": _COUNT,
    "additionalProperties": (dict, bool), "properties": (dict,), "required": (list,),
}  # fmt: skip
_UUID = re.compile(r"(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_IP_FORMATS: dict[str, Callable[[str], object]] = {
    "ipv4": ipaddress.IPv4Address,
    "ipv6": ipaddress.IPv6Address,
    "cidr": ipaddress.ip_network,
}
_PATH, _QUOTED_PATH = "\x00", "\x01"  # placeholders: the instance path is only known afterwards


class _K8sError(ValidationError):
    """An error already in Kubernetes terms; its detail may hold path placeholders."""

    def __init__(self, kind: str, value: Any, detail: str, field_name: str | None = None):
        super().__init__(detail)
        self.kind, self.value, self.field_name = kind, value, field_name


def _to_jsonschema(node: Any) -> Any:
    """The node as jsonschema sees it: known keywords only, int-or-string as a type list."""
    if not isinstance(node, dict):
        return node
    out: Schema = {}
    for key, types in _KEYWORDS.items():
        value: Any = node.get(key)
        if not _has_type(value, types) or (key == "pattern" and not _compiles(value)):
            continue
        if key == "properties":
            value = {k: _to_jsonschema(v) for k, v in _props(node).items()}
        elif key in ("items", "additionalProperties", "not"):
            value = _to_jsonschema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            value = [_to_jsonschema(v) for v in value if isinstance(v, dict)]
        elif key == "required":
            value = [str(v) for v in value]
        elif key == "format" and value.replace("-", "") not in _FORMATS:
            continue
        out[key] = value
    if node.get(_INT_OR_STRING):
        out["type"] = ["integer", "string"]
    return out


def _has_type(value: Any, types: tuple[type, ...]) -> bool:
    return isinstance(value, types) and not (isinstance(value, bool) and bool not in types)


def _compiles(pattern: str) -> bool:
    try:
        return bool(re.compile(pattern) or True)
    except re.error:
        return False


def _json_type(value: Any) -> str:
    kinds: list[tuple[type, str]] = [(bool, "boolean"), (int, "integer"), (float, "number")]
    kinds += [(str, "string"), (list, "array"), (dict, "object")]
    return next((name for t, name in kinds if isinstance(value, t)), "null")


def _kw_type(validator: Any, types: Any, instance: Any, schema: Schema) -> Iterator[_K8sError]:
    wanted = types if isinstance(types, list) else [types]
    actual = _json_type(instance)
    ok = (
        actual in wanted
        or (actual == "null" and schema.get("nullable"))
        or (actual == "integer" and "number" in wanted)
        or (actual == "number" and "integer" in wanted and float(instance).is_integer())
    )
    if not ok:
        detail = f'{_PATH} in body must be of type {",".join(wanted)}: "{actual}"'
        yield _K8sError("FieldValueTypeInvalid", actual, detail)


def _kw_required(validator: Any, keys: list[str], instance: Any, schema: Any) -> Iterator[Any]:
    for key in keys if isinstance(instance, dict) else ():
        if key not in instance:
            yield _K8sError("FieldValueRequired", None, "", field_name=key)


def _valid_format(fmt: str, value: str) -> bool:
    fmt = fmt.replace("-", "")
    try:
        if fmt == "date":
            return bool(_DATE.fullmatch(value) and datetime.date.fromisoformat(value))
        if fmt == "datetime":  # kube-openapi lower-cases first, so "t" and "z" pass too
            return rfc3339_validator.validate_rfc3339(value.upper())
        if fmt == "byte":
            return bool(base64.b64decode(value, validate=True) or True)
        if fmt.startswith("uuid"):
            return bool(_UUID.fullmatch(value))
        if fmt in _IP_FORMATS:
            return bool(_IP_FORMATS[fmt](value))
    except (ValueError, binascii.Error):
        return False
    return True  # the other formats are accepted loosely


def _kw_format(validator: Any, fmt: str, instance: Any, schema: Any) -> Iterator[_K8sError]:
    if isinstance(instance, str) and not _valid_format(fmt, instance):
        detail = f"{_PATH} in body must be of type {fmt}: {_quote(instance)}"
        yield _K8sError("FieldValueTypeInvalid", instance, detail)


def _composite(message: str) -> _K8sError:
    # kube-openapi reports these as plain errors, which apiextensions files under "<nil>".
    return _K8sError("FieldValueInvalid", "", f"{_QUOTED_PATH} {message}", field_name="<nil>")


def _alternatives(validator: Any, subs: list[Any], instance: Any) -> list[list[Any]]:
    if instance is None:  # kube-openapi checks only type and enum on null
        return []
    return [list(validator.descend(instance, sub, schema_path=i)) for i, sub in enumerate(subs)]


def _closest(results: list[list[Any]]) -> list[Any]:
    """The errors of the alternative that matched best (kube-openapi's MatchCount): one of the
    right type first, then the one with the fewest errors."""
    return min(results, key=lambda errs: (sum(e.validator == "type" for e in errs), len(errs)))


def _kw_all_of(validator: Any, subs: list[Any], instance: Any, schema: Any) -> Iterator[Any]:
    results = _alternatives(validator, subs, instance)
    for errs in results:
        yield from errs
    failed = sum(bool(errs) for errs in results)
    if failed:
        suffix = ". None validated" if failed == len(results) else ""
        yield _composite(f"must validate all the schemas (allOf){suffix}")


def _kw_any_of(validator: Any, subs: list[Any], instance: Any, schema: Any) -> Iterator[Any]:
    results = _alternatives(validator, subs, instance)
    if results and all(results):
        yield _composite("must validate at least one schema (anyOf)")
        yield from _closest(results)


def _kw_one_of(validator: Any, subs: list[Any], instance: Any, schema: Any) -> Iterator[Any]:
    results = _alternatives(validator, subs, instance)
    valid = sum(not errs for errs in results)
    if results and valid != 1:
        found = f"Found {valid} valid alternatives" if valid else "Found none valid"
        yield _composite(f"must validate one and only one schema (oneOf). {found}")
        yield from [] if valid else _closest(results)


def _kw_not(validator: Any, sub: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if instance is not None and not list(validator.descend(instance, sub)):
        yield _composite("must not validate the schema (not)")


_Validator = validators.extend(
    Draft4Validator,
    validators={
        "type": _kw_type,
        "required": _kw_required,
        "format": _kw_format,
        "allOf": _kw_all_of,
        "anyOf": _kw_any_of,
        "oneOf": _kw_one_of,
        "not": _kw_not,
    },
)


def _dotted(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out = f"{out}[{part}]" if isinstance(part, int) else _join(out, str(part))
    return out


def _field_error(err: ValidationError) -> FieldError:
    path = _dotted(err.absolute_path)
    name = path or "<nil>"  # an error on the root itself has no field path
    if isinstance(err, _K8sError):
        detail = err.message.replace(_PATH, path).replace(_QUOTED_PATH, _quote(path))
        if err.field_name == "<nil>":
            return FieldError("<nil>", err.kind, detail, err.value)
        if err.field_name is not None:
            return FieldError(_join(path, err.field_name), err.kind, detail)
        return FieldError(name, err.kind, detail, err.value)
    keyword, limit, schema = err.validator, cast(Any, err.validator_value), err.schema
    value = cast(Any, err.instance)
    size = len(value) if isinstance(value, (list, dict, str)) else value
    if keyword == "enum":
        allowed = ", ".join(_quote(v if isinstance(v, str) else _compact(v)) for v in limit)
        return FieldError(name, "FieldValueNotSupported", f"supported values: {allowed}", value)
    if keyword == "maxLength":
        return FieldError(name, "FieldValueTooLong", f"may not be longer than {limit}", value)
    if keyword in ("maxItems", "maxProperties"):
        return FieldError(name, "FieldValueTooMany", f"must have at most {limit} items", size)
    texts = {
        "minLength": (f"should be at least {limit} chars long", value),
        "pattern": (f"should match '{limit}'", value),
        "multipleOf": (f"should be a multiple of {_go_number(limit)}", value),
        "minItems": (f"should have at least {limit} items", size),
        "uniqueItems": ("shouldn't contain duplicates", ""),
        "minProperties": (f"should have at least {limit} properties", size),
    }
    if keyword in ("maximum", "minimum") and isinstance(schema, dict):
        relation = "less than" if keyword == "maximum" else "greater than"
        exclusive = schema.get("exclusiveMaximum" if keyword == "maximum" else "exclusiveMinimum")
        texts[keyword] = (f"should be {relation}{'' if exclusive else ' or equal to'} "
                          f"{_go_number(limit)}", value)  # fmt: skip
    if keyword == "additionalProperties" and isinstance(schema, dict):  # only `false` fails
        extra = sorted(set(value) - set(_props(schema)))[0]
        detail = f"{_join(path, extra)} in body is a forbidden property"
        return FieldError(name, "FieldValueInvalid", detail, extra)
    text, bad = texts.get(str(keyword), (err.message, value))
    return FieldError(name, "FieldValueInvalid", f"{path} in body {text}", bad)


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))  # as Go's json.Marshal writes it


def _go_number(value: Any) -> str:
    """A schema limit (a float64 in Go) as %v prints it: 10, 0.5, 1e+06."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    if not isinstance(exponent, int) or digits == (0,):
        return "0"
    text, point = "".join(map(str, digits)), len(digits) + exponent
    if not -4 <= point - 1 < 6:  # strconv's shortest 'g' switches to an exponent here
        out = f"{text[0]}{'.' if len(text) > 1 else ''}{text[1:]}e{point - 1:+03d}"
    elif point <= 0:
        out = "0." + "0" * -point + text
    else:
        out = (text + "0" * point)[:point] + ("." + text[point:] if len(text) > point else "")
    return ("-" if sign else "") + out


def _validate_embedded(x: Any, s: Schema | None, path: str, root: bool = False) -> list[FieldError]:
    """Embedded resources below the root must name their apiVersion and kind."""
    errors: list[FieldError] = []
    if isinstance(x, dict) and s is not None:
        for key in ("apiVersion", "kind") if s.get(_EMBEDDED) and not root else ():
            if not x.get(key):
                errors.append(FieldError(_join(path, key), "FieldValueRequired"))
            elif not isinstance(x[key], str):
                errors.append(_bad(_join(path, key), x[key], "must be a string"))
        for key, value in x.items():
            known_property = key in _props(s)
            sub_path = _join(path, key) if known_property else f"{path}[{key}]"
            errors += _validate_embedded(value, _sub(s, key)[1], sub_path)
    elif isinstance(x, list) and s is not None:
        for i, v in enumerate(x):
            errors += _validate_embedded(v, _node(s, "items"), f"{path}[{i}]")
    return errors


# -- CustomResourceDefinition validation (apiextensions.k8s.io/v1) --------------------------------

_TYPES = ("array", "boolean", "integer", "number", "object", "string")
_DNS1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
_DNS1123_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_UNSUPPORTED = ("id", "additionalItems", "patternProperties", "definitions", "dependencies", "$ref")
# What a node inside allOf/anyOf/oneOf/not may not carry, with the server's wording.
_NOT_NESTED = {
    "type": "must be empty", "additionalProperties": "must be undefined",
    "default": "must be undefined", "title": "must be empty", "description": "must be empty",
    "nullable": "must be false", "externalDocs": "must be undefined", _PRESERVE: "must be false",
    _EMBEDDED: "must be false", _INT_OR_STRING: "must be false",
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


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dns_label(value: str) -> str:
    errs = ["must be no more than 63 characters"] if len(value) > 63 else []
    return ",".join(errs + ([] if _DNS1035.fullmatch(value) else [_DNS1035_MSG]))


def _dns_subdomain(value: str) -> str:
    errs = ["must be no more than 253 characters"] if len(value) > 253 else []
    return ",".join(errs + ([] if _DNS1123.fullmatch(value) else [_DNS1123_MSG]))


def _required(path: str, detail: str = "") -> FieldError:
    return FieldError(path, "FieldValueRequired", detail)


def _forbidden(path: str, detail: str) -> FieldError:
    return FieldError(path, "FieldValueForbidden", detail)


def _bad(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, "FieldValueInvalid", detail, value)


def _unsupported(path: str, value: Any, allowed: Iterable[str]) -> FieldError:
    listed = ", ".join(f'"{a}"' for a in allowed)
    return FieldError(path, "FieldValueNotSupported", f"supported values: {listed}", value)


def validate_crd(crd: dict[str, Any]) -> list[FieldError]:
    """The checks the server makes on a v1 CustomResourceDefinition that matter for serving it."""
    spec = _dict(crd.get("spec"))
    names: dict[str, Any] = {
        k: v if isinstance(v, list) else str(v or "") for k, v in _dict(spec.get("names")).items()
    }
    kind = str(names.get("kind") or "")
    # v1 defaulting fills these in before validation runs.
    names["singular"] = names.get("singular") or kind.lower()
    names["listKind"] = names.get("listKind") or (kind + "List" if kind else "")
    group, plural = str(spec.get("group") or ""), names.get("plural") or ""
    errors: list[FieldError] = []
    name = _dict(crd.get("metadata")).get("name")
    if name and name != f"{plural}.{group}":
        errors.append(_bad("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    if not group:
        errors.append(_required("spec.group"))
    elif _dns_subdomain(group) or "." not in group:
        detail = _dns_subdomain(group) or "should be a domain with at least one dot"
        errors.append(_bad("spec.group", group, detail))
    scope = str(spec.get("scope") or "")
    if scope not in ("Cluster", "Namespaced"):
        errors.append(_unsupported("spec.scope", scope, ["Cluster", "Namespaced"]) if scope
                      else _required("spec.scope"))  # fmt: skip
    versions = [_dict(v) for v in _list(spec.get("versions"))]
    schemas = [_dict(v.get("schema")).get("openAPIV3Schema") for v in versions]
    for i, root in enumerate(schemas):
        if not root:
            errors.append(
                _required(f"spec.versions[{i}].schema.openAPIV3Schema", "schemas are required")
            )
    for i, (version, root) in enumerate(zip(versions, schemas, strict=True)):
        vname = str(version.get("name") or "")
        if _dns_label(vname):
            errors.append(_bad(f"spec.versions[{i}].name", vname, _dns_label(vname)))
        if isinstance(root, dict):
            errors += _validate_openapi(root, f"spec.versions[{i}].schema.openAPIV3Schema")
    if len({str(v.get("name")) for v in versions}) != len(versions):
        errors.append(_bad("spec.versions", versions, "must contain unique version names"))
    if sum(bool(v.get("storage")) for v in versions) != 1:
        detail = "must have exactly one version marked as storage version"
        errors.append(_bad("spec.versions", versions, detail))
    errors += [
        _required(f"spec.names.{k}")
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
            errors.append(_bad(f"spec.names.{key}", value, prefix + problem))
    for key in ("shortNames", "categories"):
        for i, value in enumerate(_list(names.get(key))):
            if _dns_label(str(value)):
                errors.append(_bad(f"spec.names.{key}[{i}]", value, _dns_label(str(value))))
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        detail = "kind and listKind may not be the same"
        errors.append(_bad("spec.names.listKind", names["listKind"], detail))
    return errors


def _validate_openapi(root: Schema, path: str) -> list[FieldError]:
    errors = [_forbidden(f"{path}.nullable", "nullable cannot be true at the root")]
    errors = (errors if root.get("nullable") else []) + _openapi_node(root, path)
    # The structural checks come sorted by message, as the server sorts them.
    return errors + sorted(_structural(root, path, "root"), key=FieldError.text)


def _children(s: Schema, path: str) -> Iterator[tuple[str, Schema]]:
    for key, sub in _props(s).items():
        yield f"{path}.properties[{key}]", sub
    for key in ("additionalProperties", "items", "not"):
        if isinstance(s.get(key), dict):
            yield f"{path}.{key}", s[key]
    for key in ("allOf", "oneOf", "anyOf"):
        for i, sub in enumerate(_list(s.get(key))):
            yield f"{path}.{key}[{i}]", sub


def _openapi_node(s: Schema, path: str) -> list[FieldError]:
    """Keywords a CRD schema may not use anywhere."""
    kind, extra = s.get("type"), s.get("additionalProperties")
    errors = [_unsupported(f"{path}.type", kind, _TYPES)] if kind and kind not in _TYPES else []
    errors += [_forbidden(f"{path}.{k}", f"{k} is not supported") for k in _UNSUPPORTED if k in s]
    checks = (
        (kind == "null", "type", "type cannot be set to null, use nullable as an alternative"),
        (isinstance(s.get("items"), list), "items",
         "items must be a schema object and not an array"),
        (s.get("uniqueItems") is True, "uniqueItems",
         "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"),
        (bool(s.get("properties")) and (extra is False or isinstance(extra, dict)),
         "additionalProperties", "additionalProperties and properties are mutual exclusive"),
    )  # fmt: skip
    errors += [_forbidden(f"{path}.{key}", detail) for failed, key, detail in checks if failed]
    if s.get(_PRESERVE) is False:
        errors.append(_bad(f"{path}.{_PRESERVE}", False, "must be true or undefined"))
    for sub_path, sub in _children(s, path):
        errors += _openapi_node(sub, sub_path) if isinstance(sub, dict) else []
    return errors


def _structural(s: Schema, path: str, level: str) -> list[FieldError]:
    """ValidateStructural: every node says what it is, outside of allOf/anyOf/oneOf/not."""
    kind, embedded = s.get("type") or "", bool(s.get(_EMBEDDED))
    items, extra, props = s.get("items"), s.get("additionalProperties"), _props(s)
    errors = (
        [_required(f"{path}.items", "must be specified")]
        if kind == "array" and items is None
        else []
    )
    subs = [(f"{path}.properties[{k}]", v, "field") for k, v in props.items()]
    subs += [(f"{path}.items", items, "item")] if isinstance(items, dict) else []
    subs += [(f"{path}.additionalProperties", extra, "field")] if isinstance(extra, dict) else []
    for sub_path, sub, sub_level in subs:
        errors += _structural(sub, sub_path, sub_level)
    if extra is not None and level == "root":
        errors.append(_forbidden(f"{path}.additionalProperties", "must not be used at the root"))
    for key in (_PRESERVE, _EMBEDDED) if s.get(_INT_OR_STRING) else ():
        if s.get(key):
            errors.append(
                _bad(f"{path}.{key}", True, "must be false if x-kubernetes-int-or-string is true")
            )
    errors += _value_validation(s, path, s.get("anyOf") == _INT_OR_STRING_ANY_OF)
    if embedded and kind != "object":
        detail = "must be object if x-kubernetes-embedded-resource is true"
        errors.append(
            _bad(f"{path}.type", kind, detail) if kind else _required(f"{path}.type", detail)
        )
    elif not kind and not s.get(_INT_OR_STRING) and not s.get(_PRESERVE):
        errors.append(_required(f"{path}.type", _EMPTY_TYPE[level]))
    if embedded and extra is not None:
        detail = "must not be used if x-kubernetes-embedded-resource is set"
        errors.append(_forbidden(f"{path}.additionalProperties", detail))
    if level == "root" and kind and kind != "object":
        errors.append(_bad(f"{path}.type", kind, "must be object at the root"))
    for key in ("kind", "apiVersion") if level == "root" or embedded else ():
        if key in props and props[key].get("type") != "string":
            errors.append(
                _bad(f"{path}.properties[{key}].type", props[key].get("type", ""), "must be string")
            )
    if "metadata" in props and (level == "root" or embedded):
        errors += _metadata_schema(
            props["metadata"], f"{path}.properties[metadata]", level == "root"
        )
    if embedded and not s.get(_PRESERVE) and not props:
        detail = "must not be empty if x-kubernetes-embedded-resource is true without "
        errors.append(
            _required(f"{path}.properties", detail + "x-kubernetes-preserve-unknown-fields")
        )
    return errors


def _metadata_schema(s: Schema, path: str, root: bool) -> list[FieldError]:
    kind = s.get("type", "")
    errors = [] if kind == "object" else [_bad(f"{path}.type", kind, "must be object")]
    rest = {k: v for k, v in s.items() if k not in ("type", "default")}
    if _props(rest) and set(_props(rest)) <= {"name", "generateName"}:
        del rest["properties"]  # name and generateName may be restricted, nothing else
    return errors + ([_forbidden(path, _META_DETAIL)] if root and rest else [])


def _value_validation(s: Schema, path: str, skip_any_of: bool = False) -> list[FieldError]:
    errors: list[FieldError] = []
    first = _dict((_list(s.get("allOf")) or [{}])[0])
    skip_first = first.get("anyOf") == _INT_OR_STRING_ANY_OF
    for key in ("allOf", "oneOf") if skip_any_of else ("anyOf", "allOf", "oneOf"):
        for i, sub in enumerate(_list(s.get(key))):
            skip = key == "allOf" and i == 0 and skip_first  # int-or-string's own anyOf
            errors += _nested(sub, f"{path}.{key}[{i}]", skip) if isinstance(sub, dict) else []
    if isinstance(s.get("not"), dict):
        errors += _nested(s["not"], f"{path}.not")
    try:
        re.compile(str(s.get("pattern") or ""))
    except re.error as exc:
        detail = f"must be a valid regular expression, but isn't: {exc}"
        errors.append(_bad(f"{path}.pattern", s["pattern"], detail))
    return errors


def _nested(s: Schema, path: str, skip_any_of: bool = False) -> list[FieldError]:
    errors = _value_validation(s, path, skip_any_of)
    if isinstance(s.get("items"), dict):
        errors += _nested(s["items"], f"{path}.items")
    for key, sub in _props(s).items():
        errors += _nested(sub, f"{path}.properties[{key}]")
    for key, how in _NOT_NESTED.items():
        if s.get(key) not in (False, None, "", [], {}):
            errors.append(_forbidden(f"{path}.{key}", f"{how} to be structural"))
    if "metadata" in _props(s):
        detail = "must not be specified in a nested context"
        errors.append(_forbidden(f"{path}.properties[metadata]", detail))
    return errors
