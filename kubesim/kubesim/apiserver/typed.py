"""Objects walked by their shape, as structured-merge-diff's typed values are: validation of an
apply configuration, its field set, the comparison of two objects, merging and item removal.

Each walker follows its smd counterpart (typed/validate.go, tofieldset.go, compare.go, merge.go,
remove.go) so that field sets, merged lists' order and error texts come out the same. `MISSING`
is an absent field (Go's nil Value); None is JSON null. Walks are bounded at MAX_DEPTH levels
(`TooDeep`): the callers decide what a deeper object gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from kubesim.apiserver import fieldsets as fs
from kubesim.apiserver.fieldsets import Trie
from kubesim.registry.errors import go_sprint, go_type
from kubesim.registry.field_schema import ANY_SHAPE, BOOLEAN, LIST, NUMERIC, STRING, Shape


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
MAX_DEPTH = 200


class TooDeep(Exception):
    """An object nested deeper than the walkers follow."""


class ItemError(ValueError):
    """A list item that has no path element (listItemToPathElement's errors)."""


def _check(depth: int) -> int:
    if depth > MAX_DEPTH:
        raise TooDeep
    return depth + 1


def same(a: Any, b: Any) -> bool:
    """value.Equals: JSON equality, where true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _go_list(items: tuple[str, ...]) -> str:
    return "[" + " ".join(f'"{k}"' for k in items) + "]"


def item_pe(shape: Shape, item: Any) -> str:
    """The path element of an associative list's item: its keys (defaults filled in) or, in a
    set, its value."""
    if shape.keys:
        if item is None:
            raise ItemError("associative list with keys may not have a null element")
        if not isinstance(item, dict):
            raise ItemError("associative list with keys may not have non-map elements")
        fields = {}
        for key in shape.keys:
            if key in item:
                fields[key] = item[key]
            elif key in shape.key_defaults:
                fields[key] = shape.key_defaults[key]
        if not fields:
            raise ItemError(
                f"associative list with keys has an element that omits all key fields "
                f"{_go_list(shape.keys)} (and doesn't have default values for any key fields)"
            )
        return fs.key_pe(fields)
    if isinstance(item, dict):
        raise ItemError("associative list without keys has an element that's a map type")
    if isinstance(item, list):
        raise ItemError("not supported: associative list with lists as elements")
    if item is None:
        raise ItemError("associative list without keys has an element that's an explicit null")
    return fs.value_pe(item)


def _elem(shape: Shape) -> Shape:
    return shape.elem or ANY_SHAPE


def _sub(shape: Shape, key: str) -> Shape:
    found = shape.child(key)[0]
    return found if found is not None else ANY_SHAPE


# -- validation of an apply configuration ---------------------------------------------------------


def validate(value: Any, shape: Shape) -> list[str]:
    """The config's errors as smd words them (`.spec.foo: field not declared in schema`)."""
    errors: list[str] = []
    _validate(value, shape, "", errors, 0)
    return errors


def _validate(value: Any, shape: Shape, path: str, errors: list[str], depth: int) -> None:
    depth = _check(depth)
    if value is None:
        return
    atom = shape.for_value(value)
    if atom is None:
        errors.append(f"{path}: {_mismatch(shape, value)}" if path else _mismatch(shape, value))
        return
    if isinstance(value, dict):
        for key, v in value.items():
            sub = atom.child(key)[0]
            if sub is None:
                errors.append(f"{path}.{key}: field not declared in schema")
                return  # smd stops at a map's first undeclared field
            _validate(v, sub, f"{path}.{key}", errors, depth)
    elif isinstance(value, list):
        _validate_items(value, atom, path, errors, depth)
    else:
        problem = _scalar_error(atom, value)
        if problem:
            errors.append(f"{path}: {problem}" if path else problem)


def _validate_items(
    items: list[Any], shape: Shape, path: str, errors: list[str], depth: int
) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if not shape.associative:
            _validate(item, _elem(shape), f"{path}[{i}]", errors, depth)
            continue
        try:
            pe = item_pe(shape, item)
        except ItemError as err:
            errors.append(f"{path}: element {i}: {err}")
            return
        if pe in seen:
            errors.append(f"{path}: duplicate entries for key {fs.path_string((pe,))}")
        seen.add(pe)
        _validate(item, _elem(shape), path + fs.path_string((pe,)), errors, depth)


def _mismatch(shape: Shape, value: Any) -> str:
    if shape.kind == LIST:
        return f"expected list, got &{{{go_sprint(value)}}}"
    if shape.kind in ("struct", "map"):
        return f"expected map, got &{{{go_sprint(value)}}}"
    return _scalar_error(shape, value) or "invalid value"


def _scalar_error(shape: Shape, value: Any) -> str:
    if shape.scalar == NUMERIC and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return f"expected numeric (int or float), got {go_type(value)}"
    if shape.scalar == STRING and not isinstance(value, str):
        return f"expected string, got &value.valueUnstructured{{Value:{go_sprint(value)}}}"
    if shape.scalar == BOOLEAN and not isinstance(value, bool):
        return f"expected boolean, got &{{{go_sprint(value)}}}"
    if isinstance(value, (dict, list)):
        return f"expected any scalar, got &{{{go_sprint(value)}}}"
    return ""


# -- field sets -----------------------------------------------------------------------------------


def to_field_set(value: Any, shape: Shape) -> Trie:
    """TypedValue.ToFieldSet: the fields a value sets (what an apply configuration owns)."""
    return _fields(value, shape, 0)[1]


def _fields(value: Any, shape: Shape, depth: int) -> tuple[bool, Trie]:
    """(whether the node inserts itself, its children's set)."""
    depth = _check(depth)
    if value is None:
        return False, {}
    atom = shape.for_value(value)
    if atom is None or atom.is_leaf():
        return True, {}
    out: Trie = {}
    if isinstance(value, dict):
        for key, v in value.items():
            sub, declared = atom.child(key)
            is_member, below = _fields(v, sub or ANY_SHAPE, depth)
            is_member = is_member or v is None or v == {} or not declared
            node = fs.make(is_member, below)
            if node is not None:
                out["f:" + key] = node
        return False, out
    pes, duplicates = _item_pes(atom, value, allow_duplicates=True)
    for pe in duplicates:
        out[pe] = {}
    for pe, item in pes:
        if pe in duplicates:
            continue
        below = _fields(item, _elem(atom), depth)[1]
        out[pe] = fs.make(True, below) or {}
    return False, out


def _item_pes(
    shape: Shape, items: list[Any], *, allow_duplicates: bool
) -> tuple[list[tuple[str, Any]], set[str]]:
    """Each item with its path element (items without one are skipped), and the repeated ones."""
    out: list[tuple[str, Any]] = []
    seen: set[str] = set()
    duplicates: set[str] = set()
    for item in items:
        try:
            pe = item_pe(shape, item)
        except ItemError:
            continue
        if pe in seen:
            duplicates.add(pe)
        seen.add(pe)
        out.append((pe, item))
    return out, duplicates


def ensure_named_fields_are_members(s: Trie, shape: Shape) -> Trie:
    """Set.EnsureNamedFieldsAreMembers: a struct's fields that have members below them become
    members themselves (so removing them removes the whole field)."""
    return _ensure(s, shape, 0)


def _ensure(s: Trie, shape: Shape, depth: int) -> Trie:
    depth = _check(depth)
    out: Trie = {}
    for pe, node in s.items():
        if pe == fs.SELF:
            continue
        if not node or node == {fs.SELF: {}}:
            out[pe] = node
            continue
        sub: Shape | None = None
        named = False
        if pe.startswith("f:") and shape.kind in ("struct", "map", "any"):
            sub, named = shape.child(pe[2:])
            named = named and shape.kind == "struct"
        elif pe.startswith("k:") and shape.kind == LIST:
            sub = shape.elem
        below = _ensure(fs.kids(node), sub or ANY_SHAPE, depth)
        out[pe] = fs.make(named or fs.member(node), below) or {}
    return out


# -- comparison -----------------------------------------------------------------------------------


@dataclass
class Comparison:
    """What changed from one object to another, as field sets."""

    added: Trie
    modified: Trie
    removed: Trie


def compare(lhs: Any, rhs: Any, shape: Shape) -> Comparison:
    """TypedValue.Compare."""
    a, m, r = _compare(lhs, rhs, shape, 0)
    return Comparison(fs.kids(a or {}), m or {}, fs.kids(r or {}))


def created_fields(obj: dict[str, Any], shape: Shape, zero: dict[str, Any]) -> Trie:
    """compare(zero, obj) for a create, in one pass: what `obj` sets beyond the kind's empty
    object `zero` (whose structs are there already, so not nodes the creator owns)."""
    return _created(obj, shape, zero, 0)


def _created(obj: dict[str, Any], shape: Shape, zero: dict[str, Any], depth: int) -> Trie:
    depth = _check(depth)
    out: Trie = {}
    for key, value in obj.items():
        if key not in zero:
            scalar = not isinstance(value, (dict, list))
            out["f:" + key] = {} if scalar else _all_members(value, _sub(shape, key), depth)
            continue
        sub = _sub(shape, key)
        before = zero[key]
        if same(before, value):
            continue
        atom = _atom(before, value, sub)
        granular = atom is not None and atom.kind != LIST and not atom.is_leaf()
        if isinstance(before, dict) and granular and not (_empty(before) and _empty(value)):
            assert atom is not None
            below = _created(value if isinstance(value, dict) else {}, atom, before, depth)
            if below:
                out["f:" + key] = below
            continue
        out["f:" + key] = {}
    return out


def _all_members(value: Any, shape: Shape, depth: int) -> Trie:
    """compare(MISSING, value): every node of a new value is added."""
    if not isinstance(value, (dict, list)):
        return {}  # a scalar (or null) is a leaf
    depth = _check(depth)
    atom = shape.for_value(value) if value is not None else None
    if atom is None or atom.is_leaf() or _empty(value):
        return {}
    out: Trie = {fs.SELF: {}}
    if isinstance(value, dict):
        for key, v in value.items():
            scalar = not isinstance(v, (dict, list))
            out["f:" + key] = {} if scalar else _all_members(v, _sub(atom, key), depth)
        return out
    elem = _elem(atom)
    for pe, items in _group(atom, value).items():
        out[pe] = _all_members(items[0], elem, depth) if len(items) == 1 else {}
    return out


Nodes = tuple[Trie | None, Trie | None, Trie | None]
_NOTHING: Nodes = (None, None, None)


def _compare(lhs: Any, rhs: Any, shape: Shape, depth: int) -> Nodes:
    depth = _check(depth)
    if lhs is not MISSING and rhs is not MISSING and same(lhs, rhs):
        return _NOTHING  # nothing below differs
    atom = _atom(lhs, rhs, shape)
    if atom is None or atom.is_leaf() or (_empty(lhs) and _empty(rhs)):
        if lhs is MISSING:
            return {}, None, None
        if rhs is MISSING:
            return None, None, {}
        return (None, {}, None) if not same(lhs, rhs) else _NOTHING
    if atom.kind != LIST:
        added, modified, removed = _compare_maps(lhs, rhs, atom, depth)
    else:
        added, modified, removed = _compare_lists(lhs, rhs, atom, depth)
    return (
        fs.make(lhs is MISSING, added),
        fs.make(False, modified),
        fs.make(rhs is MISSING, removed),
    )


def _atom(lhs: Any, rhs: Any, shape: Shape) -> Shape | None:
    """The atom both sides are walked as; None (a leaf) when there is none, or when one side
    is a map and the other a list or a scalar (the node is replaced as a whole)."""
    ref = rhs if rhs is not MISSING and rhs is not None else lhs
    if ref is MISSING or ref is None:
        return None
    atom = shape.for_value(ref)
    other = lhs if ref is rhs else rhs
    if atom is not None and other is not MISSING and other is not None:
        if isinstance(other, dict) != isinstance(ref, dict):
            return None
        if isinstance(other, list) != isinstance(ref, list):
            return None
    return atom


def _empty(value: Any) -> bool:
    return value is MISSING or value is None or value == {} or value == []


def _compare_maps(lhs: Any, rhs: Any, shape: Shape, depth: int) -> tuple[Trie, Trie, Trie]:
    left = lhs if isinstance(lhs, dict) else {}
    right = rhs if isinstance(rhs, dict) else {}
    added: Trie = {}
    modified: Trie = {}
    removed: Trie = {}
    for key in [*left, *(k for k in right if k not in left)]:
        a, m, r = _compare(left.get(key, MISSING), right.get(key, MISSING), _sub(shape, key), depth)
        pe = "f:" + key
        if a is not None:
            added[pe] = a
        if m is not None:
            modified[pe] = m
        if r is not None:
            removed[pe] = r
    return added, modified, removed


def _compare_lists(lhs: Any, rhs: Any, shape: Shape, depth: int) -> tuple[Trie, Trie, Trie]:
    left = _group(shape, lhs)
    right = _group(shape, rhs)
    added: Trie = {}
    modified: Trie = {}
    removed: Trie = {}
    elem = _elem(shape)
    for pe in [*left, *(p for p in right if p not in left)]:
        ll, rl = left.get(pe, []), right.get(pe, [])
        if len(ll) <= 1 and len(rl) <= 1:
            a, m, r = _compare(ll[0] if ll else MISSING, rl[0] if rl else MISSING, elem, depth)
        elif len(ll) >= 2 and len(rl) >= 2:
            a, m, r = None, (None if same(ll, rl) else {}), None
        elif len(ll) >= 2:
            a = _compare(MISSING, rl[0], elem, depth)[0] if rl else None
            r = {}
            m = None
        else:
            r = _compare(ll[0], MISSING, elem, depth)[2] if ll else None
            a, m = {}, None
        if a is not None:
            added[pe] = a
        if m is not None:
            modified[pe] = m
        if r is not None:
            removed[pe] = r
    return added, modified, removed


def _group(shape: Shape, value: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    if isinstance(value, list):
        for pe, item in _item_pes(shape, value, allow_duplicates=True)[0]:
            out.setdefault(pe, []).append(item)
    return out


# -- merging --------------------------------------------------------------------------------------


def merge(lhs: Any, rhs: Any, shape: Shape) -> Any:
    """TypedValue.Merge: `rhs` (an apply configuration) merged into `lhs` (the live object)."""
    return _merge(lhs, rhs, shape, 0)


def _merge(lhs: Any, rhs: Any, shape: Shape, depth: int) -> Any:
    depth = _check(depth)
    atom = _atom(lhs, rhs, shape)
    if atom is None or atom.is_leaf() or (_empty(lhs) and _empty(rhs)):
        return rhs if rhs is not MISSING else lhs
    if atom.kind != LIST:
        left = lhs if isinstance(lhs, dict) else {}
        right = rhs if isinstance(rhs, dict) else {}
        out: dict[str, Any] = {}
        for key in [*left, *(k for k in right if k not in left)]:
            merged = _merge(left.get(key, MISSING), right.get(key, MISSING), _sub(atom, key), depth)
            if merged is not MISSING:
                out[key] = merged
        return out if out else MISSING
    items = _merge_items(lhs if isinstance(lhs, list) else [], rhs if isinstance(rhs, list) else [],
                         atom, depth)  # fmt: skip
    return items if items else MISSING


def _merge_items(lhs: list[Any], rhs: list[Any], shape: Shape, depth: int) -> list[Any]:
    """visitListItems: the live items in their order, the config's items in its order, shared
    items placed where the config puts them."""
    elem = _elem(shape)
    rhs_pes, rhs_seen = _index(shape, rhs, allow_duplicates=False)
    lhs_pes, lhs_seen = _index(shape, lhs, allow_duplicates=True)
    shared = [pe for pe in rhs_pes if pe in lhs_seen]
    next_shared = shared.pop(0) if shared else None
    merged_rhs: set[str] = set()
    out: list[Any] = []
    li = ri = 0
    while li < len(lhs_pes) or ri < len(rhs_pes):
        if li < len(lhs_pes) and ri < len(rhs_pes):
            pe = lhs_pes[li]
            if pe == rhs_pes[ri]:
                merged_rhs.add(pe)
                _append(out, _merge(lhs_seen[pe], rhs_seen[pe], elem, depth))
                li += 1
                ri += 1
                next_shared = shared.pop(0) if shared else None
                continue
            if pe in rhs_seen and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < len(lhs_pes):
            pe = lhs_pes[li]
            if pe not in rhs_seen:
                _append(out, _merge(lhs[li], MISSING, elem, depth))
                li += 1
                continue
            if pe in merged_rhs:
                li += 1
        if ri < len(rhs_pes):
            pe = rhs_pes[ri]
            merged_rhs.add(pe)
            _append(out, _merge(lhs_seen.get(pe, MISSING), rhs_seen[pe], elem, depth))
            ri += 1
            if next_shared is not None and next_shared == pe:
                next_shared = shared.pop(0) if shared else None
    return out


def _append(out: list[Any], value: Any) -> None:
    if value is not MISSING:
        out.append(value)


def _index(
    shape: Shape, items: list[Any], *, allow_duplicates: bool
) -> tuple[list[str], dict[str, Any]]:
    """indexListPathElements: the items' path elements in order, and each one's item (None
    for a repeated one, which is not merged)."""
    pes: list[str] = []
    seen: dict[str, Any] = {}
    for item in items:
        pe = item_pe(shape, item)  # the config is validated; the live object may hold anything
        if pe in seen:
            if not allow_duplicates:
                continue
            seen[pe] = None
        else:
            seen[pe] = item
        pes.append(pe)
    return pes, seen


# -- removing items -------------------------------------------------------------------------------


def remove_items(value: Any, shape: Shape, to_remove: Trie) -> Any:
    """TypedValue.RemoveItems: the value without the members of `to_remove` (and what is below
    them). A map or list left empty becomes null, as in smd."""
    return _remove(value, shape, to_remove, 0)


def _remove(value: Any, shape: Shape, to_remove: Trie, depth: int) -> Any:
    depth = _check(depth)
    atom = shape.for_value(value) if value is not None else None
    if atom is None or isinstance(value, (str, int, float, bool)):
        return value
    if not value or atom.atomic:
        return None  # smd leaves an empty or atomic node it is asked to look into as null
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, v in value.items():
            pe = "f:" + key
            node = to_remove.get(pe)
            if node is not None and fs.member(node):
                continue
            if node:
                v = _remove(v, _sub(atom, key), fs.kids(node), depth)
            out[key] = v
        return out or None
    if not atom.associative:
        return None
    items: list[Any] = []
    for item in value:
        try:
            pe = item_pe(atom, item)
        except ItemError:
            items.append(item)
            continue
        node = to_remove.get(pe)
        if node is not None and fs.member(node):
            continue
        if node:
            item = _remove(item, _elem(atom), fs.kids(node), depth)
        items.append(item)
    return items or None
