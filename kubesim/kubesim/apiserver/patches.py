"""The three PATCH flavours of kube-apiserver: JSON patch, JSON merge patch, strategic merge patch.

Every function returns a new object and leaves its inputs alone. Failures answer what the real
server answers (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go): a body that does
not decode is a 400, an operation that cannot be applied is a bare 422 Invalid. JSON patches
follow evanphx/json-patch v4, as the server does, not RFC 6902 to the letter (json_patch.py).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from kubesim.apiserver import json_patch
from kubesim.registry import deepjson
from kubesim.registry.errors import ApiError, FieldError, bad_request, invalid

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"  # server-side apply, which is not served

# The server caps JSON patches (maxJSONPatchOperations).
MAX_JSON_PATCH_OPERATIONS = 10000


def _go_kind(value: Any) -> str:
    """What encoding/json calls a JSON value in its "cannot unmarshal X" errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), "null")


def _not_applied() -> ApiError:
    # NewGenericServerResponse(422, ...): the reason of the failure stays with the server.
    message = "the server rejected our request due to an error in our request"
    return ApiError(422, "Invalid", message, details={})


def _as_object(result: Any) -> dict[str, Any]:
    """A patch that leaves something other than an object fails when the server decodes it."""
    if isinstance(result, dict):
        return result
    text = deepjson.dumps(result)
    detail = (
        f"json: cannot unmarshal {_go_kind(result)} into Go value of type map[string]interface {{}}"
    )
    raise invalid("", "", "", [FieldError("patch", "FieldValueInvalid", detail, text)])


def apply_json_patch(obj: dict[str, Any], patch: Any) -> dict[str, Any]:
    """add, remove, replace, move, copy and test, with evanphx/json-patch v4's leniencies (a
    `replace` of a missing member adds it, for one): see json_patch.py."""
    if patch is None:  # decodes to an empty patch
        unchanged: dict[str, Any] = deepjson.deepcopy(obj)
        return unchanged
    if not isinstance(patch, list):
        raise bad_request(
            f"json: cannot unmarshal {_go_kind(patch)} into Go value of type jsonpatch.Patch"
        )
    for op in patch:
        if op is not None and not isinstance(op, dict):  # null decodes as an empty operation
            kind = _go_kind(op)
            raise bad_request(
                f"json: cannot unmarshal {kind} into Go value of type jsonpatch.Operation"
            )
    if len(patch) > MAX_JSON_PATCH_OPERATIONS:
        message = (
            "Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_JSON_PATCH_OPERATIONS}, got {len(patch)}"
        )
        raise ApiError(413, "RequestEntityTooLarge", message)
    try:
        # Malformed operations (no "op", an unknown one, no "path") fail at apply time in Go too.
        result = json_patch.apply(obj, patch)
    except json_patch.PatchFailed as exc:
        raise _not_applied() from exc
    return _as_object(result)


def apply_merge_patch(obj: dict[str, Any], patch: Any) -> dict[str, Any]:
    """RFC 7386: null deletes, objects merge, anything else replaces."""
    if isinstance(patch, list):
        return _as_object(deepjson.deepcopy(patch))  # replaces the document: fails to decode
    if not isinstance(patch, dict):
        raise bad_request("Invalid JSON Patch")  # what evanphx/json-patch says for null and scalars
    return _merge(deepjson.deepcopy(obj), patch)


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Merge `patch` into `target` (in place), level by level: a patch may nest deeply too."""
    stack = [(target, patch)]
    while stack:
        out, layer = stack.pop()
        for key, value in layer.items():
            if value is None:
                out.pop(key, None)
            elif isinstance(value, dict):
                sub = out.get(key)
                out[key] = sub = sub if isinstance(sub, dict) else {}
                stack.append((sub, value))
            else:
                out[key] = deepjson.deepcopy(value)
    return target


# -- strategic merge patch ------------------------------------------------------------------------

# The patchMergeKey of each list field that has patchStrategy "merge", by path from the object root
# ("*" stands for any list item). "" is a list of scalars merged as a set. Any list not named here
# is replaced by the patch, and maps always merge.
_META: dict[tuple[str, ...], str] = {
    ("metadata", "finalizers"): "",
    ("metadata", "ownerReferences"): "uid",
}
_CONTAINER_LISTS = {
    "ports": "containerPort",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
}
_POD_SPEC_LISTS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "volumes": "name", "imagePullSecrets": "name", "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey", "resourceClaims": "name", "schedulingGates": "name",
}  # fmt: skip
_CONDITIONS: dict[tuple[str, ...], str] = {("status", "conditions"): "type"}
MERGE_KEYS: dict[str, dict[tuple[str, ...], str]] = {
    "Pod": {
        **{("spec", name): key for name, key in _POD_SPEC_LISTS.items()},
        **{
            ("spec", containers, "*", name): key
            for containers in ("containers", "initContainers", "ephemeralContainers")
            for name, key in _CONTAINER_LISTS.items()
        },
        **_CONDITIONS,
        ("status", "podIPs"): "ip",
        ("status", "hostIPs"): "ip",
    },
    "Service": {("spec", "ports"): "port", **_CONDITIONS},
    "PersistentVolumeClaim": _CONDITIONS,
    "Namespace": _CONDITIONS,
    "Node": {**_CONDITIONS, ("status", "addresses"): "type", ("status", "volumesAttached"): "name"},
    "ServiceAccount": {("secrets",): "name"},
    "ConfigMap": {},
    "Secret": {},
    "Event": {},
}

_PATCH = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder/"
_DELETE_FROM = "$deleteFromPrimitiveList/"
_MISSING = object()


def _go_fmt(value: Any) -> str:
    """A value as Go's %v prints it, for the messages of the strategicpatch package."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_fmt(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_fmt(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "<nil>" if value is None else str(value)


def _unknown_error(message: str) -> ApiError:
    # The strategicpatch package returns plain errors, which the server answers as 500s.
    return ApiError(500, "", message)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def apply_strategic_merge_patch(obj: dict[str, Any], patch: Any, kind: str) -> dict[str, Any]:
    """Strategic merge patch for the built-in kinds, with the directives of the real server."""
    if patch is None:
        return copy.deepcopy(obj)
    if not isinstance(patch, dict):
        kind_name = _go_kind(patch)
        raise bad_request(
            f"json: cannot unmarshal {kind_name} into Go value of type map[string]interface {{}}"
        )
    keys = {**_META, **MERGE_KEYS.get(kind, {})}
    return _Merger(keys).merge_map(copy.deepcopy(obj), patch, ())


class _Merger:
    def __init__(self, keys: dict[tuple[str, ...], str]) -> None:
        self.keys = keys

    def merge_map(
        self, original: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...]
    ) -> dict[str, Any]:
        """Merge `patch` into `original` (which is ours to change) and return the result."""
        if _PATCH in patch:
            directive = patch[_PATCH]
            if directive == "replace":
                return self.merge_map({}, {k: v for k, v in patch.items() if k != _PATCH}, path)
            if directive == "delete":
                return {}
            raise _unknown_error(
                f"unknown patch type: {_go_fmt(directive)} in map: {_go_fmt(patch)}"
            )
        patch = dict(patch)
        self._retain_keys(original, patch)
        orders = {
            k[len(_SET_ORDER) :]: patch.pop(k) for k in list(patch) if k.startswith(_SET_ORDER)
        }
        deletions = {
            k[len(_DELETE_FROM) :]: patch.pop(k) for k in list(patch) if k.startswith(_DELETE_FROM)
        }
        for name, order in orders.items():
            self._set_element_order(original, patch, name, order, (*path, name))
        for name, value in patch.items():
            current = original.get(name)
            if value is None:
                original.pop(name, None)
            elif isinstance(value, dict):
                original[name] = self.merge_map(
                    current if isinstance(current, dict) else {}, value, (*path, name)
                )
            elif isinstance(value, list):
                original[name] = self.merge_list(
                    current if isinstance(current, list) else [], value, (*path, name)
                )
            else:
                original[name] = value
        for name, values in deletions.items():
            if not isinstance(values, list):
                raise bad_request("Invalid patch format of primitive list")
            if isinstance(original.get(name), list):
                original[name] = [v for v in original[name] if not any(_same(v, d) for d in values)]
        return original

    def _retain_keys(self, original: dict[str, Any], patch: dict[str, Any]) -> None:
        """$retainKeys: drop every field of the original the list does not name."""
        retain = patch.pop(_RETAIN_KEYS, _MISSING)
        if retain is _MISSING:
            return
        if not isinstance(retain, list) or any(
            v is not None and not k.startswith((_SET_ORDER, _DELETE_FROM)) and k not in retain
            for k, v in patch.items()
        ):
            raise bad_request("Invalid patch format of retainKeys")
        for name in [k for k in original if k not in retain]:
            del original[name]

    def merge_list(self, original: list[Any], patch: list[Any], path: tuple[str, ...]) -> list[Any]:
        key = self.keys.get(path)
        item_path = (*path, "*")
        if key is None:  # no merge strategy: the patch replaces the list
            return [self._fresh(v, item_path) for v in patch]
        if not original and not patch:
            return []
        if not any(isinstance(v, dict) for v in original + patch):
            merged = _dedupe(original + patch)  # scalars merge as a set
            return _normalize(merged, patch, original, _scalar_id)
        if not key:
            raise _unknown_error("cannot merge lists without merge key for type map")
        ident = _key_id(key)
        original, patch, replace = self._special_elements(original, patch, key)
        if replace:  # `$patch: replace`: the other items of the patch are the list
            return [self._fresh(v, item_path) for v in patch]
        merged = list(original)
        for item in patch:
            if key not in item:
                raise _unknown_error(
                    f"map: {_go_fmt(item)} does not contain declared merge key: {key}"
                )
            found = next((i for i, v in enumerate(merged) if _same(ident(v), item[key])), None)
            if found is None:
                merged.append(self.merge_map({}, item, item_path))
            else:
                merged[found] = self.merge_map(merged[found], item, item_path)
        return _normalize(merged, patch, original, ident)

    def _special_elements(
        self, original: list[Any], patch: list[Any], key: str
    ) -> tuple[list[Any], list[Any], bool]:
        """Apply the `$patch: delete` items; report a `$patch: replace` item."""
        rest, replace = [], False
        for item in patch:
            if not isinstance(item, dict):
                raise _unknown_error(f"value for key {_go_fmt(item)} is not a map.")
            directive = item.get(_PATCH, _MISSING)
            if directive is _MISSING:
                rest.append(item)
            elif directive == "delete":
                if key not in item:
                    raise _unknown_error(
                        f"map: {_go_fmt(item)} does not contain declared merge key: {key}"
                    )
                original = [
                    v
                    for v in original
                    if not (isinstance(v, dict) and _same(v.get(key, _MISSING), item[key]))
                ]
            elif directive == "replace":
                replace = True
            elif directive == "merge":
                raise _unknown_error("merging lists cannot yet be specified in the patch")
            else:
                raise _unknown_error(
                    f"unknown patch type: {_go_fmt(directive)} in map: {_go_fmt(item)}"
                )
        return original, rest, replace

    def _set_element_order(
        self,
        original: dict[str, Any],
        patch: dict[str, Any],
        name: str,
        order: Any,
        path: tuple[str, ...],
    ) -> None:
        """$setElementOrder/<list>: the patch's items in this order, the server's in between."""
        current, patched = original.get(name), patch.pop(name, None)
        if not isinstance(order, list) or not isinstance(patched, (list, type(None))):
            raise bad_request("Invalid patch format of setElementOrder list")
        if patched is not None:
            merged = self.merge_list(current if isinstance(current, list) else [], patched, path)
        elif isinstance(current, list):
            merged = current
        else:
            return
        key = self.keys.get(path)
        if key is None and any(isinstance(v, dict) for v in merged):
            original[name] = merged  # a replaced list of objects has no identity to order by
            return
        ident = _key_id(key) if key else _scalar_id
        original[name] = _normalize(
            merged, order, current if isinstance(current, list) else [], ident
        )

    def _fresh(self, value: Any, path: tuple[str, ...]) -> Any:
        """A value new to the object, cleaned of directives and nulls."""
        if isinstance(value, dict):
            return self.merge_map({}, value, path)
        if isinstance(value, list):
            return self.merge_list([], value, path)
        return value


def _scalar_id(value: Any) -> Any:
    return value


def _key_id(key: str) -> Callable[[Any], Any]:
    return lambda item: item.get(key, _MISSING) if isinstance(item, dict) else _MISSING


def _dedupe(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if not any(_same(v, seen) for seen in out):
            out.append(v)
    return out


def _position(items: list[Any], value: Any, ident: Callable[[Any], Any]) -> int:
    return next((i for i, v in enumerate(items) if _same(ident(v), value)), -1)


def _normalize(
    merged: list[Any], patch_order: list[Any], server_order: list[Any], ident: Callable[[Any], Any]
) -> list[Any]:
    """normalizeElementOrder: the items the patch names keep the patch's order, the others the
    server's; the two are then interleaved by their place in the server's list. An item new to
    the server goes before the server's items it is compared with, as in the real server."""
    wanted = [ident(v) for v in patch_order]
    in_patch = [v for v in merged if any(_same(ident(v), w) for w in wanted)]
    server_only = [v for v in merged if not any(_same(ident(v), w) for w in wanted)]
    in_patch.sort(key=lambda v: _position(patch_order, ident(v), ident))
    server_only.sort(key=lambda v: _position(server_order, ident(v), ident))
    out: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(in_patch):
        if j >= len(in_patch):
            out.append(server_only[i])
            i += 1
            continue
        if i < len(server_only):
            left = _position(server_order, ident(server_only[i]), ident)
            right = _position(server_order, ident(in_patch[j]), ident)
            if 0 <= left < right:
                out.append(server_only[i])
                i += 1
                continue
        out.append(in_patch[j])
        j += 1
    return out
