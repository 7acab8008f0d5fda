"""A custom resource's scale paths (CRD `subresources.scale`), read and checked as the real
apiextensions-apiserver does: unstructured.NestedInt64 / NestedString on the path split at its
dots (pkg/registry/customresource/etcd.go), and customResourceValidator.ValidateScaleSpec /
ValidateScaleStatus (validator.go) on every write of such a resource.
"""

from __future__ import annotations

from typing import Any

from kubesim.registry.errors import FieldError, go_sprint, go_type

INT64 = (-(2**63), 2**63 - 1)
MAX_INT32 = 2**31 - 1


class AccessorError(ValueError):
    """An unstructured accessor's error ("<path> accessor error: ..."), a plain Go error."""


def fields_of(path: str) -> list[str]:
    """splitReplicasPath: the path without its leading dot, split at every dot."""
    return path.removeprefix(".").split(".")


def _json_path(fields: list[str]) -> str:
    return "." + ".".join(fields)


def _mismatch(fields: list[str], value: Any, expected: str) -> AccessorError:
    return AccessorError(
        f"{_json_path(fields)} accessor error: {go_sprint(value)} is of the type "
        f"{go_type(value)}, expected {expected}"
    )


def nested(obj: dict[str, Any], fields: list[str]) -> tuple[Any, bool]:
    """unstructured.NestedFieldNoCopy: (value, found)."""
    value: Any = obj
    for i, field in enumerate(fields):
        if value is None:
            return None, False
        if not isinstance(value, dict):
            raise _mismatch(fields[: i + 1], value, "map[string]interface{}")
        if field not in value:
            return None, False
        value = value[field]
    return value, True


def nested_int64(obj: dict[str, Any], path: str) -> tuple[int, bool]:
    fields = fields_of(path)
    value, found = nested(obj, fields)
    if not found:
        return 0, False
    if isinstance(value, int) and not isinstance(value, bool):
        if INT64[0] <= value <= INT64[1]:
            return value, True
        value = float(value)  # what the decoder makes of an integer past int64
    raise _mismatch(fields, value, "int64")


def nested_string(obj: dict[str, Any], path: str) -> tuple[str, bool]:
    fields = fields_of(path)
    value, found = nested(obj, fields)
    if not found:
        return "", False
    if not isinstance(value, str):
        raise _mismatch(fields, value, "string")
    return value, True


def scale_of(paths: dict[str, Any], obj: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """scaleFromCustomResource: the autoscaling/v1 Scale of `obj`, and whether its spec
    replicas path was there. Raises AccessorError for a value of the wrong type."""
    spec_replicas, found = nested_int64(obj, paths.get("specReplicasPath") or "")
    status_replicas, _ = nested_int64(obj, paths.get("statusReplicasPath") or "")
    selector = ""
    if paths.get("labelSelectorPath"):
        selector, _ = nested_string(obj, paths["labelSelectorPath"])
    meta = obj["metadata"]
    # autoscaling/v1 ScaleSpec.replicas and ScaleStatus.selector are omitempty.
    status: dict[str, Any] = {"replicas": status_replicas}
    if selector:
        status["selector"] = selector
    scale = {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if meta.get(k)
        },
        "spec": {"replicas": spec_replicas} if spec_replicas else {},
        "status": status,
    }
    return scale, found


def _replicas_errors(obj: dict[str, Any], path: str) -> list[FieldError]:
    try:
        replicas, _ = nested_int64(obj, path)
    except AccessorError as err:
        return [FieldError(path, "FieldValueInvalid", str(err), 0)]
    if replicas < 0:
        return [FieldError(path, "FieldValueInvalid", "should be a non-negative integer", replicas)]
    if replicas > MAX_INT32:
        detail = f"should be less than or equal to {MAX_INT32}"
        return [FieldError(path, "FieldValueInvalid", detail, replicas)]
    return []


def scale_errors(paths: dict[str, Any] | None, obj: dict[str, Any]) -> list[FieldError]:
    """ValidateScaleSpec and ValidateScaleStatus (the field is the path as the CRD writes it)."""
    if paths is None:
        return []
    errors = _replicas_errors(obj, paths.get("specReplicasPath") or "")
    errors += _replicas_errors(obj, paths.get("statusReplicasPath") or "")
    selector_path = paths.get("labelSelectorPath")
    if selector_path is not None:
        try:
            nested_string(obj, selector_path)
        except AccessorError as err:
            errors.append(FieldError(selector_path, "FieldValueInvalid", str(err), ""))
    return errors
