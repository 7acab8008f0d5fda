"""The Event strategies: core/v1 events, and events.k8s.io/v1 events stored as core ones.

Both versions share one storage (the core form); events.k8s.io renames fields on the way in and
out, as the real Convert_core_Event_To_v1_Event does, and validates strictly.
"""

from __future__ import annotations

import copy

from kubesim.registry import microtime
from kubesim.registry.field import immutable, invalid, invalid_each, required
from kubesim.registry.names import qualified_name_errors
from kubesim.registry.strategy import Errors, Obj, Strategies, Strategy, as_dict, same

# Field renames of the real Convert_core_Event_To_v1_Event; everything else keeps its name.
_CORE_TO_EVENTS = {
    "involvedObject": "regarding",
    "message": "note",
    "reportingComponent": "reportingController",
    "source": "deprecatedSource",
    "firstTimestamp": "deprecatedFirstTimestamp",
    "lastTimestamp": "deprecatedLastTimestamp",
    "count": "deprecatedCount",
}
_EVENTS_TO_CORE = {v: k for k, v in _CORE_TO_EVENTS.items()}
# Keys every JSON of the kind has (Go structs are never omitted; these strings lack omitempty).
_CORE_EVENT_KEYS: Obj = {
    "involvedObject": {},
    "source": {},
    "firstTimestamp": None,
    "lastTimestamp": None,
    "eventTime": None,
    "reportingComponent": "",
    "reportingInstance": "",
}
_EVENTS_EVENT_KEYS: Obj = {
    "eventTime": None,
    "regarding": {},
    "deprecatedSource": {},
    "deprecatedFirstTimestamp": None,
    "deprecatedLastTimestamp": None,
}
# events.k8s.io/v1 fields with omitempty: absent rather than empty.
_EVENTS_OMITEMPTY = ("reportingController", "reportingInstance", "action", "reason", "note",
                     "type", "deprecatedCount")  # fmt: skip
EVENTS_API_VERSION = "events.k8s.io/v1"


def _renamed(obj: Obj, names: dict[str, str]) -> Obj:
    return {names.get(k, k): v for k, v in obj.items()}


def event_to_core(obj: Obj) -> Obj:
    """An events.k8s.io/v1 Event in its core/v1 (storage) form; core events pass unchanged."""
    if obj.get("apiVersion") != EVENTS_API_VERSION:
        return obj
    return {**_renamed(obj, _EVENTS_TO_CORE), "apiVersion": "v1"}


def present_core_event(obj: Obj) -> Obj:
    missing = {k: copy.deepcopy(v) for k, v in _CORE_EVENT_KEYS.items() if k not in obj}
    return {**obj, **missing} if missing else obj


def present_events_event(obj: Obj) -> Obj:
    if obj.get("apiVersion") == EVENTS_API_VERSION:
        return obj  # already in this form (a dry-run create)
    out = _renamed(obj, _CORE_TO_EVENTS)
    for key in _EVENTS_OMITEMPTY:
        if out.get(key) in ("", 0, None):
            out.pop(key, None)
    for key, value in _EVENTS_EVENT_KEYS.items():
        out.setdefault(key, copy.deepcopy(value))
    return {**out, "apiVersion": EVENTS_API_VERSION}


def decode_event(obj: Obj) -> None:
    """The MicroTime fields (eventTime, series.lastObservedTime, in both versions) as the
    decoder leaves them: RFC 3339 in UTC with exactly six fractional digits."""
    if "eventTime" in obj:
        obj["eventTime"] = microtime.normalize(obj["eventTime"], "Event", "eventTime")
    series = obj.get("series")
    if isinstance(series, dict) and "lastObservedTime" in series:
        series["lastObservedTime"] = microtime.normalize(
            series["lastObservedTime"], "EventSeries", "series.lastObservedTime"
        )


def _legacy_event_errors(ev: Obj) -> Errors:
    """legacyValidateEvent, which every event passes whichever API wrote it."""
    errs: Errors = []
    namespace = as_dict(ev.get("metadata")).get("namespace") or ""
    involved_ns = as_dict(ev.get("involvedObject")).get("namespace") or ""
    mismatch = invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
    if not ev.get("eventTime"):
        # Old-style events: the namespace agrees with the object's ("default" for cluster ones).
        if (not involved_ns and namespace not in ("", "default")) or (
            involved_ns and namespace != involved_ns
        ):
            errs.append(mismatch)
        return errs
    if not involved_ns and namespace not in ("default", "kube-system"):
        errs.append(mismatch)
    controller = str(ev.get("reportingComponent") or "")
    if not controller:
        errs.append(required("reportingController"))
    errs += invalid_each("reportingController", controller, qualified_name_errors(controller))
    for field, limit in (("reportingInstance", 128), ("action", 128), ("reason", 128)):
        value = str(ev.get(field) or "")
        if not value:
            errs.append(required(field))
        if len(value) > limit:
            errs.append(invalid(field, "", f"can have at most {limit} characters"))
    if len(str(ev.get("message") or "")) > 1024:
        errs.append(invalid("message", "", "can have at most 1024 characters"))
    return errs


def _series_errors(ev: Obj) -> Errors:
    series = ev.get("series")
    if series is None:
        return []
    series, errs = as_dict(series), []
    count = series.get("count")
    if not isinstance(count, int) or count < 2:
        errs.append(invalid("series.count", "", "should be at least 2"))
    if not series.get("lastObservedTime"):
        errs.append(required("series.lastObservedTime"))
    return errs


def validate_core_event(obj: Obj, old: Obj | None) -> Errors:
    return _legacy_event_errors(event_to_core(obj))


# Fields an events.k8s.io/v1 update may not change, by their internal (core) names.
_EVENT_IMMUTABLE = (
    "involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count",
    "type", "eventTime", "action", "related", "reportingComponent", "reportingInstance",
)  # fmt: skip
_INTERNAL_NAMES = {"reportingComponent": "reportingController"}


def validate_events_event(obj: Obj, old: Obj | None) -> Errors:
    """ValidateEventCreate / ValidateEventUpdate for events.k8s.io/v1 (strict) requests."""
    ev = event_to_core(obj)
    errs = _legacy_event_errors(ev)
    if old is not None:
        old = event_to_core(old)
        if not same(ev.get("series"), old.get("series")):
            errs += _series_errors(ev)
        for field in _EVENT_IMMUTABLE:
            errs += immutable(_INTERNAL_NAMES.get(field, field), ev.get(field), old.get(field))
        return errs
    errs += _series_errors(ev)
    if not ev.get("eventTime"):
        errs.append(required("eventTime"))
    if ev.get("type") not in ("Normal", "Warning"):
        errs.append(invalid("type", "", f"has invalid value: {ev.get('type') or ''}"))
    for field in ("firstTimestamp", "lastTimestamp", "count"):
        if ev.get(field):
            errs.append(invalid(field, "", "needs to be unset"))
    if as_dict(ev.get("source")).get("component") or as_dict(ev.get("source")).get("host"):
        errs.append(invalid("source", "", "needs to be unset"))
    return errs


STRATEGIES: Strategies = {
    ("", "events"): Strategy(
        decode=decode_event, validate=validate_core_event, present=present_core_event
    ),
    ("events.k8s.io", "events"): Strategy(
        decode=decode_event,
        validate=validate_events_event,
        to_storage=event_to_core,
        present=present_events_event,
    ),
}
