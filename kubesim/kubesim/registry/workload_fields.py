"""Field rules the workload kinds share: what the typed decoder makes of their integer fields,
int-or-percent values (maxSurge, maxUnavailable), and the status forms a controller writes.
"""

from __future__ import annotations

from typing import Any

from kubesim.registry import gotext
from kubesim.registry.errors import FieldError
from kubesim.registry.field import invalid
from kubesim.registry.names import regex_error
from kubesim.registry.pod_template import nonnegative
from kubesim.registry.strategy import Obj, as_dict

INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_PERCENT_MSG = "a valid percent string must be a numeric string followed by an ending '%'"


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array"


def check_ints(owner: Any, struct: str, path: str, fields: dict[str, str]) -> None:
    """Raise ValueError, worded as encoding/json's, for an integer field of `owner` (a Go
    struct `struct` at JSON path `path`) that does not decode; null is left for nil."""
    if not isinstance(owner, dict):
        return
    for name, go_type in fields.items():
        value = owner.get(name)
        if value is None:
            continue
        field = f"{path}.{name}" if path else name
        where = f"into Go struct field {struct}.{field} of type {go_type}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"json: cannot unmarshal {_json_kind(value)} {where}")
        low, high = INT_RANGES[go_type]
        if isinstance(value, float) or not low <= value <= high:
            raise ValueError(f"json: cannot unmarshal number {value!r} {where}")


def check_objects(owner: Any, struct: str, path: str, fields: dict[str, str]) -> None:
    """Raise ValueError, worded as encoding/json's, for a member of `owner` that must decode
    into a Go struct (`fields`: name -> its Go type) but is not an object (null is nil)."""
    if not isinstance(owner, dict):
        return
    for name, go_type in fields.items():
        value = owner.get(name)
        if value is None or isinstance(value, dict):
            continue
        kind = "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else (
            _json_kind(value))  # fmt: skip
        field = f"{path}.{name}" if path else name
        raise ValueError(
            f"json: cannot unmarshal {kind} into Go struct field {struct}.{field} of type {go_type}"
        )


def _percent(value: Any) -> int | None:
    """getPercentValue: the number of a valid percent string, else None."""
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        return int(value[:-1])
    return None


def int_or_percent_value(value: Any) -> int:
    """getIntOrPercentValue (an invalid string counts as 0, as IntValue() parses it)."""
    pct = _percent(value)
    if pct is not None:
        return pct
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value))
    except ValueError:
        return 0


def positive_int_or_percent_errors(value: Any, path: str) -> list[FieldError]:
    """ValidatePositiveIntOrPercent."""
    if value is None:
        value = 0  # a nil IntOrString is the zero integer
    if isinstance(value, str):
        if _percent(value) is None:
            msg = regex_error(_PERCENT_MSG, "[0-9]+%", "1%", "93%")
            return [invalid(path, gotext.int_or_string(value), msg)]
        return []
    return nonnegative(value, path)


def not_over_100_percent(value: Any, path: str) -> list[FieldError]:
    pct = _percent(value)
    if pct is None or pct <= 100:
        return []
    return [invalid(path, gotext.int_or_string(value), "must not be greater than 100%")]


def scaled_value(value: Any, total: int, *, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    pct = _percent(value)
    if pct is None:
        return int_or_percent_value(value)
    scaled = pct * total
    return -(-scaled // 100) if round_up else scaled // 100


def compact(status: Obj, required: tuple[str, ...]) -> Obj:
    """A status as the Go type serialises it: omitempty members that are zero dropped."""
    return {
        k: v
        for k, v in status.items()
        if k in required or v not in (0, None, "", [], {}) or isinstance(v, bool)
    }


def spec_of(obj: Obj) -> Obj:
    return as_dict(obj.get("spec"))
