"""What the workload controllers share: controller references, pods made from templates, pod
readiness and availability, template hashes and the conditions of a status.

Pure functions over object dicts, as pkg/controller/controller_utils.go and the pod helpers
(podutil.IsPodReady, IsPodAvailable) have them.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from kubesim.apiserver.api import now_rfc3339
from kubesim.node.pod_status import TERMINAL, find_condition
from kubesim.registry.strategy import as_dict, dicts

Obj = dict[str, Any]
# rand.SafeEncodeString's alphabet: what hashes in names are written with.
_SAFE = "bcdfghjklmnpqrstvwxz2456789"
# names.SimpleNameGenerator: a generated name's base is cut to leave room for 5 characters.
MAX_GENERATE_BASE = 63 - 5


def controller_ref(obj: Obj | None) -> Obj | None:
    """metav1.GetControllerOf: the owner reference with controller=true."""
    if obj is None:
        return None
    for ref in dicts(as_dict(obj.get("metadata")).get("ownerReferences")):
        if ref.get("controller") is True:
            return ref
    return None


def owner_reference(owner: Obj, api_version: str, kind: str) -> Obj:
    """metav1.NewControllerRef."""
    meta = owner["metadata"]
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def generate_prefix(name: str) -> str:
    """getPodsPrefix: `<name>-`, as the generated name's base."""
    return f"{name}-"


def pod_from_template(template: Obj, ref: Obj, generate_name: str) -> Obj:
    """GetPodFromTemplate: the template's labels, annotations, finalizers and spec."""
    meta = as_dict(template.get("metadata"))
    pod_meta: Obj = {"generateName": generate_name}
    for key in ("labels", "annotations"):
        if meta.get(key):
            pod_meta[key] = dict(meta[key])
    if meta.get("finalizers"):
        pod_meta["finalizers"] = list(meta["finalizers"])
    pod_meta["ownerReferences"] = [dict(ref)]
    return {"metadata": pod_meta, "spec": copy.deepcopy(as_dict(template.get("spec")))}


def is_active(pod: Obj) -> bool:
    """controller.IsPodActive: not terminal and not being deleted."""
    phase = as_dict(pod.get("status")).get("phase")
    return phase not in TERMINAL and not pod["metadata"].get("deletionTimestamp")


def is_ready(pod: Obj) -> bool:
    cond = find_condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def available_at(pod: Obj, min_ready: int) -> datetime | None:
    """When a ready pod counts as available (ready for minReadySeconds); None if not ready."""
    if not is_ready(pod):
        return None
    cond = find_condition(pod, "Ready") or {}
    since = parse_time(cond.get("lastTransitionTime")) or datetime.now(UTC)
    return since + timedelta(seconds=max(0, min_ready))


def is_available(pod: Obj, min_ready: int, now: datetime) -> bool:
    """podutil.IsPodAvailable."""
    when = available_at(pod, min_ready)
    return when is not None and (min_ready == 0 or when <= now)


def next_available(pods: list[Obj], min_ready: int, now: datetime) -> float | None:
    """Seconds until the next ready pod becomes available, for a controller to look again."""
    waits = [
        (when - now).total_seconds()
        for when in (available_at(p, min_ready) for p in pods)
        if when is not None and when > now
    ]
    return min(waits) + 0.05 if waits else None


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """rand.SafeEncodeString."""
    return "".join(_SAFE[ord(ch) % len(_SAFE)] for ch in text)


def template_hash(template: Any, collisions: int | None = None) -> str:
    """controller.ComputeHash: FNV-32a over the template (here its canonical JSON, where the
    real one hashes Go's dump of the struct), encoded as a name-safe string."""
    text = json.dumps(_without_nulls(template), sort_keys=True, separators=(",", ":"))
    if collisions:
        text += str(collisions)
    return safe_encode(str(fnv32a(text.encode())))


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def set_condition(
    status: Obj,
    kind: str,
    value: str,
    reason: str,
    message: str,
    *,
    times: tuple[str, ...],
    refresh: bool = False,
) -> None:
    """Set a condition of `status` as the controllers' helpers do (SetDeploymentCondition and
    friends): the same status and reason change nothing (unless `refresh`, which renews the
    times but the transition's); an unchanged status keeps its transition time; the new
    condition goes last. `times` names the condition's timestamps, in the Go struct's order."""
    conditions = dicts(status.get("conditions"))
    old = next((c for c in conditions if c.get("type") == kind), None)
    unchanged = old is not None and old.get("status") == value and old.get("reason") == reason
    if unchanged and not refresh:
        return
    stamp = now_rfc3339()
    cond: Obj = {"type": kind, "status": value}
    for key in times:
        keep = key == "lastTransitionTime" and old is not None and old.get("status") == value
        cond[key] = old.get(key) if keep and old is not None else stamp
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    status["conditions"] = [c for c in conditions if c.get("type") != kind] + [cond]


def find(status: Obj, kind: str) -> Obj | None:
    return next((c for c in dicts(status.get("conditions")) if c.get("type") == kind), None)


def containers_of(template: Obj) -> list[Obj]:
    return dicts(as_dict(template.get("spec")).get("containers"))


def labels_of(obj: Obj) -> dict[str, Any]:
    return as_dict(as_dict(obj.get("metadata")).get("labels"))


def int_field(obj: Obj, *path: str, default: int = 0) -> int:
    value: Any = obj
    for key in path:
        value = as_dict(value).get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else default
