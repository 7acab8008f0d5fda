"""Server-side apply: PATCH with `application/apply-patch+yaml`, as kube-apiserver serves it.

The request's checks follow handlers/patch.go (fieldManager required, `force` only for apply, a
YAML or JSON object); the merge follows the field manager's chain for Apply
(k8s.io/apimachinery/pkg/util/managedfields/internal: versioncheck, lastapplied*,
skipnonapplied, managedfieldsupdater, stripmeta, structuredmerge) over structured-merge-diff's
Updater.Apply: the configuration is merged into the live object, fields this manager applied
last time and no longer applies are removed unless someone else owns them, and changing a field
another manager owns is a conflict unless forced. The caller (Api.apply) then writes the result
as any create or update is written: defaults, admission, validation, dry run.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import yaml

from kubesim.apiserver import fieldsets as fs
from kubesim.apiserver import typed
from kubesim.apiserver.fieldsets import Trie
from kubesim.apiserver.managed_fields import (
    APPLY,
    Entry,
    Managed,
    Write,
    decode,
    encode,
    field_manager_errors,
    now,
    record_update,
    reset_fields,
    shape_of,
    strip_meta,
    without_managed_fields,
    zero_object,
)
from kubesim.registry import deepjson
from kubesim.registry.errors import ApiError, FieldError, bad_request, invalid
from kubesim.registry.field_schema import Shape
from kubesim.registry.resources import ResourceType

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


# -- the request ----------------------------------------------------------------------------------


def check_options(manager: str, force: bool | None, is_apply: bool) -> None:
    """ValidatePatchOptions: apply needs a fieldManager; only apply takes `force`; the
    fieldManager is a short printable name."""
    errors = []
    if is_apply and not manager:
        errors.append(
            FieldError("fieldManager", "FieldValueRequired", "is required for apply patch")
        )
    if not is_apply and force is not None:
        errors.append(
            FieldError("force", "FieldValueForbidden", "may not be specified for non-apply patch")
        )
    errors += field_manager_errors(manager)
    if errors:
        raise invalid("PatchOptions", "meta.k8s.io", "", errors)


def parse_config(text: str, warnings: list[str], field_validation: str) -> dict[str, Any]:
    """The applied configuration: YAML (or JSON, which is YAML) that must be an object.
    Repeated keys are the strict decoder's error (or warning)."""
    repeated: list[str] = []
    try:
        config = json.loads(text, object_pairs_hook=_pairs(repeated)) if text.strip() else None
    except (ValueError, RecursionError):
        config = _load_yaml(text, repeated)
    if config is not None and not isinstance(config, dict):
        kind = {list: "array", str: "string", bool: "bool"}.get(type(config), "number")
        raise bad_request(
            f"error decoding patch: json: cannot unmarshal {kind} into Go value of type "
            "map[string]interface {}"
        )
    if repeated and field_validation in ("Strict", "Warn"):
        detail = "yaml: unmarshal errors:\n" + "\n".join(f"  {r}" for r in repeated)
        if field_validation == "Strict":
            raise bad_request(f"error strict decoding patch: {detail}")
        warnings.append(detail)
    return config or {}


def _pairs(repeated: list[str]) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                repeated.append(f'key "{key}" already set in map')
            out[key] = value
        return out

    return hook


class _Loader(yaml.SafeLoader):
    """YAML as sigs.k8s.io/yaml reads it into JSON: timestamps stay strings, keys become
    strings, and a key set twice is noted (the strict decoder refuses it)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.repeated: list[str] = []

    def construct_json_mapping(self, node: yaml.MappingNode) -> dict[str, Any]:
        self.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            key = key if isinstance(key, str) else json.dumps(key)
            if key in out:
                line = key_node.start_mark.line + 1
                self.repeated.append(f'line {line}: key "{key}" already set in map')
            out[key] = self.construct_object(value_node, deep=True)
        return out


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_json_mapping)


def _load_yaml(text: str, repeated: list[str]) -> Any:
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as err:
        raise bad_request(f"error decoding patch: yaml: {err}") from None
    except RecursionError:
        raise bad_request("error decoding patch: yaml: exceeded max depth") from None
    finally:
        repeated.extend(loader.repeated)
        loader.dispose()


# -- the merge ------------------------------------------------------------------------------------


class Conflicts(Exception):
    """Fields of other managers an apply would change, by manager."""

    def __init__(self, conflicts: list[tuple[Entry, tuple[str, ...]]]) -> None:
        super().__init__("apply conflicts")
        self.conflicts = conflicts

    def error(self) -> ApiError:
        """NewConflictError: 409 Conflict, one FieldManagerConflict cause per field."""
        causes = [
            {
                "reason": "FieldManagerConflict",
                "message": f"conflict with {e.describe()}",
                "field": fs.path_string(path),
            }
            for e, path in self.conflicts
        ]
        return ApiError(409, "Conflict", self._message(), details={"causes": causes})

    def _message(self) -> str:
        if len(self.conflicts) == 1:
            entry, path = self.conflicts[0]
            return (
                f"Apply failed with 1 conflict: conflict with {entry.describe()}: "
                f"{fs.path_string(path)}"
            )
        by_manager: dict[str, tuple[Entry, list[tuple[str, ...]]]] = {}
        for entry, path in self.conflicts:
            by_manager.setdefault(entry.identifier(), (entry, []))[1].append(path)
        lines = []
        for ident in sorted(by_manager):
            entry, paths = by_manager[ident]
            lines.append(f"conflicts with {entry.describe()}:")
            lines.extend(f"- {fs.path_string(p)}" for p in paths)
        return f"Apply failed with {len(self.conflicts)} conflicts: " + "\n".join(lines)


def _gvk(api_version: Any, kind: Any) -> str:
    """schema.GroupVersionKind.String."""
    version = api_version if isinstance(api_version, str) else ""
    group, _, ver = version.rpartition("/")
    return f"{group}/{ver}, Kind={kind if isinstance(kind, str) else ''}"


def apply_config(
    rt: ResourceType,
    live: dict[str, Any] | None,
    config: dict[str, Any],
    *,
    manager: str,
    force: bool,
    subresource: str | None,
) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """The object an apply writes (`live` None: it creates one) and its managedFields."""
    if config.get("apiVersion") != rt.api_version or config.get("kind") != rt.kind:
        raise bad_request(
            f"invalid object type: {_gvk(config.get('apiVersion'), config.get('kind'))}"
        )
    meta = config.get("metadata")
    if isinstance(meta, dict) and meta.get("managedFields") is not None:
        raise bad_request("metadata.managedFields must be nil")
    shape = shape_of(rt)
    current = live if live is not None else zero_object(rt)
    try:
        errors = typed.validate(config, shape)
        if errors:
            text = (
                errors[0] if len(errors) == 1 else "errors:\n" + "\n".join(f"  {e}" for e in errors)
            )
            raise ApiError(
                500, "", f"failed to create typed patch object ({_names(config)}): {text}"
            )
        try:
            managed = decode(current.get("metadata", {}).get("managedFields"))
        except ValueError as err:
            raise ApiError(500, "", f"failed to decode managed fields: {err}") from None
        write = Write(rt, manager, subresource)
        obj, managed = _with_last_applied(write, current, config, managed, force, shape)
    except (typed.TooDeep, RecursionError):
        raise ApiError(
            500,
            "",
            f"failed to create typed patch object ({_names(config)}): "
            "the object is nested too deeply to merge",
        ) from None
    except typed.ItemError as err:
        raise ApiError(500, "", f"failed to merge config: {err}") from None
    if obj is None:
        obj = without_managed_fields(current)
    elif live is None:  # a new object: the configuration's order, not the empty object's
        obj = {**{k: obj[k] for k in config if k in obj}, **obj}
    if manager == "kubectl" and _annotation(obj):
        obj = _set_last_applied(obj, config)
    if not rt.custom:
        obj = _without_nulls(obj)  # a typed object decodes null as the zero value
    return obj, encode(managed)


def _names(config: dict[str, Any]) -> str:
    """objectGVKNN: `namespace/name; group/version, Kind=kind` of the configuration."""
    meta = config.get("metadata") if isinstance(config.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    namespace, name = meta.get("namespace") or "", meta.get("name") or ""
    return f"{namespace}/{name}; {_gvk(config.get('apiVersion'), config.get('kind'))}"


def _with_last_applied(
    write: Write,
    live: dict[str, Any],
    config: dict[str, Any],
    managed: Managed,
    force: bool,
    shape: Shape,
) -> tuple[dict[str, Any] | None, Managed]:
    """lastAppliedManager: kubectl's own server-side applies may take over, without a
    conflict, the fields its client-side apply annotation says it set."""
    try:
        return _apply(write, live, config, managed, force, shape)
    except Conflicts as err:
        if write.manager != "kubectl":
            raise err.error() from None
        allowed = _allowed_by_last_applied(write.rt, live, shape)
        if allowed is None:
            raise err.error() from None
        left = [(e, p) for e, p in err.conflicts if not fs.has(allowed, p)]
        if left:
            raise Conflicts(left).error() from None
        return _apply(write, live, config, managed, True, shape)


def _apply(
    write: Write,
    live: dict[str, Any],
    config: dict[str, Any],
    managed: Managed,
    force: bool,
    shape: Shape,
) -> tuple[dict[str, Any] | None, Managed]:
    rt, sub = write.rt, write.subresource or ""
    if not managed:
        # skipNonApplied: the fields already there become `before-first-apply`'s.
        first = Write(rt, "before-first-apply", write.subresource)
        managed = record_update(first, {}, None, live, track_untracked=True)
    current = without_managed_fields(live)
    merged = typed.merge(current, config, shape)
    reset = reset_fields(rt, write.subresource)
    ident = (write.manager, APPLY, "", sub)
    last = managed.get(ident)
    applied = fs.recursive_difference(typed.to_field_set(config, shape), reset)
    managers = dict(managed)
    managers[ident] = Entry(
        write.manager, APPLY, rt.api_version, sub, applied, last.time if last else None
    )
    new = _prune(merged, managers, last.fields if last else None, shape)
    cmp = typed.compare(current, new, shape)
    changed = fs.recursive_difference(fs.union(cmp.modified, cmp.added), reset)
    removed = fs.recursive_difference(cmp.removed, reset)
    conflicts: list[tuple[Entry, tuple[str, ...]]] = []
    for other in sorted(managers.values(), key=Entry.identifier):
        if other.ident != ident:
            conflicts.extend((other, p) for p in fs.paths(fs.intersection(other.fields, changed)))
    if conflicts and not force:
        raise Conflicts(conflicts)
    out: Managed = {}
    for key, entry in managers.items():
        fields = entry.fields
        if key != ident:
            fields = fs.difference(fs.difference(fields, changed), removed)
        else:
            fields = strip_meta(fields)
        if fields:
            out[key] = replace(entry, fields=fields)
    if typed.same(current, new):
        return None, out
    if ident in out:
        out[ident] = replace(out[ident], time=now())
    return new, out


def _prune(
    merged: dict[str, Any], managers: Managed, last: Trie | None, shape: Shape
) -> dict[str, Any]:
    """Updater.prune: drop what this manager applied last time and no longer does, unless
    another manager (or this apply) owns it; items that were never its own stay."""
    if not last:
        return merged
    ensure = typed.ensure_named_fields_are_members
    last_set = ensure(last, shape)
    kept = typed.remove_items(merged, shape, last_set)
    owned: Trie = {}
    for entry in managers.values():
        owned = fs.union(owned, entry.fields)
    merged_set = ensure(typed.to_field_set(merged, shape), shape)
    kept_set = ensure(typed.to_field_set(kept, shape), shape)
    orphaned = fs.difference(merged_set, fs.union(kept_set, ensure(owned, shape)))
    with_owned = typed.remove_items(merged, shape, orphaned)
    with_owned_set = ensure(typed.to_field_set(with_owned, shape), shape)
    dangling = fs.intersection(fs.difference(merged_set, with_owned_set), last_set)
    result = typed.remove_items(merged, shape, dangling)
    return result if isinstance(result, dict) else {}


# -- kubectl's client-side apply annotation -------------------------------------------------------


def _annotation(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    value = annotations.get(LAST_APPLIED) if isinstance(annotations, dict) else None
    return value if isinstance(value, str) else ""


def _allowed_by_last_applied(rt: ResourceType, live: dict[str, Any], shape: Shape) -> Trie | None:
    """The fields the annotation names with the live object's values still in them."""
    text = _annotation(live)
    if not text:
        return None
    try:
        last = json.loads(text)
    except ValueError:
        return None
    if not isinstance(last, dict) or last.get("apiVersion") != rt.api_version:
        return None
    if typed.validate(last, shape):
        return None
    cmp = typed.compare(last, without_managed_fields(live), shape)
    fields = typed.to_field_set(last, shape)
    return fs.difference(fs.difference(fs.difference(fields, cmp.modified), cmp.added), cmp.removed)


def _set_last_applied(obj: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """lastAppliedUpdater: kubectl's server-side apply keeps the annotation it finds in step
    with what it applied."""
    last = deepjson.deepcopy(config)
    meta = last.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("annotations"), dict):
        meta["annotations"].pop(LAST_APPLIED, None)
    text = fs.go_json(_sorted(last)) + "\n"
    meta = dict(obj["metadata"])
    meta["annotations"] = {**meta.get("annotations", {}), LAST_APPLIED: text}
    return {**obj, "metadata": meta}


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
