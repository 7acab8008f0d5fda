"""The apiregistration.k8s.io/v1 APIService strategy, and what the kube-aggregator registers.

As kube-aggregator's registry (pkg/registry/apiservice) and validation: the name must be
`<spec.version>.<spec.group>`; only `v1` may have an empty group (the legacy core group);
groupPriorityMinimum is in 1..20000 and versionPriority in 1..1000; a local APIService (no
`service`) has no caBundle and does not skip TLS verification; a remote one names its service's
namespace and name, and may not both skip verification and carry a caBundle. v1 defaulting sets
the service port to 443. A new local APIService is Available at once (PrepareForCreate); a new
remote one starts with no status, which the availability controller then sets (aggregator.py).
Updates keep the status; the status subresource keeps the rest.

PRIORITIES are the group and version priorities kube-apiserver registers its own group versions
with (cmd/kube-apiserver/app/aggregator.go and DefaultGenericAPIServicePriorities, v1.32);
CRD group versions get 1000 and 100 (the crdregistration controller).
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from kubesim.registry.field import invalid, invalid_each, not_supported, required
from kubesim.registry.names import dns1035_label_errors, dns1123_subdomain_errors
from kubesim.registry.strategy import (
    Errors,
    Obj,
    Strategies,
    Strategy,
    as_dict,
    dicts,
    owned_dict,
)
from kubesim.registry.workload_fields import check_ints

GROUP = "apiregistration.k8s.io"
KEY = (GROUP, "apiservices")
# The autoregister controller's label: "onstart" for the server's own group versions (synced
# once, at start), "true" for those of CRDs (kept in step while the CRD exists).
AUTOMANAGED = "kube-aggregator.kubernetes.io/automanaged"
ON_START, CONTINUOUSLY = "onstart", "true"
CRD_PRIORITY = (1000, 100)
CONDITION_STATUSES = ("True", "False", "Unknown")

PRIORITIES: dict[tuple[str, str], tuple[int, int]] = {
    ("", "v1"): (18000, 1),
    ("apps", "v1"): (17800, 15),
    ("events.k8s.io", "v1"): (17750, 15),
    ("authentication.k8s.io", "v1"): (17700, 15),
    ("authorization.k8s.io", "v1"): (17600, 15),
    ("autoscaling", "v1"): (17500, 15),
    ("autoscaling", "v2"): (17500, 30),
    ("batch", "v1"): (17400, 15),
    ("certificates.k8s.io", "v1"): (17300, 15),
    ("networking.k8s.io", "v1"): (17200, 15),
    ("policy", "v1"): (17100, 15),
    ("rbac.authorization.k8s.io", "v1"): (17000, 15),
    ("storage.k8s.io", "v1"): (16800, 15),
    ("apiextensions.k8s.io", "v1"): (16700, 15),
    ("admissionregistration.k8s.io", "v1"): (16700, 15),
    ("scheduling.k8s.io", "v1"): (16600, 15),
    ("coordination.k8s.io", "v1"): (16500, 15),
    ("node.k8s.io", "v1"): (16300, 15),
    ("discovery.k8s.io", "v1"): (16200, 15),
    ("flowcontrol.apiserver.k8s.io", "v1"): (16100, 21),
}


def name_of(group: str, version: str) -> str:
    return f"{version}.{group}"


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(status: str, reason: str, message: str) -> Obj:
    """An Available condition, as the availability controllers write it."""
    return {
        "type": "Available",
        "status": status,
        "lastTransitionTime": now_rfc3339(),
        "reason": reason,
        "message": message,
    }


def local_available() -> Obj:
    """helper.NewLocalAvailableAPIServiceCondition."""
    return condition("True", "Local", "Local APIServices are always available")


def set_condition(obj: Obj, new: Obj) -> bool:
    """SetAPIServiceCondition: put `new` in the conditions, keeping the transition time when
    the status is unchanged; True when anything changed (mutates `obj`)."""
    status = owned_dict(obj, "status")
    conditions = dicts(status.get("conditions"))
    for i, old in enumerate(conditions):
        if old.get("type") != new["type"]:
            continue
        merged = dict(new)
        if old.get("status") == new["status"]:
            merged["lastTransitionTime"] = old.get("lastTransitionTime")
        if merged == old:
            return False
        conditions[i] = merged
        status["conditions"] = conditions
        return True
    status["conditions"] = [*conditions, dict(new)]
    return True


def desired(group: str, version: str, priorities: tuple[int, int], managed: str) -> Obj:
    """A local APIService the aggregator registers (makeAPIService, with its label)."""
    spec: Obj = {"service": None}
    if group:
        spec["group"] = group
    spec.update(version=version, groupPriorityMinimum=priorities[0],
                versionPriority=priorities[1])  # fmt: skip
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "APIService",
        "metadata": {"name": name_of(group, version), "labels": {AUTOMANAGED: managed}},
        "spec": spec,
    }


# -- the strategy ------------------------------------------------------------------------------


def decode_apiservice(obj: Obj) -> None:
    spec = obj.get("spec")
    check_ints(spec, "APIServiceSpec", "spec",
               {"groupPriorityMinimum": "int32", "versionPriority": "int32"})  # fmt: skip
    service = as_dict(spec).get("service") if isinstance(spec, dict) else None
    check_ints(service, "ServiceReference", "spec.service", {"port": "int32"})
    bundle = as_dict(spec).get("caBundle")
    if isinstance(bundle, str):
        try:
            base64.b64decode(bundle, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("illegal base64 data at input byte 0") from None


def default_apiservice(obj: Obj) -> None:
    """SetDefaults_ServiceReference."""
    service = as_dict(obj.get("spec")).get("service")
    if isinstance(service, dict) and service.get("port") is None:
        service["port"] = 443


def create_apiservice(obj: Obj) -> None:
    """PrepareForCreate: no status of the client's; a local APIService is available at once."""
    obj["status"] = {}
    if as_dict(obj.get("spec")).get("service") is None:
        set_condition(obj, local_available())


def _ca_bundle_length(value: Any) -> int:
    if not isinstance(value, str):
        return 0
    try:
        return len(base64.b64decode(value))
    except (binascii.Error, ValueError):
        return len(value)


def validate_apiservice(obj: Obj, old: Obj | None) -> Errors:
    """ValidateAPIService, and the status checks of ValidateAPIServiceStatus."""
    spec, meta = as_dict(obj.get("spec")), as_dict(obj.get("metadata"))
    group, version = str(spec.get("group") or ""), str(spec.get("version") or "")
    required_name = name_of(group, version)
    name = meta.get("name", "")
    errs: Errors = []
    if name != required_name:
        detail = f'must be `spec.version+"."+spec.group`: "{required_name}"'
        errs.append(invalid("metadata.name", name, detail))
    if not group and version != "v1":
        errs.append(required("spec.group", "only v1 may have an empty group and it better be "
                                           "legacy kube"))  # fmt: skip
    if group:
        errs += invalid_each("spec.group", group, dns1123_subdomain_errors(group))
    errs += invalid_each("spec.version", version, dns1035_label_errors(version))
    group_priority = spec.get("groupPriorityMinimum") or 0
    if not 0 < group_priority <= 20000:
        errs.append(invalid("spec.groupPriorityMinimum", group_priority,
                            "must be positive and less than 20000"))  # fmt: skip
    version_priority = spec.get("versionPriority") or 0
    if not 0 < version_priority <= 1000:
        errs.append(invalid("spec.versionPriority", version_priority,
                            "must be positive and less than 1000"))  # fmt: skip
    bundle = _ca_bundle_length(spec.get("caBundle"))
    insecure = spec.get("insecureSkipTLSVerify") is True
    service = spec.get("service")
    if service is None:
        if bundle:
            errs.append(invalid("spec.caBundle", f"{bundle} bytes",
                                "local APIServices may not have a caBundle"))  # fmt: skip
        if insecure:
            detail = "local APIServices may not have insecureSkipTLSVerify"
            errs.append(invalid("spec.insecureSkipTLSVerify", True, detail))
    else:
        service = as_dict(service)
        if not service.get("namespace"):
            errs.append(required("spec.service.namespace"))
        if not service.get("name"):
            errs.append(required("spec.service.name"))
        if insecure and bundle:
            errs.append(invalid("spec.insecureSkipTLSVerify", True,
                                "may not be true if caBundle is present"))  # fmt: skip
    for i, cond in enumerate(dicts(as_dict(obj.get("status")).get("conditions"))):
        if cond.get("status") not in CONDITION_STATUSES:
            path = f"status.conditions[{i}].status"
            errs.append(not_supported(path, cond.get("status"), CONDITION_STATUSES))
    return errs


STRATEGIES: Strategies = {
    KEY: Strategy(
        decode=decode_apiservice, defaults=default_apiservice, create=create_apiservice,
        validate=validate_apiservice,
    ),
}  # fmt: skip
