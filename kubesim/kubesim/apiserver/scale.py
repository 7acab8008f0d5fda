"""The `scale` subresource of custom resources: an autoscaling/v1 Scale view of JSON paths.

As the real ScaleREST (apiextensions-apiserver pkg/registry/customresource/etcd.go) serves it:
the paths are read by registry.scale; a GET of an object without spec replicas is a 500; a PUT
or PATCH writes spec.replicas back through the object's own update (so its validation, the
scale paths' included, decides), and answers the Scale of what was stored.
"""

from __future__ import annotations

import copy
from typing import Any

from kubesim.apiserver.admission import WriteOptions, patch_decode_error
from kubesim.apiserver.api import Api
from kubesim.apiserver.patches import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    apply_json_patch,
    apply_merge_patch,
)
from kubesim.registry import workload_scale
from kubesim.registry.errors import (
    ApiError,
    DecodeError,
    bad_request,
    go_quote,
    invalid,
    unsupported_media_type,
)
from kubesim.registry.resources import ResourceType
from kubesim.registry.scale import AccessorError, fields_of, scale_of

# What an old Scale says when the object has no spec replicas: a PATCH must then set them.
INVALID_SPEC_REPLICAS = -(2**31)
INT32 = (-(2**31), 2**31 - 1)


def _paths(rt: ResourceType) -> dict[str, Any]:
    return rt.scale or ({} if rt.custom else workload_scale.PATHS)


def _with_selector(rt: ResourceType, obj: dict[str, Any], scale: dict[str, Any]) -> dict[str, Any]:
    """A built-in kind's Scale reports its selector (ScaleStatus.selector is omitempty)."""
    if not rt.custom:
        text = workload_scale.selector_text(rt.plural, obj)
        if text:
            scale["status"]["selector"] = text
    return scale


def _plain_error(err: Exception) -> ApiError:
    # A plain Go error from the accessors: the handler answers 500 with no reason.
    return ApiError(500, "", str(err))


def _scale(rt: ResourceType, obj: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    try:
        scale, found = scale_of(_paths(rt), obj)
    except AccessorError as err:
        raise _plain_error(err) from None
    return _with_selector(rt, obj, scale), found


def get_scale(api: Api, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
    scale, found = _scale(rt, api.get(rt, namespace, name))
    if not found:
        why = f"the spec replicas field {go_quote(_paths(rt).get('specReplicasPath', ''))} "
        why += "does not exist"
        # errors.NewInternalError
        raise ApiError(
            500,
            "InternalError",
            f"Internal error occurred: {why}",
            details={"causes": [{"message": why}]},
        )
    return scale


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "string" if isinstance(value, str) else "object" if isinstance(value, dict) else "array"


def _decoded_replicas(scale: dict[str, Any]) -> int:
    """spec.replicas as decoding into autoscaling/v1 Scale leaves it (absent or null is 0);
    raises ValueError worded as encoding/json's error."""
    spec = scale.get("spec")
    if spec is None:
        return 0
    if not isinstance(spec, dict):
        kind = _json_kind(spec)
        raise ValueError(
            f"json: cannot unmarshal {kind} into Go struct field Scale.spec of type v1.ScaleSpec"
        )
    replicas = spec.get("replicas")
    if replicas is None:
        return 0
    where = "into Go struct field ScaleSpec.spec.replicas of type int32"
    if isinstance(replicas, bool) or not isinstance(replicas, (int, float)):
        raise ValueError(f"json: cannot unmarshal {_json_kind(replicas)} {where}")
    if isinstance(replicas, float) or not INT32[0] <= replicas <= INT32[1]:
        raise ValueError(f"json: cannot unmarshal number {replicas!r} {where}")
    return replicas


def _set_nested(obj: dict[str, Any], path: str, value: Any) -> None:
    """unstructured.SetNestedField."""
    fields = fields_of(path)
    cur = obj
    for i, field in enumerate(fields[:-1]):
        nxt = cur.get(field)
        if nxt is None:
            nxt = cur[field] = {}
        elif not isinstance(nxt, dict):
            where = "." + ".".join(fields[: i + 1])
            raise _plain_error(
                ValueError(f"value cannot be set because {where} is not a map[string]interface{{}}")
            )
        cur = nxt
    cur[fields[-1]] = value


def update_scale(
    api: Api,
    rt: ResourceType,
    namespace: str | None,
    name: str,
    body: Any,
    patch_type: str | None,
    manager: str = "",
) -> dict[str, Any]:
    """PUT (patch_type None) or PATCH a Scale; writes spec replicas back into the object (as
    `manager`'s update of the scale subresource)."""
    obj = api.get(rt, namespace, name)
    spec_path = _paths(rt).get("specReplicasPath") or ".spec.replicas"
    scale, found = _scale(rt, obj)
    if not found:
        scale["spec"] = {"replicas": INVALID_SPEC_REPLICAS}
    if patch_type is None:
        new_scale = body
    elif patch_type == MERGE_PATCH or (patch_type == STRATEGIC_PATCH and not rt.custom):
        # A Scale has no lists, so a strategic merge patch of a built-in one merges as JSON.
        new_scale = apply_merge_patch(scale, body)
    elif patch_type == JSON_PATCH:
        new_scale = apply_json_patch(scale, body)
    else:
        accepted = [JSON_PATCH, MERGE_PATCH] + ([] if rt.custom else [STRATEGIC_PATCH])
        raise unsupported_media_type(patch_type, accepted)
    if not isinstance(new_scale, dict):
        raise bad_request("a Scale must be a JSON object")
    try:
        replicas = _decoded_replicas(new_scale)
    except ValueError as err:
        if patch_type is None:
            raise DecodeError("Scale", "v1", str(err)) from None
        raise patch_decode_error(body, new_scale, str(err), strategic=False) from None
    if replicas == INVALID_SPEC_REPLICAS:
        raise bad_request(f"the spec replicas field {go_quote(spec_path)} cannot be empty")
    if not rt.custom:  # the built-in ScaleREST validates the Scale itself first
        errors = workload_scale.scale_errors(replicas)
        if errors:
            raise invalid("Scale", "autoscaling", name, errors)
    updated = copy.deepcopy(obj)
    _set_nested(updated, spec_path, replicas)
    meta = new_scale.get("metadata")
    want_rv = meta.get("resourceVersion") if isinstance(meta, dict) else None
    if want_rv:
        # The client's resourceVersion is the write's precondition.
        updated["metadata"]["resourceVersion"] = want_rv
    opts = WriteOptions(manager=manager)
    stored = api.update(rt, namespace, name, updated, opts, subresource="scale")
    try:
        return _with_selector(rt, stored, scale_of(_paths(rt), stored)[0])
    except AccessorError as err:
        raise bad_request(str(err)) from None
