"""The PersistentVolumeClaim strategy: defaults, the DefaultStorageClass admission, validation.

Ported from pkg/apis/core/validation (ValidatePersistentVolumeClaim and its update rules).
"""

from __future__ import annotations

import copy
from decimal import Decimal

from kubesim.registry.field import enum, forbidden, invalid, invalid_each, not_supported, required
from kubesim.registry.names import dns1123_subdomain_errors
from kubesim.registry.quantities import (
    QuantityError,
    canonical_quantity,
    canonicalize_resources,
    parse_quantity,
    quantity_errors,
)
from kubesim.registry.strategy import (
    Errors,
    Obj,
    Strategies,
    Strategy,
    as_dict,
    as_list,
    default,
    pruned,
    unset,
)

ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
# The emulated cluster's default StorageClass: the DefaultStorageClass admission plugin names it
# on every new claim that does not choose one (an explicit "" opts out, as on a real cluster).
DEFAULT_STORAGE_CLASS = "standard"
PVC_SPEC_IMMUTABLE = (
    "spec is immutable after creation except resources.requests and volumeAttributesClassName "
    "for bound claims"
)


def default_pvc(pvc: Obj) -> None:
    spec = pvc.get("spec")
    if isinstance(spec, dict):
        default(spec, "volumeMode", "Filesystem")
        if isinstance(spec.get("resources"), dict):
            canonicalize_resources(spec["resources"])


def create_pvc(pvc: Obj) -> None:
    spec = pvc.get("spec")
    if isinstance(spec, dict) and spec.get("storageClassName") is None:
        spec["storageClassName"] = DEFAULT_STORAGE_CLASS


def _storage(pvc: Obj) -> Decimal | None:
    raw = as_dict(as_dict(as_dict(pvc.get("spec")).get("resources")).get("requests")).get("storage")
    try:
        return None if raw is None else parse_quantity(raw)
    except QuantityError:
        return None


def validate_pvc_spec(spec: Obj, path: str = "spec") -> Errors:
    """ValidatePersistentVolumeClaimSpec."""
    errs: Errors = []
    modes = as_list(spec.get("accessModes"))
    if not modes:
        errs.append(required(f"{path}.accessModes", "at least 1 access mode is required"))
    for mode in modes:
        if mode not in ACCESS_MODES:
            errs.append(not_supported(f"{path}.accessModes", mode, ACCESS_MODES))
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        detail = "may not use ReadWriteOncePod with other access modes"
        errs.append(forbidden(f"{path}.accessModes", detail))
    requests = as_dict(as_dict(spec.get("resources")).get("requests"))
    key = f"{path}.resources[storage]"
    if "storage" not in requests:
        errs.append(required(key))
    else:
        amount, bad = quantity_errors(key, requests["storage"])
        errs += bad
        if amount is not None and amount < 0:
            shown = canonical_quantity(requests["storage"])
            errs.append(invalid(key, shown, "must be greater than or equal to 0"))
        if amount is not None and amount <= 0:
            shown = canonical_quantity(requests["storage"])
            errs.append(invalid(key, shown, "must be greater than zero"))
    name = spec.get("storageClassName")
    if isinstance(name, str) and name:
        errs += invalid_each(f"{path}.storageClassName", name, dns1123_subdomain_errors(name))
    if spec.get("volumeMode") is not None:
        errs += enum(f"{path}.volumeMode", spec["volumeMode"], ("Block", "Filesystem"))
    return errs


def validate_pvc(pvc: Obj, old: Obj | None) -> Errors:
    errs = validate_pvc_spec(as_dict(pvc.get("spec")))
    if old is None:
        return errs
    # What may change: volumeName once (the binder's), and a bound claim's storage request.
    new_spec, old_spec = copy.deepcopy(as_dict(pvc.get("spec"))), as_dict(old.get("spec"))
    if unset(old_spec, "volumeName"):
        new_spec.pop("volumeName", None)
        old_spec = {k: v for k, v in old_spec.items() if k != "volumeName"}
    bound = as_dict(pvc.get("status")).get("phase") == "Bound"
    if bound and isinstance(as_dict(new_spec.get("resources")).get("requests"), dict):
        old_requests = as_dict(as_dict(old_spec.get("resources")).get("requests"))
        new_spec["resources"]["requests"]["storage"] = old_requests.get("storage")
    if pruned(new_spec) != pruned(old_spec):
        errs.append(forbidden("spec", PVC_SPEC_IMMUTABLE))
    new_size, old_size = _storage(pvc), _storage(old)
    if new_size is not None and old_size is not None and new_size < old_size:
        # With RecoverVolumeExpansionFailure a claim may shrink back, but not to its capacity.
        capacity = as_dict(as_dict(old.get("status")).get("capacity")).get("storage", "0")
        try:
            floor = parse_quantity(capacity)
        except QuantityError:
            floor = Decimal(0)
        if new_size <= floor:
            detail = "field can not be less than status.capacity"
            errs.append(forbidden("spec.resources.requests.storage", detail))
    return errs


STRATEGIES: Strategies = {
    ("", "persistentvolumeclaims"): Strategy(
        defaults=default_pvc, create=create_pvc, validate=validate_pvc,
        initial_status={"phase": "Pending"},
    ),
}  # fmt: skip
