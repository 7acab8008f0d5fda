"""Per-kind behaviour of built-in resources: defaults on create, validation, output form.

This is the emulator's counterpart of the API server's registry strategies, together with the
v1 defaulting and the mutating admission plugins a default cluster runs. The API layer calls
the functions here; each kind's `Strategy` is in its own module, assembled in STRATEGIES
(registry/__init__.py). Kinds without an entry (and custom resources) get the generic behaviour.

The functions are pure: nothing here reads the store, so checks that need other objects (a
ServiceAccount exists, a PriorityClass, allocated cluster IPs) are approximated and say so.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from kubesim.registry import STRATEGIES
from kubesim.registry.errors import DecodeError, FieldError
from kubesim.registry.resources import ResourceType
from kubesim.registry.strategy import Errors, Obj, Strategy

__all__ = [
    "STRATEGIES",
    "Strategy",
    "decode",
    "prepare_create",
    "prepare_update",
    "present",
    "to_storage",
    "validate",
]


def _strategy(rt: ResourceType) -> Strategy | None:
    return None if rt.custom else STRATEGIES.get((rt.group, rt.plural))


def decode(rt: ResourceType, obj: Obj) -> None:
    """What decoding a body into the kind's Go type does to its values (mutates `obj`);
    raises DecodeError for a body that does not decode."""
    s = _strategy(rt)
    if s is None or s.decode is None:
        return
    try:
        s.decode(obj)
    except ValueError as err:
        raise DecodeError(rt.kind, rt.version, str(err)) from None


def prepare_create(
    rt: ResourceType, obj: Obj, after_defaults: Callable[[Obj], None] | None = None
) -> None:
    """Server-side defaults, status reset and admission of a new object (mutates `obj`).
    `after_defaults` sees the object as decoded and defaulted, before the create strategy and
    admission change it (where the field manager sees a real create)."""
    s = _strategy(rt)
    if rt.has_status and not (s and s.status_on_create):
        # With a status subresource, status is never taken from a create (but for Nodes).
        obj.pop("status", None)
    if s is None:
        if after_defaults:
            after_defaults(obj)
        return
    if s.defaults:
        s.defaults(obj)
    if after_defaults:
        after_defaults(obj)
    if rt.has_status and s.initial_status is not None:
        obj["status"] = copy.deepcopy(s.initial_status)
    if s.create:
        s.create(obj)


def prepare_update(rt: ResourceType, new: Obj, old: Obj) -> None:
    """Defaults of the new body and what an update may not change (mutates `new`)."""
    s = _strategy(rt)
    if s is None:
        return
    if s.defaults:
        s.defaults(new)
    if s.update:
        s.update(new, old)


def validate(rt: ResourceType, obj: Obj, old: Obj | None) -> Errors:
    """Kind-specific validation of an object about to be stored."""
    s = _strategy(rt)
    if s is None or s.validate is None:
        return []
    # The real message is ErrorList.ToAggregate, which drops repeated errors (a pod update can
    # find the same fault by two rules).
    errors: dict[str, FieldError] = {}
    for error in s.validate(obj, old):
        errors.setdefault(error.text(), error)
    return list(errors.values())


def to_storage(rt: ResourceType, obj: Obj) -> Obj:
    """Convert an object of this served version into its storage form."""
    s = _strategy(rt)
    return s.to_storage(obj) if s and s.to_storage else obj


def present(rt: ResourceType, obj: Obj) -> Obj:
    """The stored object as clients of this served version see it (never mutates `obj`)."""
    s = _strategy(rt)
    if s and s.present:
        obj = s.present(obj)
    if obj.get("apiVersion") != rt.api_version:
        obj = {**obj, "apiVersion": rt.api_version}
    return obj
