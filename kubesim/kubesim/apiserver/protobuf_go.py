"""The JSON form of the apimachinery types whose Go type writes its own JSON (MarshalJSON).

A protobuf body is decoded into Go values, which the server then writes as JSON; for most
messages that is their struct's fields (protobuf_decode.py), but these few types have their own
encodings: metav1.Time and MicroTime (RFC 3339 strings, null when zero), metav1.Duration (Go's
`1h2m3s`), resource.Quantity (its canonical string), intstr.IntOrString (a number or a string),
runtime.RawExtension, metav1.FieldsV1 and apiextensions JSON (the raw JSON they hold), the
apiextensions JSONSchemaPropsOr* unions, and the named slices protobuf wraps in a message
(`+protobuf.nullable`: ExtraValue, Verbs). Each converter takes the message's decoded fields by
number and whether the message was empty on the wire.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubesim.registry import deepjson
from kubesim.registry.quantities import QuantityError, canonical_quantity

# time.Time{} (year 1), as Unix seconds: metav1.Time writes it as null.
ZERO_TIME_SECONDS = -62_135_596_800
_NANOS = 1_000_000_000


class GoValueError(ValueError):
    """A value the Go decoder (or encoder) refuses, worded as it words it."""


def _civil(days: int) -> tuple[int, int, int]:
    """Year, month, day of a day count from 1970-01-01 (proleptic Gregorian, any year)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def rfc3339(seconds: int, micros: int | None = None) -> str:
    """time.RFC3339 (or RFC3339Micro with `micros`) of a UTC instant, as Go formats it."""
    days, rest = divmod(seconds, 86_400)
    year, month, day = _civil(days)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    # Go's appendInt pads the year to 4 digits and signs it when negative.
    year_text = f"-{-year:04d}" if year < 0 else f"{year:04d}"
    fraction = f".{micros:06d}" if micros is not None else ""
    return f"{year_text}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{fraction}Z"


def _time(values: dict[int, Any], empty: bool) -> Any:
    # Time.Unmarshal keeps whole seconds only (its JSON has no fraction either).
    seconds = values.get(1, 0)
    if empty or seconds == ZERO_TIME_SECONDS:
        return None
    return rfc3339(seconds)


def _microtime(values: dict[int, Any], empty: bool) -> Any:
    if empty:
        return None
    nanos = values.get(2, 0)
    # Duration.Truncate(Microsecond) rounds toward zero.
    nanos = -(-nanos // 1000) * 1000 if nanos < 0 else nanos // 1000 * 1000
    seconds, nanos = divmod(values.get(1, 0) * _NANOS + nanos, _NANOS)  # time.Unix normalises
    if seconds == ZERO_TIME_SECONDS and nanos == 0:
        return None
    return rfc3339(seconds, nanos // 1000)


def _fraction(value: int, precision: int) -> str:
    """`value / 10**precision` as Go's fmtFrac and fmtInt write it (no trailing zeros)."""
    whole, frac = divmod(value, 10**precision)
    digits = f"{frac:0{precision}d}".rstrip("0") if precision else ""
    return f"{whole}.{digits}" if digits else str(whole)


def go_duration(nanoseconds: int) -> str:
    """time.Duration.String()."""
    sign = "-" if nanoseconds < 0 else ""
    u = abs(nanoseconds)
    if u == 0:
        return "0s"
    if u < _NANOS:
        unit, precision = ("ns", 0) if u < 1000 else ("\u00b5s", 3) if u < 1_000_000 else ("ms", 6)
        return f"{sign}{_fraction(u, precision)}{unit}"
    seconds, frac = divmod(u, _NANOS)
    text = _fraction((seconds % 60) * _NANOS + frac, 9) + "s"
    minutes = seconds // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        if minutes // 60:
            text = f"{minutes // 60}h{text}"
    return sign + text


def _duration(values: dict[int, Any], empty: bool) -> Any:
    return go_duration(values.get(1, 0))


def _quantity(values: dict[int, Any], empty: bool) -> Any:
    if 1 not in values:
        return "0"  # the zero Quantity (its Unmarshal never ran ParseQuantity)
    try:
        return canonical_quantity(values[1])
    except QuantityError as err:
        raise GoValueError(str(err)) from None


def _int_or_string(values: dict[int, Any], empty: bool) -> Any:
    kind = values.get(1, 0)
    if kind == 0:
        return values.get(2, 0)
    if kind == 1:
        return values.get(3, "")
    raise GoValueError("impossible IntOrString.Type")


def raw_json(raw: bytes | None, decode_nested: Callable[[bytes], Any]) -> Any:
    """What a RawExtension, FieldsV1 or apiextensions JSON holding `raw` writes: the JSON it
    holds (null when empty); an object embedded in protobuf (the `k8s\\x00` envelope) is
    decoded by `decode_nested`."""
    if not raw:
        return None
    if raw.startswith(b"k8s\x00"):
        return decode_nested(raw)
    try:
        return deepjson.loads(raw.decode())
    except (UnicodeDecodeError, ValueError) as err:
        raise GoValueError(f"json: error calling MarshalJSON: {err}") from None


def _schema_or_array(values: dict[int, Any], empty: bool) -> Any:
    return values[2] if values.get(2) else values.get(1)


def _schema_or_bool(values: dict[int, Any], empty: bool) -> Any:
    if 2 in values:
        return values[2]
    return bool(values.get(1, False))


def _schema_or_strings(values: dict[int, Any], empty: bool) -> Any:
    return values[2] if values.get(2) else values.get(1)


def _items(values: dict[int, Any], empty: bool) -> Any:
    return values.get(1)  # a nil slice (null) when the message held no items


# SPECIAL kinds (protobuf_schema.SPECIAL) -> converter; "raw" is protobuf_decode's (it recurses).
CONVERTERS: dict[str, Callable[[dict[int, Any], bool], Any]] = {
    "time": _time,
    "microtime": _microtime,
    "duration": _duration,
    "quantity": _quantity,
    "intorstring": _int_or_string,
    "schemaorarray": _schema_or_array,
    "schemaorbool": _schema_or_bool,
    "schemaorstrings": _schema_or_strings,
    "items": _items,
}

# Specials that are Go slices (omitempty drops them when empty); the rest are structs.
SLICE_SPECIALS = frozenset({"items"})
