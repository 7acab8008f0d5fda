"""Field-error constructors, as Go's k8s.io/apimachinery/pkg/util/validation/field builds them,
and the small checks every validation is made of (immutable fields, enums, port numbers).

`FieldError` itself lives in errors.py, which renders it; every module that reports a field
error builds it here, so a kind's wording is written once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from kubesim.registry.errors import FieldError
from kubesim.registry.strategy import same

# field.TooLong's detail before Kubernetes 1.31 (newer servers say "may not be more than").
TOO_LONG_DETAIL = "must have at most {} bytes"
PORT_RANGE_ERROR = "must be between 1 and 65535, inclusive"
PROTOCOLS = ("SCTP", "TCP", "UDP")  # core.Protocol, in the order the messages list them


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(path, "FieldValueRequired", detail)


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, "FieldValueInvalid", detail, value)


def invalid_each(path: str, value: Any, messages: Iterable[str]) -> list[FieldError]:
    """One field.Invalid per message, as the upstream validators report a string check's list."""
    return [invalid(path, value, m) for m in messages]


def type_invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, "FieldValueTypeInvalid", detail, value)


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(path, "FieldValueForbidden", detail)


def not_supported(path: str, value: Any, supported: Iterable[str]) -> FieldError:
    detail = "supported values: " + ", ".join(f'"{v}"' for v in supported)
    return FieldError(path, "FieldValueNotSupported", detail, value)


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError(path, "FieldValueDuplicate", "", value)


def not_found(path: str, value: Any) -> FieldError:
    return FieldError(path, "FieldValueNotFound", "", value)


def too_long(path: str, limit: int) -> FieldError:
    return FieldError(path, "FieldValueTooLong", TOO_LONG_DETAIL.format(limit))


def immutable(path: str, new: Any, old: Any) -> list[FieldError]:
    return [] if same(new, old) else [invalid(path, new, "field is immutable")]


def enum(path: str, value: Any, supported: Sequence[str]) -> list[FieldError]:
    """A required value out of a fixed set (the real messages list the set in Go's order)."""
    if value in (None, ""):
        return [required(path)]
    return [] if value in supported else [not_supported(path, value, supported)]


def port_number_errors(path: str, value: Any) -> list[FieldError]:
    """validation.IsValidPortNum, on a field."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return []
    return [invalid(path, value, PORT_RANGE_ERROR)]
