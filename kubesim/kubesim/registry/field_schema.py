"""The shape of an object as server-side apply sees it: structs, maps, lists and their merge types.

structured-merge-diff (sigs.k8s.io/structured-merge-diff, which kube-apiserver's field manager
runs) walks objects by a schema: a struct's fields are declared, a map's keys are its elements;
a map or struct is granular or atomic; a list is atomic, a set of scalars, or a map keyed by some
of its items' fields (`x-kubernetes-list-type: map` with `x-kubernetes-list-map-keys`). This
module holds that model (`Shape`), the untyped one used below `x-kubernetes-preserve-unknown-
fields`, and its derivation from a CRD's structural schema. The built-in kinds' shapes are in
list_types.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubesim.registry import schema_walk as walk

STRUCT, MAP, LIST, SCALAR, ANY = "struct", "map", "list", "scalar", "any"
# Scalar types, as smd names them.
NUMERIC, STRING, BOOLEAN, UNTYPED = "numeric", "string", "boolean", "untyped"


@dataclass(frozen=True, eq=False)
class Shape:
    """One node of the schema. Values of another JSON type than the node expects are the
    config's error to report (validation) and otherwise a leaf."""

    kind: str
    # STRUCT: the declared fields.
    fields: Mapping[str, Shape] = field(default_factory=dict)
    # MAP: the values; LIST: the items; STRUCT: undeclared keys (additionalProperties or
    # preserved unknown fields), None when they are not allowed.
    elem: Shape | None = None
    # STRUCT of a built-in kind: every key is a declared field of a type not modelled here.
    open: bool = False
    # STRUCT/MAP: x-kubernetes-map-type atomic; LIST: x-kubernetes-list-type atomic.
    atomic: bool = False
    # LIST: the list-map keys (a map list), or a set of scalars (`is_set`).
    keys: tuple[str, ...] = ()
    is_set: bool = False
    key_defaults: Mapping[str, Any] = field(default_factory=dict)
    # SCALAR: numeric, string, boolean or untyped.
    scalar: str = UNTYPED
    # STRUCT: a non-pointer struct field, present (empty) in the Go zero value of its parent.
    present: bool = False

    @property
    def associative(self) -> bool:
        return self.kind == LIST and not self.atomic and (self.is_set or bool(self.keys))

    def child(self, key: str) -> tuple[Shape | None, bool]:
        """(the shape of a key's value, whether the key is a declared field). None: the key is
        not allowed here ("field not declared in schema")."""
        if self.kind == STRUCT:
            found = self.fields.get(key)
            if found is not None:
                return found, True
            if self.open:
                return OPEN, True
            return self.elem, False
        if self.kind == MAP:
            return self.elem or ANY_SHAPE, False
        return ANY_SHAPE, False

    def for_value(self, value: Any) -> Shape | None:
        """The atom this node takes for a value (deduceAtom): None when the value's JSON type
        is not one the node allows."""
        if isinstance(value, dict):
            if self.kind in (STRUCT, MAP):
                return self
            return ANY_MAP if self.kind == ANY else None
        if isinstance(value, list):
            if self.kind == LIST:
                return self
            if self.kind == ANY or (self.kind == STRUCT and self.open):
                return ATOMIC_LIST
            return None
        if self.kind == SCALAR:
            return self
        if self.kind == ANY or (self.kind == STRUCT and self.open):
            return UNTYPED_SCALAR
        return None

    def is_leaf(self) -> bool:
        return self.kind == SCALAR or self.atomic or (self.kind == LIST and not self.associative)


ANY_SHAPE = Shape(ANY)
ANY_MAP = Shape(MAP, elem=ANY_SHAPE)
ATOMIC_LIST = Shape(LIST, elem=ANY_SHAPE, atomic=True)
UNTYPED_SCALAR = Shape(SCALAR)
# Built-in structs not modelled in detail: every key is a field, of the same open shape.
OPEN = Shape(STRUCT, open=True)


# -- custom resources -----------------------------------------------------------------------


def crd_shape(schema: dict[str, Any] | None, object_meta: Shape) -> Shape:
    """The shape of a custom resource from its version's openAPIV3Schema (ToSchemaFromOpenAPI
    over the structural schema); without a schema, every field is untyped."""
    root = _from_schema(schema) if schema else Shape(STRUCT, elem=ANY_SHAPE)
    fields = dict(root.fields)
    fields.update(apiVersion=STRING_SCALAR, kind=STRING_SCALAR, metadata=object_meta)
    return Shape(STRUCT, fields=fields, elem=root.elem, atomic=root.atomic)


STRING_SCALAR = Shape(SCALAR, scalar=STRING)
_SCALARS = {"integer": NUMERIC, "number": NUMERIC, "string": STRING, "boolean": BOOLEAN}


def _from_schema(s: dict[str, Any]) -> Shape:
    if s.get(walk.INT_OR_STRING):
        return UNTYPED_SCALAR
    kind = s.get("type")
    if kind in _SCALARS:
        return Shape(SCALAR, scalar=_SCALARS[kind])
    if kind == "array":
        return _list_shape(s)
    props = walk.props(s)
    extra = s.get("additionalProperties")
    if kind != "object" and not props and extra is None:
        # No type: only x-kubernetes-preserve-unknown-fields (or nothing) says what goes here.
        return ANY_SHAPE
    elem: Shape | None = None
    if isinstance(extra, dict):
        elem = _from_schema(extra)
    elif extra is True or s.get(walk.PRESERVE):
        elem = ANY_SHAPE
    fields = {k: _from_schema(v) for k, v in props.items()}
    if s.get(walk.EMBEDDED):
        fields.setdefault("apiVersion", STRING_SCALAR)
        fields.setdefault("kind", STRING_SCALAR)
        fields.setdefault("metadata", ANY_SHAPE)
    atomic = s.get("x-kubernetes-map-type") == "atomic"
    if not props and isinstance(extra, dict):
        return Shape(MAP, elem=elem, atomic=atomic)
    return Shape(STRUCT, fields=fields, elem=elem, atomic=atomic)


def _list_shape(s: dict[str, Any]) -> Shape:
    items = walk.node(s, "items")
    item = _from_schema(items) if items else ANY_SHAPE
    list_type = s.get("x-kubernetes-list-type")
    if list_type == "set":
        return Shape(LIST, elem=item, is_set=True)
    if list_type == "map":
        keys = tuple(k for k in s.get("x-kubernetes-list-map-keys") or () if isinstance(k, str))
        item_props = walk.props(items)
        defaults = {
            k: item_props[k]["default"]
            for k in keys
            if k in item_props and item_props[k].get("default") is not None
        }
        return Shape(LIST, elem=item, keys=keys, key_defaults=defaults)
    return Shape(LIST, elem=item, atomic=True)
