"""CustomResourceDefinitions becoming served (Established) and unserved, with their objects."""

from __future__ import annotations

from typing import Any

from kubesim.apiserver.admission import CRD_KEY, now_rfc3339
from kubesim.apiserver.store import Store
from kubesim.registry.resources import Registry


def serve_crd(store: Store, registry: Registry, crd: dict[str, Any]) -> None:
    """Serve a created or changed CRD, and set the status the apiextensions controller would."""
    registry.set_crd(crd)
    names = crd["spec"]["names"]
    accepted = {
        k: names[k]
        for k in ("plural", "singular", "kind", "listKind", "shortNames", "categories")
        if k in names
    }
    accepted.setdefault("listKind", names["kind"] + "List")
    accepted.setdefault("singular", names["kind"].lower())
    status = {
        "acceptedNames": accepted,
        "storedVersions": [v["name"] for v in crd["spec"]["versions"] if v.get("storage")],
        "conditions": [
            _condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            _condition(
                "Established", "InitialNamesAccepted", "the initial names have been accepted"
            ),
        ],
    }
    if crd.get("status") != status:
        store.put(CRD_KEY, {**crd, "metadata": dict(crd["metadata"]), "status": status})


def unserve_crd(store: Store, registry: Registry, crd: dict[str, Any]) -> None:
    """A deleted CRD: stop serving its kind, and delete every object of it."""
    name = crd["metadata"]["name"]
    key = registry.crd_storage(name)
    types = registry.remove_crd(name)
    if key is None or not types:
        return
    for obj in store.items(key):
        store.remove(key, obj["metadata"].get("namespace"), obj["metadata"]["name"])


def _condition(kind: str, reason: str, message: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": now_rfc3339(),
    }
