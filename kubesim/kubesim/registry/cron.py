"""CronJob schedules as robfig/cron v3's ParseStandard reads them (what kube-apiserver validates
with and the CronJob controller schedules by): five fields (minute, hour, day of month, month,
day of week) with `*`, `?`, ranges, steps, lists and month/day names, or a descriptor
(@yearly, @monthly, @weekly, @daily, @hourly, @every <duration>); its error texts too.

No cron library is used: the parser is small, and the errors must be robfig's words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_STAR = 1 << 63
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# (min, max, names) of minute, hour, day of month, month, day of week.
_BOUNDS = ((0, 59, None), (0, 23, None), (1, 31, None), (1, 12, _MONTHS), (0, 6, _DAYS))
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}  # fmt: skip
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60,
             "h": 3600}  # fmt: skip
_NUMBER = re.compile(r"[0-9]*(?:\.[0-9]*)?")
_UNIT = re.compile(r"[^0-9.]*")


class CronError(ValueError):
    """A schedule ParseStandard refuses; the message is robfig/cron's."""


def _atoi(text: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise CronError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": '
                        "invalid syntax")  # fmt: skip
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise CronError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": '
                        "value out of range")  # fmt: skip
    if value < 0:
        raise CronError(f"negative number ({value}) not allowed: {text}")
    return value


def _int_or_name(text: str, names: dict[str, int] | None) -> int:
    if names and text.lower() in names:
        return names[text.lower()]
    return _atoi(text)


def _range(expr: str, low: int, high: int, names: dict[str, int] | None) -> int:
    """getRange: the bits of one `a-b/step` expression."""
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    extra = 0
    if low_high[0] in ("*", "?"):
        start, end, extra = low, high, _STAR
    else:
        start = _int_or_name(low_high[0], names)
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end = _int_or_name(low_high[1], names)
        else:
            raise CronError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _atoi(range_and_step[1])
        if len(low_high) == 1:
            end = high  # "N/step" means "N-max/step"
        if step > 1:
            extra = 0
    else:
        raise CronError(f"too many slashes: {expr}")
    if start < low:
        raise CronError(f"beginning of range ({start}) below minimum ({low}): {expr}")
    if end > high:
        raise CronError(f"end of range ({end}) above maximum ({high}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")
    bits = 0
    for value in range(start, end + 1, step):
        bits |= 1 << value
    return bits | extra


def go_duration(text: str) -> float:
    """time.ParseDuration, in seconds; raises ValueError with Go's message."""
    rest = text.lstrip("+-")
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(f'time: invalid duration "{text}"')
    total = 0.0
    while rest:
        number = _NUMBER.match(rest).group(0)  # type: ignore[union-attr]
        if number in ("", "."):
            raise ValueError(f'time: invalid duration "{text}"')
        rest = rest[len(number) :]
        unit = _UNIT.match(rest).group(0)  # type: ignore[union-attr]
        if not unit:
            raise ValueError(f'time: missing unit in duration "{text}"')
        if unit not in _GO_UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
        total += float(number) * _GO_UNITS[unit]
        rest = rest[len(unit) :]
    return total


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: field bit sets, or a constant delay (@every)."""

    minute: int = 0
    hour: int = 0
    dom: int = 0
    month: int = 0
    dow: int = 0
    every: float = 0.0  # seconds, for @every

    def _day_matches(self, t: datetime) -> bool:
        dom_match = bool(1 << t.day & self.dom)
        dow_match = bool(1 << ((t.weekday() + 1) % 7) & self.dow)
        if self.dom & _STAR or self.dow & _STAR:
            return dom_match and dow_match
        return dom_match or dow_match

    def next(self, after: datetime) -> datetime | None:
        """The first activation strictly after `after` (wall-clock time of its zone), or None
        when there is none within five years (e.g. February 30th)."""
        if self.every:
            delay = max(1.0, float(int(self.every)))
            return after.replace(microsecond=0) + timedelta(seconds=delay)
        zone = after.tzinfo
        t = after.replace(tzinfo=None, second=0, microsecond=0) + timedelta(minutes=1)
        limit = t.year + 5
        while t.year <= limit:
            if not 1 << t.month & self.month:
                month = t.month % 12 + 1
                t = datetime(t.year + (month == 1), month, 1)
                continue
            if not self._day_matches(t):
                t = datetime(t.year, t.month, t.day) + timedelta(days=1)
                continue
            if not 1 << t.hour & self.hour:
                t = t.replace(minute=0) + timedelta(hours=1)
                continue
            if not 1 << t.minute & self.minute:
                t += timedelta(minutes=1)
                continue
            return t.replace(tzinfo=zone)
        return None


def parse(spec: str) -> Schedule:
    """ParseStandard; raises CronError with robfig/cron's message."""
    if not spec:
        raise CronError("empty spec string")
    if spec.startswith(("TZ=", "CRON_TZ=")):
        space = spec.find(" ")
        if space < 0:
            raise CronError(f"provided bad location {spec[spec.find('=') + 1 :]}: "
                            "unknown time zone")  # fmt: skip
        spec = spec[space:].strip()
    if spec.startswith("@"):
        if spec.startswith("@every "):
            text = spec[len("@every ") :]
            try:
                return Schedule(every=go_duration(text))
            except ValueError as err:
                raise CronError(f"failed to parse duration {spec}: {err}") from None
        if spec not in _DESCRIPTORS:
            raise CronError(f"unrecognized descriptor: {spec}")
        spec = _DESCRIPTORS[spec]
    fields = spec.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    bits = []
    for field, (low, high, names) in zip(fields, _BOUNDS, strict=True):
        value = 0
        for expr in (e for e in field.split(",") if e):
            value |= _range(expr, low, high, names)
        bits.append(value)
    return Schedule(*bits)
