"""The Service strategy: defaults, cluster IP and node port allocation, and validation.

Allocation is the service registry's, approximated: nothing here reads the store, so addresses
and ports are kept apart within this process only.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
from typing import Any

from kubesim.registry.field import (
    PROTOCOLS,
    duplicate,
    enum,
    forbidden,
    invalid,
    invalid_each,
    port_number_errors,
    required,
)
from kubesim.registry.names import dns1123_label_errors, port_name_errors
from kubesim.registry.strategy import (
    Errors,
    Obj,
    Strategies,
    Strategy,
    as_dict,
    as_list,
    default,
    dicts,
    unset,
)

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
NODE_PORTS = range(30000, 32768)
# The allocators' memory. Real allocation consults the store; these only keep the addresses
# and ports handed out by this process apart (hashing name and namespace makes them stable).
_issued_ips: set[str] = set()
_issued_node_ports: set[int] = set()
_SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")


def _stable_index(seed: str, size: int) -> int:
    return int(hashlib.sha256(seed.encode()).hexdigest(), 16) % size


def allocate_cluster_ip(namespace: str, name: str) -> str:
    # Dynamic allocations come from above the range's lower band, which is kept for static IPs.
    low, size = 256, SERVICE_CIDR.num_addresses - 256 - 1
    start = _stable_index(f"{namespace}/{name}", size)
    for i in range(size):
        ip = str(SERVICE_CIDR[low + (start + i) % size])
        if ip not in _issued_ips:
            _issued_ips.add(ip)
            return ip
    raise RuntimeError("service IP range exhausted")


def _allocate_node_port(seed: str) -> int:
    start = _stable_index(seed, len(NODE_PORTS))
    for i in range(len(NODE_PORTS)):
        port = NODE_PORTS[(start + i) % len(NODE_PORTS)]
        if port not in _issued_node_ports:
            _issued_node_ports.add(port)
            return port
    raise RuntimeError("node port range exhausted")


def _needs_node_ports(spec: Obj) -> bool:
    if spec.get("type") == "NodePort":
        return True
    return spec.get("type") == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts", True)


def default_service(svc: Obj) -> None:
    spec = svc.get("spec")
    if not isinstance(spec, dict):
        return
    default(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        client = as_dict(as_dict(spec.get("sessionAffinityConfig")).get("clientIP"))
        if client.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    default(spec, "type", "ClusterIP")
    for port in dicts(spec.get("ports")):
        default(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    kind = spec["type"]
    if kind in ("NodePort", "LoadBalancer") or (kind == "ClusterIP" and spec.get("externalIPs")):
        default(spec, "externalTrafficPolicy", "Cluster")
    if kind in ("ClusterIP", "NodePort", "LoadBalancer"):
        default(spec, "internalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        default(spec, "allocateLoadBalancerNodePorts", True)
    # The registry keeps clusterIP and clusterIPs[0] in step.
    if unset(spec, "clusterIP") and as_list(spec.get("clusterIPs")):
        spec["clusterIP"] = spec["clusterIPs"][0]


def _allocate(svc: Obj) -> None:
    """The service registry's IP and node-port allocation (on create, and on type changes)."""
    spec = as_dict(svc.get("spec"))
    meta = as_dict(svc.get("metadata"))
    if spec.get("type") != "ExternalName":
        if unset(spec, "clusterIP"):
            spec["clusterIP"] = allocate_cluster_ip(meta.get("namespace", ""), meta.get("name", ""))
        if not as_list(spec.get("clusterIPs")):
            spec["clusterIPs"] = [spec["clusterIP"]]
        default(spec, "ipFamilies", ["IPv4"])
        default(spec, "ipFamilyPolicy", "SingleStack")
    if _needs_node_ports(spec):
        for i, port in enumerate(dicts(spec.get("ports"))):
            if not port.get("nodePort"):
                seed = f"{meta.get('namespace')}/{meta.get('name')}/{i}"
                port["nodePort"] = _allocate_node_port(seed)


def update_service(new: Obj, old: Obj) -> None:
    """Allocated values a client did not send are kept (patchAllocatedValues)."""
    spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
    if spec.get("type") != "ExternalName" and old_spec.get("type") != "ExternalName":
        for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if unset(spec, key) and key in old_spec:
                spec[key] = copy.deepcopy(old_spec[key])
    if _needs_node_ports(spec) and _needs_node_ports(old_spec):
        old_ports = {(p.get("port"), p.get("protocol")): p for p in dicts(old_spec.get("ports"))}
        for port in dicts(spec.get("ports")):
            was = old_ports.get((port.get("port"), port.get("protocol")))
            if not port.get("nodePort") and was and was.get("nodePort"):
                port["nodePort"] = was["nodePort"]
    _allocate(new)


class _GoValue:
    """A value field errors print as is (Go's %#v of a struct), not as a quoted string."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def _service_port_repr(protocol: Any, port: Any) -> str:
    return (
        f'core.ServicePort{{Name:"", Protocol:"{protocol}", AppProtocol:(*string)(nil), '
        f'Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:""}}, NodePort:0}}'
    )


def _service_port_errors(spec: Obj) -> Errors:
    errs: Errors = []
    ports = as_list(spec.get("ports"))
    headless = spec.get("clusterIP") == "None"
    if not ports and not headless and spec.get("type") != "ExternalName":
        errs.append(required("spec.ports"))
    names: set[Any] = set()
    seen: set[tuple[Any, Any]] = set()
    for i, port in enumerate(as_list(ports)):
        port, at = as_dict(port), f"spec.ports[{i}]"
        name = port.get("name")
        if len(ports) > 1 and not name:
            errs.append(required(f"{at}.name"))
        elif name:
            errs += invalid_each(f"{at}.name", name, dns1123_label_errors(str(name)))
            if name in names:
                errs.append(duplicate(f"{at}.name", name))
            names.add(name)
        errs += port_number_errors(f"{at}.port", port.get("port"))
        errs += enum(f"{at}.protocol", port.get("protocol"), PROTOCOLS)
        target = port.get("targetPort")
        if isinstance(target, str):
            errs += invalid_each(f"{at}.targetPort", target, port_name_errors(target))
        else:
            errs += port_number_errors(f"{at}.targetPort", target)
        node_port = port.get("nodePort")
        if node_port and spec.get("type") == "ClusterIP":
            detail = "may not be used when `type` is 'ClusterIP'"
            errs.append(forbidden(f"{at}.nodePort", detail))
        elif node_port and node_port not in NODE_PORTS:
            detail = (
                "provided port is not in the valid range. The range of valid ports is 30000-32767"
            )
            errs.append(invalid(f"{at}.nodePort", node_port, detail))
        key = (port.get("protocol"), port.get("port"))
        if key in seen:
            errs.append(duplicate(at, _GoValue(_service_port_repr(*key))))
        seen.add(key)
    return errs


def _cluster_ip_errors(spec: Obj) -> Errors:
    ip = spec.get("clusterIP")
    if unset(spec, "clusterIP") or ip == "None":
        return []
    ips = as_list(spec.get("clusterIPs"))
    if ips and ips[0] != ip:
        return [invalid("spec.clusterIPs[0]", ips[0], "must be same as clusterIP")]
    try:
        address = ipaddress.ip_address(str(ip))
    except ValueError:
        detail = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
        return [invalid("spec.clusterIPs[0]", ip, detail)]
    if address not in SERVICE_CIDR:
        detail = (
            f"failed to allocate IP {ip}: provided IP ({ip}) is not in the valid range. "
            f"The range of valid IPs is {SERVICE_CIDR}"
        )
        return [invalid("spec.clusterIPs", ip, detail)]
    return []


def validate_service(svc: Obj, old: Obj | None) -> Errors:
    spec = as_dict(svc.get("spec"))
    errs = enum("spec.type", spec.get("type"), _SERVICE_TYPES)
    errs += enum("spec.sessionAffinity", spec.get("sessionAffinity"), ("ClientIP", "None"))
    if spec.get("type") == "ExternalName" and unset(spec, "externalName"):
        errs.append(required("spec.externalName"))
    errs += _service_port_errors(spec)
    if old is None:
        errs += _cluster_ip_errors(spec)
    else:
        was = as_list(as_dict(old.get("spec")).get("clusterIPs"))
        now = as_list(spec.get("clusterIPs"))
        if was and now and now[0] != was[0]:
            errs.append(invalid("spec.clusterIPs[0]", now[0], "may not change once set"))
    return errs


def create_service(svc: Obj) -> None:
    _allocate(svc)


STRATEGIES: Strategies = {
    ("", "services"): Strategy(
        defaults=default_service, create=create_service, update=update_service,
        validate=validate_service, initial_status={"loadBalancer": {}},
    ),
}  # fmt: skip
