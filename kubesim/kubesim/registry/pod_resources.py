"""A container's resources: resource names, limits against requests, and the pod's QoS class.

Ported from pkg/apis/core/helper (resource names), pkg/apis/core/validation
(ValidateContainerResourceRequirements) and pkg/apis/core/helper/qos (ComputePodQOS).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kubesim.registry.errors import FieldError
from kubesim.registry.field import invalid, invalid_each, required
from kubesim.registry.names import qualified_name_errors
from kubesim.registry.quantities import (
    QuantityError,
    canonical_quantity,
    parse_quantity,
    quantity_errors,
)
from kubesim.registry.strategy import Obj, as_dict, dicts

_CONTAINER_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})
_STANDARD_RESOURCES = _CONTAINER_RESOURCES | {
    "pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
    "persistentvolumeclaims", "storage", "requests.cpu", "requests.memory", "requests.storage",
    "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage",
    "services.nodeports", "services.loadbalancers",
}  # fmt: skip
_INTEGER_RESOURCES = frozenset({
    "pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
    "persistentvolumeclaims", "services.nodeports", "services.loadbalancers",
})  # fmt: skip


def is_native_resource(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def is_extended_resource(name: str) -> bool:
    if is_native_resource(name) or name.startswith("requests."):
        return False
    return not qualified_name_errors("requests." + name)


def _hugepages(name: str) -> bool:
    return name.startswith("hugepages-")


def overcommit_allowed(name: str) -> bool:
    """Only native, non-hugepage resources may request less than their limit."""
    return is_native_resource(name) and not _hugepages(name)


def _container_resource_name_errors(name: str, path: str) -> list[FieldError]:
    errs = invalid_each(path, name, qualified_name_errors(name))
    if errs:
        return errs
    if "/" not in name:
        if name not in _STANDARD_RESOURCES and not _hugepages(name):
            errs.append(invalid(path, name, "must be a standard resource type or fully qualified"))
        if name not in _CONTAINER_RESOURCES and not _hugepages(name):
            errs.append(invalid(path, name, "must be a standard resource for containers"))
    elif not is_native_resource(name) and not is_extended_resource(name):
        errs.append(invalid(path, name, "doesn't follow extended resource name standard"))
    return errs


def _resource_list(resources: Any, path: str) -> tuple[dict[str, Decimal], list[FieldError]]:
    """Parsed quantities of a container ResourceList, with name and value errors."""
    values: dict[str, Decimal] = {}
    errs: list[FieldError] = []
    for name, raw in as_dict(resources).items():
        key = f"{path}[{name}]"
        errs += _container_resource_name_errors(name, key)
        amount, bad = quantity_errors(key, raw)
        errs += bad
        if amount is None:
            continue
        values[name] = amount
        if amount < 0:
            errs.append(invalid(key, canonical_quantity(raw), "must be greater than or equal to 0"))
        if (name in _INTEGER_RESOURCES or is_extended_resource(name)) and amount % 1:
            errs.append(invalid(key, canonical_quantity(raw), "must be an integer"))
    return values, errs


def validate_resources(resources: Any, path: str) -> list[FieldError]:
    """ValidateContainerResourceRequirements (limits first, then requests against them)."""
    res = as_dict(resources)
    limits, errs = _resource_list(res.get("limits"), f"{path}.limits")
    requests, req_errs = _resource_list(res.get("requests"), f"{path}.requests")
    errs += req_errs
    raw_limits, raw_requests = as_dict(res.get("limits")), as_dict(res.get("requests"))
    for name, amount in requests.items():
        shown = canonical_quantity(raw_requests[name])
        if name in limits:
            limit = canonical_quantity(raw_limits[name])
            if amount != limits[name] and not overcommit_allowed(name):
                detail = f"must be equal to {name} limit of {limit}"
                errs.append(invalid(f"{path}.requests", shown, detail))
            elif amount > limits[name]:
                detail = f"must be less than or equal to {name} limit of {limit}"
                errs.append(invalid(f"{path}.requests", shown, detail))
        elif not overcommit_allowed(name):
            errs.append(
                required(f"{path}.limits", "Limit must be set for non overcommitable resources")
            )
    return errs


def _qos_amounts(resources: Any) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for name in ("cpu", "memory"):  # the only resources QoS looks at
        try:
            amount = parse_quantity(as_dict(resources).get(name, "0"))
        except QuantityError:
            continue
        if amount > 0:
            out[name] = amount
    return out


def qos_class(spec: Obj) -> str:
    """Guaranteed / Burstable / BestEffort, by ComputePodQOS."""
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    guaranteed = True
    for c in dicts(spec.get("containers")) + dicts(spec.get("initContainers")):
        res = as_dict(c.get("resources"))
        # As the API's defaulting does, a limit without a request requests the limit.
        requested = {**as_dict(res.get("limits")), **as_dict(res.get("requests"))}
        for source, total in ((requested, requests), (res.get("limits"), limits)):
            for name, amount in _qos_amounts(source).items():
                total[name] = total.get(name, Decimal(0)) + amount
        if set(_qos_amounts(res.get("limits"))) != {"cpu", "memory"}:
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and requests == limits:
        return "Guaranteed"
    return "Burstable"
