"""The Deployment controller's bookkeeping (pkg/controller/deployment/util): revisions and
their annotations, the surge and unavailability a strategy allows, replica counts over replica
sets, the status a deployment reports, and finding its new replica set.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from kubesim.node.owners import controller_ref, find, int_field, parse_time, set_condition
from kubesim.registry.strategy import as_dict, pruned
from kubesim.registry.workload_fields import compact, scaled_value

Obj = dict[str, Any]
Key = tuple[str, str]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
# Annotations a deployment does not pass on to its replica sets.
SKIPPED_ANNOTATIONS = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
    DESIRED_REPLICAS, MAX_REPLICAS, "deprecated.deployment.rollback.to",
})  # fmt: skip
MAX_REVISION_HISTORY_CHARS = 2000
CONDITION_TIMES = ("lastUpdateTime", "lastTransitionTime")


def replicas(obj: Obj) -> int:
    return int_field(obj, "spec", "replicas", default=1)


def revision(rs: Obj) -> int:
    text = as_dict(rs["metadata"].get("annotations")).get(REVISION, "")
    return int(text) if isinstance(text, str) and text.isdigit() else 0


def strategy(d: Obj) -> Obj:
    return as_dict(as_dict(d.get("spec")).get("strategy"))


def is_rolling(d: Obj) -> bool:
    return strategy(d).get("type") == "RollingUpdate"


def fenceposts(d: Obj) -> tuple[int, int]:
    """ResolveFenceposts: (maxSurge, maxUnavailable) as numbers of pods."""
    rolling = as_dict(strategy(d).get("rollingUpdate"))
    desired = replicas(d)
    surge = scaled_value(rolling.get("maxSurge") or 0, desired, round_up=True)
    unavailable = scaled_value(rolling.get("maxUnavailable") or 0, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: Obj) -> int:
    return fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: Obj) -> int:
    if not is_rolling(d) or replicas(d) == 0:
        return 0
    return min(fenceposts(d)[1], replicas(d))


def spec_replicas(rss: list[Obj]) -> int:
    return sum(replicas(rs) for rs in rss)


def status_count(rss: list[Obj], field: str) -> int:
    return sum(int_field(rs, "status", field) for rs in rss)


def without_hash(template: Any) -> Any:
    """A template as compared by EqualIgnoreHash: the pod-template-hash label left out."""
    template = copy.deepcopy(as_dict(template))
    labels = as_dict(as_dict(template.get("metadata")).get("labels"))
    labels.pop(HASH_LABEL, None)
    return pruned(template)


def copy_annotations(d: Obj, rs: Obj) -> bool:
    """copyDeploymentAnnotationsToReplicaSet; True when the replica set's changed."""
    annotations = rs["metadata"].setdefault("annotations", {})
    changed = False
    for key, value in as_dict(d["metadata"].get("annotations")).items():
        if key in SKIPPED_ANNOTATIONS or annotations.get(key) == value:
            continue
        annotations[key] = value
        changed = True
    return changed


def set_new_rs_annotations(d: Obj, rs: Obj, new_revision: int, *, exists: bool) -> bool:
    """SetNewReplicaSetAnnotations: the deployment's annotations, the revision (keeping the
    ones it had in revision-history, as a rollback to it does) and, for a new replica set,
    the desired and max replicas."""
    changed = copy_annotations(d, rs)
    annotations = rs["metadata"]["annotations"]
    old_text = annotations.get(REVISION)
    old = revision(rs)
    if old < new_revision:
        annotations[REVISION] = str(new_revision)
        changed = True
        if old_text is not None:
            history = [r for r in str(annotations.get(REVISION_HISTORY) or "").split(",") if r]
            history.append(str(old_text))
            while len(",".join(history)) > MAX_REVISION_HISTORY_CHARS and len(history) > 1:
                history.pop(0)
            annotations[REVISION_HISTORY] = ",".join(history)
    if not exists:
        changed = set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)) or changed
    return changed


def set_replicas_annotations(rs: Obj, desired: int, maximum: int) -> bool:
    annotations = rs["metadata"].setdefault("annotations", {})
    wanted = {DESIRED_REPLICAS: str(desired), MAX_REPLICAS: str(maximum)}
    if all(annotations.get(k) == v for k, v in wanted.items()):
        return False
    annotations.update(wanted)
    return True


def desired_annotation(rs: Obj) -> int | None:
    text = as_dict(rs["metadata"].get("annotations")).get(DESIRED_REPLICAS)
    return int(text) if isinstance(text, str) and text.isdigit() else None


def set_progressing(
    status: Obj, value: str, reason: str, message: str, *, refresh: bool = False
) -> None:
    set_condition(status, "Progressing", value, reason, message, times=CONDITION_TIMES,
                  refresh=refresh)  # fmt: skip


def calculate_status(d: Obj, all_rss: list[Obj], new_rs: Obj | None) -> Obj:
    """calculateStatus: counts over the replica sets and the Available condition."""
    old_status = as_dict(d.get("status"))
    available = status_count(all_rss, "availableReplicas")
    status: Obj = {
        "observedGeneration": d["metadata"].get("generation", 0),
        "replicas": status_count(all_rss, "replicas"),
        "updatedReplicas": status_count([new_rs] if new_rs else [], "replicas"),
        "readyReplicas": status_count(all_rss, "readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": max(0, spec_replicas(all_rss) - available),
        "conditions": copy.deepcopy(old_status.get("conditions") or []),
        "collisionCount": old_status.get("collisionCount"),
    }
    if available >= replicas(d) - max_unavailable(d):
        set_condition(status, "Available", "True", "MinimumReplicasAvailable",
                      "Deployment has minimum availability.", times=CONDITION_TIMES)  # fmt: skip
    else:
        set_condition(status, "Available", "False", "MinimumReplicasUnavailable",
                      "Deployment does not have minimum availability.",
                      times=CONDITION_TIMES)  # fmt: skip
    return status


def finish_status(status: Obj) -> Obj:
    """DeploymentStatus as it serialises (zero counts are omitempty)."""
    return compact(status, ())


def is_complete(d: Obj, status: Obj) -> bool:
    """DeploymentComplete."""
    want = replicas(d)
    return bool(
        status.get("updatedReplicas", 0) == want
        and status.get("replicas", 0) == want
        and status.get("availableReplicas", 0) == want
        and status.get("observedGeneration", 0) >= d["metadata"].get("generation", 0)
    )


def is_progressing(d: Obj, status: Obj) -> bool:
    """DeploymentProgressing: any progress since the status the deployment last reported."""
    old = as_dict(d.get("status"))

    def n(s: Obj, key: str) -> int:
        value = s.get(key)
        return value if isinstance(value, int) else 0

    old_old = n(old, "replicas") - n(old, "updatedReplicas")
    new_old = n(status, "replicas") - n(status, "updatedReplicas")
    return (
        n(status, "updatedReplicas") > n(old, "updatedReplicas")
        or new_old < old_old
        or n(status, "readyReplicas") > n(old, "readyReplicas")
        or n(status, "availableReplicas") > n(old, "availableReplicas")
    )


def deadline(d: Obj, status: Obj) -> float | None:
    """Seconds until the Progressing condition times out (0: it has), None if it cannot."""
    seconds = as_dict(d.get("spec")).get("progressDeadlineSeconds")
    cond = find(status, "Progressing")
    if not isinstance(seconds, int) or seconds >= 2**31 - 1 or cond is None:
        return None
    if cond.get("reason") in ("NewReplicaSetAvailable", "ProgressDeadlineExceeded"):
        return None
    since = parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return None
    left = (since + timedelta(seconds=seconds) - datetime.now(UTC)).total_seconds()
    return max(0.0, left)


def split(d: Obj, rss: list[Obj]) -> tuple[Obj | None, list[Obj]]:
    """FindNewReplicaSet (the oldest whose template is the deployment's) and the others."""
    wanted = without_hash(as_dict(d.get("spec")).get("template"))
    new_rs = next((rs for rs in rss if without_hash(as_dict(rs.get("spec")).get(
        "template")) == wanted), None)  # fmt: skip
    return new_rs, [rs for rs in rss if rs is not new_rs]


def created(rs: Obj) -> tuple[Any, str]:
    when = parse_time(rs["metadata"].get("creationTimestamp"))
    return (when.timestamp() if when else 0.0, rs["metadata"]["name"])


def key_of(obj: Obj) -> Key:
    return (obj["metadata"].get("namespace") or "", obj["metadata"]["name"])


def add_owner(rs: Obj, ref: Obj) -> None:
    if controller_ref(rs) is None:
        rs["metadata"]["ownerReferences"] = [*(rs["metadata"].get("ownerReferences") or []), ref]


def dropping(owner_uid: str) -> Callable[[Obj], None]:
    """A mutation releasing an object from an owner."""

    def drop(obj: Obj) -> None:
        meta = obj["metadata"]
        refs = [r for r in meta.get("ownerReferences") or [] if r.get("uid") != owner_uid]
        if refs:
            meta["ownerReferences"] = refs
        else:
            meta.pop("ownerReferences", None)

    return drop
