"""API errors as Kubernetes `Status` objects, with the reasons and codes a real API server uses."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any


class ApiError(Exception):
    """An error the API server answers with a `Status` body."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        """The body, keyed as Go's encoding/json writes a metav1.Status: in struct field order,
        without the empty `omitempty` fields (`metadata` is a struct, so always there)."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
        }
        if self.message:
            body["message"] = self.message
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:  # a pointer: an empty StatusDetails is still `{}`
            body["details"] = _in_struct_order(self.details, _DETAILS_FIELDS)
        if self.code:
            body["code"] = self.code
        return body


# metav1.StatusDetails and metav1.StatusCause, in struct order; every field is omitempty.
_DETAILS_FIELDS = ("name", "group", "kind", "uid", "causes", "retryAfterSeconds")
_CAUSE_FIELDS = ("reason", "message", "field")


def _in_struct_order(values: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    out = {k: values[k] for k in fields if values.get(k) not in (None, "", 0, [])}
    if "causes" in out:
        out["causes"] = [_in_struct_order(c, _CAUSE_FIELDS) for c in out["causes"]]
    return out


def _details(name: str | None, group: str, kind: str, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {"kind": kind}
    if name is not None:
        details["name"] = name
    if group:
        details["group"] = group
    details.update(extra)
    return details


def _qualified(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{_qualified(plural, group)} "{name}" not found',
        details=_details(name, group, plural),
    )


def resource_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{_qualified(plural, group)} "{name}" already exists',
        details=_details(name, group, plural),
    )


def conflict(plural: str, group: str, name: str, why: str | None = None) -> ApiError:
    why = why or (
        "the object has been modified; please apply your changes to the latest version "
        "and try again"
    )
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(plural, group)} "{name}": {why}',
        details=_details(name, group, plural),
    )


class FieldError:
    """One invalid field, as a real server reports it in `details.causes`."""

    def __init__(self, field: str, kind: str, detail: str = "", value: Any = None) -> None:
        # kind is the cause type: "FieldValueRequired", "FieldValueInvalid", ...
        self.field = field
        self.kind = kind
        self.detail = detail
        self.value = value

    _LABELS = {
        "FieldValueRequired": "Required value",
        "FieldValueInvalid": "Invalid value",
        "FieldValueNotSupported": "Unsupported value",
        "FieldValueForbidden": "Forbidden",
        "FieldValueTooLong": "Too long",
        "FieldValueDuplicate": "Duplicate value",
        "FieldValueNotFound": "Not found",
        "FieldValueTypeInvalid": "Invalid value",
        "FieldValueTooMany": "Too many",
    }
    # The kinds field.Error prints with their bad value (Required, Forbidden, TooLong omit it).
    _SHOWN = frozenset(
        {
            "FieldValueInvalid",
            "FieldValueNotSupported",
            "FieldValueTypeInvalid",
            "FieldValueTooMany",
            "FieldValueDuplicate",
            "FieldValueNotFound",
        }
    )

    def body(self) -> str:
        """field.Error.ErrorBody: the message without the field path."""
        out = self._LABELS.get(self.kind, "Invalid value")
        if self.kind in self._SHOWN:
            out += f": {_go_repr(self.value)}"
        if self.detail:
            out += f": {self.detail}"
        return out

    def text(self) -> str:
        """field.Error.Error: `<field>: <body>`."""
        return f"{self.field}: {self.body()}"

    def cause(self) -> dict[str, Any]:
        # errors.NewInvalid: StatusCause{Type: err.Type, Message: err.ErrorBody(), Field: err.Field}
        return {"reason": self.kind, "message": self.body(), "field": self.field}

    def __repr__(self) -> str:
        return f"FieldError({self.text()!r})"


def go_quote(text: str) -> str:
    """Go's %q (strconv.Quote): escapes, and printable characters as they are."""
    out: list[str] = []
    for ch in text:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


_GO_ESCAPES = {
    "\\": "\\\\", '"': '\\"', "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n",
    "\r": "\\r", "\t": "\\t", "\v": "\\v",
}  # fmt: skip


def go_sprint(value: Any) -> str:
    """A decoded JSON value as Go's %v (and %+v) prints it: maps sorted, nil as <nil>."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_sprint(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_sprint(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    return "<nil>" if value is None else str(value)


def go_type(value: Any) -> str:
    """%T of a decoded JSON value (unstructured content: int64, float64, string, ...)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    names = {int: "int64", float: "float64", str: "string", list: "[]interface {}"}
    return names.get(type(value), "map[string]interface {}")


def _go_float(value: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 64), as %v writes a float64: the shortest digits that
    read back, in exponent form when the exponent is under -4 or 6 and over."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0"
    # repr holds the shortest round-trip digits; Decimal splits them from the exponent.
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    exp = len(digits) - 1 + int(exponent)  # the power of ten of the first digit
    if exp < -4 or exp >= 6:
        tail = "." + digits[1:] if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{tail}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    if len(digits) <= exp + 1:
        return sign + digits + "0" * (exp + 1 - len(digits))
    return f"{sign}{digits[: exp + 1]}.{digits[exp + 1 :]}"


def _go_repr(value: Any) -> str:
    if isinstance(value, str):
        return go_quote(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return '"object"' if isinstance(value, dict) else '"array"'
    return str(value)


def invalid(kind: str, group: str, name: str, errors: list[FieldError]) -> ApiError:
    """errors.NewInvalid: 422 Invalid, like `Pod "x" is invalid: metadata.name: ...`.

    The message aggregates every error's `<field>: <body>` (ErrorList.ToAggregate: repeats
    dropped, brackets around two or more); each cause carries the field and the body apart.
    """
    texts = list(dict.fromkeys(e.text() for e in errors))
    qualified = f"{kind}.{group}" if group else kind
    message = f'{qualified} "{name}" is invalid'
    if texts:
        message += ": " + (texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]")
    return ApiError(
        422,
        "Invalid",
        message,
        details=_details(name, group, kind, causes=[e.cause() for e in errors]),
    )


class DecodeError(ApiError):
    """A body the server's decoder refuses. A create or update answers 400, as
    handlers.transformDecodeError words it; a PATCH answers 422 instead, naming the patched
    object (handlers/patch.go), so `cause` keeps the decoder's own words."""

    def __init__(self, kind: str, version: str, cause: str) -> None:
        message = f'{kind} in version "{version}" cannot be handled as a {kind}: {cause}'
        super().__init__(400, "BadRequest", message)
        self.cause = cause


def strict_decoding_error(unknown_fields: list[str]) -> str:
    """runtime.NewStrictDecodingError's text for the decoder's unknown fields."""
    return "strict decoding error: " + ", ".join(f'unknown field "{f}"' for f in unknown_fields)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed() -> ApiError:
    return ApiError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
    )


def unsupported_media_type(content_type: str, accepted: list[str]) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f'{", ".join(accepted)} (got "{content_type}")',
    )


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Gone", message)


def timeout(message: str) -> ApiError:
    return ApiError(504, "Timeout", message, details={"retryAfterSeconds": 1})


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", message)


# Reasons a fault-injection rule may name, by status code.
REASON_BY_CODE = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}
