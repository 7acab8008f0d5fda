"""apps/v1 Deployments and ReplicaSets: v1 defaulting (pkg/apis/apps/v1/defaults.go), the
registry strategies (pkg/registry/apps/{deployment,replicaset}) and their validation
(pkg/apis/apps/validation), for the fields clients set.
"""

from __future__ import annotations

from kubesim.registry import gotext
from kubesim.registry.errors import FieldError, go_quote
from kubesim.registry.field import forbidden, invalid, not_supported, required
from kubesim.registry.pod_template import (
    default_template,
    nonnegative,
    selector_and_template_errors,
)
from kubesim.registry.strategy import (
    Obj,
    Strategies,
    Strategy,
    as_dict,
    default,
    owned_dict,
    same,
)
from kubesim.registry.workload_fields import (
    check_ints,
    check_objects,
    int_or_percent_value,
    not_over_100_percent,
    positive_int_or_percent_errors,
)

STRATEGY_TYPES = ("Recreate", "RollingUpdate")


# -- decoding and defaulting -------------------------------------------------------------------


def decode_template(obj: Obj, kind: str) -> None:
    """A workload's spec, selector and pod template must be objects (or absent)."""
    check_objects(obj, kind, "", {"spec": f"v1.{kind}Spec"})
    spec = obj.get("spec")
    check_objects(spec, f"{kind}Spec", "spec",
                  {"selector": "v1.LabelSelector", "template": "v1.PodTemplateSpec"})  # fmt: skip


def decode_deployment(obj: Obj) -> None:
    decode_template(obj, "Deployment")
    check_objects(obj.get("spec"), "DeploymentSpec", "spec", {"strategy": "v1.DeploymentStrategy"})
    check_ints(obj.get("spec"), "DeploymentSpec", "spec", {
        "replicas": "int32", "minReadySeconds": "int32", "revisionHistoryLimit": "int32",
        "progressDeadlineSeconds": "int32"})  # fmt: skip


def decode_replicaset(obj: Obj) -> None:
    decode_template(obj, "ReplicaSet")
    check_ints(obj.get("spec"), "ReplicaSetSpec", "spec",
               {"replicas": "int32", "minReadySeconds": "int32"})  # fmt: skip


def default_deployment(obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    default(spec, "replicas", 1)
    strategy = owned_dict(spec, "strategy")
    default(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = owned_dict(strategy, "rollingUpdate")
        default(rolling, "maxUnavailable", "25%")
        default(rolling, "maxSurge", "25%")
    default(spec, "revisionHistoryLimit", 10)
    default(spec, "progressDeadlineSeconds", 600)
    default_template(spec)


def default_replicaset(obj: Obj) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        default(spec, "replicas", 1)
        default_template(spec)


# -- PrepareForUpdate ----------------------------------------------------------------------------


def update_deployment(new: Obj, old: Obj) -> None:
    """Annotations are copied to the replica sets, so changing them bumps the generation too."""
    new_meta, old_meta = new["metadata"], old["metadata"]
    if not same(new_meta.get("annotations"), old_meta.get("annotations")):
        new_meta["generation"] = int(old_meta.get("generation") or 0) + 1


# -- validation ----------------------------------------------------------------------------------


def _rolling_update_errors(rolling: Obj, path: str) -> list[FieldError]:
    """ValidateRollingUpdateDeployment."""
    unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    errs = positive_int_or_percent_errors(unavailable, f"{path}.maxUnavailable")
    errs += positive_int_or_percent_errors(surge, f"{path}.maxSurge")
    if int_or_percent_value(unavailable) == 0 and int_or_percent_value(surge) == 0:
        errs.append(invalid(f"{path}.maxUnavailable", gotext.int_or_string(unavailable),
                            "may not be 0 when `maxSurge` is 0"))  # fmt: skip
    return errs + not_over_100_percent(unavailable, f"{path}.maxUnavailable")


def _strategy_text(strategy: Obj) -> gotext.GoText:
    # %#v prints a set pointer as its address, which differs on every real server too.
    address = "nil" if strategy.get("rollingUpdate") is None else "0xc000a1e000"
    kind = go_quote(str(strategy.get("type") or ""))
    return gotext.GoText(
        f"apps.DeploymentStrategy{{Type:{kind}, RollingUpdate:(*apps.RollingUpdateDeployment)"
        f"({address})}}"
    )


def _strategy_errors(strategy: Obj, path: str) -> list[FieldError]:
    """ValidateDeploymentStrategy."""
    kind = strategy.get("type")
    if kind == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            detail = "may not be specified when strategy `type` is 'Recreate'"
            return [forbidden(f"{path}.rollingUpdate", detail)]
        return []
    if kind == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        if not isinstance(rolling, dict):
            detail = "this should be defaulted and never be nil"
            return [required(f"{path}.rollingUpdate", detail)]
        return _rolling_update_errors(rolling, f"{path}.rollingUpdate")
    return [not_supported(path, _strategy_text(strategy), STRATEGY_TYPES)]


def _immutable_selector(new: Obj, old: Obj) -> list[FieldError]:
    selector, was = (
        as_dict(new.get("spec")).get("selector"),
        as_dict(old.get("spec")).get("selector"),
    )
    if same(selector, was):
        return []
    return [invalid("spec.selector", gotext.label_selector(selector), "field is immutable")]


def validate_deployment(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    errs = nonnegative(spec.get("replicas"), "spec.replicas")
    errs += selector_and_template_errors(spec, "deployment")
    errs += _strategy_errors(as_dict(spec.get("strategy")), "spec.strategy")
    errs += nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    errs += nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
    deadline = spec.get("progressDeadlineSeconds")
    if isinstance(deadline, int):
        errs += nonnegative(deadline, "spec.progressDeadlineSeconds")
        if deadline <= int(spec.get("minReadySeconds") or 0):
            errs.append(invalid("spec.progressDeadlineSeconds", deadline,
                                "must be greater than minReadySeconds"))  # fmt: skip
    if old is not None:
        errs += _immutable_selector(obj, old)
    return errs


def validate_replicaset(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    errs = nonnegative(spec.get("replicas"), "spec.replicas")
    errs += nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    # (sic: the real ReplicaSet validation names deployments here)
    errs += selector_and_template_errors(spec, "deployment")
    if old is not None:
        errs += _immutable_selector(obj, old)
    return errs


STRATEGIES: Strategies = {
    ("apps", "deployments"): Strategy(
        decode=decode_deployment, defaults=default_deployment, update=update_deployment,
        validate=validate_deployment, initial_status={},
    ),
    ("apps", "replicasets"): Strategy(
        decode=decode_replicaset, defaults=default_replicaset, validate=validate_replicaset,
        initial_status={"replicas": 0},
    ),
}  # fmt: skip
