"""The store's uid and owner indexes, which deletions use instead of scanning namespaces: kept
right through updates, namesakes, removals and a restart from the journal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubesim.apiserver.journal import Journal
from kubesim.apiserver.store import Store

CM = ("", "configmaps")
RS = ("apps", "replicasets")


def obj(name: str, uid: str, *owners: str, namespace: str = "ns") -> dict[str, Any]:
    refs = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "o", "uid": u} for u in owners]
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": uid}
    if refs:
        meta["ownerReferences"] = refs
    return {"metadata": meta}


def names(store: Store, owner: str) -> list[str]:
    return [o["metadata"]["name"] for _, o in store.dependents(owner)]


def test_owner_and_uid_indexes_follow_every_write(tmp_path: Path) -> None:
    store = Store(journal=Journal(tmp_path, fsync=False))
    store.put(RS, obj("rs", "owner-1"))
    store.put(CM, obj("b", "u-b", "owner-1"))
    store.put(CM, obj("a", "u-a", "owner-1", "owner-2"))
    assert names(store, "owner-1") == ["a", "b"]
    assert names(store, "owner-2") == ["a"]
    found = store.by_uid("owner-1")
    assert found is not None and found[0] == RS and found[1]["metadata"]["name"] == "rs"

    store.put(CM, obj("a", "u-a", "owner-2"))  # an update drops one owner
    assert (names(store, "owner-1"), names(store, "owner-2")) == (["b"], ["a"])
    store.put(CM, obj("b", "u-b2"))  # a namesake with a new uid and no owners
    assert store.by_uid("u-b") is None and store.by_uid("u-b2") is not None
    assert names(store, "owner-1") == []
    store.remove(CM, "ns", "a")
    assert store.by_uid("u-a") is None and names(store, "owner-2") == []
    store.put(CM, obj("c", "u-c", "owner-1"))
    store.close()

    again = Store(journal=Journal(tmp_path, fsync=False))  # rebuilt from the journal
    assert names(again, "owner-1") == ["c"]
    assert again.by_uid("u-b2") is not None and again.by_uid("u-a") is None
    again.close()
