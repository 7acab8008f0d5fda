"""The list verb: selectors, resourceVersion semantics, and pages with continue tokens.

A continue token remembers the resourceVersion of the first page, so later pages read the same
snapshot from the store's history, as the real server reads them from etcd.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from kubesim.apiserver.selectors import FieldSelector, LabelSelector
from kubesim.apiserver.store import Store
from kubesim.registry import kinds
from kubesim.registry.errors import ApiError, bad_request, expired, timeout
from kubesim.registry.resources import ResourceType


@dataclass
class ListOptions:
    labels: LabelSelector
    fields: FieldSelector
    limit: int = 0
    continue_token: str | None = None
    resource_version: str | None = None
    resource_version_match: str | None = None


def list_objects(
    store: Store, rt: ResourceType, namespace: str | None, opts: ListOptions
) -> dict[str, Any]:
    """The List document of the objects of `rt` that match `opts`, one page of it at most."""
    ns = namespace if rt.namespaced else None
    rv_match = opts.resource_version_match
    if rv_match and rv_match not in ("Exact", "NotOlderThan"):
        raise bad_request(f'resourceVersionMatch: Unsupported value: "{rv_match}"')
    if rv_match and not opts.resource_version:
        raise bad_request("resourceVersionMatch is forbidden unless resourceVersion is provided")
    after: str | None
    if opts.continue_token:
        if opts.resource_version not in (None, ""):
            raise bad_request("specifying resource version is not allowed when using continue")
        at_rv, after = _decode_continue(opts.continue_token)
        try:
            objects = store.snapshot(rt.storage_key, ns, at_rv)
        except ApiError:
            raise expired(
                "The provided continue parameter is too old to display a consistent list "
                "result. You can start a new list without the continue parameter."
            ) from None
    else:
        after = None
        at_rv = store.resource_version
        requested = parse_rv(opts.resource_version)
        if requested and requested > at_rv:
            raise timeout(f"Too large resource version: {requested}, current: {at_rv}")
        if rv_match == "Exact" and requested:
            at_rv = requested
            objects = store.snapshot(rt.storage_key, ns, at_rv)
        else:
            objects = store.items(rt.storage_key, ns)
    matched = [o for o in objects if opts.labels.matches(_labels(o)) and opts.fields.matches(o)]
    if after is not None:
        matched = [o for o in matched if _order_key(o) > after]
    meta: dict[str, Any] = {"resourceVersion": str(at_rv)}
    if opts.limit and len(matched) > opts.limit:
        remaining = len(matched) - opts.limit
        matched = matched[: opts.limit]
        meta["continue"] = _encode_continue(at_rv, _order_key(matched[-1]))
        meta["remainingItemCount"] = remaining
    items = [kinds.present(rt, o) for o in matched]
    if not rt.custom:
        # Like a real server, typed lists do not repeat apiVersion/kind on their items.
        items = [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")} for o in items]
    return {
        "apiVersion": rt.api_version,
        "kind": rt.list_kind,
        "metadata": meta,
        "items": items,
    }


def parse_rv(value: str | None) -> int:
    """A resourceVersion parameter as a number (0 when unset), or the server's 400."""
    if value in (None, ""):
        return 0
    try:
        rv = int(value or 0)
    except ValueError:
        raise bad_request(
            f"resourceVersion: Invalid value: {value!r}: must be an integer"
        ) from None
    if rv < 0:
        raise bad_request(f"resourceVersion: Invalid value: {value!r}: must be non-negative")
    return rv


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = obj["metadata"].get("labels") or {}
    return labels


def _order_key(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace') or ''}/{meta['name']}"


def _encode_continue(rv: int, after: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": after + "\x00"})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        return int(data["rv"]), str(data["start"]).rstrip("\x00")
    except (ValueError, KeyError, TypeError):
        raise bad_request(f"continue key is not valid: {token!r}") from None
