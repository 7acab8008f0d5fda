"""metav1.MicroTime as the API server decodes and stores it.

MicroTime.UnmarshalJSON parses with Go's time.Parse and the layout RFC3339Micro, which takes
exactly six fractional digits ("." or ","), and a "Z" or "±hh:mm" zone; MarshalJSON writes the
instant back in UTC with six digits. So a stored eventTime is always `...T15:04:05.000000Z`,
whatever offset the client sent, and any other shape fails to decode, in Go's words.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from typing import Any

RFC3339_MICRO = "2006-01-02T15:04:05.000000Z07:00"


class MicroTimeError(ValueError):
    """The decoder's error, worded as Go's time.ParseError (or encoding/json's)."""


def _go_quote(text: str) -> str:
    """The time package's own quote: `"` and `\\` escaped, other than printable ASCII as the
    \\x escapes of its UTF-8 bytes."""
    out: list[str] = []
    for ch in text:
        if ch < " " or ch >= "\x80":
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        else:
            out.append("\\" + ch if ch in '"\\' else ch)
    return '"' + "".join(out) + '"'


class _Bad(Exception):
    """errBad: the value does not fit the layout element (the caller says which)."""


def _atoi(text: str) -> int:
    """time.atoi: an optional sign, then only decimal digits (none at all is 0)."""
    sign = -1 if text[:1] == "-" else 1
    digits = text[1:] if text[:1] in ("-", "+") else text
    if any(c not in "0123456789" for c in digits):
        raise _Bad
    return sign * int(digits or "0")


def _digit(text: str, i: int) -> bool:
    return i < len(text) and "0" <= text[i] <= "9"


def _getnum(text: str, fixed: bool) -> tuple[int, str]:
    """time.getnum: one or two digits (exactly two when `fixed`)."""
    if not _digit(text, 0):
        raise _Bad
    if not _digit(text, 1):
        if fixed:
            raise _Bad
        return int(text[0]), text[1:]
    return int(text[:2]), text[2:]


class _Parser:
    def __init__(self, value: str) -> None:
        self.whole = value
        self.rest = value

    def fail(self, elem: str, at: str) -> MicroTimeError:
        return MicroTimeError(
            f"parsing time {_go_quote(self.whole)} as {_go_quote(RFC3339_MICRO)}: "
            f"cannot parse {_go_quote(at)} as {_go_quote(elem)}"
        )

    def out_of_range(self, what: str) -> MicroTimeError:
        return MicroTimeError(f"parsing time {_go_quote(self.whole)}: {what} out of range")

    def literal(self, text: str) -> None:
        if not self.rest.startswith(text):
            raise self.fail(text, self.rest)
        self.rest = self.rest[len(text) :]

    def number(self, elem: str, fixed: bool, low: int, high: int, name: str) -> int:
        try:
            value, self.rest = _getnum(self.rest, fixed)
        except _Bad:
            raise self.fail(elem, self.rest) from None
        if not low <= value <= high:
            raise self.out_of_range(name)
        return value

    def year(self) -> int:
        if len(self.rest) < 4 or not _digit(self.rest, 0):
            raise self.fail("2006", self.rest)
        try:
            year = _atoi(self.rest[:4])
        except _Bad:
            raise self.fail("2006", self.rest) from None
        self.rest = self.rest[4:]
        return year

    def micros(self) -> int:
        text = self.rest
        if len(text) < 7 or text[0] not in ".,":
            raise self.fail(".000000", text)
        try:
            micros = _atoi(text[1:7])
        except _Bad:
            raise self.fail(".000000", text) from None
        if micros < 0:
            raise self.out_of_range("fractional second")
        self.rest = text[7:]
        return micros

    def offset(self) -> int:
        """Seconds east of UTC."""
        text = self.rest
        if text.startswith("Z"):
            self.rest = text[1:]
            return 0
        if len(text) < 6 or text[3] != ":":
            raise self.fail("Z07:00", text)
        try:
            hours, _ = _getnum(text[1:3], True)
            minutes, _ = _getnum(text[4:6], True)
        except _Bad:
            raise self.fail("Z07:00", text) from None
        if hours > 24:  # Go's range tests allow 24 hours and 60 minutes
            raise self.out_of_range("time zone offset hour")
        if minutes > 60:
            raise self.out_of_range("time zone offset minute")
        if text[0] not in "+-":
            raise self.fail("Z07:00", text)
        self.rest = text[6:]
        seconds = hours * 3600 + minutes * 60
        return -seconds if text[0] == "-" else seconds


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "object" if isinstance(value, dict) else "array"


def normalize(value: Any, struct: str, field: str) -> Any:
    """A MicroTime field's JSON value as the server stores it: null stays null (the zero time),
    a string is parsed and written back in UTC; anything else raises MicroTimeError.

    `struct` and `field` place a value that is no string at all, as encoding/json does (the Go
    struct holding the field, and the field's JSON path).
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise MicroTimeError(
            f"json: cannot unmarshal {_json_kind(value)} into Go struct field {struct}.{field} "
            "of type string"
        )
    p = _Parser(value)
    year = p.year()
    p.literal("-")
    month = p.number("01", True, 1, 12, "month")
    p.literal("-")
    day = p.number("02", True, 0, 99, "day")
    p.literal("T")
    hour = p.number("15", False, 0, 23, "hour")
    p.literal(":")
    minute = p.number("04", True, 0, 59, "minute")
    p.literal(":")
    second = p.number("05", True, 0, 59, "second")
    micros = p.micros()
    offset = p.offset()
    if p.rest:
        raise MicroTimeError(f"parsing time {_go_quote(value)}: extra text: {_go_quote(p.rest)}")
    if not 1 <= year <= 9999:
        return value  # a year Go takes but Python's datetime cannot hold: left as sent
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise MicroTimeError(f"parsing time {_go_quote(value)}: day out of range")
    instant = datetime(year, month, day, hour, minute, second, micros, UTC)
    try:
        instant -= timedelta(seconds=offset)
    except OverflowError:
        return value
    return f"{instant.year:04d}-" + instant.strftime("%m-%dT%H:%M:%S.%fZ")
