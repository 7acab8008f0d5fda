"""Structural pruning and defaulting of a custom object, in the real server's order.

Unknown fields are pruned (and reported, for fieldValidation Strict/Warn), non-nullable nulls
without a default are dropped, then defaults are applied. Hand-written: no JSON Schema library
knows structural pruning.
"""

from __future__ import annotations

import copy
from typing import Any

from kubesim.registry import schema_walk as walk
from kubesim.registry.schema_walk import Schema


def prune(
    x: Any,
    s: Schema | None,
    path: str,
    pruned: list[str],
    embedded: bool = False,
    preserve: bool = False,
) -> None:
    """Drop the fields `s` does not know, naming each in `pruned`; the root and embedded
    resources keep apiVersion, kind and metadata."""
    # Below x-kubernetes-preserve-unknown-fields unknown keys stay, in array items too; known keys
    # keep their own schema.
    preserve = preserve or bool(s and s.get(walk.PRESERVE))
    if s is None and preserve:
        return  # nothing below can be pruned (and free-form data may nest 10,000 levels)
    if isinstance(x, dict):
        embedded = embedded or bool(s and s.get(walk.EMBEDDED))
        for key in list(x):
            known, sub = walk.sub(s, key)
            if embedded and key in walk.META_FIELDS:
                continue
            if known:
                prune(x[key], sub, walk.join(path, key), pruned)
            elif not preserve:
                pruned.append(walk.join(path, key))
                del x[key]
    elif isinstance(x, list):
        for i, v in enumerate(x):
            prune(v, walk.node(s, "items"), f"{path}[{i}]", pruned, preserve=preserve)


def prune_nulls(x: Any, s: Schema | None) -> None:
    """Nulls go where the schema neither allows them (nullable) nor defaults them."""
    if s is None:
        return  # no schema, no rule: nothing below is dropped (free-form data may nest deeply)
    if isinstance(x, dict):
        for key in list(x):
            sub = walk.sub(s, key)[1]
            droppable = x[key] is None and sub is not None and not sub.get("nullable")
            if droppable and (sub or {}).get("default") is None:
                del x[key]
            else:
                prune_nulls(x[key], sub)
    elif isinstance(x, list):
        for v in x:
            prune_nulls(v, walk.node(s, "items"))


def _defaults_null(s: Schema | None) -> bool:
    """A null the schema replaces with its default."""
    return s is not None and not s.get("nullable") and s.get("default") is not None


def apply_defaults(x: Any, s: Schema | None) -> None:
    """Fill in the schema's defaults for absent fields and replaced nulls."""
    if s is None:
        return
    if isinstance(x, dict):
        for key, prop in walk.props(s).items():
            if key not in x and prop.get("default") is not None:
                x[key] = copy.deepcopy(prop["default"])
        for key in x:
            sub = walk.sub(s, key)[1]
            if x[key] is None and sub is not None and _defaults_null(sub):
                x[key] = copy.deepcopy(sub["default"])
            apply_defaults(x[key], sub)
    elif isinstance(x, list):
        items = walk.node(s, "items")
        for i in range(len(x)):
            if x[i] is None and isinstance(items, dict) and _defaults_null(items):
                x[i] = copy.deepcopy(items["default"])
            apply_defaults(x[i], items)
