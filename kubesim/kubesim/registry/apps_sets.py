"""apps/v1 StatefulSets, DaemonSets and ControllerRevisions: v1 defaulting, the registry
strategies and their validation (pkg/apis/apps/validation), for the fields clients set.
"""

from __future__ import annotations

import json
from typing import Any

from kubesim.registry import gotext, labelselector
from kubesim.registry.apps import decode_template
from kubesim.registry.errors import FieldError
from kubesim.registry.field import forbidden, invalid, not_supported, required
from kubesim.registry.pod_template import (
    default_template,
    embedded_metadata,
    nonnegative,
    restart_always_errors,
    validate_template,
)
from kubesim.registry.pvc import default_pvc
from kubesim.registry.strategy import (
    Obj,
    Strategies,
    Strategy,
    as_dict,
    default,
    dicts,
    owned_dict,
    pruned,
    same,
)
from kubesim.registry.workload_fields import (
    check_ints,
    int_or_percent_value,
    not_over_100_percent,
    positive_int_or_percent_errors,
)

# The v1 form of the internal spec.templateGeneration (conversion keeps it in an annotation).
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
_RETENTION = ("Retain", "Delete")
_STS_UPDATE_FORBIDDEN = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
    "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are "
    "forbidden"
)


# -- StatefulSet ---------------------------------------------------------------------------------


def decode_statefulset(obj: Obj) -> None:
    decode_template(obj, "StatefulSet")
    ints = {"replicas": "int32", "revisionHistoryLimit": "int32", "minReadySeconds": "int32"}
    check_ints(obj.get("spec"), "StatefulSetSpec", "spec", ints)


def default_statefulset(obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    default(spec, "podManagementPolicy", "OrderedReady")
    strategy = owned_dict(spec, "updateStrategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        if strategy.get("rollingUpdate") is None:
            strategy["rollingUpdate"] = {}
    rolling = strategy.get("rollingUpdate")
    if strategy["type"] == "RollingUpdate" and isinstance(rolling, dict):
        default(rolling, "partition", 0)
    retention = owned_dict(spec, "persistentVolumeClaimRetentionPolicy")
    default(retention, "whenDeleted", "Retain")
    default(retention, "whenScaled", "Retain")
    default(spec, "replicas", 1)
    default(spec, "revisionHistoryLimit", 10)
    default_template(spec)
    for claim in dicts(spec.get("volumeClaimTemplates")):
        # Each claim template is a whole PersistentVolumeClaim, defaulted as one.
        claim.setdefault("apiVersion", "v1")
        claim.setdefault("kind", "PersistentVolumeClaim")
        embedded_metadata(claim)
        default_pvc(claim)
        default(owned_dict(claim, "status"), "phase", "Pending")


def _sts_strategy_errors(strategy: Obj, path: str) -> list[FieldError]:
    kind, rolling = strategy.get("type"), strategy.get("rollingUpdate")
    if not kind:
        return [required(path)]
    if kind == "OnDelete":
        if rolling is not None:
            partition = as_dict(rolling).get("partition") or 0
            pointer = gotext.pointer("intstr.IntOrString", as_dict(rolling).get("maxUnavailable"))
            struct = (f"apps.RollingUpdateStatefulSetStrategy{{Partition:{partition}, "
                      f"MaxUnavailable:{pointer}}}")  # fmt: skip
            return [invalid(f"{path}.rollingUpdate", gotext.GoText(struct),
                            "only allowed for updateStrategy 'RollingUpdate'")]  # fmt: skip
        return []
    if kind == "RollingUpdate":
        if not isinstance(rolling, dict):
            return []
        at = f"{path}.rollingUpdate"
        errs = nonnegative(rolling.get("partition"), f"{at}.partition")
        unavailable = rolling.get("maxUnavailable")
        if unavailable is not None:
            errs += positive_int_or_percent_errors(unavailable, f"{at}.maxUnavailable")
            if int_or_percent_value(unavailable) == 0:
                errs.append(invalid(f"{at}.maxUnavailable", gotext.int_or_string(unavailable),
                                    "cannot be 0"))  # fmt: skip
            errs += not_over_100_percent(unavailable, f"{at}.maxUnavailable")
        return errs
    value = gotext.strategy("apps.StatefulSetUpdateStrategy", strategy,
                            "apps.RollingUpdateStatefulSetStrategy")  # fmt: skip
    return [invalid(path, value, "must be 'RollingUpdate' or 'OnDelete'")]


def validate_statefulset(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    errs: list[FieldError] = []
    policy = spec.get("podManagementPolicy")
    if not policy:
        errs.append(required("spec.podManagementPolicy"))
    elif policy not in ("OrderedReady", "Parallel"):
        errs.append(invalid("spec.podManagementPolicy", policy,
                            "must be 'OrderedReady' or 'Parallel'"))  # fmt: skip
    errs += _sts_strategy_errors(as_dict(spec.get("updateStrategy")), "spec.updateStrategy")
    retention = spec.get("persistentVolumeClaimRetentionPolicy")
    if isinstance(retention, dict):
        for key in ("whenDeleted", "whenScaled"):
            if retention.get(key) not in _RETENTION:
                path = f"spec.persistentVolumeClaimRetentionPolicy.{key}"
                errs.append(not_supported(path, retention.get(key) or "", _RETENTION))
    errs += nonnegative(spec.get("replicas"), "spec.replicas")
    errs += nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    selector = spec.get("selector")
    if selector is None:
        errs.append(required("spec.selector"))
    else:
        errs += labelselector.selector_errors(selector, "spec.selector")
        if labelselector.is_empty(selector):
            errs.append(invalid("spec.selector", gotext.label_selector(selector),
                                "empty selector is invalid for statefulset"))  # fmt: skip
    template = as_dict(spec.get("template"))
    if selector is not None and labelselector.requirements(selector) is None:
        errs.append(invalid("spec.selector", gotext.label_selector(selector), ""))
    else:
        labels = as_dict(template.get("metadata")).get("labels")
        everything = selector is not None and labelselector.is_empty(selector)
        if not everything and not labelselector.matches(selector, labels):
            errs.append(invalid("spec.template.metadata.labels", gotext.labels(labels),
                                "`selector` does not match template `labels`"))  # fmt: skip
        # Only the template's metadata: its pod spec is checked when the pods are created.
        meta_only: Obj = {"metadata": template.get("metadata"), "spec": {"containers": [{}]}}
        errs += [e for e in validate_template(meta_only, "spec.template")
                 if not e.field.startswith("spec.template.spec")]  # fmt: skip
    errs += restart_always_errors(template, "spec.template", kind="StatefulSet")
    if old is not None:
        errs += _sts_update_errors(spec, as_dict(old.get("spec")))
    return errs


def _sts_update_errors(spec: Obj, old: Obj) -> list[FieldError]:
    mutable = ("replicas", "ordinals", "template", "updateStrategy",
               "persistentVolumeClaimRetentionPolicy", "minReadySeconds")  # fmt: skip

    def rest(s: Obj) -> Any:
        return pruned({k: v for k, v in s.items() if k not in mutable})

    if rest(spec) != rest(old):
        return [forbidden("spec", _STS_UPDATE_FORBIDDEN)]
    return []


# -- DaemonSet -----------------------------------------------------------------------------------


def decode_daemonset(obj: Obj) -> None:
    decode_template(obj, "DaemonSet")
    check_ints(obj.get("spec"), "DaemonSetSpec", "spec",
               {"minReadySeconds": "int32", "revisionHistoryLimit": "int32"})  # fmt: skip


def default_daemonset(obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    strategy = owned_dict(spec, "updateStrategy")
    default(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = owned_dict(strategy, "rollingUpdate")
        default(rolling, "maxUnavailable", 1)
        default(rolling, "maxSurge", 0)
    default(spec, "revisionHistoryLimit", 10)
    default_template(spec)


def _annotations(obj: Obj) -> Obj:
    return owned_dict(obj["metadata"], "annotations")


def create_daemonset(obj: Obj) -> None:
    _annotations(obj)[TEMPLATE_GENERATION] = "1"


def update_daemonset(new: Obj, old: Obj) -> None:
    """The template generation is the server's: kept, and bumped when the template changes."""
    was = as_dict(old["metadata"].get("annotations")).get(TEMPLATE_GENERATION, "1")
    generation = int(was) if str(was).isdigit() else 1
    if not same(as_dict(new.get("spec")).get("template"), as_dict(old.get("spec")).get("template")):
        generation += 1
    _annotations(new)[TEMPLATE_GENERATION] = str(generation)


def _ds_strategy_errors(strategy: Obj, path: str) -> list[FieldError]:
    kind, rolling = strategy.get("type"), strategy.get("rollingUpdate")
    if kind == "OnDelete":
        return []
    if kind == "RollingUpdate":
        if not isinstance(rolling, dict):
            return [required(f"{path}.rollingUpdate")]
        at = f"{path}.rollingUpdate"
        unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
        errs = positive_int_or_percent_errors(unavailable, f"{at}.maxUnavailable")
        errs += positive_int_or_percent_errors(surge, f"{at}.maxSurge")
        errs += not_over_100_percent(unavailable, f"{at}.maxUnavailable")
        errs += not_over_100_percent(surge, f"{at}.maxSurge")
        has_unavailable = int_or_percent_value(unavailable) != 0
        has_surge = int_or_percent_value(surge) != 0
        if has_unavailable and has_surge:
            errs.append(invalid(f"{at}.maxSurge", gotext.int_or_string(surge),
                                "may not be set when maxUnavailable is non-zero"))  # fmt: skip
        elif not has_unavailable and not has_surge:
            errs.append(required(f"{at}.maxUnavailable", "cannot be 0 when maxSurge is 0"))
        return errs
    text = gotext.strategy("apps.DaemonSetUpdateStrategy", strategy, "apps.RollingUpdateDaemonSet")
    return [not_supported(path, text, ("RollingUpdate", "OnDelete"))]


def validate_daemonset(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    selector = spec.get("selector")
    errs = labelselector.selector_errors(selector, "spec.selector")
    template = as_dict(spec.get("template"))
    labels = as_dict(template.get("metadata")).get("labels")
    converts = selector is None or labelselector.requirements(selector) is not None
    if converts and not labelselector.matches(selector, labels):
        errs.append(invalid("spec.template.metadata.labels", gotext.labels(labels),
                            "`selector` does not match template `labels`"))  # fmt: skip
    if selector is not None and labelselector.is_empty(selector):
        errs.append(invalid("spec.selector", gotext.label_selector(selector),
                            "empty selector is invalid for daemonset"))  # fmt: skip
    errs += validate_template(template, "spec.template")
    errs += restart_always_errors(template, "spec.template", kind="DaemonSet")
    errs += nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    errs += _ds_strategy_errors(as_dict(spec.get("updateStrategy")), "spec.updateStrategy")
    errs += nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
    if old is not None:
        was = as_dict(old.get("spec")).get("selector")
        if not same(selector, was):
            errs.append(invalid("spec.selector", gotext.label_selector(selector),
                                "field is immutable"))  # fmt: skip
    return errs


# -- ControllerRevision ----------------------------------------------------------------------------


def _raw_extension(data: Any) -> gotext.GoText:
    raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    body = ", ".join(f"0x{b:x}" for b in raw)
    text = f"runtime.RawExtension{{Raw:[]uint8{{{body}}}, Object:runtime.Object(nil)}}"
    return gotext.GoText(text)


def decode_revision(obj: Obj) -> None:
    check_ints(obj, "ControllerRevision", "", {"revision": "int64"})


def validate_revision(obj: Obj, old: Obj | None) -> list[FieldError]:
    errs: list[FieldError] = []
    if obj.get("data") is None:
        errs.append(required("data", "data is mandatory"))
    errs += nonnegative(obj.get("revision") or 0, "revision")
    if old is not None and not same(obj.get("data"), old.get("data")):
        errs.append(invalid("data", _raw_extension(obj.get("data")), "field is immutable"))
    return errs


STRATEGIES: Strategies = {
    ("apps", "statefulsets"): Strategy(
        decode=decode_statefulset, defaults=default_statefulset,
        validate=validate_statefulset,
        initial_status={"replicas": 0, "availableReplicas": 0},
    ),
    ("apps", "daemonsets"): Strategy(
        decode=decode_daemonset, defaults=default_daemonset, create=create_daemonset,
        update=update_daemonset, validate=validate_daemonset,
        initial_status={"currentNumberScheduled": 0, "numberMisscheduled": 0,
                        "desiredNumberScheduled": 0, "numberReady": 0},
    ),
    ("apps", "controllerrevisions"): Strategy(
        decode=decode_revision, validate=validate_revision,
    ),
}  # fmt: skip
