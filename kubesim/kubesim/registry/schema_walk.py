"""Reading a CRD's openAPIV3Schema node by node, as every structural-schema pass walks it.

Schemas come from stored CRDs and may be malformed below what validation checks; these helpers
skip entries that are not schemas rather than fail on them.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]
META_FIELDS = ("apiVersion", "kind", "metadata")
PRESERVE = "x-kubernetes-preserve-unknown-fields"
EMBEDDED = "x-kubernetes-embedded-resource"
INT_OR_STRING = "x-kubernetes-int-or-string"


def join(path: str, key: str) -> str:
    """A field path one key further down ("spec" + "foo" is "spec.foo")."""
    return f"{path}.{key}" if path else key


def node(s: Schema | None, key: str) -> Schema | None:
    """A sub-schema (items, ...), if the node has one that is a schema."""
    sub = (s or {}).get(key)
    return sub if isinstance(sub, dict) else None


def props(s: Any) -> dict[str, Schema]:
    """The properties of a schema node that are schemas (malformed entries are ignored)."""
    found = s.get("properties") if isinstance(s, dict) else None
    if not isinstance(found, dict):
        return {}
    return {k: v for k, v in found.items() if isinstance(v, dict)}


def sub(s: Schema | None, key: str) -> tuple[bool, Schema | None]:
    """(is the key known, its schema): properties first, then additionalProperties."""
    known = props(s)
    if key in known:
        return True, known[key]
    extra = (s or {}).get("additionalProperties")
    # `additionalProperties: true` knows every key but has no schema below it.
    return extra is not None, extra if isinstance(extra, dict) else None
