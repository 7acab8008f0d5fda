"""The Node strategy: v1 defaulting and conversion, and the essentials of ValidateNode.

Ported from pkg/apis/core/v1 (SetDefaults_NodeStatus, the podCIDR/podCIDRs conversion),
pkg/registry/core/node/strategy.go (a create keeps its status: the kubelet registers its node
with one) and pkg/apis/core/validation (ValidateNode, ValidateNodeUpdate: pod CIDRs, taints,
providerID). Not checked: status quantities, configSource, the resource names of capacity.
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from kubesim.registry.field import duplicate, forbidden, invalid, invalid_each, not_supported
from kubesim.registry.field import required as required_error
from kubesim.registry.names import label_value_errors, qualified_name_errors
from kubesim.registry.quantities import canonical_resource_list
from kubesim.registry.strategy import Errors, Obj, Strategies, Strategy, as_dict, as_list, dicts

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
CIDR_ERROR = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
NODE_INFO_FIELDS = (
    "machineID", "systemUUID", "bootID", "kernelVersion", "osImage", "containerRuntimeVersion",
    "kubeletVersion", "kubeProxyVersion", "operatingSystem", "architecture",
)  # fmt: skip
DUAL_STACK_ERROR = "may specify no more than one CIDR for each IP family"


def default_node(node: Obj) -> None:
    spec = node.get("spec")
    if isinstance(spec, dict):
        # v1 conversion: podCIDR is podCIDRs[0]; a lone podCIDR becomes the list.
        cidrs = as_list(spec.get("podCIDRs"))
        if cidrs:
            spec["podCIDR"] = cidrs[0]
        elif spec.get("podCIDR"):
            spec["podCIDRs"] = [spec["podCIDR"]]
    if node.get("status") is None:
        node["status"] = {}
    status = node.get("status")
    if isinstance(status, dict):
        # NodeSystemInfo's fields and the kubelet port are not omitempty: Go always writes them.
        info = status.get("nodeInfo")
        if info is None:
            info = status["nodeInfo"] = {}
        if isinstance(info, dict):
            for key in NODE_INFO_FIELDS:
                info.setdefault(key, "")
        endpoints = status.get("daemonEndpoints")
        if endpoints is None:
            endpoints = status["daemonEndpoints"] = {}
        if isinstance(endpoints, dict) and endpoints.get("kubeletEndpoint") is None:
            endpoints["kubeletEndpoint"] = {"Port": 0}
        for key in ("capacity", "allocatable"):
            if isinstance(status.get(key), dict):
                status[key] = canonical_resource_list(status[key])
        # SetDefaults_NodeStatus: allocatable defaults to capacity.
        if status.get("allocatable") is None and isinstance(status.get("capacity"), dict):
            status["allocatable"] = copy.deepcopy(status["capacity"])


def _cidr_valid(value: Any) -> bool:
    if not isinstance(value, str) or "/" not in value:
        return False
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _validate_pod_cidrs(spec: Obj) -> Errors:
    errs: Errors = []
    cidrs = as_list(spec.get("podCIDRs"))
    for i, value in enumerate(cidrs):
        if not _cidr_valid(value):
            errs.append(invalid(f"spec.podCIDRs[{i}]", value, CIDR_ERROR))
    if len(cidrs) > 1 and not errs:
        families = {ipaddress.ip_network(v, strict=False).version for v in cidrs}
        if len(cidrs) > 2 or len(families) != 2:
            errs.append(invalid("spec.podCIDRs", cidrs, DUAL_STACK_ERROR))
    return errs


def _validate_taints(taints: Any, path: str) -> Errors:
    """validateNodeTaints."""
    errs: Errors = []
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(dicts(taints)):
        at = f"{path}[{i}]"
        key, value, effect = (str(taint.get(k) or "") for k in ("key", "value", "effect"))
        errs += invalid_each(f"{at}.key", key, qualified_name_errors(key))
        errs += invalid_each(f"{at}.value", value, label_value_errors(value))
        if not effect:
            errs.append(required_error(f"{at}.effect"))
        elif effect not in TAINT_EFFECTS:
            errs.append(not_supported(f"{at}.effect", effect, TAINT_EFFECTS))
        if (key, effect) in seen:
            error = duplicate(at, taint)
            error.detail = "taints must be unique by key and effect pair"
            errs.append(error)
            continue
        seen.add((key, effect))
    return errs


def validate_node(node: Obj, old: Obj | None) -> Errors:
    spec = as_dict(node.get("spec"))
    errs = _validate_pod_cidrs(spec) + _validate_taints(spec.get("taints"), "spec.taints")
    if old is None:
        return errs
    old_spec = as_dict(old.get("spec"))
    old_cidrs = as_list(old_spec.get("podCIDRs"))
    if old_cidrs and as_list(spec.get("podCIDRs")) != old_cidrs:
        detail = 'node updates may not change podCIDR except from "" to valid'
        errs.append(forbidden("spec.podCIDRs", detail))
    if old_spec.get("providerID") and spec.get("providerID") != old_spec["providerID"]:
        detail = 'node updates may not change providerID except from "" to valid'
        errs.append(forbidden("spec.providerID", detail))
    return errs


STRATEGIES: Strategies = {
    ("", "nodes"): Strategy(defaults=default_node, validate=validate_node, status_on_create=True),
}
