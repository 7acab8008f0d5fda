"""Validation of a custom object against its CRD schema, with the server's field errors.

Keyword checks run through jsonschema (Draft 4 is the OpenAPI v3.0 dialect, with boolean
exclusiveMinimum/Maximum); its errors are mapped to the field errors and messages that
kube-openapi and apiextensions produce. The object is validated after pruning and defaulting.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any, cast

import rfc3339_validator
from jsonschema import Draft4Validator, ValidationError, validators

from kubesim.registry import schema_walk as walk
from kubesim.registry.errors import FieldError
from kubesim.registry.field import invalid, required
from kubesim.registry.schema_walk import Schema


def validation_errors(obj: Any, schema: Schema) -> list[FieldError]:
    """The keyword checks' errors, then those of embedded resources below the root."""
    errors = [_field_error(e) for e in _Validator(_to_jsonschema(schema)).iter_errors(obj)]
    return errors + _validate_embedded(obj, schema, "", root=True)


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
            value = {k: _to_jsonschema(v) for k, v in walk.props(node).items()}
        elif key in ("items", "additionalProperties", "not"):
            value = _to_jsonschema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            value = [_to_jsonschema(v) for v in value if isinstance(v, dict)]
        elif key == "required":
            value = [str(v) for v in value]
        elif key == "format" and value.replace("-", "") not in _FORMATS:
            continue
        out[key] = value
    if node.get(walk.INT_OR_STRING):
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
            return bool(rfc3339_validator.validate_rfc3339(value.upper()))
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


# jsonschema's extend is untyped; the alias gives mypy a signature to call.
_extend: Callable[..., type[Draft4Validator]] = validators.extend
_Validator = _extend(
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
        out = f"{out}[{part}]" if isinstance(part, int) else walk.join(out, str(part))
    return out


def _field_error(err: ValidationError) -> FieldError:
    path = _dotted(err.absolute_path)
    name = path or "<nil>"  # an error on the root itself has no field path
    if isinstance(err, _K8sError):
        detail = err.message.replace(_PATH, path).replace(_QUOTED_PATH, _quote(path))
        if err.field_name == "<nil>":
            return FieldError("<nil>", err.kind, detail, err.value)
        if err.field_name is not None:
            return FieldError(walk.join(path, err.field_name), err.kind, detail)
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
        extra = sorted(set(value) - set(walk.props(schema)))[0]
        detail = f"{walk.join(path, extra)} in body is a forbidden property"
        return invalid(name, extra, detail)
    text, bad = texts.get(str(keyword), (err.message, value))
    return invalid(name, bad, f"{path} in body {text}")


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
        for key in ("apiVersion", "kind") if s.get(walk.EMBEDDED) and not root else ():
            if not x.get(key):
                errors.append(required(walk.join(path, key)))
            elif not isinstance(x[key], str):
                errors.append(invalid(walk.join(path, key), x[key], "must be a string"))
        for key, value in x.items():
            known_property = key in walk.props(s)
            sub_path = walk.join(path, key) if known_property else f"{path}[{key}]"
            errors += _validate_embedded(value, walk.sub(s, key)[1], sub_path)
    elif isinstance(x, list) and s is not None:
        for i, v in enumerate(x):
            errors += _validate_embedded(v, walk.node(s, "items"), f"{path}[{i}]")
    return errors
