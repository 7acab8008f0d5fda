"""What a kind's registry strategy is, and the loose JSON access every strategy shares.

A `Strategy` bundles the hooks of one built-in kind (defaults, admission, validation,
conversion); `kinds.py` runs them. The helpers below read and fill in request bodies without
trusting their shape: a bad shape is validation's to report, never a crash in defaulting.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubesim.registry.errors import FieldError

Obj = dict[str, Any]
Errors = list[FieldError]


@dataclass(frozen=True)
class Strategy:
    """What a kind does beyond the generic behaviour; every hook is optional."""

    # What the typed decoder does to a body (values in their canonical form); raises
    # ValueError, worded as the decoder's error, for a body that does not decode.
    decode: Callable[[Obj], None] | None = None
    # v1 defaulting: runs on every create and update, as the real decoder defaults every body.
    defaults: Callable[[Obj], None] | None = None
    # PrepareForCreate and the mutating admission plugins (after defaults).
    create: Callable[[Obj], None] | None = None
    # PrepareForUpdate: what an update carries over from the stored object.
    update: Callable[[Obj, Obj], None] | None = None
    # Validation; `old` is the stored object on updates, None on creates.
    validate: Callable[[Obj, Obj | None], Errors] | None = None
    # Whether a create keeps the status it was sent (Nodes: the kubelet registers with one).
    status_on_create: bool = False
    # The status of a new object, for kinds with a status subresource.
    initial_status: Obj | None = None
    # Conversion between a served version and the storage form (events.k8s.io).
    to_storage: Callable[[Obj], Obj] | None = None
    present: Callable[[Obj], Obj] | None = None


# Strategies by (API group, plural), as each kind's module exports them.
Strategies = dict[tuple[str, str], Strategy]


def as_dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def dicts(value: Any) -> list[Obj]:
    """The dict entries of a list, in place (so defaulting mutates the object itself)."""
    return [v for v in as_list(value) if isinstance(v, dict)]


def owned_dict(parent: Obj, key: str) -> Obj:
    """parent[key] as a dict to fill in, made one (replacing null or a bad value) if needed."""
    value = parent.get(key)
    if not isinstance(value, dict):
        value = parent[key] = {}
    return value


def unset(d: Obj, key: str) -> bool:
    """Go's zero value test for an optional string or pointer field."""
    return d.get(key) in (None, "")


def default(d: Obj, key: str, value: Any) -> None:
    if unset(d, key):
        d[key] = copy.deepcopy(value)


def sorted_map(value: Any) -> Any:
    """Go's JSON encoder writes map keys sorted."""
    return {k: value[k] for k in sorted(value)} if isinstance(value, dict) else value


def pruned(value: Any) -> Any:
    """`value` without null / empty members: Go's semantic DeepEqual treats nil and empty alike."""
    if isinstance(value, dict):
        items = ((k, pruned(v)) for k, v in value.items())
        return {k: v for k, v in items if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [pruned(v) for v in value]
    return value


def same(a: Any, b: Any) -> bool:
    """Go's semantic equality of two field values (absent, null and empty are all alike)."""
    return bool(pruned({"": a}) == pruned({"": b}))
