"""Pod templates inside the workload kinds: their defaulting, ValidatePodTemplateSpec, and the
checks every controller kind makes of its selector, replicas and template.

Templates get the pod spec's v1 defaults (pod.py) but not a pod's own (no enableServiceLinks,
no requests from limits) nor anything admission adds to pods (service-account volume,
tolerations, priority): those reach the pods when a controller creates them.
"""

from __future__ import annotations

from typing import Any

from kubesim.registry import gotext, labelselector
from kubesim.registry.errors import FieldError
from kubesim.registry.field import forbidden, invalid, not_supported, required
from kubesim.registry.names import validate_object_meta
from kubesim.registry.pod import default_pod_spec
from kubesim.registry.pod_validation import validate_pod_spec
from kubesim.registry.strategy import Obj, as_dict, owned_dict

MAX_INT32 = 2**31 - 1


def embedded_metadata(owner: Obj) -> None:
    """An embedded ObjectMeta as a v1.32 server writes it: creationTimestamp is a struct Go's
    encoder cannot omit, so an unset one reads `null`."""
    meta = owned_dict(owner, "metadata")
    meta.setdefault("creationTimestamp", None)


def default_template(parent: Obj, key: str = "template", *, pointer: bool = False) -> None:
    """Default the pod template `parent[key]` (a PodTemplateSpec). An absent template is the
    zero struct the decoder makes, and is defaulted too, unless the field is a pointer (a
    ReplicationController's), which stays nil."""
    template = parent.get(key)
    if template is None and not pointer:
        template = parent[key] = {}
    if not isinstance(template, dict):
        return
    embedded_metadata(template)
    if template.get("spec") is None:
        template["spec"] = {}
    if isinstance(template.get("spec"), dict):
        default_pod_spec(template["spec"], template=True)


def template_of(obj: Obj) -> Obj:
    return as_dict(as_dict(obj.get("spec")).get("template"))


def template_labels(obj: Obj) -> dict[str, Any]:
    return as_dict(as_dict(template_of(obj).get("metadata")).get("labels"))


def nonnegative(value: Any, path: str) -> list[FieldError]:
    """ValidateNonnegativeField (a field the decoder has made an integer)."""
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return [invalid(path, value, "must be greater than or equal to 0")]
    return []


def validate_template(template: Any, path: str) -> list[FieldError]:
    """ValidatePodTemplateSpec: metadata labels/annotations, then the pod spec."""
    template = as_dict(template)
    meta = as_dict(template.get("metadata"))
    # The template's metadata is checked for labels and annotations only, reported on the
    # template's path (not metadata's): e.g. spec.template.labels.
    probe = {k: meta[k] for k in ("labels", "annotations") if k in meta}
    errs = [
        FieldError(e.field.replace(f"{path}.metadata.", f"{path}.", 1), e.kind, e.detail, e.value)
        for e in validate_object_meta(probe, namespaced=False, path=f"{path}.metadata")
    ]
    errs += validate_pod_spec(as_dict(template.get("spec")), f"{path}.spec")
    if as_dict(template.get("spec")).get("ephemeralContainers"):
        detail = "ephemeral containers not allowed in pod template"
        errs.append(forbidden(f"{path}.spec.ephemeralContainers", detail))
    return errs


def selector_and_template_errors(spec: Obj, kind: str, path: str = "spec") -> list[FieldError]:
    """ValidateReplicaSetSpec / ValidateDeploymentSpec's selector part and
    ValidatePodTemplateSpecForReplicaSet (Always-restarting pods, no deadline)."""
    errs: list[FieldError] = []
    selector = spec.get("selector")
    if selector is None:
        errs.append(required(f"{path}.selector"))
    else:
        errs += labelselector.selector_errors(selector, f"{path}.selector")
        if labelselector.is_empty(selector):
            detail = f"empty selector is invalid for {kind}"
            errs.append(invalid(f"{path}.selector", gotext.label_selector(selector), detail))
    if selector is not None and labelselector.requirements(selector) is None:
        errs.append(invalid(f"{path}.selector", gotext.label_selector(selector),
                            "invalid label selector"))  # fmt: skip
        return errs
    template = as_dict(spec.get("template"))
    at = f"{path}.template"
    labels = as_dict(template.get("metadata")).get("labels")
    # A nil selector selects nothing (so no template matches it); an empty one everything.
    everything = selector is not None and labelselector.is_empty(selector)
    if not everything and not labelselector.matches(selector, labels):
        detail = "`selector` does not match template `labels`"
        errs.append(invalid(f"{at}.metadata.labels", gotext.labels(labels), detail))
    errs += validate_template(template, at)
    errs += restart_always_errors(template, at, kind="ReplicaSet")
    return errs


def restart_always_errors(template: Obj, path: str, *, kind: str) -> list[FieldError]:
    """Workload pods restart Always and carry no activeDeadlineSeconds."""
    spec = as_dict(template.get("spec"))
    errs: list[FieldError] = []
    policy = spec.get("restartPolicy")
    if policy != "Always":
        errs.append(not_supported(f"{path}.spec.restartPolicy", policy or "", ["Always"]))
    if spec.get("activeDeadlineSeconds") is not None:
        detail = f"activeDeadlineSeconds in {kind} is not Supported"
        errs.append(forbidden(f"{path}.spec.activeDeadlineSeconds", detail))
    return errs


def ensure_labels(template: Obj) -> dict[str, Any]:
    """The template's labels map, made one if needed (for generated selectors)."""
    return owned_dict(owned_dict(template, "metadata"), "labels")
