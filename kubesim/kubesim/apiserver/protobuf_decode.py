"""Decoding protobuf messages by the generated tables (protobuf_schema.py) into their JSON form.

It does what the generated Go decoders (gogo's `Unmarshal` methods) do with the wire bytes,
with their error texts ("unexpected EOF", "proto: wrong wireType = 0 for field Name", ...), and
then what Go's JSON encoder does with the value decoded: fields in the Go struct's order, under
their JSON names, an absent pointer left out (`omitempty`) or null, an absent value field as its
zero value unless `omitempty` drops it, embedded structs inlined, maps with sorted keys, bytes
in base64, and the special types of protobuf_go.py. Nested messages are decoded with an explicit
stack, so a deeply nested body cannot exhaust Python's.
"""

from __future__ import annotations

import base64
import copy
import math
import struct
import threading
from typing import Any

from kubesim.apiserver import protobuf_go
from kubesim.apiserver.protobuf_schema import KINDS, MESSAGES, META_KINDS, SPECIAL

EOF = "unexpected EOF"
OVERFLOW = "proto: integer overflow"
NEGATIVE = "proto: negative length found during unmarshaling"
END_OF_GROUP = "proto: unexpected end of group"
UNKNOWN = "apimachinery.pkg.runtime.Unknown"
META = "apimachinery.pkg.apis.meta.v1"
MAGIC = b"k8s\x00"
# Deeper than encoding/json's limit on JSON bodies, the rest of the server could not follow.
MAX_DEPTH = 10_000
MAX_EMBEDDED = 50  # objects in RawExtensions, each decoded by a (recursive) call of its own
_U64 = (1 << 64) - 1
_INT63 = 1 << 63
_VARINT_KINDS = frozenset({"int32", "int64", "uint32", "uint64", "bool"})


class WireError(Exception):
    """A body the Go decoder refuses; the message is its error's text."""


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if shift >= 64:
            raise WireError(OVERFLOW)
        if pos >= end:
            raise WireError(EOF)
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value & _U64, pos
        shift += 7


def _span(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """The bounds of a length-delimited value starting at `pos`."""
    length, pos = _varint(data, pos, end)
    if length >= _INT63 or pos + length >= _INT63:  # Go's int goes negative
        raise WireError(NEGATIVE)
    if pos + length > end:
        raise WireError(EOF)
    return pos, pos + length


def _skip(data: bytes, pos: int, end: int) -> int:
    """skipGenerated: past one unknown field (groups included); the caller checks the end."""
    depth = 0
    while pos < end:
        key, pos = _varint(data, pos, end)
        wire = key & 7
        if wire == 0:
            _, pos = _varint(data, pos, end)
        elif wire == 1:
            pos += 8
        elif wire == 2:
            length, pos = _varint(data, pos, end)
            if length >= _INT63:
                raise WireError(NEGATIVE)
            pos += length
        elif wire == 3:
            depth += 1
        elif wire == 4:
            if depth == 0:
                raise WireError(END_OF_GROUP)
            depth -= 1
        elif wire == 5:
            pos += 4
        else:
            raise WireError(f"proto: illegal wireType {wire}")
        if pos >= _INT63:
            raise WireError(NEGATIVE)
        if depth == 0:
            return pos
    raise WireError(EOF)


def _number(kind: str, value: int) -> Any:
    if kind == "bool":
        return value != 0
    if kind == "int32":
        value &= 0xFFFF_FFFF
        return value - (1 << 32) if value >= 1 << 31 else value
    if kind == "uint32":
        return value & 0xFFFF_FFFF
    if kind == "int64":
        return value - (1 << 64) if value >= _INT63 else value
    return value  # uint64


def _float(raw: bytes, kind: str) -> float:
    return float(struct.unpack("<d" if kind == "double" else "<f", raw)[0])


class _Frame:
    """One message being decoded: its bytes, where the scan is, and the fields found so far."""

    __slots__ = ("data", "end", "name", "pos", "short", "start", "table", "target", "values")

    def __init__(
        self, name: str, data: bytes, start: int, end: int, target: tuple[str, int, str]
    ) -> None:
        self.name, self.table, self.short = name, MESSAGES[name], name.rpartition(".")[2]
        self.data, self.start, self.pos, self.end = data, start, start, end
        self.values: dict[int, Any] = {}
        self.target = target  # where the result goes in the parent: (mode, field, map key)


def decode_message(name: str, data: bytes, start: int = 0, end: int | None = None) -> Any:
    """The JSON form of the message `name` encoded in data[start:end]."""
    stack = [_Frame(name, data, start, len(data) if end is None else end, ("", 0, ""))]
    while True:
        frame = stack[-1]
        child = _scan(frame)
        if child is not None:
            if len(stack) >= MAX_DEPTH:
                raise WireError(f"protobuf message nested more than {MAX_DEPTH} levels deep")
            stack.append(child)
            continue
        value = _finish(frame)
        stack.pop()
        if not stack:
            return value
        mode, number, key = frame.target
        values = stack[-1].values
        if mode == "r":
            values.setdefault(number, []).append(value)
        elif mode == "m":
            values.setdefault(number, {})[key] = value
        else:
            values[number] = value


def _scan(frame: _Frame) -> _Frame | None:
    """Read fields until a nested message needs decoding (returned) or the message ends."""
    data, end, table, values = frame.data, frame.end, frame.table, frame.values
    pos = frame.pos
    while pos < end:
        before = pos
        key, pos = _varint(data, pos, end)
        wire, number = key & 7, (key >> 3) & 0xFFFF_FFFF
        number = number - (1 << 32) if number >= 1 << 31 else number  # int32(wire >> 3)
        if wire == 4:
            raise WireError(f"proto: {frame.short}: wiretype end group for non-group")
        if number <= 0:
            raise WireError(f"proto: {frame.short}: illegal tag {number} (wire type {key})")
        field = table.get(number)
        if field is None:
            pos = _skip(data, before, end)
            if pos > end:
                raise WireError(EOF)
            continue
        names, kind, flags = field
        repeated = "r" in flags
        if kind in _VARINTS_OR_FLOATS:
            fixed = 8 if kind == "double" else 4 if kind == "float" else 0
            expected = 1 if fixed == 8 else 5 if fixed == 4 else 0
            if repeated and wire == 2:  # packed
                packed_start, packed_end = _span(data, pos, end)
                pos = packed_start
                while pos < packed_end:
                    value, pos = _scalar_at(data, pos, end, kind, fixed)
                    values.setdefault(number, []).append(value)
                continue
            if wire != expected:
                raise _wrong_wire_type(wire, names)
            value, pos = _scalar_at(data, pos, end, kind, fixed)
            if repeated:
                values.setdefault(number, []).append(value)
            else:
                values[number] = value
            continue
        if wire != 2:
            raise _wrong_wire_type(wire, names)
        start, stop = _span(data, pos, end)
        pos = stop
        if "m" in flags:
            frame.pos = pos
            child = _map_entry(frame, number, kind, start, stop)
            if child is not None:
                return child
            continue
        if kind == "string":
            value = data[start:stop].decode("utf-8", "replace")  # Go keeps any bytes
        elif kind == "bytes":
            value = bytes(data[start:stop])
        else:
            frame.pos = pos
            if repeated:
                return _Frame(kind, data, start, stop, ("r", number, ""))
            previous = values.pop(-number, None)
            if previous is not None:  # a second occurrence: proto merges the two
                merged = previous + data[start:stop]
                values[-number] = merged
                return _Frame(kind, merged, 0, len(merged), ("", number, ""))
            values[-number] = bytes(data[start:stop])  # kept in case it occurs again
            return _Frame(kind, data, start, stop, ("", number, ""))
        if repeated:
            values.setdefault(number, []).append(value)
        else:
            values[number] = value
    frame.pos = pos
    return None


_VARINTS_OR_FLOATS = _VARINT_KINDS | {"double", "float"}


def _wrong_wire_type(wire: int, names: str) -> WireError:
    json_name, _, go_name = names.partition("|")
    go_name = go_name or json_name[:1].upper() + json_name[1:]
    return WireError(f"proto: wrong wireType = {wire} for field {go_name}")


def _scalar_at(data: bytes, pos: int, end: int, kind: str, fixed: int) -> tuple[Any, int]:
    if fixed:
        if pos + fixed > end:
            raise WireError(EOF)
        return _float(data[pos : pos + fixed], kind), pos + fixed
    raw, pos = _varint(data, pos, end)
    return _number(kind, raw), pos


def _map_entry(frame: _Frame, number: int, kind: str, start: int, stop: int) -> _Frame | None:
    """A map entry (key 1, value 2), read as gogo reads one: neither field's wire type is
    checked, and their bytes may run past the entry up to the end of the message."""
    data, end = frame.data, frame.end
    key = ""
    value: Any = None
    value_span: tuple[int, int] | None = None
    pos = start
    while pos < stop:
        before = pos
        tag, pos = _varint(data, pos, end)
        field = (tag >> 3) & 0xFFFF_FFFF
        if field == 1:
            key_start, pos = _span(data, pos, end)
            key = data[key_start:pos].decode("utf-8", "replace")
        elif field == 2 and kind in _VARINT_KINDS:
            raw, pos = _varint(data, pos, end)
            value = _number(kind, raw)
        elif field == 2:
            value_span = _span(data, pos, end)
            pos = value_span[1]
        else:
            pos = _skip(data, before, end)
            if pos > stop:
                raise WireError(EOF)
    if kind in MESSAGES:
        begin, finish = value_span or (0, 0)
        source = data if value_span else b""
        return _Frame(kind, source, begin, finish, ("m", number, key))
    if value_span is not None:
        chunk = data[value_span[0] : value_span[1]]
        value = chunk.decode("utf-8", "replace") if kind == "string" else bytes(chunk)
    elif value is None:
        value = _zero_value(kind)
    frame.values.setdefault(number, {})[key] = value
    return None


# -- Go's JSON of the decoded value ------------------------------------------------------------


def _finish(frame: _Frame) -> Any:
    values = {n: v for n, v in frame.values.items() if n > 0}  # (negative keys: merge bytes)
    empty = frame.end == frame.start
    if frame.name == UNKNOWN:
        return values
    special = SPECIAL.get(frame.name)
    try:
        if special == "raw":
            return protobuf_go.raw_json(values.get(1), decode_object)
        if special is not None:
            return protobuf_go.CONVERTERS[special](values, empty)
    except protobuf_go.GoValueError as err:
        raise WireError(str(err)) from None
    return _go_json(frame.table, values)


def _json_scalar(kind: str, value: Any) -> Any:
    if kind == "bytes":
        return None if value is None else base64.b64encode(value).decode()
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise WireError(f"json: unsupported value: {_go_float(value)}")
        if value.is_integer() and abs(value) < 1e21:
            return int(value)  # Go writes 1.0 as 1
    return value


def _go_float(value: float) -> str:
    return "NaN" if math.isnan(value) else "+Inf" if value > 0 else "-Inf"


def _zero_value(kind: str) -> Any:
    if kind in MESSAGES:
        return copy.deepcopy(_zero(kind))
    return {"string": "", "bytes": None, "bool": False}.get(kind, 0)


_ZEROS: dict[str, Any] = {}


def _zero(name: str) -> Any:
    """The JSON of a message's zero value (an absent value field): decoded from no bytes."""
    if name not in _ZEROS:
        _ZEROS[name] = decode_message(name, b"")
    return _ZEROS[name]


def _is_empty(kind: str, value: Any) -> bool:
    """Go's omitempty test; a struct is never empty (but a slice special is, when empty)."""
    if kind in MESSAGES:
        return SPECIAL.get(kind) in protobuf_go.SLICE_SPECIALS and not value
    return value in (None, "", 0, False)


def _go_json(table: dict[int, tuple[str, str, str]], values: dict[int, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, (names, kind, flags) in table.items():
        if "-" in flags:
            continue
        name = names.partition("|")[0]
        present = number in values
        if "i" in flags:  # an embedded struct: its fields are this one's
            inner = values[number] if present else _zero_value(kind)
            if isinstance(inner, dict):
                out.update(inner)
            continue
        if "r" in flags or "m" in flags:
            if present:
                found = values[number]
                if "m" in flags:
                    out[name] = {k: _json_scalar(kind, found[k]) for k in sorted(found)}
                else:
                    out[name] = [_json_scalar(kind, v) for v in found]
            elif "o" not in flags:
                out[name] = None  # a nil slice or map
            continue
        if present:
            value = _json_scalar(kind, values[number])
        elif "p" in flags:
            if "o" not in flags:
                out[name] = None
            continue
        else:
            value = _json_scalar(kind, _zero_value(kind))
        if "o" in flags and "p" not in flags and _is_empty(kind, value):
            continue
        out[name] = value
    return out


# -- whole objects -----------------------------------------------------------------------------


def message_for(api_version: str, kind: str) -> str | None:
    """The message of a kind as the scheme registers it for a group version, if it does."""
    if api_version not in KINDS:
        return None
    package, kinds = KINDS[api_version]
    if kind in kinds:
        return f"{package}.{kind}"
    if kind in META_KINDS:
        return f"{META}.{kind}"
    return None


def envelope(body: bytes) -> tuple[str, str, bytes]:
    """The apiVersion, kind and raw object of a `k8s\\x00` + runtime.Unknown body."""
    values = decode_message(UNKNOWN, body, len(MAGIC))
    type_meta = values.get(1) or {}
    raw = values.get(2) or b""
    return type_meta.get("apiVersion", ""), type_meta.get("kind", ""), raw


_NESTING = threading.local()  # how many embedded objects deep this thread is decoding


def decode_object(body: bytes) -> dict[str, Any]:
    """An object embedded in protobuf (a RawExtension holding `k8s\\x00` + runtime.Unknown);
    each is decoded by a call of its own, so their nesting is bounded apart."""
    depth = getattr(_NESTING, "depth", 0)
    if depth >= MAX_EMBEDDED:
        raise WireError(f"protobuf objects embedded more than {MAX_EMBEDDED} levels deep")
    _NESTING.depth = depth + 1
    try:
        api_version, kind, raw = envelope(body)
        name = message_for(api_version, kind)
        if name is None:
            raise WireError(f'no kind "{kind}" is registered for version "{api_version}"')
        return {"kind": kind, "apiVersion": api_version, **decode_message(name, raw)}
    finally:
        _NESTING.depth = depth
