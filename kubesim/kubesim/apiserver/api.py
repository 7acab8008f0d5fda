"""The verbs of the Kubernetes API over the store, independent of HTTP.

The HTTP layer and the simulated kubelet both go through this class, so every write gets the same
validation, resourceVersion handling and watch events as it would on a real API server. The work
of each verb lives by job: admission.py (what a write must pass), listing.py, deletion.py and
crds.py.
"""

from __future__ import annotations

import copy
from typing import Any

from kubesim.apiserver import aggregator
from kubesim.apiserver.admission import (
    CRD_KEY,
    NAMESPACE_KEY,
    WriteOptions,
    admit,
    check_namespace_accepts,
    decode_body,
    now_rfc3339,
    patch_decode_error,
    prepare_new,
    prepare_replacement,
    resource_version_set_on_create,
    sets_resource_version,
    spec_changed,
)
from kubesim.apiserver.apply import apply_config
from kubesim.apiserver.crds import serve_crd
from kubesim.apiserver.deletion import (
    FOREGROUND,
    ORPHAN,
    Deleter,
    check_preconditions,
    propagation_policy,
)
from kubesim.apiserver.listing import ListOptions, list_objects
from kubesim.apiserver.managed_fields import Write, tracked_fields
from kubesim.apiserver.managed_fields import validate as validate_managed_fields
from kubesim.apiserver.patches import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
)
from kubesim.apiserver.rbac_policy import CLUSTER_ROLES_KEY, aggregate_cluster_roles
from kubesim.apiserver.store import Store
from kubesim.registry import deepjson, kinds
from kubesim.registry.errors import (
    DecodeError,
    FieldError,
    already_exists,
    bad_request,
    conflict,
    invalid,
    not_found,
    unsupported_media_type,
)
from kubesim.registry.resources import Registry, ResourceType

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Api:
    """The API's verbs over one store, for the kinds the registry serves (CRDs included)."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self.deleter = Deleter(store, registry)
        for crd in store.items(CRD_KEY):
            registry.set_crd(crd)
        for name in DEFAULT_NAMESPACES:
            if store.get(NAMESPACE_KEY, None, name) is None:
                body = {"metadata": {"name": name}}
                ns = self._type("", "v1", "namespaces")
                self.create(ns, None, body, WriteOptions(manager="kube-apiserver"))
        aggregator.register_on_start(store, registry)  # the kube-aggregator's APIServices

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
        return list_objects(self.store, rt, namespace, opts)

    # -- create ------------------------------------------------------------------------------

    def create(
        self,
        rt: ResourceType,
        namespace: str | None,
        body: Any,
        opts: WriteOptions | None = None,
    ) -> dict[str, Any]:
        opts = opts or WriteOptions()
        requested = requested_managed_fields(body)
        obj = decode_body(rt, body)
        refused_version = sets_resource_version(obj)
        name = prepare_new(rt, obj, namespace)
        tracked: list[Any] = []  # the field manager sees the object decoded and defaulted

        def track(seen: dict[str, Any]) -> None:
            write = Write(rt, opts.manager)
            tracked.append(tracked_fields(write, None, seen, requested))

        kinds.prepare_create(rt, obj, None if rt.custom or opts.applied else track)
        obj = admit(rt, obj, None, opts)
        if opts.applied:
            tracked = [opts.managed_fields]
        elif not tracked:
            track(obj)
        set_managed_fields(rt, obj, tracked[0])
        if rt.namespaced:
            check_namespace_accepts(self.store, namespace or "")
        if refused_version and not opts.dry_run:  # a dry run never reaches etcd
            raise resource_version_set_on_create()
        if self.store.get(rt.storage_key, namespace if rt.namespaced else None, name):
            raise already_exists(rt.plural, rt.group, name)
        if opts.dry_run:
            return kinds.present(rt, obj)
        stored = self.store.put(rt.storage_key, kinds.to_storage(rt, obj))
        self._after_write(rt, stored, None)
        return kinds.present(rt, stored)

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
        requested = requested_managed_fields(body)
        new = decode_body(rt, body)
        body_name = new["metadata"].get("name")
        if body_name and body_name != name:
            raise bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})"
            )
        want_rv = new["metadata"].get("resourceVersion")
        if want_rv and want_rv != old["metadata"]["resourceVersion"]:
            raise conflict(rt.plural, rt.group, name)
        if not want_rv and not rt.unconditional_update:
            message = "must be specified for an update"
            missing = FieldError("metadata.resourceVersion", "FieldValueInvalid", message, 0)
            raise invalid(rt.kind, rt.group, name, [missing])
        return self._replace(rt, old, new, opts, subresource, requested)

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
        if content_type not in accepted:  # (apply is served by `apply`)
            raise unsupported_media_type(content_type, [*accepted, APPLY_PATCH])
        old = self._existing(rt, namespace, name)
        current = kinds.present(rt, old)
        if content_type == JSON_PATCH:
            new = apply_json_patch(current, patch)
        elif content_type == MERGE_PATCH:
            new = apply_merge_patch(current, patch)
        else:
            new = apply_strategic_merge_patch(current, patch, rt.kind)
        patched = new
        requested = requested_managed_fields(new)
        try:
            new = decode_body(rt, new)
            if new["metadata"].get("name") != name:
                raise bad_request("metadata.name: a patch may not change the name")
            if new["metadata"].get("resourceVersion") != old["metadata"]["resourceVersion"]:
                # The patch carried a resourceVersion precondition that no longer holds.
                raise conflict(rt.plural, rt.group, name)
            return self._replace(rt, old, new, opts, subresource, requested)
        except DecodeError as err:
            strategic = content_type == STRATEGIC_PATCH
            raise patch_decode_error(patch, patched, err.cause, strategic=strategic) from None

    def apply(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        config: dict[str, Any],
        opts: WriteOptions | None = None,
        *,
        force: bool = False,
        subresource: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Server-side apply of `config` (apply.py); creates the object when there is none
        (not through a subresource). Returns the object and whether it was created."""
        opts = opts or WriteOptions()
        old = self.store.get(rt.storage_key, namespace if rt.namespaced else None, name)
        if old is None and subresource:
            raise not_found(rt.plural, rt.group, name)
        live = kinds.present(rt, old) if old is not None else None
        obj, managed = apply_config(
            rt, live, config, manager=opts.manager, force=force, subresource=subresource
        )
        check_applied_identity(rt, obj, namespace, name, creating=old is None)
        opts.applied, opts.managed_fields = True, managed
        if old is None:  # a create through apply ignores a resourceVersion
            meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
            return self.create(rt, namespace, {**obj, "metadata": meta}, opts), True
        try:
            new = decode_body(rt, obj)
        except DecodeError as err:
            raise patch_decode_error(config, obj, err.cause, strategic=False) from None
        if new["metadata"].get("resourceVersion") != old["metadata"]["resourceVersion"]:
            raise conflict(rt.plural, rt.group, name)  # the config's resourceVersion is stale
        return self._replace(rt, old, new, opts, subresource), False

    def _replace(
        self,
        rt: ResourceType,
        old: dict[str, Any],
        new: dict[str, Any],
        opts: WriteOptions,
        subresource: str | None,
        requested: Any = None,
    ) -> dict[str, Any]:
        new = prepare_replacement(rt, old, kinds.to_storage(rt, new), subresource)
        new = admit(rt, new, old, opts)
        if opts.applied:
            managed = opts.managed_fields
        else:
            write = Write(rt, opts.manager, subresource)
            live, after = kinds.present(rt, old), kinds.present(rt, new)
            managed = tracked_fields(write, live, after, requested)
        set_managed_fields(rt, new, managed)
        old_meta = old["metadata"]
        new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        if deepjson.equal(new, old):
            return kinds.present(rt, old)  # a no-op write stores nothing and notifies nobody
        if rt.generation and spec_changed(old, new):
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
            return kinds.present(rt, self.deleter.remove(rt, new))
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
        """What DELETE answers: the object when its deletion is deferred (finalizers, a grace
        period) or its kind returns deleted objects; otherwise a Status of Success."""
        gone = self._delete(
            rt, namespace, name, grace_period=grace_period, preconditions=preconditions,
            propagation=propagation, dry_run=dry_run,
        )  # fmt: skip
        if rt.returns_deleted:
            return gone
        if dry_run:
            deferred = bool(gone["metadata"].get("finalizers"))
        else:
            deferred = self.store.get(rt.storage_key, namespace, name) is not None
        return gone if deferred else deleted_status(rt, gone)

    def _delete(
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
        check_preconditions(rt, old, preconditions)
        if dry_run:
            return kinds.present(rt, old)
        policy = propagation_policy(rt, propagation, None)
        gone = self.deleter.delete(
            rt, old, grace_period=grace_period, orphan=policy == ORPHAN,
            foreground=policy == FOREGROUND,
        )  # fmt: skip
        return kinds.present(rt, gone)

    def delete_collection(
        self, rt: ResourceType, namespace: str | None, opts: ListOptions, **kwargs: Any
    ) -> dict[str, Any]:
        """A list of the objects deleted, as they were last (never Status bodies)."""
        listed = self.list(rt, namespace, opts)
        deleted = []
        for item in listed["items"]:
            meta = item["metadata"]
            deleted.append(self._delete(rt, meta.get("namespace"), meta["name"], **kwargs))
        return {**listed, "items": deleted}

    # -- controllers' writes -----------------------------------------------------------------

    def system_write(
        self,
        rt: ResourceType,
        obj: dict[str, Any],
        *,
        manager: str | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Store an object as a controller (scheduler, kubelet, volume binder) would write it.

        Skips user-facing validation (e.g. a pod's spec is immutable to users, but the scheduler
        sets nodeName) while keeping resourceVersions and watch events exact. With a `manager`
        (e.g. "kubelet", subresource "status"), managedFields record the write as that
        controller's update; without one they stay as they are.
        """
        meta = obj["metadata"]
        current = self.store.get(rt.storage_key, meta.get("namespace"), meta["name"])
        if current is None:
            raise not_found(rt.plural, rt.group, meta["name"])
        if meta.get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise conflict(rt.plural, rt.group, meta["name"])
        new = kinds.to_storage(rt, copy.deepcopy(obj))
        if manager is not None:
            write = Write(rt, manager, subresource)
            live = current["metadata"].get("managedFields")
            after = kinds.present(rt, new)
            set_managed_fields(
                rt, new, tracked_fields(write, kinds.present(rt, current), after, live)
            )
        stored = self.store.put(rt.storage_key, new)
        return kinds.present(rt, stored)

    def force_remove(self, rt: ResourceType, namespace: str | None, name: str) -> None:
        """The kubelet's final delete of a terminated pod."""
        obj = self.store.get(rt.storage_key, namespace, name)
        if obj is not None:
            self.deleter.remove(rt, obj)

    def _after_write(
        self, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        if (rt.group, rt.plural) == CRD_KEY:
            serve_crd(self.store, self.registry, obj)
        elif (rt.group, rt.plural) == CLUSTER_ROLES_KEY:
            aggregate_cluster_roles(self)
        elif rt.plural == "namespaces" and not rt.group and old is None:
            # The service-account controller gives every namespace its `default` account.
            sa = self._type("", "v1", "serviceaccounts")
            name = obj["metadata"]["name"]
            if self.store.get(sa.storage_key, name, "default") is None:
                account = {"metadata": {"name": "default"}}
                self.create(sa, name, account, WriteOptions(manager="kube-controller-manager"))
        aggregator.after_write(self.store, self.registry, rt, obj)


def requested_managed_fields(body: Any) -> Any:
    """The managedFields a request body carries, before decoding drops an empty list (which
    asks to reset them)."""
    meta = body.get("metadata") if isinstance(body, dict) else None
    return meta.get("managedFields") if isinstance(meta, dict) else None


def set_managed_fields(rt: ResourceType, obj: dict[str, Any], managed: Any) -> None:
    meta = obj["metadata"]
    if managed:
        validate_managed_fields(rt.kind, rt.group, meta.get("name", ""), managed)
        meta["managedFields"] = managed
    else:
        meta.pop("managedFields", None)


def check_applied_identity(
    rt: ResourceType, obj: dict[str, Any], namespace: str | None, name: str, *, creating: bool
) -> None:
    """What patcher.applyPatch checks of an applied object: no uid for a new object, then its
    namespace and name against the request's."""
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    if creating and meta.get("uid"):
        why = (
            f"uid mismatch: the provided object specified uid {meta['uid']}, and no existing "
            "object was found"
        )
        raise conflict(rt.plural, rt.group, name, why)
    if rt.namespaced and meta.get("namespace") not in (None, "", namespace):
        raise bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    if meta.get("name", "") != name:
        named = meta.get("name", "")
        raise bad_request(
            f"the name of the object ({named}) does not match the name on the URL ({name})"
        )


__all__ = [
    "APPLY_PATCH",
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_PATCH",
    "Api",
    "ListOptions",
    "WriteOptions",
    "now_rfc3339",
]


def deleted_status(rt: ResourceType, gone: dict[str, Any]) -> dict[str, Any]:
    """The registry store's answer to an immediate delete (finalizeDelete): Success, with the
    resource (not the kind) under details.kind."""
    meta = gone.get("metadata") or {}
    details: dict[str, Any] = {"name": meta.get("name", "")}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.plural
    details["uid"] = meta.get("uid", "")
    return {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": details,
    }  # fmt: skip
