"""Per-kind behaviour of built-in resources: defaults on create, validation, output form.

This is the emulator's counterpart of the API server's registry strategies. Kinds without an
entry get the generic behaviour.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import FieldError
from .resources import ResourceType


def prepare_create(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Server-side defaults and status reset of a new object (mutates `obj`)."""
    if rt.has_status:
        # With a status subresource, status is never taken from a create.
        obj.pop("status", None)
        initial = INITIAL_STATUS.get((rt.group, rt.plural))
        if initial is not None:
            obj["status"] = copy.deepcopy(initial)


def prepare_update(rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> None:
    """Carry over what an update may not change (mutates `new`)."""


def validate(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    """Kind-specific validation of an object about to be stored."""
    return []


def to_storage(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """Convert an object of this served version into its storage form."""
    return obj


def present(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """The stored object as clients of this served version see it."""
    if obj.get("apiVersion") != rt.api_version:
        obj = {**obj, "apiVersion": rt.api_version}
    return obj


INITIAL_STATUS: dict[tuple[str, str], dict[str, Any]] = {
    ("", "pods"): {"phase": "Pending"},
    ("", "persistentvolumeclaims"): {"phase": "Pending"},
    ("", "namespaces"): {"phase": "Active"},
    ("", "services"): {"loadBalancer": {}},
}
