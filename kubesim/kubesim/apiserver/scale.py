"""The `scale` subresource of custom resources: an autoscaling/v1 Scale view of JSON paths."""

from __future__ import annotations

import copy
from typing import Any

from kubesim.apiserver.api import Api
from kubesim.apiserver.patches import JSON_PATCH, MERGE_PATCH, apply_json_patch, apply_merge_patch
from kubesim.registry.errors import FieldError, bad_request, invalid, unsupported_media_type
from kubesim.registry.resources import ResourceType


def _path(spec: str) -> list[str]:
    # Scale paths are simple dotted paths such as `.spec.replicas`.
    return [p for p in spec.split(".") if p]


def _read(obj: dict[str, Any], path: str | None) -> Any:
    cur: Any = obj
    for part in _path(path or ""):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _write(obj: dict[str, Any], path: str, value: Any) -> None:
    parts = _path(path)
    cur = obj
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = value


def _scale_of(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    paths = rt.scale or {}
    meta = obj["metadata"]
    status: dict[str, Any] = {"replicas": _read(obj, paths.get("statusReplicasPath")) or 0}
    selector = _read(obj, paths.get("labelSelectorPath"))
    if selector:
        status["selector"] = selector
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": _read(obj, paths.get("specReplicasPath")) or 0},
        "status": status,
    }


def get_scale(api: Api, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
    return _scale_of(rt, api.get(rt, namespace, name))


def update_scale(
    api: Api,
    rt: ResourceType,
    namespace: str | None,
    name: str,
    body: Any,
    patch_type: str | None,
) -> dict[str, Any]:
    """PUT (patch_type None) or PATCH a Scale; writes spec replicas back into the object."""
    obj = api.get(rt, namespace, name)
    scale = _scale_of(rt, obj)
    if patch_type is None:
        new_scale = body
    elif patch_type == MERGE_PATCH:
        new_scale = apply_merge_patch(scale, body)
    elif patch_type == JSON_PATCH:
        new_scale = apply_json_patch(scale, body)
    else:
        raise unsupported_media_type(patch_type, [JSON_PATCH, MERGE_PATCH])
    if not isinstance(new_scale, dict):
        raise bad_request("a Scale must be a JSON object")
    replicas = (new_scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise invalid(
            "Scale",
            "autoscaling",
            name,
            [FieldError("spec.replicas", "FieldValueInvalid", "must be greater than or equal to 0",
                        replicas)],
        )  # fmt: skip
    want_rv = (new_scale.get("metadata") or {}).get("resourceVersion")
    updated = copy.deepcopy(obj)
    updated["metadata"]["resourceVersion"] = want_rv or obj["metadata"]["resourceVersion"]
    _write(updated, (rt.scale or {}).get("specReplicasPath", ".spec.replicas"), replicas)
    return _scale_of(rt, api.update(rt, namespace, name, updated))
