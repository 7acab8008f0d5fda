"""Field sets in the FieldsV1 form of managedFields, and the set algebra over them.

A set is a trie of path elements, exactly as a managedFields entry's `fieldsV1` writes it:
`f:<field>` (a struct field or map key), `k:{"name":"x"}` (a list-map item by its keys),
`v:<json>` (a set item) and `i:<n>` (an index). A node is a member of the set when it has no
children (`{}`) or when it holds `"."` (a member with members below it). The root is never a
member. Sets are never changed in place: every operation returns a new trie that shares the
unchanged subtries, so stored objects can share them too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from kubesim.registry.errors import go_quote, go_sprint

Trie = dict[str, Any]
SELF = "."
EMPTY: Trie = {}


class BadFieldSet(ValueError):
    """A fieldsV1 that does not decode (the server then ignores the managedFields sent)."""


def member(node: Trie) -> bool:
    return not node or SELF in node


def make(is_member: bool, kids: Trie) -> Trie | None:
    """A node from its membership and children; None when it holds nothing."""
    if not kids:
        return {} if is_member else None
    return {SELF: {}, **kids} if is_member else kids


def kids(node: Trie) -> Trie:
    if SELF not in node:
        return node
    return {k: v for k, v in node.items() if k != SELF}


# -- algebra -------------------------------------------------------------------------------------


def union(a: Trie, b: Trie) -> Trie:
    if not a:
        return b
    if not b:
        return a
    out = dict(a)
    for key, nb in b.items():
        if key == SELF:
            continue
        na = a.get(key)
        out[key] = nb if na is None else _union_node(na, nb)
    return out


def _union_node(a: Trie, b: Trie) -> Trie:
    if a is b:
        return a
    node = make(member(a) or member(b), union(kids(a), kids(b)))
    return node if node is not None else {}


def difference(a: Trie, b: Trie) -> Trie:
    """The members of `a` that are not members of `b`."""
    if not a or not b:
        return a
    out: Trie = {}
    for key, na in a.items():
        if key == SELF:
            continue
        nb = b.get(key)
        if nb is None:
            out[key] = na
            continue
        node = make(member(na) and not member(nb), difference(kids(na), kids(nb)))
        if node is not None:
            out[key] = node
    return out


def intersection(a: Trie, b: Trie) -> Trie:
    if not a or not b:
        return {}
    out: Trie = {}
    for key, na in a.items():
        if key == SELF:
            continue
        nb = b.get(key)
        if nb is None:
            continue
        node = make(member(na) and member(nb), intersection(kids(na), kids(nb)))
        if node is not None:
            out[key] = node
    return out


def recursive_difference(a: Trie, b: Trie) -> Trie:
    """`a` without every member of `b` and everything below it (ExcludeSetFilter)."""
    if not a or not b:
        return a
    out: Trie = {}
    for key, na in a.items():
        if key == SELF:
            continue
        nb = b.get(key)
        if nb is None:
            out[key] = na
        elif not member(nb):
            node = make(member(na), recursive_difference(kids(na), kids(nb)))
            if node is not None:
                out[key] = node
    return out


def has(s: Trie, path: tuple[str, ...]) -> bool:
    node: Trie | None = None
    level = s
    for pe in path:
        node = level.get(pe) if pe != SELF else None
        if node is None:
            return False
        level = node
    return node is not None and member(node)


def paths(s: Trie, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every member, as Set.Iterate visits them: a level's members first, then its children,
    each in path-element order."""
    ordered = sorted((k for k in s if k != SELF), key=sort_key)
    for key in ordered:
        if member(s[key]):
            yield (*prefix, key)
    for key in ordered:
        below = kids(s[key])
        if below:
            yield from paths(below, (*prefix, key))


# -- path elements -------------------------------------------------------------------------------


def value_pe(value: Any) -> str:
    return "v:" + go_json(value)


def key_pe(fields: dict[str, Any]) -> str:
    return "k:" + go_json({k: fields[k] for k in sorted(fields)})


def go_json(value: Any) -> str:
    """encoding/json's compact text: HTML characters and line separators escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if any(c in text for c in "<>&\u2028\u2029"):
        for ch, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                           ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):  # fmt: skip
            text = text.replace(ch, escape)
    return text


def _value_key(value: Any) -> tuple[Any, ...]:
    """value.Compare's order: numbers, strings, booleans, lists, maps, null."""
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, str):
        return (1, value.encode())
    if isinstance(value, list):
        return (3, tuple(_value_key(v) for v in value))
    if isinstance(value, dict):
        return (4, tuple((k.encode(), _value_key(value[k])) for k in sorted(value)))
    return (5,)


@lru_cache(maxsize=8192)
def sort_key(pe: str) -> tuple[Any, ...]:
    """PathElement.Compare: fields by name, then keys, values and indices."""
    kind, _, rest = pe.partition(":")
    if kind == "f":
        return (0, rest.encode())
    if kind == "k":
        fields = json.loads(rest)
        return (1, tuple((k.encode(), _value_key(fields[k])) for k in sorted(fields)))
    if kind == "v":
        return (2, _value_key(json.loads(rest)))
    return (3, int(rest) if rest.lstrip("-").isdigit() else 0)


def canonical(s: Trie) -> Trie:
    """The trie with every level in serialization order ("." first, then elements sorted)."""
    out: Trie = {}
    if SELF in s:
        out[SELF] = {}
    for key in sorted((k for k in s if k != SELF), key=sort_key):
        node = s[key]
        out[key] = canonical(node) if node else {}
    return out


def decode(raw: Any) -> Trie:
    """A client's fieldsV1 as a canonical set (keys re-encoded as the server writes them);
    BadFieldSet when it does not decode, unknown element types dropped as smd drops them."""
    if not isinstance(raw, dict):
        raise BadFieldSet("fieldsV1 must be an object")
    node = _decode_node(raw)
    return kids(node)


def _decode_node(raw: dict[str, Any]) -> Trie:
    children: Trie = {}
    is_member = False
    for key, value in raw.items():
        if key == SELF:
            is_member = True
            continue
        pe = _canonical_pe(key)
        if pe is None:
            continue
        if not isinstance(value, dict):
            raise BadFieldSet(f"parsing key as path element: {key}")
        children[pe] = _decode_node(value)
    if not children:
        return {}
    return {SELF: {}, **children} if is_member else children


def _canonical_pe(key: str) -> str | None:
    kind, sep, rest = key.partition(":")
    if not sep or kind not in ("f", "k", "v", "i"):
        return None
    if kind == "f":
        return key
    try:
        value = json.loads(rest)
    except ValueError:
        raise BadFieldSet(f"parsing key as path element: {key}") from None
    if kind == "k":
        if not isinstance(value, dict):
            raise BadFieldSet(f"parsing key as path element: {key}")
        return key_pe(value)
    if kind == "v":
        return value_pe(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadFieldSet(f"parsing key as path element: {key}")
    return f"i:{value}"


# -- paths as messages show them -----------------------------------------------------------------


def path_string(path: tuple[str, ...]) -> str:
    """fieldpath.Path.String: `.spec.containers[name="web"].image`."""
    return "".join(_pe_string(pe) for pe in path)


def _pe_string(pe: str) -> str:
    kind, _, rest = pe.partition(":")
    if kind == "f":
        return "." + rest
    if kind == "i":
        return f"[{rest}]"
    value = json.loads(rest)
    if kind == "k":
        return "[" + ",".join(f"{k}={value_string(value[k])}" for k in value) + "]"
    return f"[={value_string(value)}]"


def value_string(value: Any) -> str:
    """value.ToString: strings quoted as Go quotes them, numbers and booleans as %v."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, float):
        return go_sprint(value)
    if isinstance(value, list):
        return "[" + ",".join(value_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return "".join(f"{k}={value_string(v)}" for k, v in value.items())
    return str(value)
