"""The verbs of the Kubernetes API over the store, independent of HTTP.

The HTTP layer and the simulated kubelet both go through this class, so every write gets the same
validation, resourceVersion handling and watch events as it would on a real API server.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubesim.apiserver.patches import (
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
)
from kubesim.apiserver.selectors import FieldSelector, LabelSelector
from kubesim.apiserver.store import Store
from kubesim.registry import deepjson, kinds
from kubesim.registry.errors import (
    ApiError,
    FieldError,
    already_exists,
    bad_request,
    conflict,
    expired,
    invalid,
    method_not_allowed,
    not_found,
    timeout,
    unsupported_media_type,
)
from kubesim.registry.names import name_rule_for, validate_object_meta
from kubesim.registry.resources import Registry, ResourceType
from kubesim.registry.schema import admit_custom_object, validate_crd

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACE_KEY = ("", "namespaces")
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

# Characters of generated name suffixes, as in apiserver's names.SimpleNameGenerator.
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class WriteOptions:
    dry_run: bool = False
    # Strict | Warn | Ignore (the API server's default is Warn).
    field_validation: str = "Warn"
    warnings: list[str] = field(default_factory=list)


@dataclass
class ListOptions:
    labels: LabelSelector
    fields: FieldSelector
    limit: int = 0
    continue_token: str | None = None
    resource_version: str | None = None
    resource_version_match: str | None = None


class Api:
    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        for crd in store.items(CRD_KEY):
            registry.set_crd(crd)
        for name in DEFAULT_NAMESPACES:
            if store.get(NAMESPACE_KEY, None, name) is None:
                self.create(self._type("", "v1", "namespaces"), None, {"metadata": {"name": name}})

    def _type(self, group: str, version: str, plural: str) -> ResourceType:
        rt = self.registry.get(group, version, plural)
        assert rt is not None
        return rt

    # -- reads -------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        return kinds.present(rt, self._existing(rt, namespace, name))

    def _existing(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        obj = self.store.get(rt.storage_key, namespace if rt.namespaced else None, name)
        if obj is None:
            raise not_found(rt.plural, rt.group, name)
        return obj

    def list(self, rt: ResourceType, namespace: str | None, opts: ListOptions) -> dict[str, Any]:
        ns = namespace if rt.namespaced else None
        rv_match = opts.resource_version_match
        if rv_match and rv_match not in ("Exact", "NotOlderThan"):
            raise bad_request(f'resourceVersionMatch: Unsupported value: "{rv_match}"')
        if rv_match and not opts.resource_version:
            raise bad_request(
                "resourceVersionMatch is forbidden unless resourceVersion is provided"
            )
        if opts.continue_token:
            if opts.resource_version not in (None, ""):
                raise bad_request("specifying resource version is not allowed when using continue")
            at_rv, after = _decode_continue(opts.continue_token)
            try:
                objects = self.store.snapshot(rt.storage_key, ns, at_rv)
            except ApiError:
                raise expired(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter."
                ) from None
        else:
            after = None
            at_rv = self.store.resource_version
            requested = _parse_rv(opts.resource_version)
            if requested and requested > at_rv:
                raise timeout(f"Too large resource version: {requested}, current: {at_rv}")
            if rv_match == "Exact" and requested:
                at_rv = requested
                objects = self.store.snapshot(rt.storage_key, ns, at_rv)
            else:
                objects = self.store.items(rt.storage_key, ns)
        matched = [o for o in objects if opts.labels.matches(_labels(o)) and opts.fields.matches(o)]
        if after is not None:
            matched = [o for o in matched if _order_key(o) > after]
        meta: dict[str, Any] = {"resourceVersion": str(at_rv)}
        if opts.limit and len(matched) > opts.limit:
            remaining = len(matched) - opts.limit
            matched = matched[: opts.limit]
            meta["continue"] = _encode_continue(at_rv, _order_key(matched[-1]))
            meta["remainingItemCount"] = remaining
        items = [kinds.present(rt, o) for o in matched]
        if not rt.custom:
            # Like a real server, typed lists do not repeat apiVersion/kind on their items.
            items = [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")} for o in items]
        return {
            "apiVersion": rt.api_version,
            "kind": rt.list_kind,
            "metadata": meta,
            "items": items,
        }

    # -- create ------------------------------------------------------------------------------

    def create(
        self,
        rt: ResourceType,
        namespace: str | None,
        body: Any,
        opts: WriteOptions | None = None,
    ) -> dict[str, Any]:
        opts = opts or WriteOptions()
        obj = self._decode(rt, body)
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
            suffix = "".join(random.choices(_NAME_ALPHABET, k=5))
            meta["name"] = f"{meta['generateName']}{suffix}"
        name = meta.get("name") or ""
        errors = validate_object_meta(meta, namespaced=rt.namespaced, name_rule=self._name_rule(rt))
        if not name:
            errors.insert(
                0,
                FieldError(
                    "metadata.name", "FieldValueRequired", "name or generateName is required"
                ),
            )
        if errors:
            raise invalid(rt.kind, rt.group, name, errors)
        for key in ("uid", "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        if rt.generation:
            meta["generation"] = 1
        kinds.prepare_create(rt, obj)
        obj = self._admit(rt, obj, None, opts)
        if rt.namespaced:
            self._namespace_accepts(namespace or "")
        if self.store.get(rt.storage_key, namespace if rt.namespaced else None, name):
            raise already_exists(rt.plural, rt.group, name)
        if opts.dry_run:
            return kinds.present(rt, obj)
        stored = self.store.put(rt.storage_key, kinds.to_storage(rt, obj))
        self._after_write(rt, stored, None)
        return kinds.present(rt, stored)

    def _decode(self, rt: ResourceType, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request(
                f"the body of the request must be a JSON object, not {type(body).__name__}"
            )
        obj = deepjson.deepcopy(body)
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
        return obj

    def _name_rule(self, rt: ResourceType) -> str:
        return name_rule_for(rt.plural, rt.group, custom=rt.custom)

    def _namespace_accepts(self, namespace: str) -> None:
        ns = self.store.get(NAMESPACE_KEY, None, namespace)
        if ns is None:
            raise not_found("namespaces", "", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
            )

    def _admit(
        self,
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
            if admission.unknown_fields and opts.field_validation == "Strict":
                unknown = ", ".join(f'unknown field "{f}"' for f in admission.unknown_fields)
                raise bad_request(f"strict decoding error: {unknown}")
            if opts.field_validation == "Warn":
                opts.warnings.extend(f'unknown field "{f}"' for f in admission.unknown_fields)
        if (rt.group, rt.plural) == CRD_KEY:
            errors.extend(validate_crd(obj))
        errors.extend(kinds.validate(rt, obj, old))
        if errors:
            raise invalid(rt.kind, rt.group, name, errors)
        return obj

    # -- update and patch --------------------------------------------------------------------

    def update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        opts: WriteOptions | None = None,
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        opts = opts or WriteOptions()
        old = self._existing(rt, namespace, name)
        new = self._decode(rt, body)
        body_name = new["metadata"].get("name")
        if body_name and body_name != name:
            raise bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})"
            )
        want_rv = new["metadata"].get("resourceVersion")
        if want_rv and want_rv != old["metadata"]["resourceVersion"]:
            raise conflict(rt.plural, rt.group, name)
        if not want_rv and not rt.unconditional_update:
            raise invalid(
                rt.kind,
                rt.group,
                name,
                [
                    FieldError(
                        "metadata.resourceVersion",
                        "FieldValueInvalid",
                        "must be specified for an update",
                        0,
                    )
                ],
            )
        return self._replace(rt, old, new, opts, subresource)

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        patch: Any,
        content_type: str,
        opts: WriteOptions | None = None,
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        opts = opts or WriteOptions()
        accepted = [JSON_PATCH, MERGE_PATCH] + ([] if rt.custom else [STRATEGIC_PATCH])
        if content_type not in accepted:
            raise unsupported_media_type(content_type, accepted)
        old = self._existing(rt, namespace, name)
        current = kinds.present(rt, old)
        if content_type == JSON_PATCH:
            new = apply_json_patch(current, patch)
        elif content_type == MERGE_PATCH:
            new = apply_merge_patch(current, patch)
        else:
            new = apply_strategic_merge_patch(current, patch, rt.kind)
        new = self._decode(rt, new)
        if new["metadata"].get("name") != name:
            raise bad_request("metadata.name: a patch may not change the name")
        if new["metadata"].get("resourceVersion") != old["metadata"]["resourceVersion"]:
            # The patch carried a resourceVersion precondition that no longer holds.
            raise conflict(rt.plural, rt.group, name)
        return self._replace(rt, old, new, opts, subresource)

    def _replace(
        self,
        rt: ResourceType,
        old: dict[str, Any],
        new: dict[str, Any],
        opts: WriteOptions,
        subresource: str | None,
    ) -> dict[str, Any]:
        new = kinds.to_storage(rt, new)
        old_meta = old["metadata"]
        if subresource == "status":
            # Writes to /status change status only.
            new = {**old, "status": new.get("status")}
            if new["status"] is None:
                new.pop("status")
            new["metadata"] = dict(old_meta)
        else:
            meta = new["metadata"]
            for key in ("uid", "creationTimestamp", "deletionTimestamp", "generation",
                        "deletionGracePeriodSeconds", "namespace"):  # fmt: skip
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
            errors = validate_object_meta(
                meta, namespaced=rt.namespaced, name_rule=self._name_rule(rt)
            )
            if errors:
                raise invalid(rt.kind, rt.group, meta.get("name", ""), errors)
        new = self._admit(rt, new, old, opts)
        new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        if deepjson.equal(new, old):
            return kinds.present(rt, old)  # a no-op write stores nothing and notifies nobody
        if rt.generation and _spec_changed(old, new):
            new["metadata"]["generation"] = old_meta.get("generation", 1) + 1
        if opts.dry_run:
            return kinds.present(rt, new)
        meta = new["metadata"]
        if (
            meta.get("deletionTimestamp")
            and not meta.get("finalizers")
            and (rt.plural != "pods" or meta.get("deletionGracePeriodSeconds") == 0)
        ):
            # The last finalizer is gone: the object goes now.
            return kinds.present(rt, self._remove(rt, new))
        stored = self.store.put(rt.storage_key, new)
        self._after_write(rt, stored, old)
        return kinds.present(rt, stored)

    # -- delete ------------------------------------------------------------------------------

    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        *,
        grace_period: int | None = None,
        preconditions: dict[str, Any] | None = None,
        propagation: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        old = self._existing(rt, namespace, name)
        meta = old["metadata"]
        pre = preconditions or {}
        if pre.get("uid") and pre["uid"] != meta.get("uid"):
            raise conflict(
                rt.plural, rt.group, name,
                f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: "
                f"{meta.get('uid')}",
            )  # fmt: skip
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
            raise conflict(
                rt.plural, rt.group, name,
                f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                f"ResourceVersion in object meta: {meta['resourceVersion']}",
            )  # fmt: skip
        if dry_run:
            return kinds.present(rt, old)
        grace = self._grace(rt, old, grace_period)
        if meta.get("finalizers") or grace:
            if meta.get("deletionTimestamp") and (
                not grace or grace >= (meta.get("deletionGracePeriodSeconds") or 0)
            ):
                return kinds.present(rt, old)  # already terminating, no shorter grace
            when = datetime.now(UTC) + timedelta(seconds=grace or 0)
            marked = {**old, "metadata": {**meta}}
            marked["metadata"]["deletionTimestamp"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
            marked["metadata"]["deletionGracePeriodSeconds"] = grace or 0
            if rt.plural == "namespaces":
                marked["status"] = {**(old.get("status") or {}), "phase": "Terminating"}
            stored = self.store.put(rt.storage_key, marked)
            if rt.plural == "namespaces" and not rt.group:
                self._empty_namespace(name)
                return kinds.present(rt, self._remove(rt, stored))
            return kinds.present(rt, stored)
        gone = self._remove(rt, old, orphan=propagation == "Orphan")
        return kinds.present(rt, gone)

    def _grace(self, rt: ResourceType, obj: dict[str, Any], requested: int | None) -> int:
        """Seconds of graceful termination: only pods a kubelet runs have any."""
        if rt.group or rt.plural != "pods":
            return 0
        spec = obj.get("spec") or {}
        if not spec.get("nodeName") or (obj.get("status") or {}).get("phase") in (
            "Succeeded",
            "Failed",
        ):
            return 0  # nothing runs it, so nothing to wait for
        if requested is None:
            requested = spec.get("terminationGracePeriodSeconds", 30)
        return max(0, int(requested))

    def system_write(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Store an object as a controller (scheduler, kubelet, volume binder) would write it.

        Skips user-facing validation (e.g. a pod's spec is immutable to users, but the scheduler
        sets nodeName) while keeping resourceVersions and watch events exact.
        """
        meta = obj["metadata"]
        current = self.store.get(rt.storage_key, meta.get("namespace"), meta["name"])
        if current is None:
            raise not_found(rt.plural, rt.group, meta["name"])
        if meta.get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise conflict(rt.plural, rt.group, meta["name"])
        stored = self.store.put(rt.storage_key, kinds.to_storage(rt, copy.deepcopy(obj)))
        return kinds.present(rt, stored)

    def force_remove(self, rt: ResourceType, namespace: str | None, name: str) -> None:
        """The kubelet's final delete of a terminated pod."""
        obj = self.store.get(rt.storage_key, namespace, name)
        if obj is not None:
            self._remove(rt, obj)

    def _remove(
        self, rt: ResourceType, obj: dict[str, Any], *, orphan: bool = False
    ) -> dict[str, Any]:
        meta = obj["metadata"]
        gone = self.store.remove(rt.storage_key, meta.get("namespace"), meta["name"])
        assert gone is not None
        if (rt.group, rt.plural) == CRD_KEY:
            self._drop_crd(obj)
        elif rt.plural == "namespaces" and not rt.group:
            self._empty_namespace(meta["name"])
        if not orphan:
            self._collect_dependents(meta.get("namespace"), meta.get("uid", ""))
        return gone

    def _drop_crd(self, crd: dict[str, Any]) -> None:
        name = crd["metadata"]["name"]
        key = self.registry.crd_storage(name)
        types = self.registry.remove_crd(name)
        if key is None or not types:
            return
        for obj in self.store.items(key):
            self.store.remove(key, obj["metadata"].get("namespace"), obj["metadata"]["name"])

    def _empty_namespace(self, namespace: str) -> None:
        seen: set[tuple[str, str]] = set()
        for rt in self.registry:
            if not rt.namespaced or rt.storage_key in seen:
                continue
            seen.add(rt.storage_key)
            for obj in self.store.items(rt.storage_key, namespace):
                self.store.remove(rt.storage_key, namespace, obj["metadata"]["name"])

    def _collect_dependents(self, namespace: str | None, uid: str) -> None:
        """Garbage-collect objects all of whose owners are gone (background propagation)."""
        if not uid:
            return
        seen: set[tuple[str, str]] = set()
        for rt in list(self.registry):
            if rt.storage_key in seen or (namespace and not rt.namespaced):
                continue
            seen.add(rt.storage_key)
            for obj in self.store.items(rt.storage_key, namespace if rt.namespaced else None):
                owners = obj["metadata"].get("ownerReferences") or []
                if not any(o.get("uid") == uid for o in owners):
                    continue
                if all(o.get("uid") == uid or not self._uid_exists(o) for o in owners):
                    self._remove(rt, obj)

    def _uid_exists(self, owner: dict[str, Any]) -> bool:
        group = owner.get("apiVersion", "").rpartition("/")[0]
        for rt in self.registry:
            if rt.group == group and rt.kind == owner.get("kind"):
                for obj in self.store.items(rt.storage_key):
                    if obj["metadata"].get("uid") == owner.get("uid"):
                        return True
                return False
        return False

    def delete_collection(
        self, rt: ResourceType, namespace: str | None, opts: ListOptions, **kwargs: Any
    ) -> dict[str, Any]:
        listed = self.list(rt, namespace, opts)
        deleted = []
        for item in listed["items"]:
            meta = item["metadata"]
            deleted.append(self.delete(rt, meta.get("namespace"), meta["name"], **kwargs))
        return {**listed, "items": deleted}

    # -- hooks -------------------------------------------------------------------------------

    def _after_write(
        self, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        if (rt.group, rt.plural) == CRD_KEY:
            self._serve_crd(obj)
        elif rt.plural == "namespaces" and not rt.group and old is None:
            # The service-account controller gives every namespace its `default` account.
            sa = self._type("", "v1", "serviceaccounts")
            name = obj["metadata"]["name"]
            if self.store.get(sa.storage_key, name, "default") is None:
                self.create(sa, name, {"metadata": {"name": "default"}})

    def _serve_crd(self, crd: dict[str, Any]) -> None:
        self.registry.set_crd(crd)
        names = crd["spec"]["names"]
        accepted = {
            k: names[k]
            for k in ("plural", "singular", "kind", "listKind", "shortNames", "categories")
            if k in names
        }
        accepted.setdefault("listKind", names["kind"] + "List")
        accepted.setdefault("singular", names["kind"].lower())
        status = {
            "acceptedNames": accepted,
            "storedVersions": [v["name"] for v in crd["spec"]["versions"] if v.get("storage")],
            "conditions": [
                _condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                _condition(
                    "Established", "InitialNamesAccepted", "the initial names have been accepted"
                ),
            ],
        }
        if crd.get("status") != status:
            self.store.put(CRD_KEY, {**crd, "metadata": dict(crd["metadata"]), "status": status})


def _condition(kind: str, reason: str, message: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": now_rfc3339(),
    }


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return obj["metadata"].get("labels") or {}


def _order_key(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace') or ''}/{meta['name']}"


def _spec_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    def body(o: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in o.items() if k not in ("metadata", "status")}

    return not deepjson.equal(body(old), body(new))


def _parse_rv(value: str | None) -> int:
    if value in (None, ""):
        return 0
    try:
        rv = int(value or 0)
    except ValueError:
        raise bad_request(
            f"resourceVersion: Invalid value: {value!r}: must be an integer"
        ) from None
    if rv < 0:
        raise bad_request(f"resourceVersion: Invalid value: {value!r}: must be non-negative")
    return rv


def _encode_continue(rv: int, after: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": after + "\x00"})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        return int(data["rv"]), str(data["start"]).rstrip("\x00")
    except (ValueError, KeyError, TypeError):
        raise bad_request(f"continue key is not valid: {token!r}") from None


__all__ = [
    "APPLY_PATCH",
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_PATCH",
    "Api",
    "ListOptions",
    "WriteOptions",
    "method_not_allowed",
]
