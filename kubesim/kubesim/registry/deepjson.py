"""JSON as kube-apiserver decodes it, for objects nested as deeply as it allows.

The real server decodes request bodies nested up to 10,000 levels (Go's encoding/json limit) and
replaces a lone UTF-16 surrogate escape (`"\\ud800"`) with U+FFFD. Python's json, copy.deepcopy
and `==` recurse and fail near 1,000 (or 330 for deepcopy). Every function here takes the fast C
or stdlib path first and falls back to an iterative one only on RecursionError, so ordinary
objects cost what they did. (Raising the recursion limit instead would change it for every
thread in the process, including the clients under test, and overflow the C stack at depths
json's C code would then try.)
"""

from __future__ import annotations

import copy as _copy
import json
import math
import re
from typing import Any

MAX_DEPTH = 10_000  # kube-apiserver's: encoding/json's maxNestingDepth

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"(-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)?")
_LITERALS: dict[str, Any] = {
    "null": None, "true": True, "false": False,
    # json.loads accepts these too; the fallback must decode what the fast path decodes.
    "NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf,
}  # fmt: skip
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_scanstring: Any = getattr(json.decoder, "scanstring")  # noqa: B009 (untyped in the stubs)
_encode_string: Any = getattr(json.encoder, "encode_basestring_ascii")  # noqa: B009


def loads(text: str, max_depth: int | None = MAX_DEPTH) -> Any:
    """json.loads, up to `max_depth` levels (deeper: JSONDecodeError; None: no limit, for what
    the server wrote itself, such as a List or a journal record around a 10,000-level object),
    with each lone surrogate replaced by U+FFFD."""
    try:
        value = json.loads(text)
    except RecursionError:
        value = _loads_iteratively(text, max_depth)
    if _SURROGATE_ESCAPE.search(text):
        value = replace_lone_surrogates(value)
    return value


def dumps(obj: Any) -> str:
    """json.dumps(obj, separators=(",", ":")), at any depth."""
    try:
        return json.dumps(obj, separators=(",", ":"))
    except RecursionError:
        return _dumps_iteratively(obj)


def deepcopy(obj: Any) -> Any:
    """copy.deepcopy of a JSON value, at any depth."""
    try:
        return _copy.deepcopy(obj)
    except RecursionError:
        return _copy_iteratively(obj)


def equal(a: Any, b: Any) -> bool:
    """a == b for JSON values, at any depth."""
    try:
        return bool(a == b)
    except RecursionError:
        return _equal_iteratively(a, b)


def replace_lone_surrogates(root: Any) -> Any:
    """`root` with every lone surrogate in its strings (keys too) replaced by U+FFFD, in place
    where it can be; returns the root (a new one if it is a string)."""
    if isinstance(root, str):
        return _LONE_SURROGATE.sub("\ufffd", root)
    stack = [root] if isinstance(root, (dict, list)) else []
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if any(isinstance(k, str) and _LONE_SURROGATE.search(k) for k in node):
                pairs = list(node.items())
                node.clear()
                node.update((replace_lone_surrogates(k), v) for k, v in pairs)
            entries: Any = list(node.items())
        else:
            entries = list(enumerate(node))
        for key, value in entries:
            if isinstance(value, str):
                if not value.isascii():
                    node[key] = _LONE_SURROGATE.sub("\ufffd", value)
            elif isinstance(value, (dict, list)):
                stack.append(value)
    return root


# -- the iterative fallbacks ----------------------------------------------------------------------


def _loads_iteratively(s: str, max_depth: int | None = MAX_DEPTH) -> Any:
    """The same values json.loads makes, with a stack of open containers instead of recursion."""
    stack: list[tuple[dict[str, Any] | list[Any], str | None]] = []  # container, pending key
    i = _skip(s, 0)
    while True:
        # A value starts at i.
        c = s[i : i + 1]
        value: Any
        if c in ("{", "["):
            if max_depth is not None and len(stack) >= max_depth:
                raise json.JSONDecodeError(f"exceeded max depth of {max_depth}", s, i)
            i = _skip(s, i + 1)
            if s[i : i + 1] == ("}" if c == "{" else "]"):
                value, i = ({} if c == "{" else []), i + 1
            elif c == "{":
                first, i = _key(s, i)
                stack.append(({}, first))
                continue
            else:
                stack.append(([], None))
                continue
        elif c == '"':
            value, i = _scanstring(s, i + 1, True)
        else:
            value, i = _scalar(s, i)
        # A value is complete: add it to its container, and close every container it ends.
        while True:
            if not stack:
                end = _skip(s, i)
                if end != len(s):
                    raise json.JSONDecodeError("Extra data", s, end)
                return value
            container, key = stack[-1]
            if isinstance(container, dict):
                assert key is not None
                container[key] = value
            else:
                container.append(value)
            i = _skip(s, i)
            c = s[i : i + 1]
            if c == ",":
                i = _skip(s, i + 1)
                if isinstance(container, dict):
                    following, i = _key(s, i)
                    stack[-1] = (container, following)
                break
            if c != ("}" if isinstance(container, dict) else "]"):
                raise json.JSONDecodeError("Expecting ',' delimiter", s, i)
            stack.pop()
            value, i = container, i + 1


def _skip(s: str, i: int) -> int:
    m = _WS.match(s, i)
    assert m is not None  # matches the empty string
    return m.end()


def _key(s: str, i: int) -> tuple[str, int]:
    if s[i : i + 1] != '"':
        raise json.JSONDecodeError(
            "Expecting property name enclosed in double quotes", s, i
        )  # fmt: skip
    key, i = _scanstring(s, i + 1, True)
    i = _skip(s, i)
    if s[i : i + 1] != ":":
        raise json.JSONDecodeError("Expecting ':' delimiter", s, i)
    return key, _skip(s, i + 1)


def _scalar(s: str, i: int) -> tuple[Any, int]:
    m = _NUMBER.match(s, i)
    if m is not None:
        integer, frac, exp = m.groups()
        if frac or exp:
            return float(integer + (frac or "") + (exp or "")), m.end()
        return int(integer), m.end()
    for word, value in _LITERALS.items():
        if s.startswith(word, i):
            return value, i + len(word)
    raise json.JSONDecodeError("Expecting value", s, i)


def _dumps_iteratively(obj: Any) -> str:
    out: list[str] = []
    # Each entry: an iterator over a container's members, and its closing bracket.
    stack: list[tuple[Any, str]] = []
    pending: Any = obj
    while True:
        if isinstance(pending, dict):
            out.append("{")
            stack.append((iter(pending.items()), "}"))
        elif isinstance(pending, (list, tuple)):
            out.append("[")
            stack.append((iter(pending), "]"))
        else:
            out.append(_scalar_json(pending))
        while stack:
            members, closer = stack[-1]
            member: Any = next(members, _END)
            if member is _END:
                stack.pop()
                out.append(closer)
                continue
            if out[-1] not in ("{", "["):
                out.append(",")
            if closer == "}":
                out.append(_key_json(member[0]) + ":")
                pending = member[1]
            else:
                pending = member
            break
        else:
            return "".join(out)


_END = object()


def _scalar_json(value: Any) -> str:
    if isinstance(value, str):
        return str(_encode_string(value))
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _key_json(key: Any) -> str:
    if isinstance(key, str):
        return str(_encode_string(key))
    if isinstance(key, (bool, int, float)) or key is None:
        return str(_encode_string(_scalar_json(key)))  # json.dumps turns these keys to strings
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _copy_iteratively(obj: Any) -> Any:
    def shell(value: Any) -> Any:
        if isinstance(value, dict):
            return {}
        if isinstance(value, list):
            return []
        return _copy.deepcopy(value)  # a scalar

    root = shell(obj)
    stack = [(obj, root)] if isinstance(obj, (dict, list)) else []
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, value in items:
            copied = shell(value)
            if isinstance(target, dict):
                target[key] = copied
            else:
                target.append(copied)
            if isinstance(value, (dict, list)):
                stack.append((value, copied))
    return root


def _equal_iteratively(a: Any, b: Any) -> bool:
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if isinstance(x, dict) and isinstance(y, dict):
            if x.keys() != y.keys():
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif isinstance(x, (dict, list)) or isinstance(y, (dict, list)) or x != y:
            return False
    return True
