"""ControllerRevisions, the history StatefulSets and DaemonSets keep of their templates
(pkg/controller/history): the patch a revision stores, its hash and name, finding the revision
of the current template, making a new one and trimming old ones.
"""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

from kubesim.node.control import Context, Obj
from kubesim.node.owners import fnv32a, owner_reference, safe_encode, template_hash
from kubesim.registry.errors import ApiError
from kubesim.registry.strategy import as_dict, pruned

REVISIONS = ("apps", "controllerrevisions")
HASH_LABEL = "controller.kubernetes.io/hash"  # history.ControllerRevisionHashLabel
POD_REVISION_LABEL = "controller-revision-hash"


def template_patch(obj: Obj) -> Obj:
    """getPatch: the template as a strategic-merge patch that replaces it."""
    template = copy.deepcopy(as_dict(as_dict(obj.get("spec")).get("template")))
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def revision_hash(data: Obj, collisions: int | None = None) -> str:
    """HashControllerRevision: FNV-32a over the revision's data."""
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True)
    if collisions:
        raw += str(collisions)
    return safe_encode(str(fnv32a(raw.encode())))


def same_data(revision: Obj, data: Obj) -> bool:
    return bool(pruned(revision.get("data")) == pruned(data))


class History:
    """The revisions of one owner kind (StatefulSet or DaemonSet)."""

    def __init__(self, ctx: Context, api_version: str, kind: str, *, by_template: bool) -> None:
        self.ctx = ctx
        self.rt = ctx.rt("apps", "controllerrevisions")
        self.api_version = api_version
        self.owner_kind = kind
        # DaemonSets name revisions by ComputeHash of the template; StatefulSets by the data.
        self.by_template = by_template

    def of(self, owner: Obj) -> list[Obj]:
        revs = self.ctx.owned(REVISIONS, owner)
        return sorted(revs, key=lambda r: (int(r.get("revision") or 0), r["metadata"]["name"]))

    def current(self, owner: Obj, revisions: list[Obj]) -> Obj | None:
        """The revision (newest first) whose data is the owner's template now, renumbered to
        the latest if an older one is reused (a rollback)."""
        data = template_patch(owner)
        match = next((r for r in reversed(revisions) if same_data(r, data)), None)
        if match is None:
            return self._create(owner, revisions, data)
        latest = max((int(r.get("revision") or 0) for r in revisions), default=0)
        if int(match.get("revision") or 0) < latest:

            def renumber(r: Obj) -> None:
                r["revision"] = latest + 1

            with contextlib.suppress(ApiError):
                match = self.ctx.update(self.rt, match, renumber) or match
        return match

    def _create(self, owner: Obj, revisions: list[Obj], data: Obj) -> Obj | None:
        template = as_dict(as_dict(owner.get("spec")).get("template"))
        labels = dict(as_dict(as_dict(template.get("metadata")).get("labels")))
        collisions = as_dict(owner.get("status")).get("collisionCount")
        count = collisions if isinstance(collisions, int) else None
        if self.by_template:
            digest = template_hash(template, count)
            labels[POD_REVISION_LABEL] = digest
        else:
            digest = revision_hash(data, count)
            labels[HASH_LABEL] = digest
        meta: dict[str, Any] = {
            "name": f"{owner['metadata']['name'][:223]}-{digest}",
            "labels": labels,
            "ownerReferences": [owner_reference(owner, self.api_version, self.owner_kind)],
        }
        annotations = owner["metadata"].get("annotations")
        if annotations:
            meta["annotations"] = dict(annotations)
        body = {
            "metadata": meta,
            "data": data,
            "revision": max((int(r.get("revision") or 0) for r in revisions), default=0) + 1,
        }
        try:
            return self.ctx.create(self.rt, owner["metadata"]["namespace"], body)
        except ApiError:
            return None

    def trim(self, owner: Obj, revisions: list[Obj], live: set[str]) -> None:
        """truncateHistory: the oldest revisions no pod uses, past revisionHistoryLimit."""
        limit = as_dict(owner.get("spec")).get("revisionHistoryLimit")
        limit = limit if isinstance(limit, int) else 10
        spare = [r for r in revisions if r["metadata"]["name"] not in live]
        for rev in spare[: max(0, len(spare) - limit)]:
            self.ctx.delete(self.rt, rev)


def digest_of(revision: Obj) -> str:
    """A revision's hash, as its name ends."""
    return str(revision["metadata"]["name"]).rsplit("-", 1)[-1]
