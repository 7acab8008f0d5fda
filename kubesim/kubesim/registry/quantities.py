"""Resource quantities, as k8s.io/apimachinery/pkg/api/resource parses and prints them.

`parse_quantity` gives a quantity's exact value; `canonical_quantity` the string a real server
returns for it ("0.5" comes back as "500m"). Every kind with a ResourceList (pods, claims) and
the simulated node's accounting use these.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import MAX_EMAX, MIN_EMIN, ROUND_UP, Context, Decimal, InvalidOperation
from typing import Any

from kubesim.registry.errors import FieldError
from kubesim.registry.field import invalid
from kubesim.registry.strategy import Obj

QUANTITY_FORMAT_ERROR = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
QUANTITY_NUMERIC_ERROR = "unable to parse numeric part of quantity"
QUANTITY_SUFFIX_ERROR = "unable to parse quantity's suffix"

_DIGITS = "0123456789"
_SUFFIX_CHARS = "eEinumkKMGTP"
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXP = {e: s for s, e in _DECIMAL.items()}
_BINARY_BY_EXP = {e: s for s, e in _BINARY.items()} | {0: ""}
_MAX_INT64 = 2**63 - 1
_NANO = Decimal("1e-9")
# Enough digits that no arithmetic on a quantity ever rounds.
_CTX = Context(prec=200, Emax=MAX_EMAX, Emin=MIN_EMIN)


class QuantityError(ValueError):
    """A string that is not a quantity; the message is the real server's."""


def _split_quantity(s: str) -> tuple[str, str, str, str]:
    """(number, integer digits, fraction digits, suffix), as parseQuantityString splits them."""
    end, pos = len(s), 0
    if s[:1] in ("+", "-"):
        pos = 1
    while pos < end and s[pos] == "0":  # leading zeros do not count as precision
        pos += 1
    if pos == end:
        return "0", "0", "", ""  # nothing but a sign and zeros: zero
    start = pos
    while pos < end and s[pos] in _DIGITS:
        pos += 1
    whole, frac = s[start:pos] or "0", ""
    if pos < end and s[pos] == ".":
        pos += 1
        start = pos
        while pos < end and s[pos] in _DIGITS:
            pos += 1
        frac = s[start:pos]
    number, suffix_start = s[:pos], pos
    while pos < end and s[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and s[pos] in "+-":
        pos += 1
    while pos < end and s[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise QuantityError(QUANTITY_FORMAT_ERROR)
    return number, whole, frac, s[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, str]:
    """(base, exponent, format) of a suffix, as the quantity suffixer reads it."""
    if suffix in _DECIMAL:
        return 10, _DECIMAL[suffix], "DecimalSI"
    if suffix in _BINARY:
        return 2, _BINARY[suffix], "BinarySI"
    if len(suffix) > 1 and suffix[0] in "eE" and re.fullmatch(r"[+-]?[0-9]+", suffix[1:]):
        return 10, int(suffix[1:]), "DecimalExponent"
    raise QuantityError(QUANTITY_SUFFIX_ERROR)


def _parse(value: Any) -> tuple[Decimal, str, str | None]:
    """(amount, format, the string a real server keeps verbatim if it does) of a quantity."""
    if value is None:  # JSON null decodes to the zero quantity
        return Decimal(0), "DecimalSI", None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise QuantityError(QUANTITY_FORMAT_ERROR)
    s = str(value).strip()
    if not s:
        raise QuantityError(QUANTITY_FORMAT_ERROR)
    number, whole, frac, suffix = _split_quantity(s)
    base, exponent, fmt = _interpret(suffix)
    negative = s.startswith("-")
    # The fast path of ParseQuantity: an int64 mantissa. Strings already in canonical form are
    # kept as sent (so "500m" stays "500m" but "0.5" comes back as "500m").
    if fmt == "BinarySI":
        fast = exponent >= 0 and not frac and 15 - len(whole) - int(exponent * 3 / 10) - 1 >= 0
        mantissa, scale = 1 << exponent, 0
    else:
        fast = 18 - (len(whole) + len(frac)) >= 0
        mantissa, scale = 1, exponent
    scale -= len(frac)
    if fast and scale >= -9:
        digits = whole + frac
        result = int(digits) * mantissa
        if result <= _MAX_INT64:
            if fmt == "BinarySI":
                keep = exponent % 10 == 0 and int(digits) & 0x07 != 0
            else:
                keep = scale % 3 == 0 and not digits.endswith("000") and digits[0] != "0"
            amount = _CTX.scaleb(Decimal(-result if negative else result), scale)
            return amount, fmt, s if keep else None
    try:
        amount = Decimal(number)
    except InvalidOperation:
        raise QuantityError(QUANTITY_NUMERIC_ERROR) from None
    amount = _CTX.scaleb(amount, exponent) if base == 10 else _CTX.multiply(amount, 2**exponent)
    magnitude = abs(amount)
    if magnitude > _MAX_INT64:
        magnitude = Decimal(_MAX_INT64)  # the real cap
    elif magnitude:
        # Non-zero amounts round up to the nearest nano, so asking for a little gets something.
        magnitude = magnitude.quantize(_NANO, rounding=ROUND_UP, context=_CTX)
    if fmt == "BinarySI" and 0 < magnitude < 1:
        fmt = "DecimalSI"
    return (-magnitude if amount < 0 else magnitude), fmt, None


def parse_quantity(value: Any) -> Decimal:
    """The exact value of a Kubernetes quantity ("500m", "1.5Gi", "1e3"); QuantityError if bad."""
    return _parse(value)[0]


def _canonical(amount: Decimal, fmt: str) -> str:
    if not amount:
        return "0"
    if fmt == "BinarySI" and (-1024 < amount < 1024 or amount != amount.to_integral_value()):
        fmt = "DecimalSI"  # small or fractional binary amounts print in decimal, not rounded
    if fmt == "BinarySI":
        n, times = abs(int(amount)), 0
        while n >= 1024 and n % 1024 == 0:
            n, times = n // 1024, times + 1
        return f"{'-' if amount < 0 else ''}{n}{_BINARY_BY_EXP[times * 10]}"
    sign, digit_tuple, exp = amount.normalize(_CTX).as_tuple()
    assert isinstance(exp, int)
    shift = exp % 3  # the exponent goes down to a multiple of 3
    n, exp = int("".join(map(str, digit_tuple))) * 10**shift, exp - shift
    number = f"{'-' if sign else ''}{n}"
    if fmt == "DecimalSI" and exp in _DECIMAL_BY_EXP:
        return number + _DECIMAL_BY_EXP[exp]
    return number + (f"e{exp}" if exp else "")


def canonical_quantity(value: Any) -> str:
    """The string a real server returns for a quantity it was sent (its canonical form)."""
    amount, fmt, kept = _parse(value)
    return kept if kept is not None else _canonical(amount, fmt)


def canonical_resource_list(resources: Any) -> Any:
    """A ResourceList as a real server returns it: keys sorted, valid quantities canonical.

    Invalid quantities are left as sent, for validation to report.
    """
    if not isinstance(resources, dict):
        return resources
    out = {}
    for name in sorted(resources):
        try:
            out[name] = canonical_quantity(resources[name])
        except QuantityError:
            out[name] = resources[name]
    return out


def canonicalize_resources(owner: Obj, keys: Iterable[str] = ("limits", "requests")) -> None:
    """Canonicalize the ResourceLists under `keys`; empty ones are dropped (omitempty)."""
    for key in keys:
        if owner.get(key) in ({}, None):
            owner.pop(key, None)
        else:
            owner[key] = canonical_resource_list(owner[key])


def quantity_errors(path: str, value: Any) -> tuple[Decimal | None, list[FieldError]]:
    """The value of a quantity field, or the error a real server gives for it.

    A real server fails to decode a bad quantity (400 BadRequest with the same message); here it
    is reported as a 422 on the field instead.
    """
    try:
        return parse_quantity(value), []
    except QuantityError as e:
        return None, [invalid(path, value, str(e))]
