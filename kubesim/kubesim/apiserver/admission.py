"""What a write must pass before it is stored: decoding, server-set metadata and validation.

Shared by every write verb (create, update, patch) so each refuses a bad object with the same
400 or 422 a real API server answers, naming every bad field.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubesim.apiserver.store import Store
from kubesim.registry import deepjson, kinds
from kubesim.registry.errors import (
    ApiError,
    DecodeError,
    FieldError,
    bad_request,
    go_sprint,
    invalid,
    not_found,
    strict_decoding_error,
)
from kubesim.registry.names import name_rule_for, validate_object_meta
from kubesim.registry.resources import ResourceType
from kubesim.registry.scale import scale_errors
from kubesim.registry.schema import admit_custom_object, validate_crd

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACE_KEY = ("", "namespaces")

# Characters of generated name suffixes, as in apiserver's names.SimpleNameGenerator.
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# Metadata only the server writes: an update keeps the stored values whatever the body says.
SERVER_FIELDS = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "generation",
    "deletionGracePeriodSeconds",
    "namespace",
)


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class WriteOptions:
    dry_run: bool = False
    # Strict | Warn | Ignore (the API server's default is Warn).
    field_validation: str = "Warn"
    warnings: list[str] = field(default_factory=list)
    # Who writes, for managedFields: the fieldManager parameter or the User-Agent's product.
    manager: str = ""
    # Server-side apply has worked out the managedFields already (apply.py).
    applied: bool = False
    managed_fields: list[dict[str, Any]] | None = None


def decode_body(rt: ResourceType, body: Any) -> dict[str, Any]:
    """A copy of a request body as an object of the kind `rt`, or the decoder's 400."""
    if not isinstance(body, dict):
        raise bad_request(
            f"the body of the request must be a JSON object, not {type(body).__name__}"
        )
    obj: dict[str, Any] = deepjson.deepcopy(body)
    if rt.custom and not obj.get("kind"):
        raise bad_request(f"Object 'Kind' is missing in '{deepjson.dumps(body)[:200]}'")
    # Typed kinds take missing apiVersion/kind from the URL, as the real decoder does.
    obj.setdefault("apiVersion", rt.api_version)
    obj.setdefault("kind", rt.kind)
    if obj["apiVersion"] != rt.api_version:
        raise bad_request(
            f"the API version in the data ({obj['apiVersion']}) does not match the expected "
            f"API version ({rt.api_version})"
        )
    if obj["kind"] != rt.kind:
        raise bad_request(
            f"the kind in the data ({obj['kind']}) does not match the expected kind ({rt.kind})"
        )
    meta = obj.get("metadata")
    if meta is None:
        obj["metadata"] = {}
    elif not isinstance(meta, dict):
        raise bad_request("metadata: must be an object")
    drop_empty_metadata(obj["metadata"])
    kinds.decode(rt, obj)
    return obj


# ObjectMeta fields a real server never stores empty: they are `omitempty` (or pointers), and
# every object's metadata passes through the Go type (custom resources' too: the decoder's
# schemaobjectmeta.SetObjectMeta), so `labels: {}` or `finalizers: []` is written as absent.
_OMITEMPTY_META = (
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
    "ownerReferences", "finalizers", "managedFields",
)  # fmt: skip


def drop_empty_metadata(meta: dict[str, Any]) -> None:
    for key in _OMITEMPTY_META:
        value = meta.get(key, 0)
        if value is None or (
            # a pointer keeps its zero value: deletionGracePeriodSeconds: 0 stays
            key != "deletionGracePeriodSeconds"
            and (value in ("", {}, []) or (key == "generation" and value == 0))
        ):
            meta.pop(key, None)


def name_rule(rt: ResourceType) -> str:
    return name_rule_for(rt.plural, rt.group, custom=rt.custom)


def prepare_new(rt: ResourceType, obj: dict[str, Any], namespace: str | None) -> str:
    """Validate a new object's metadata and set what the server owns; returns its name."""
    meta = obj["metadata"]
    if rt.namespaced:
        if meta.get("namespace") not in (None, "", namespace):
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    if not meta.get("name") and meta.get("generateName"):
        suffix = "".join(random.choices(NAME_ALPHABET, k=5))
        meta["name"] = f"{meta['generateName']}{suffix}"
    name: str = meta.get("name") or ""
    errors = validate_object_meta(meta, namespaced=rt.namespaced, name_rule=name_rule(rt))
    if not name:
        errors.insert(
            0,
            FieldError("metadata.name", "FieldValueRequired", "name or generateName is required"),
        )
    if errors:
        raise invalid(rt.kind, rt.group, name, errors)
    for key in ("uid", "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
        meta.pop(key, None)
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now_rfc3339()
    if rt.generation:
        meta["generation"] = 1
    return name


def prepare_replacement(
    rt: ResourceType, old: dict[str, Any], new: dict[str, Any], subresource: str | None
) -> dict[str, Any]:
    """The object an update of `old` to `new` stores, before validation of its content."""
    old_meta = old["metadata"]
    if subresource == "status":
        # Writes to /status change status only.
        replacement = {**old, "status": new.get("status")}
        if replacement["status"] is None:
            replacement.pop("status")
        replacement["metadata"] = dict(old_meta)
        return replacement
    meta = new["metadata"]
    for key in SERVER_FIELDS:
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)
    if rt.has_status:
        # Writes to the main resource leave status alone.
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
    kinds.prepare_update(rt, new, old)
    errors = validate_object_meta(meta, namespaced=rt.namespaced, name_rule=name_rule(rt))
    if errors:
        raise invalid(rt.kind, rt.group, meta.get("name", ""), errors)
    return new


def admit(
    rt: ResourceType,
    obj: dict[str, Any],
    old: dict[str, Any] | None,
    opts: WriteOptions,
) -> dict[str, Any]:
    """Schema (custom kinds) and kind validation; raises 422 naming every bad field."""
    name = obj["metadata"].get("name", "")
    errors: list[FieldError] = []
    if rt.custom:
        admission = admit_custom_object(rt.schema, obj)
        obj = admission.obj
        errors.extend(admission.errors)
        errors.extend(scale_errors(rt.scale, obj))
        if admission.unknown_fields and opts.field_validation == "Strict":
            cause = strict_decoding_error(admission.unknown_fields)
            raise DecodeError(rt.kind, rt.version, cause)
        if opts.field_validation == "Warn":
            opts.warnings.extend(f'unknown field "{f}"' for f in admission.unknown_fields)
    if (rt.group, rt.plural) == CRD_KEY:
        errors.extend(validate_crd(obj))
    errors.extend(kinds.validate(rt, obj, old))
    if errors:
        raise invalid(rt.kind, rt.group, name, errors)
    return obj


def patch_decode_error(
    patch: Any, patched: dict[str, Any], cause: str, *, strategic: bool
) -> ApiError:
    """What a PATCH answers when its result does not decode (handlers/patch.go): not the 400 of
    a create, but a bare 422 on the field `patch`, showing the patched object as JSON (JSON and
    merge patches) or the patch itself as Go's %+v prints a map (strategic merge patches)."""
    value = go_sprint(patch) if strategic else _go_json(patched)
    return invalid("", "", "", [FieldError("patch", "FieldValueInvalid", cause, value)])


def _go_json(obj: Any) -> str:
    """encoding/json's text of a map: keys sorted, no spaces, <, > and & escaped."""
    try:
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except RecursionError:  # too deep for the json module: the order is lost, not the content
        text = deepjson.dumps(obj)
    for ch, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                       ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):  # fmt: skip
        text = text.replace(ch, escape)
    return text


def sets_resource_version(obj: dict[str, Any]) -> bool:
    """Whether a new object carries a resourceVersion etcd3's store.Create refuses: one that
    parses (as a uint64) to anything but 0. Others are dropped without a word."""
    rv = obj["metadata"].get("resourceVersion")
    return isinstance(rv, str) and rv.isascii() and rv.isdigit() and 0 < int(rv) < 2**64


def resource_version_set_on_create() -> ApiError:
    # storage.ErrResourceVersionSetOnCreate is a plain error: the handler answers it as a 500
    # with no reason (responsewriters.ErrorToAPIStatus).
    return ApiError(500, "", "resourceVersion should not be set on objects to be created")


def check_namespace_accepts(store: Store, namespace: str) -> None:
    """New namespaced objects need their namespace to exist and not be terminating."""
    ns = store.get(NAMESPACE_KEY, None, namespace)
    if ns is None:
        raise not_found("namespaces", "", namespace)
    if ns["metadata"].get("deletionTimestamp"):
        raise ApiError(
            403,
            "Forbidden",
            f"unable to create new content in namespace {namespace} because it is being terminated",
        )


def spec_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether anything but metadata and status differs: what bumps metadata.generation."""

    def body(o: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in o.items() if k not in ("metadata", "status")}

    return not deepjson.equal(body(old), body(new))
