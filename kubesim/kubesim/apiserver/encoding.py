"""JSON text of responses, with each shared managedFields list encoded once.

Objects written alike share one managedFields list (managed_fields.encode keeps one copy of
equal lists), so a list or a watch of 10,000 of them would encode the same entries 10,000
times, more work than the rest of the objects. Here a shared list is encoded once, cached, and
its text put in place of a marker: the output is byte for byte what encoding the whole document
would give.

The markers are set in the objects' metadata in place and taken out again before `dumps`
returns, with nothing in between that yields to other code: copying 10,000 objects to mark them
would cost what the encoding saves. The API's objects are only touched on the server's loop
(the store is not thread-safe; other threads go through LocalCluster.call), so no reader can
see a marker.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

from kubesim.registry import deepjson

# A marker no client can guess, so no string in an object can pose as one.
_TOKEN = uuid.uuid4().hex
_MARKER = re.compile(r'"\\u0000' + _TOKEN + r'(\d+)\\u0000"')
_TEXTS: dict[int, tuple[list[Any], str]] = {}


def dumps(doc: Any) -> str:
    """deepjson.dumps(doc), for an object, a list of objects or a watch event."""
    texts: list[str] = []
    seen: dict[int, int] = {}
    swapped: list[tuple[dict[str, Any], list[Any]]] = []
    try:
        for meta in _metadata(doc):
            managed = meta.get("managedFields")
            if not isinstance(managed, list) or not managed:
                continue
            index = seen.get(id(managed))
            if index is None:
                index = seen[id(managed)] = len(texts)
                texts.append(_text(managed))
            swapped.append((meta, managed))
            meta["managedFields"] = f"\x00{_TOKEN}{index}\x00"
        out = deepjson.dumps(doc)
    finally:
        for meta, managed in reversed(swapped):
            meta["managedFields"] = managed
    if not texts:
        return out
    if len(texts) > 8:  # one pass over the text
        return _MARKER.sub(lambda m: texts[int(m.group(1))], out)
    for index, text in enumerate(texts):  # a few passes, each a fast search
        out = out.replace(f'"\\u0000{_TOKEN}{index}\\u0000"', text)
    return out


def _metadata(doc: Any) -> Iterator[dict[str, Any]]:
    """The metadata of the objects a document carries: its items, its event's object, or its
    own."""
    if not isinstance(doc, dict):
        return
    items = doc.get("items")
    if isinstance(items, list):
        objects: list[Any] = items
    elif isinstance(doc.get("object"), dict) and "type" in doc:
        objects = [doc["object"]]
    else:
        objects = [doc]
    for obj in objects:
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        if isinstance(meta, dict):
            yield meta


def _text(managed: list[Any]) -> str:
    cached = _TEXTS.get(id(managed))
    if cached is not None and cached[0] is managed:
        return cached[1]
    if len(_TEXTS) >= 2048:
        _TEXTS.clear()
    text = deepjson.dumps(managed)
    _TEXTS[id(managed)] = (managed, text)
    return text
