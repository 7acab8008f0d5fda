"""A workspace's audit trail, from the Kubernetes events about it. Pure functions.

The events are events.k8s.io/v1 Events whose ``regarding`` is the workspace: the spawner's
``ServerStarted``, ``ServerStopped`` and ``AccessRevoked``, and the service's ``MemberAdded``,
``MemberChanged``, ``MemberRemoved`` and ``SessionStopped``. So ``kubectl get events
--field-selector regarding.name=<workspace>`` tells the same story. Each becomes an entry:

    {"time", "type" (the reason), "eventType" (Normal/Warning), "user" (whom it concerns),
     "by" (who did it: the actor annotation, else the reporting controller), "server", "note"}

``user`` and ``server`` come from the events' annotations (``kube.events``); for events written
before those, from the spawner's note (``... server <name> of <user> in pod ...``).

Filters (``parse_filters``): ``type`` (reasons or the groups ``server`` and ``member``,
comma-separated), ``since`` (a date, from its midnight in the configured zone, or an RFC 3339
time), ``user`` (whom it concerns or who did it); then newest first, ``limit`` (1 to
``MAX_LIMIT``, default ``DEFAULT_LIMIT``) from ``offset``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any

from ..reasons import (
    ACCESS_REVOKED,
    ACTOR_ANNOTATION,
    MEMBER_ADDED,
    MEMBER_CHANGED,
    MEMBER_REMOVED,
    SERVER_ANNOTATION,
    SERVER_STARTED,
    SERVER_STOPPED,
    SESSION_STOPPED,
    SUBJECT_ANNOTATION,
)
from .errors import BadRequest

GROUPS: dict[str, frozenset[str]] = {
    "server": frozenset({SERVER_STARTED, SERVER_STOPPED, ACCESS_REVOKED, SESSION_STOPPED}),
    "member": frozenset({MEMBER_ADDED, MEMBER_CHANGED, MEMBER_REMOVED}),
}
REASONS: frozenset[str] = frozenset().union(*GROUPS.values())
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_NOTE = re.compile(r"server (?P<server>\S+) of (?P<user>.+?) in pod ")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Filters:
    types: frozenset[str] | None = None  # None: every reason
    since: datetime | None = None
    user: str | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def _int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise BadRequest(f"'{name}' must be a whole number from {low} to {high}")
    return int(value)


def parse_time(value: str, zone: tzinfo) -> datetime:
    """A date (its midnight in ``zone``) or an RFC 3339 date-time; BadRequest otherwise."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return datetime.combine(date.fromisoformat(value), time(), zone)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"'since' {value[:40]!r} is not a date or an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise BadRequest(f"'since' {value[:40]!r} has no time zone (add Z or +01:00)")
    return moment


def parse_filters(args: Mapping[str, str | None], zone: tzinfo) -> Filters:
    """The query's filters; BadRequest naming a bad one."""
    types: set[str] | None = None
    if args.get("type"):
        types = set()
        for item in str(args["type"]).split(","):
            item = item.strip()
            if item in GROUPS:
                types |= GROUPS[item]
            elif item in REASONS:
                types.add(item)
            else:
                known = ", ".join([*GROUPS, *sorted(REASONS)])
                raise BadRequest(f"'type' {item[:40]!r} is not one of {known}")
    since = parse_time(str(args["since"]), zone) if args.get("since") else None
    return Filters(
        types=frozenset(types) if types is not None else None,
        since=since,
        user=args.get("user") or None,
        limit=_int(args.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=_int(args.get("offset"), "offset", 0, 0, 10**9),
    )


def _when(event: Mapping[str, Any]) -> datetime:
    meta = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
    for raw in (
        event.get("eventTime"),
        event.get("deprecatedLastTimestamp"),
        (meta or {}).get("creationTimestamp"),
    ):
        if isinstance(raw, str) and raw:
            try:
                moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                continue
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return _EPOCH


def entry(event: Mapping[str, Any]) -> dict[str, Any]:
    """One event as an audit entry (see the module docstring)."""
    meta = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
    notes = (meta or {}).get("annotations")
    annotations: Mapping[str, Any] = notes if isinstance(notes, dict) else {}
    note = str(event.get("note") or "")
    parsed = _NOTE.search(note)
    user = annotations.get(SUBJECT_ANNOTATION) or (parsed["user"] if parsed else None)
    server = annotations.get(SERVER_ANNOTATION)
    if server is None and parsed:
        server = "" if parsed["server"] == "(default)" else parsed["server"]
    return {
        "time": _when(event).astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "type": str(event.get("reason") or ""),
        "eventType": str(event.get("type") or "Normal"),
        "user": user,
        "by": annotations.get(ACTOR_ANNOTATION) or event.get("reportingController") or None,
        "server": server,
        "note": note,
    }


def trail(events: Iterable[Mapping[str, Any]], filters: Filters) -> dict[str, Any]:
    """The filtered entries, newest first, one page of them: ``{"items", "total", "offset",
    "limit", "next"}`` (``next``: the offset of the next page, or None)."""
    dated = sorted(((_when(e), e) for e in events), key=lambda pair: pair[0], reverse=True)
    kept = []
    for moment, event in dated:
        if filters.since is not None and moment < filters.since:
            break  # newest first: the rest are older still
        row = entry(event)
        if filters.types is not None and row["type"] not in filters.types:
            continue
        if filters.user is not None and filters.user not in (row["user"], row["by"]):
            continue
        kept.append(row)
    page = kept[filters.offset : filters.offset + filters.limit]
    end = filters.offset + len(page)
    return {
        "items": page,
        "total": len(kept),
        "offset": filters.offset,
        "limit": filters.limit,
        "next": end if end < len(kept) else None,
    }


__all__ = ["DEFAULT_LIMIT", "GROUPS", "MAX_LIMIT", "REASONS", "Filters", "entry", "parse_filters",
           "parse_time", "trail"]  # fmt: skip
