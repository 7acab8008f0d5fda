"""metadata.managedFields: who owns which fields, kept up to date on every write.

The field manager of kube-apiserver (k8s.io/apimachinery/pkg/util/managedfields) records, for
each manager, operation (Apply or Update), API version and subresource, the set of fields it
set; entries of one manager merge, an update takes over the fields it changes, removed fields
leave every set. This module decodes and encodes the entries and runs that bookkeeping for
creates, updates and patches; apply.py runs it for server-side apply.

Cost: a write compares the old object with the new one once (O(object size)); the entries of
objects written alike are shared, so 10,000 config maps made in the same second hold one list.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from kubesim.apiserver import fieldsets as fs
from kubesim.apiserver import typed
from kubesim.apiserver.fieldsets import Trie
from kubesim.registry.errors import FieldError, go_quote, invalid
from kubesim.registry.field_schema import Shape
from kubesim.registry.list_types import builtin_shape, custom_shape, zero_value
from kubesim.registry.resources import ResourceType

APPLY, UPDATE = "Apply", "Update"
MAX_UPDATE_MANAGERS = 10  # DefaultMaxUpdateManagers: older update entries merge into one
FIELD_MANAGER_MAX_LENGTH = 128
SUBRESOURCE_MAX_LENGTH = 256

# What no manager owns (stripmeta.go): type and server-set metadata.
STRIPPED: Trie = {
    "f:apiVersion": {},
    "f:kind": {},
    "f:metadata": {
        fs.SELF: {},
        **{
            f"f:{name}": {}
            for name in (
                "name",
                "namespace",
                "creationTimestamp",
                "selfLink",
                "uid",
                "clusterName",
                "generation",
                "managedFields",
                "resourceVersion",
            )
        },
    },
}


_STRIPPED_META = frozenset((fs.SELF, *STRIPPED["f:metadata"]))


class BadManagedFields(ValueError):
    """managedFields that do not decode: the server then keeps those it had."""


@dataclass(frozen=True)
class Entry:
    """One managedFields entry, with its field set as a trie."""

    manager: str
    operation: str
    api_version: str
    subresource: str
    fields: Trie
    time: str | None = None

    @property
    def ident(self) -> tuple[str, str, str, str]:
        """BuildManagerIdentifier: appliers are one manager whatever the API version."""
        version = "" if self.operation == APPLY else self.api_version
        return (self.manager, self.operation, version, self.subresource)

    def identifier(self) -> str:
        """The identifier as Go's JSON of it reads (what conflict messages decode)."""
        manager, operation, version, subresource = self.ident
        doc: dict[str, str] = {"manager": manager, "operation": operation}
        if version:
            doc["apiVersion"] = version
        if subresource:
            doc["subresource"] = subresource
        return json.dumps(doc, separators=(",", ":"))

    def describe(self) -> str:
        """printManager: `"kubectl" with subresource "status" using v1`."""
        out = go_quote(self.manager)
        if self.subresource:
            out += f" with subresource {go_quote(self.subresource)}"
        if self.operation == UPDATE:
            out += f" using {self.api_version}"
        return out


Managed = dict[tuple[str, str, str, str], Entry]


# -- shapes ---------------------------------------------------------------------------------------

_CUSTOM_SHAPES: dict[int, tuple[Any, Shape]] = {}


def shape_of(rt: ResourceType) -> Shape:
    """The kind's shape (a CRD version's, from its schema; cached by schema)."""
    if not rt.custom:
        return builtin_shape(rt.group, rt.kind)
    cached = _CUSTOM_SHAPES.get(id(rt.schema))
    if cached is not None and cached[0] is rt.schema:
        return cached[1]
    if len(_CUSTOM_SHAPES) > 256:
        _CUSTOM_SHAPES.clear()
    shape = custom_shape(rt.schema)
    _CUSTOM_SHAPES[id(rt.schema)] = (rt.schema, shape)
    return shape


def zero_object(rt: ResourceType) -> dict[str, Any]:
    """What a create is compared with: the kind's empty object (creater.New). Shared: never
    to be changed."""
    if rt.custom:
        return {"apiVersion": rt.api_version, "kind": rt.kind}
    return _zero(rt.group, rt.kind)


@lru_cache(maxsize=256)
def _zero(group: str, kind: str) -> dict[str, Any]:
    return zero_value(builtin_shape(group, kind))


def reset_fields(rt: ResourceType, subresource: str | None) -> Trie:
    """The strategies' GetResetFields: what a write to this endpoint never sets (the status
    from the main resource, the spec from /status), so nobody owns it by that write."""
    if subresource == "status":
        if not rt.group and rt.plural == "pods":
            return {
                "f:spec": {},
                "f:metadata": {"f:deletionTimestamp": {}, "f:ownerReferences": {}},
            }
        return {"f:spec": {}}
    return {"f:status": {}} if rt.has_status else {}


# -- decoding and encoding ------------------------------------------------------------------------


_DECODED: dict[int, tuple[list[Any], Managed]] = {}


def decode(raw: Any, *, stored: bool = True) -> Managed:
    """DecodeManagedFields: the entries of an object (BadManagedFields when they do not
    decode). Stored lists are shared and never changed, so each is decoded once (a request's
    is not kept); the result is not to be changed either."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise BadManagedFields("managedFields must be a list")
    if not stored:
        return _decode_entries(raw)
    cached = _DECODED.get(id(raw))
    if cached is not None and cached[0] is raw:
        return cached[1]
    managed = _decode_entries(raw)
    if len(_DECODED) >= 2048:
        _DECODED.clear()
    _DECODED[id(raw)] = (raw, managed)
    return managed


def _decode_entries(raw: list[Any]) -> Managed:
    managed: Managed = {}
    for item in raw:
        if not isinstance(item, dict):
            raise BadManagedFields("a managedFields entry must be an object")
        operation = item.get("operation")
        if operation not in (APPLY, UPDATE):
            raise BadManagedFields("operation must be `Apply` or `Update`")
        version = item.get("apiVersion")
        if not isinstance(version, str) or not version:
            raise BadManagedFields("apiVersion must not be empty")
        if item.get("fieldsType") != "FieldsV1":
            raise BadManagedFields("invalid fieldsType")
        try:
            fields = fs.decode(item.get("fieldsV1") or {})
        except fs.BadFieldSet as err:
            raise BadManagedFields(str(err)) from None
        manager, subresource = item.get("manager", ""), item.get("subresource", "")
        if not isinstance(manager, str) or not isinstance(subresource, str):
            raise BadManagedFields("manager and subresource must be strings")
        entry = Entry(manager, operation, version, subresource, fields, _time(item.get("time")))
        managed[entry.ident] = entry
    return managed


def _time(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise BadManagedFields("time must be a string")
    return _normal_time(raw)


@lru_cache(maxsize=1024)
def _normal_time(raw: str) -> str:
    """metav1.Time as the server writes it back: UTC, to the second."""
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadManagedFields(f"parsing time {raw!r}") from None
    if parsed.tzinfo is None:
        raise BadManagedFields(f"parsing time {raw!r}")
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=1024)
def _seconds(time: str | None) -> int:
    if time is None:
        return 0
    return int(datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp())


_INTERNED: dict[str, list[dict[str, Any]]] = {}


def encode(managed: Managed) -> list[dict[str, Any]] | None:
    """The entries as the object carries them, in the server's order (operation, time,
    manager, API version, subresource); None for no entries. Equal lists are shared."""
    if not managed:
        return None
    entries = sorted(
        managed.values(),
        key=lambda e: (e.operation, _seconds(e.time), e.manager, e.api_version, e.subresource),
    )
    # Objects written alike have their sets built in the same order: known by that, their
    # list is found without putting the sets in order again.
    raw_key = repr([(*e.ident, e.api_version, e.time, e.fields) for e in entries])
    shared = _INTERNED.get(raw_key)
    if shared is not None:
        return shared
    out: list[dict[str, Any]] = []
    for e in entries:
        doc: dict[str, Any] = {
            "manager": e.manager,
            "operation": e.operation,
            "apiVersion": e.api_version,
        }
        if e.time is not None:
            doc["time"] = e.time
        doc["fieldsType"] = "FieldsV1"
        doc["fieldsV1"] = fs.canonical(e.fields)
        if e.subresource:
            doc["subresource"] = e.subresource
        out.append(doc)
    key = json.dumps(out, separators=(",", ":"))
    found: list[dict[str, Any]] = _INTERNED.get(key, out)
    if len(_INTERNED) >= 4096:
        _INTERNED.clear()
    _INTERNED[key] = _INTERNED[raw_key] = found
    return found


def validate(kind: str, group: str, name: str, entries: list[dict[str, Any]] | None) -> None:
    """ValidateManagedFields on what would be stored: manager names and subresources."""
    errors: list[FieldError] = []
    for i, entry in enumerate(entries or ()):
        path = f"metadata.managedFields[{i}]"
        errors += field_manager_errors(entry.get("manager", ""), f"{path}.manager")
        if len(entry.get("subresource", "")) > SUBRESOURCE_MAX_LENGTH:
            errors.append(
                FieldError(
                    f"{path}.subresource",
                    "FieldValueTooLong",
                    f"may not be more than {SUBRESOURCE_MAX_LENGTH} bytes",
                )
            )
    if errors:
        raise invalid(kind, group, name, errors)


def field_manager_errors(manager: str, path: str = "fieldManager") -> list[FieldError]:
    """ValidateFieldManager: at most 128 bytes, printable characters only."""
    if manager.isascii() and manager.isprintable() and len(manager) <= FIELD_MANAGER_MAX_LENGTH:
        return []
    errors = []
    if len(manager.encode()) > FIELD_MANAGER_MAX_LENGTH:
        errors.append(
            FieldError(
                path, "FieldValueTooLong", f"may not be more than {FIELD_MANAGER_MAX_LENGTH} bytes"
            )
        )
    position = 0
    for ch in manager:
        if not ch.isprintable():
            detail = f"invalid character U+{ord(ch):04X} (at position {position})"
            errors.append(FieldError(path, "FieldValueInvalid", detail, manager))
        position += len(ch.encode())
    return errors


def request_manager(verb: str, field_manager: str, user_agent: str) -> str:
    """Who a create, update or patch writes as. A create's or update's fieldManager parameter
    is checked here, as ValidateCreateOptions / ValidateUpdateOptions check it (a patch's
    with the other PatchOptions, apply.check_options)."""
    if verb in ("create", "update"):
        errors = field_manager_errors(field_manager)
        if errors:
            kind = "CreateOptions" if verb == "create" else "UpdateOptions"
            raise invalid(kind, "meta.k8s.io", "", errors)
    return manager_from(field_manager, user_agent)


def manager_from(field_manager: str, user_agent: str) -> str:
    """managerOrUserAgent: the fieldManager parameter, else the User-Agent up to its first
    '/', printable characters only, at most 128 bytes."""
    if field_manager:
        return field_manager
    out = ""
    for ch in user_agent.split("/")[0]:
        if not ch.isprintable():
            continue
        if len((out + ch).encode()) > FIELD_MANAGER_MAX_LENGTH:
            break
        out += ch
    return out


# -- the bookkeeping of a create, update or patch -------------------------------------------------


def now() -> str:
    """The time of an entry: RFC 3339, to the second."""
    return _second(int(time.time()))


@lru_cache(maxsize=4)
def _second(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def strip_meta(s: Trie) -> Trie:
    """stripMetaManager: `s` without the type and the server-set metadata (STRIPPED)."""
    if "f:apiVersion" not in s and "f:kind" not in s and "f:metadata" not in s:
        return s
    out = {k: v for k, v in s.items() if k not in ("f:apiVersion", "f:kind")}
    meta = out.pop("f:metadata", None)
    if meta:
        meta = {k: v for k, v in meta.items() if k not in _STRIPPED_META}
        if meta:
            out["f:metadata"] = meta
    return out


def live_or_requested(live: Any, requested: Any, *, subresource: str | None) -> Managed:
    """decodeLiveOrNew: the entries a write starts from. A subresource write keeps the live
    ones; `[]` (or one empty entry) resets them; entries that do not decode, or none, mean the
    client did not touch them."""
    if subresource:
        return _decoded_or_empty(live)
    if isinstance(requested, list) and (requested == [] or requested == [{}]):
        return {}
    if requested is live:
        return _decoded_or_empty(live)
    try:
        managed = decode(requested, stored=False) if isinstance(requested, list) else {}
    except BadManagedFields:
        managed = {}
    return managed or _decoded_or_empty(live)


def _decoded_or_empty(raw: Any) -> Managed:
    try:
        return decode(raw)
    except BadManagedFields:
        return {}


def without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return obj
    return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


@dataclass
class Write:
    """What a write's bookkeeping needs to know about it."""

    rt: ResourceType
    manager: str
    subresource: str | None = None


def record_update(
    write: Write,
    managed: Managed,
    live: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    track_untracked: bool = False,
) -> Managed:
    """FieldManager.Update: `managed` after `write` turned `live` (None: a create) into `new`.
    An object whose fields are not tracked (its managedFields were reset) stays untracked
    until it is applied to; a create always starts tracking."""
    if not managed and live is not None and not track_untracked:
        return managed
    rt = write.rt
    shape = shape_of(rt)
    reset = reset_fields(rt, write.subresource)
    if live is None:
        created = typed.created_fields(without_managed_fields(new), shape, zero_object(rt))
        changed, removed = fs.recursive_difference(created, reset), {}
    else:
        cmp = typed.compare(without_managed_fields(live), without_managed_fields(new), shape)
        added = fs.recursive_difference(cmp.added, reset)
        modified = fs.recursive_difference(cmp.modified, reset)
        removed = fs.recursive_difference(cmp.removed, reset)
        changed = fs.union(modified, added)
    out: Managed = {}
    for ident, entry in managed.items():
        fields = fs.difference(fs.difference(entry.fields, changed), removed)
        if fields:
            out[ident] = replace(entry, fields=fields) if fields is not entry.fields else entry
    current = strip_meta(changed)
    if current:
        entry = Entry(
            write.manager or "unknown",
            UPDATE,
            rt.api_version,
            write.subresource or "",
            current,
            now(),
        )
        previous = out.get(entry.ident)
        if previous is not None:
            entry = replace(entry, fields=fs.union(current, previous.fields))
        out[entry.ident] = entry
    return cap_update_managers(out)


def cap_update_managers(managed: Managed) -> Managed:
    """capManagersManager: past ten update entries, the oldest merge into `ancient-changes`
    (one per API version)."""
    updaters = [e for e in managed.values() if e.operation == UPDATE]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return managed
    updaters.sort(key=lambda e: (_seconds(e.time), e.identifier()))
    out = dict(managed)
    first_of_version: dict[str, Entry] = {}
    count = len(updaters)
    for entry in updaters:
        if count <= MAX_UPDATE_MANAGERS:
            break
        first = first_of_version.get(entry.api_version)
        if first is None:
            first_of_version[entry.api_version] = entry
            continue
        bucket_id = ("ancient-changes", UPDATE, entry.api_version, "")
        bucket = out.get(bucket_id)
        if bucket is None:
            bucket = replace(out.pop(first.ident), manager="ancient-changes", subresource="")
        out.pop(entry.ident, None)
        out[bucket_id] = replace(
            bucket, fields=fs.union(entry.fields, bucket.fields), time=entry.time
        )
        count -= 1
    return out


def tracked_fields(
    write: Write,
    live: dict[str, Any] | None,
    new: dict[str, Any],
    requested: Any,
) -> list[dict[str, Any]] | None:
    """The managedFields a create (live None), update or patch stores; the write keeps the live
    entries when its objects nest too deep to compare (UpdateNoErrors)."""
    live_raw = (live or {}).get("metadata", {}).get("managedFields")
    managed = live_or_requested(live_raw, requested, subresource=write.subresource)
    try:
        return encode(record_update(write, managed, live, new))
    except (typed.TooDeep, RecursionError):
        return live_raw if isinstance(live_raw, list) else None
