"""core/v1 ReplicationControllers: SetDefaults_ReplicationController (the selector and the
object's labels default to the template's labels), the strategy and
ValidateReplicationController (pkg/apis/core/validation).
"""

from __future__ import annotations

from kubesim.registry import gotext
from kubesim.registry.errors import FieldError
from kubesim.registry.field import invalid, required
from kubesim.registry.pod_template import (
    default_template,
    nonnegative,
    restart_always_errors,
    validate_template,
)
from kubesim.registry.strategy import Obj, Strategies, Strategy, as_dict
from kubesim.registry.workload_fields import check_ints


def decode_rc(obj: Obj) -> None:
    check_ints(obj.get("spec"), "ReplicationControllerSpec", "spec",
               {"replicas": "int32", "minReadySeconds": "int32"})  # fmt: skip


def default_rc(obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    template = spec.get("template")
    labels = as_dict(template.get("metadata")).get("labels") if isinstance(template, dict) else None
    if isinstance(labels, dict):
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = obj.setdefault("metadata", {})
        if isinstance(meta, dict) and not meta.get("labels"):
            meta["labels"] = dict(labels)
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    default_template(spec, pointer=True)


def _selector_matches(selector: dict[str, object], labels: object) -> bool:
    held = as_dict(labels)
    return all(held.get(k) == v for k, v in selector.items())


def validate_rc(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    errs = nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    selector = as_dict(spec.get("selector"))
    if not selector:
        errs.append(required("spec.selector"))
    if spec.get("replicas") is None:
        errs.append(required("spec.replicas"))
    else:
        errs += nonnegative(spec.get("replicas"), "spec.replicas")
    template = spec.get("template")
    if not isinstance(template, dict):
        return [*errs, required("spec.template")]
    labels = as_dict(template.get("metadata")).get("labels")
    if selector and not _selector_matches(selector, labels):
        errs.append(invalid("spec.template.metadata.labels", gotext.labels(labels),
                            "`selector` does not match template `labels`"))  # fmt: skip
    errs += validate_template(template, "spec.template")
    errs += restart_always_errors(template, "spec.template", kind="ReplicationController")
    return errs


STRATEGIES: Strategies = {
    ("", "replicationcontrollers"): Strategy(
        decode=decode_rc, defaults=default_rc, validate=validate_rc,
        initial_status={"replicas": 0},
    ),
}  # fmt: skip
