"""The Namespace strategy: its name label, and the "kubernetes" finalizer it is created with."""

from __future__ import annotations

import copy

from kubesim.registry.strategy import Obj, Strategies, Strategy, as_dict, as_list, owned_dict


def default_namespace(ns: Obj) -> None:
    meta = as_dict(ns.get("metadata"))
    if meta.get("name"):
        # The NamespaceDefaultLabelName label, set on every write.
        owned_dict(meta, "labels")["kubernetes.io/metadata.name"] = meta["name"]


def create_namespace(ns: Obj) -> None:
    spec = owned_dict(ns, "spec")
    finalizers = as_list(spec.get("finalizers"))
    if "kubernetes" not in finalizers:
        spec["finalizers"] = [*finalizers, "kubernetes"]


def update_namespace(new: Obj, old: Obj) -> None:
    # spec.finalizers change only through /finalize.
    spec, old_spec = owned_dict(new, "spec"), as_dict(old.get("spec"))
    if "finalizers" in old_spec:
        spec["finalizers"] = copy.deepcopy(old_spec["finalizers"])
    else:
        spec.pop("finalizers", None)


STRATEGIES: Strategies = {
    ("", "namespaces"): Strategy(
        defaults=default_namespace, create=create_namespace, update=update_namespace,
        initial_status={"phase": "Active"},
    ),
}  # fmt: skip
