"""JSON patch as kube-apiserver applies it: evanphx/json-patch v4 (gopkg.in/evanphx/json-patch.v4,
v4.12.0), not RFC 6902 to the letter.

The server decodes the body with that package and applies it to the object's JSON
(staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go). Where v4 is more lenient than
the RFC, clients depend on it, so this module is too:

- `replace` of a member an object lacks adds it (v4 never checks that an object has the key).
- `copy` from a member an object lacks copies null.
- An operation without `value` (add, replace) sets null; a `test` of a missing member with
  `"value": null` passes.
- A path that does not start with "/" is split on "/" anyway ("a/b" is the root's member "b").
- Array indices may be negative (-1 is the last item; for `add`, -1 appends) and may carry a sign
  or leading zeros ("+1", "01"); "-" appends for `add` and is invalid elsewhere.
- `replace` of the whole document ("") with something other than an object or array does
  nothing; `add` to "" fails ("doc is missing path").
- "~0" and "~1" are unescaped; any other "~" is kept as it is.

What v4 refuses, this refuses too: `remove` of a missing member or item, `add` below a missing or
scalar parent, an index past the end, a failed `test`, an unknown or missing `op`, a missing
`path` (or `from` for move and copy), and `copy` operations that together copy more than
JSONPatchMaxCopyBytes (3 MiB, the server's default) of JSON.

Where v4 panics (a `test` with no `value` of a missing member, `replace` of "" with no `value`,
a path through a null that a `value: null` put there) the server answers with an internal error;
here those operations just fail. v4 `test`s scalars by their JSON text. Numbers are compared so
here too: the object's as the server writes it (a whole 1.0 as 1), the patch's as written, so a
stored 1 is not 1.0 and true is not 1. Strings are compared by value (v4 would tell "\u00e9" from
"é").

`apply` raises `PatchFailed` with v4's message; the server does not pass that message on (it
answers a bare 422, see patches.py), but tests and logs can read it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kubesim.registry import deepjson

# genericapiserver.Config.JSONPatchMaxCopyBytes, which arms jsonpatch.AccumulatedCopySizeLimit.
MAX_COPY_BYTES = 3 * 1024 * 1024

_MISSING: Any = object()
_ESCAPE = re.compile(r"~[01]")
_INDEX = re.compile(r"[+-]?[0-9]+")  # what strconv.Atoi takes
_INT64_MAX = 2**63 - 1


class PatchFailed(Exception):
    """An operation v4 refuses; the message is the package's."""


def apply(doc: dict[str, Any], ops: list[Any]) -> Any:
    """Apply the decoded operations `ops` (dicts, or None for a JSON null) to a copy of `doc` and
    return the result, which may be an array or a new object. `doc` and `ops` are not changed."""
    state = _State(deepjson.deepcopy(doc))
    for op in ops:
        op = op if isinstance(op, dict) else {}  # a null operation has no members
        kind = op.get("op")
        handler = _OPS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise PatchFailed(f"Unexpected kind: {kind if isinstance(kind, str) else 'unknown'}")
        handler(state, op)
    return state.root


class _State:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.copied = 0  # bytes copied by `copy` operations so far


# -- paths ----------------------------------------------------------------------------------------


def _member(op: dict[str, Any], name: str, what: str) -> str:
    """op[name] as a string: Operation.Path / Operation.From."""
    value = op.get(name)
    if value is None:
        raise PatchFailed(f"{what}: missing value")
    if not isinstance(value, str):
        raise PatchFailed(f"{what}: json: cannot unmarshal into Go value of type string")
    return value


def _unescape(token: str) -> str:
    return _ESCAPE.sub(lambda m: "/" if m.group() == "~1" else "~", token)


def _index(key: str) -> int | None:
    """strconv.Atoi: an optional sign and decimal digits, within int64."""
    if not _INDEX.fullmatch(key):
        return None
    value = int(key)
    return value if -_INT64_MAX - 1 <= value <= _INT64_MAX else None


def _item(items: list[Any], key: str) -> int | None:
    """The position `key` names in `items` (partialArray.get): negative counts from the end."""
    idx = _index(key)
    if idx is None:
        return None
    if idx < 0:
        if idx < -len(items):
            return None
        idx += len(items)
    return idx if idx < len(items) else None


def _find(root: Any, path: str) -> tuple[dict[str, Any] | list[Any], str] | None:
    """findObject: the container of the path's last token, and that token (unescaped)."""
    tokens = path.split("/")
    if len(tokens) < 2:
        return None
    node = root
    for token in tokens[1:-1]:
        if isinstance(node, dict):
            nxt = node.get(_unescape(token))
        else:
            idx = _item(node, _unescape(token))
            nxt = None if idx is None else node[idx]
        if not isinstance(nxt, (dict, list)):  # missing, null or a scalar: no parent here
            return None
        node = nxt
    if not isinstance(node, (dict, list)):
        return None
    return node, _unescape(tokens[-1])


def _container(state: _State, path: str, failure: str) -> tuple[dict[str, Any] | list[Any], str]:
    found = _find(state.root, path)
    if found is None:
        raise PatchFailed(failure)
    return found


# -- container operations (partialDoc / partialArray) ---------------------------------------------


def _get(con: dict[str, Any] | list[Any], key: str) -> Any:
    """The value at `key`; a missing member of an object reads as null (v4 asks no more)."""
    if isinstance(con, dict):
        return con.get(key)
    idx = _item(con, key)
    if idx is None:
        raise PatchFailed(f"Unable to access invalid index: {key}")
    return con[idx]


def _add(con: dict[str, Any] | list[Any], key: str, value: Any) -> None:
    if isinstance(con, dict):
        con[key] = value
        return
    if key == "-":
        con.append(value)
        return
    idx = _index(key)
    if idx is None:
        raise PatchFailed(f"value was not a proper array index: '{key}'")
    size = len(con) + 1
    if idx >= size or idx < -size:
        raise PatchFailed(f"Unable to access invalid index: {idx}")
    con.insert(idx + size if idx < 0 else idx, value)


def _set(con: dict[str, Any] | list[Any], key: str, value: Any) -> None:
    if isinstance(con, dict):
        con[key] = value
        return
    idx = _item(con, key)
    if idx is None:
        raise PatchFailed(f"Unable to access invalid index: {key}")
    con[idx] = value


def _remove(con: dict[str, Any] | list[Any], key: str) -> Any:
    if isinstance(con, dict):
        if key not in con:
            raise PatchFailed(f"Unable to remove nonexistent key: {key}: missing value")
        return con.pop(key)
    idx = _item(con, key)
    if idx is None:
        raise PatchFailed(f"Unable to access invalid index: {key}")
    return con.pop(idx)


# -- the six operations ---------------------------------------------------------------------------


def _value(op: dict[str, Any]) -> Any:
    """The operation's value, ours to keep; an absent one is null."""
    return deepjson.deepcopy(op.get("value"))


def _op_add(state: _State, op: dict[str, Any]) -> None:
    path = _member(op, "path", "add operation failed to decode path")
    con, key = _container(
        state, path, f'add operation does not apply: doc is missing path: "{path}"'
    )
    try:
        _add(con, key, _value(op))
    except PatchFailed as exc:
        raise PatchFailed(f"error in add for path: '{path}': {exc}") from None


def _op_remove(state: _State, op: dict[str, Any]) -> None:
    path = _member(op, "path", "remove operation failed to decode path")
    con, key = _container(
        state, path, f'remove operation does not apply: doc is missing path: "{path}"'
    )
    try:
        _remove(con, key)
    except PatchFailed as exc:
        raise PatchFailed(f"error in remove for path: '{path}': {exc}") from None


def _op_replace(state: _State, op: dict[str, Any]) -> None:
    path = _member(op, "path", "replace operation failed to decode path")
    if path == "":
        if "value" not in op:
            raise PatchFailed("replace operation has no value")  # v4 panics here
        if isinstance(op["value"], (dict, list)):
            state.root = _value(op)
        # Anything else: v4 wraps a nil error, so the operation "succeeds" and changes nothing.
        return
    con, key = _container(
        state, path, f"replace operation does not apply: doc is missing path: {path}"
    )
    if not isinstance(con, dict) and _item(con, key) is None:
        raise PatchFailed(f"replace operation does not apply: doc is missing key: {path}")
    _set(con, key, _value(op))  # an object's missing member is simply added


def _op_move(state: _State, op: dict[str, Any]) -> None:
    source = _member(op, "from", "move operation failed to decode from")
    con, key = _container(
        state, source, f"move operation does not apply: doc is missing from path: {source}"
    )
    try:
        _get(con, key)
        value = _remove(con, key)
    except PatchFailed as exc:
        raise PatchFailed(f"error in move for path: '{key}': {exc}") from None
    path = _member(op, "path", "move operation failed to decode path")
    con, key = _container(
        state, path, f"move operation does not apply: doc is missing destination path: {path}"
    )
    try:
        _add(con, key, value)
    except PatchFailed as exc:
        raise PatchFailed(f"error in move for path: '{path}': {exc}") from None


def _op_test(state: _State, op: dict[str, Any]) -> None:
    path = _member(op, "path", "test operation failed to decode path")
    failed = PatchFailed(f"testing value {path} failed: test failed")
    if path == "":
        if "value" not in op or not _equal(state.root, op["value"]):
            raise failed
        return
    con, key = _container(state, path, f"test operation does not apply: is missing path: {path}")
    try:
        current = _get(con, key)
    except PatchFailed as exc:
        raise PatchFailed(f"error in test for path: '{path}': {exc}") from None
    if current is None:  # missing or null: passes only against an explicit null
        if "value" in op and op["value"] is None:
            return
        raise failed
    if "value" not in op or not _equal(current, op["value"]):
        raise failed


def _op_copy(state: _State, op: dict[str, Any]) -> None:
    source = _member(op, "from", "copy operation failed to decode from")
    con, key = _container(
        state, source, f"copy operation does not apply: doc is missing from path: {source}"
    )
    try:
        value = _get(con, key)  # null when an object lacks the member
    except PatchFailed as exc:
        raise PatchFailed(f"error in copy for from: '{source}': {exc}") from None
    path = _member(op, "path", "copy operation failed to decode path")
    con, key = _container(
        state, path, f"copy operation does not apply: doc is missing destination path: {path}"
    )
    if value is not None:
        state.copied += len(deepjson.dumps(value).encode())
        if state.copied > MAX_COPY_BYTES:
            raise PatchFailed(
                f"Unable to complete the copy, the accumulated size increase of copy is "
                f"{state.copied}, exceeding the limit {MAX_COPY_BYTES}"
            )
    try:
        _add(con, key, deepjson.deepcopy(value))
    except PatchFailed as exc:
        raise PatchFailed(f"error while adding value during copy: {exc}") from None


_OPS: dict[str, Any] = {
    "add": _op_add,
    "remove": _op_remove,
    "replace": _op_replace,
    "move": _op_move,
    "test": _op_test,
    "copy": _op_copy,
}


# -- equality (lazyNode.equal) --------------------------------------------------------------------


def _number_text(value: int | float, stored: bool) -> str:
    """A number's JSON text: as the server writes the object's (whole floats without a fraction),
    or as the patch wrote it."""
    if stored and isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return json.dumps(value)


def _scalar_equal(current: Any, wanted: Any) -> bool:
    if isinstance(current, bool) or isinstance(wanted, bool):
        return current is wanted
    if isinstance(current, (int, float)) and isinstance(wanted, (int, float)):
        return _number_text(current, True) == _number_text(wanted, False)
    return type(current) is type(wanted) and bool(current == wanted)


def _equal(current: Any, wanted: Any) -> bool:
    """Whether the document's `current` equals the patch's `wanted`, at any depth."""
    stack = [(current, wanted)]
    while stack:
        a, b = stack.pop()
        if a is None or b is None:
            if a is not b:
                return False
        elif isinstance(a, dict):
            if not isinstance(b, dict) or a.keys() != b.keys():
                return False
            stack.extend((a[k], b[k]) for k in a)
        elif isinstance(a, list):
            if not isinstance(b, list) or len(a) != len(b):
                return False
            stack.extend(zip(a, b, strict=True))
        elif isinstance(b, (dict, list)) or not _scalar_equal(a, b):
            return False
    return True
