"""JSON from the API server, decoded so that one object, whatever its shape, affects only itself.

`json.loads` recurses, and so does what we later do with an object (pydantic, copy.deepcopy,
json.dumps, templates), while the API server accepts objects nested 10,000 levels deep. So every
object is checked where it is decoded: one nested deeper than `MAX_DEPTH` levels or larger than
`MAX_OBJECT_BYTES` is handed over as an `Unreadable` (its metadata and the reason), which
`parse_one` reports as that object's ParseError; the other objects are untouched. Invalid UTF-8
and lone UTF-16 surrogates (`"\\ud800"`, which no page can encode) become U+FFFD, as they do in
the API server's own decoder, so we see what any client of a real server sees.

Fast path: one `json.loads` of the whole response, then an iterative check of each object.
Slow path, only when that raises (something nests too deeply for it, or is not JSON): the
document is read member by member and item by item with json's C scanner; an item it cannot read
is framed by matching brackets outside strings (a regex tokenizer, no recursion), and what can be
read of it (its text with containers below the second level replaced by null, read member by
member) names it. Nothing here recurses deeper than those two levels, whatever the input.
"""

from __future__ import annotations

import io
import json
import pickle
import re
from collections.abc import Callable
from typing import Any, cast

from ..models.base import Unreadable

# Real objects nest far less (a pod with its managedFields: about 20 levels). 100 keeps the
# recursive code that handles an object later (pydantic, copy.deepcopy at ~3 frames a level,
# json.dumps) far from Python's recursion limit of 1,000, whatever the caller's own stack.
MAX_DEPTH = 100
# The API server refuses a request body over 3 MiB (etcd stores at most 1.5 MiB): nothing
# larger can be a real object.
MAX_OBJECT_BYTES = 3 * 1024 * 1024

TOO_DEEP = f"nests deeper than {MAX_DEPTH} levels"
TOO_LARGE = f"is larger than {MAX_OBJECT_BYTES // (1024 * 1024)} MiB"
NOT_AN_OBJECT = "is not a JSON object"

# json's C scanner (what json.loads runs): a value at a position, and where it ends.
_SCANNER: Callable[[str, int], tuple[Any, int]] = cast(Any, json.JSONDecoder()).scan_once
_WS = re.compile(r"[ \t\n\r]*")
# A string (escapes included) or one bracket: enough to frame a value and to track its depth.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_SCALAR_END = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[^,\[\]{}\s]*', re.DOTALL)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# What an Unreadable keeps: the keys that name an object and say whose it is.
_STUB_META = ("name", "namespace", "resourceVersion", "uid")
_STUB_SPEC = ("username", "workspace")
_CONTAINERS = frozenset((dict, list))  # exact types: json.loads makes no subclasses
_STUB_DEPTH = 2  # the object and its metadata/spec; deeper containers are pruned to null
# A pickle (no memo) of n bytes has a compact JSON encoding of at most 6n bytes: a character
# takes at most 6 bytes in JSON (\u0000) and at least 1 in the pickle, and every value and
# container at least 1 byte in the pickle for at most 6 in JSON ("false,").
_PICKLE_RATIO = 6


def loads_object(raw: bytes | str) -> dict[str, Any]:
    """One object (a get, create, update or patch response): a checked dict, or an Unreadable
    saying why it is not. Never raises."""
    text = _text(raw)
    surrogates = _may_hold_surrogates(raw, text)
    try:
        obj = json.loads(text)
    except (RecursionError, ValueError):
        try:
            start = _skip_ws(text, 0)
            obj, end = _read_item(text, start, surrogates)
            if _skip_ws(text, end) != len(text):
                raise ValueError("extra data after the object")
        except ValueError as err:
            return Unreadable({}, f"is not valid JSON ({_message(err)})")
    else:
        if surrogates:
            obj = _fix_surrogates(obj)
    return _check([obj], len(raw) if isinstance(raw, bytes) else None, text)[0]


def loads_list(raw: bytes | str) -> dict[str, Any]:
    """A List: its `items` are checked dicts or Unreadables. Raises ValueError when the document
    itself (not one of its items) cannot be read."""
    return _loads_document(raw, "items")


def loads_event(raw: bytes | str) -> dict[str, Any]:
    """One watch event (one line): its `object` is a checked dict or an Unreadable. Raises
    ValueError when the event itself cannot be read."""
    return _loads_document(raw, "object")


# -- documents -----------------------------------------------------------------------------------


def _loads_document(raw: bytes | str, member: str) -> dict[str, Any]:
    text = _text(raw)
    surrogates = _may_hold_surrogates(raw, text)
    doc: dict[str, Any]
    try:
        loaded: object = json.loads(text)
    except (RecursionError, ValueError):
        doc = _read_members(text, member, surrogates)
    else:
        if not isinstance(loaded, dict):
            raise ValueError(f"the response {NOT_AN_OBJECT}")
        doc = loaded
        if surrogates:
            _fix_surrogates(doc)
    size = len(raw) if isinstance(raw, bytes) else None
    if member == "items":
        items = doc.get("items")
        if items is None:
            doc["items"] = []
        elif not isinstance(items, list):
            raise ValueError("the List's items are not an array")
        else:
            doc["items"] = _check(items, size, text)
    elif member in doc:
        doc[member] = _check([doc[member]], size, text)[0]
    return doc


def _read_members(text: str, member: str, surrogates: bool) -> dict[str, Any]:
    """The slow path: a document's members one by one; `member` (an array of objects, or one
    object) item by item, so that one item that cannot be read stays that item's problem."""
    doc: dict[str, Any] = {}
    i = _skip_ws(text, 0)
    if text[i : i + 1] != "{":
        raise ValueError(f"the response {NOT_AN_OBJECT}")
    i = _skip_ws(text, i + 1)
    closed = text[i : i + 1] == "}"
    if closed:
        i += 1
    while not closed:
        if text[i : i + 1] != '"':
            raise ValueError(f"expected a member name at character {i}")
        key, i = _scan(text, i)
        i = _skip_ws(text, i)
        if text[i : i + 1] != ":":
            raise ValueError(f"expected ':' at character {i}")
        i = _skip_ws(text, i + 1)
        value: Any
        if key == member and member == "items" and text[i : i + 1] == "[":
            value, i = _read_items(text, i, surrogates)
        elif key == member and member == "object":
            value, i = _read_item(text, i, surrogates)
        else:
            try:
                value, i = _scan(text, i)
            except RecursionError:
                raise ValueError(f"the response's {key!r} {TOO_DEEP}") from None
            if surrogates:
                value = _fix_surrogates(value)
        doc[key] = value
        i = _skip_ws(text, i)
        c = text[i : i + 1]
        if c == "}":
            i, closed = i + 1, True
        elif c == ",":
            i = _skip_ws(text, i + 1)
        else:
            raise ValueError(f"expected ',' or '}}' at character {i}")
    if _skip_ws(text, i) != len(text):
        raise ValueError(f"extra data at character {i}")
    return doc


def _read_items(text: str, i: int, surrogates: bool) -> tuple[list[Any], int]:
    items: list[Any] = []
    i = _skip_ws(text, i + 1)
    if text[i : i + 1] == "]":
        return items, i + 1
    while True:
        item, i = _read_item(text, i, surrogates)
        items.append(item)
        i = _skip_ws(text, i)
        c = text[i : i + 1]
        if c == "]":
            return items, i + 1
        if c != ",":
            raise ValueError(f"expected ',' or ']' at character {i}")
        i = _skip_ws(text, i + 1)


def _read_item(text: str, i: int, surrogates: bool) -> tuple[Any, int]:
    """One value; if the scanner cannot read it, an Unreadable naming it (ValueError only when
    its end cannot be found, which leaves the rest of the document unreadable too)."""
    try:
        value, end = _scan(text, i)
    except RecursionError:
        reason = TOO_DEEP
    except ValueError as err:
        reason = f"is not valid JSON ({_message(err)})"
    else:
        return (_fix_surrogates(value) if surrogates else value), end
    end, pruned = _frame(text, i)
    try:
        readable = _lenient(pruned, 0, _STUB_DEPTH)[0]
    except ValueError:
        readable = None
    if surrogates:
        readable = _fix_surrogates(readable)
    return Unreadable(_stub(readable), reason), end


def _lenient(text: str, i: int, levels: int) -> tuple[Any, int]:
    """The value at `i` of a pruned (shallow) text; in its top `levels` levels of objects, a
    member that is not valid JSON is left out rather than failing the whole value."""
    try:
        return _scan(text, i)
    except ValueError:
        end = _frame(text, i)[0]
        if levels == 0 or text[i : i + 1] != "{":
            return None, end
    members: dict[str, Any] = {}
    j = _skip_ws(text, i + 1)
    while text[j : j + 1] == '"':
        key, j = _scan(text, j)
        j = _skip_ws(text, j)
        if text[j : j + 1] != ":":
            break
        members[key], j = _lenient(text, _skip_ws(text, j + 1), levels - 1)
        j = _skip_ws(text, j)
        if text[j : j + 1] != ",":
            break
        j = _skip_ws(text, j + 1)
    return members, end


def _frame(text: str, i: int) -> tuple[int, str]:
    """The end of the value at `i`, and its text with every container below `_STUB_DEPTH`
    replaced by null, found by matching brackets outside strings."""
    if text[i : i + 1] not in ("{", "["):
        m = _SCALAR_END.match(text, i)
        assert m is not None  # the pattern matches the empty string
        return m.end(), "null"
    parts: list[str] = []
    depth, copied = 0, i
    for m in _TOKEN.finditer(text, i):
        c = text[m.start()]
        if c == '"':
            continue
        if c in "[{":
            depth += 1
            if depth == _STUB_DEPTH + 1:
                parts.append(text[copied : m.start()])
        else:
            if depth == _STUB_DEPTH + 1:
                parts.append("null")
                copied = m.end()
            depth -= 1
            if depth == 0:
                parts.append(text[copied : m.end()])
                return m.end(), "".join(parts)
    raise ValueError(f"unterminated value at character {i}")


# -- checks ---------------------------------------------------------------------------------------


def _check(items: list[Any], raw_size: int | None, text: str) -> list[dict[str, Any]]:
    """The items with each one that is not a JSON object, nests too deeply or is too large
    replaced by an Unreadable. `raw_size` is the document's size in bytes when known."""
    objects = [x for x in items if type(x) is dict]  # an Unreadable is no plain dict
    if len(objects) != len(items):  # Unreadables (slow path) or values that are no objects
        items[:] = [x if isinstance(x, dict) else Unreadable({}, NOT_AN_OBJECT) for x in items]
    for i in _too_deep(items, objects):
        items[i] = Unreadable(_stub(items[i]), TOO_DEEP)
    size = _utf8_size(raw_size, text)
    if size > MAX_OBJECT_BYTES:  # else no object in it can be larger
        for i in _too_large(items, size):
            items[i] = Unreadable(_stub(items[i]), TOO_LARGE)
    return items


def _too_deep(items: list[Any], objects: list[dict[str, Any]]) -> list[int]:
    """The indices of the items nested deeper than MAX_DEPTH: one breadth-first pass over all
    the `objects` among them (comprehensions, no recursion), then item by item only if that
    found any."""
    frontier: list[Any] = objects
    depth = 1
    while frontier:
        if depth > MAX_DEPTH:
            return [i for i, x in enumerate(items) if type(x) is dict and _deeper(x, MAX_DEPTH)]
        frontier = [
            v
            for node in frontier
            for v in (node.values() if type(node) is dict else node)
            if type(v) in _CONTAINERS
        ]
        depth += 1
    return []


def _deeper(obj: Any, limit: int) -> bool:
    stack = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for v in node.values() if type(node) is dict else node:
            if type(v) is dict or type(v) is list:
                stack.append((v, depth + 1))
    return False


def _too_large(items: list[Any], size: int) -> list[int]:
    """The indices of the items whose compact JSON is larger than MAX_OBJECT_BYTES. Encoding each
    item would cost as much as decoding the List, so groups of items are pickled instead (C, no
    memo: a bound on their JSON size); only a group over the bound is split, down to one item,
    and only such an item is encoded to JSON."""
    limit = MAX_OBJECT_BYTES // _PICKLE_RATIO
    todo = [i for i, x in enumerate(items) if type(x) is dict]
    # Groups of about half the bound (judged by the document's size): one pass when none is big.
    per_group = max(1, len(todo) * (limit // 2) // max(size, 1))
    groups = [todo[k : k + per_group] for k in range(0, len(todo), per_group)]
    large: list[int] = []
    while groups:
        group = groups.pop()
        if _pickled_size([items[i] for i in group]) <= limit:
            continue
        if len(group) > 1:
            groups += [group[: len(group) // 2], group[len(group) // 2 :]]
        elif _json_size(items[group[0]]) > MAX_OBJECT_BYTES:
            large.append(group[0])
    return sorted(large)


def _pickled_size(objs: list[Any]) -> int:
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=5)
    pickler.fast = True  # no memo: a repeated string counts every time, as in JSON
    pickler.dump(objs)
    return out.tell()


def _json_size(obj: Any) -> int:
    encoded = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return len(encoded.encode("utf-8", "surrogatepass"))


def _utf8_size(raw_size: int | None, text: str) -> int:
    if raw_size is not None:
        return raw_size
    if len(text) * 4 <= MAX_OBJECT_BYTES:  # a character is at most 4 bytes: small enough
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def _stub(obj: Any) -> dict[str, Any]:
    """What names an object and says whose it is, as plain strings."""
    if not isinstance(obj, dict):
        return {}
    stub: dict[str, Any] = {k: obj[k] for k in ("apiVersion", "kind") if _is_text(obj.get(k))}
    meta, spec = obj.get("metadata"), obj.get("spec")
    if isinstance(meta, dict):
        stub["metadata"] = {k: meta[k] for k in _STUB_META if _is_text(meta.get(k))}
    if isinstance(spec, dict):
        picked = {k: spec[k] for k in _STUB_SPEC if _is_text(spec.get(k))}
        if picked:
            stub["spec"] = picked
    return stub


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


# -- text -----------------------------------------------------------------------------------------


def _text(raw: bytes | str) -> str:
    # Invalid UTF-8 becomes U+FFFD, as in Go's decoder (json.loads would refuse the whole body).
    return raw if isinstance(raw, str) else raw.decode("utf-8", "replace")


def _may_hold_surrogates(raw: bytes | str, text: str) -> bool:
    """False when no string in `text` can decode to a lone surrogate (a cheap scan, so the fix
    below walks a document only when it has to)."""
    if _SURROGATE_ESCAPE.search(text):
        return True
    # Decoding bytes with "replace" leaves no surrogate; a str may have brought some.
    return isinstance(raw, str) and _LONE_SURROGATE.search(text) is not None


def _fix_surrogates(root: Any) -> Any:
    """`root` with each lone surrogate replaced by U+FFFD (json.loads has already paired the valid
    ones), in place and without recursion; returns the root (a new one if it is a string)."""
    if isinstance(root, str):
        return _fixed(root)
    stack = [root] if isinstance(root, (dict, list)) else []
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if any(_LONE_SURROGATE.search(k) for k in node if not k.isascii()):
                pairs = list(node.items())
                node.clear()
                node.update((_fixed(k), v) for k, v in pairs)
            entries: Any = node.items()
        else:
            entries = enumerate(node)
        for key, value in list(entries):
            if type(value) is str:
                if not value.isascii():
                    node[key] = _fixed(value)
            elif type(value) is dict or type(value) is list:
                stack.append(value)
    return root


def _fixed(value: str) -> str:
    return _LONE_SURROGATE.sub("\ufffd", value)


# -- scanning -------------------------------------------------------------------------------------


def _skip_ws(text: str, i: int) -> int:
    m = _WS.match(text, i)
    assert m is not None  # the pattern matches the empty string
    return m.end()


def _scan(text: str, i: int) -> tuple[Any, int]:
    """json's C scanner at `i`: (value, end). RecursionError when the value nests too deeply
    for it, ValueError when it is not JSON."""
    try:
        value, end = _SCANNER(text, i)
    except StopIteration as stop:
        raise json.JSONDecodeError("Expecting value", text, stop.value) from None
    return value, end


def _message(err: ValueError) -> str:
    text = err.msg if isinstance(err, json.JSONDecodeError) else str(err)
    return text[:100]
