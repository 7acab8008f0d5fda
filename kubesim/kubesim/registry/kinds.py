"""Per-kind behaviour of built-in resources: defaults on create, validation, output form.

This is the emulator's counterpart of the API server's registry strategies, together with the
v1 defaulting and the mutating admission plugins a default cluster runs. Each kind is one
`Strategy` in STRATEGIES; kinds without an entry (and custom resources) get the generic
behaviour. Pods live in `kinds_pod.py`, with the primitives every strategy shares.

The functions are pure: nothing here reads the store, so checks that need other objects (a
ServiceAccount exists, a PriorityClass, allocated cluster IPs) are approximated and say so.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kubesim.registry.errors import FieldError
from kubesim.registry.kinds_pod import (
    Obj,
    QuantityError,
    as_dict,
    as_list,
    canonical_quantity,
    canonicalize_resources,
    create_pod,
    default,
    default_pod,
    dicts,
    duplicate,
    enum,
    forbidden,
    immutable,
    invalid,
    not_supported,
    owned_dict,
    parse_quantity,
    port_name_errors,
    port_number_errors,
    pruned,
    quantity_errors,
    required,
    same,
    unset,
    update_pod,
    validate_pod,
)
from kubesim.registry.names import (
    TOO_LONG_DETAIL,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    max_len_error,
    qualified_name_errors,
    regex_error,
)
from kubesim.registry.resources import ResourceType

__all__ = [
    "STRATEGIES",
    "QuantityError",
    "Strategy",
    "canonical_quantity",
    "parse_quantity",
    "prepare_create",
    "prepare_update",
    "present",
    "to_storage",
    "validate",
]

Errors = list[FieldError]


@dataclass(frozen=True)
class Strategy:
    """What a kind does beyond the generic behaviour; every hook is optional."""

    # v1 defaulting: runs on every create and update, as the real decoder defaults every body.
    defaults: Callable[[Obj], None] | None = None
    # PrepareForCreate and the mutating admission plugins (after defaults).
    create: Callable[[Obj], None] | None = None
    # PrepareForUpdate: what an update carries over from the stored object.
    update: Callable[[Obj, Obj], None] | None = None
    # Validation; `old` is the stored object on updates, None on creates.
    validate: Callable[[Obj, Obj | None], Errors] | None = None
    # The status of a new object, for kinds with a status subresource.
    initial_status: Obj | None = None
    # Conversion between a served version and the storage form (events.k8s.io).
    to_storage: Callable[[Obj], Obj] | None = None
    present: Callable[[Obj], Obj] | None = None


def _strategy(rt: ResourceType) -> Strategy | None:
    return None if rt.custom else STRATEGIES.get((rt.group, rt.plural))


def prepare_create(rt: ResourceType, obj: Obj) -> None:
    """Server-side defaults, status reset and admission of a new object (mutates `obj`)."""
    if rt.has_status:
        # With a status subresource, status is never taken from a create.
        obj.pop("status", None)
    s = _strategy(rt)
    if s is None:
        return
    if s.defaults:
        s.defaults(obj)
    if rt.has_status and s.initial_status is not None:
        obj["status"] = copy.deepcopy(s.initial_status)
    if s.create:
        s.create(obj)


def prepare_update(rt: ResourceType, new: Obj, old: Obj) -> None:
    """Defaults of the new body and what an update may not change (mutates `new`)."""
    s = _strategy(rt)
    if s is None:
        return
    if s.defaults:
        s.defaults(new)
    if s.update:
        s.update(new, old)


def validate(rt: ResourceType, obj: Obj, old: Obj | None) -> Errors:
    """Kind-specific validation of an object about to be stored."""
    s = _strategy(rt)
    if s is None or s.validate is None:
        return []
    # The real message is ErrorList.ToAggregate, which drops repeated errors (a pod update can
    # find the same fault by two rules).
    errors: dict[str, FieldError] = {}
    for error in s.validate(obj, old):
        errors.setdefault(error.text(), error)
    return list(errors.values())


def to_storage(rt: ResourceType, obj: Obj) -> Obj:
    """Convert an object of this served version into its storage form."""
    s = _strategy(rt)
    return s.to_storage(obj) if s and s.to_storage else obj


def present(rt: ResourceType, obj: Obj) -> Obj:
    """The stored object as clients of this served version see it (never mutates `obj`)."""
    s = _strategy(rt)
    if s and s.present:
        obj = s.present(obj)
    if obj.get("apiVersion") != rt.api_version:
        obj = {**obj, "apiVersion": rt.api_version}
    return obj


# -- shared checks ------------------------------------------------------------------------------


def _sorted_map(value: Any) -> Any:
    """Go's JSON encoder writes map keys sorted."""
    return {k: value[k] for k in sorted(value)} if isinstance(value, dict) else value


_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIG_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
MAX_DATA_SIZE = 1 << 20  # core.MaxSecretSize, which ConfigMaps share


def config_key_errors(key: str) -> list[str]:
    """validation.IsConfigMapKey."""
    errs = []
    if len(key.encode()) > 253:
        errs.append(max_len_error(253))
    if not re.fullmatch(_CONFIG_KEY_FMT, key):
        errs.append(
            regex_error(_CONFIG_KEY_MSG, _CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name")
        )
    if key == ".":
        errs.append("must not be '.'")
    elif key == "..":
        errs.append("must not be '..'")
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return errs


_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def base64_error(value: str) -> str | None:
    """What Go's base64.StdEncoding says of a value that JSON decoding of []byte rejects."""
    s = value.replace("\r", "").replace("\n", "")  # the decoder skips line breaks
    bad = next((i for i, ch in enumerate(s) if ch not in _B64_CHARS and ch != "="), None)
    pad = s.find("=")
    if bad is not None and (pad < 0 or bad < pad):
        return f"illegal base64 data at input byte {bad}"
    if pad < 0:
        return f"illegal base64 data at input byte {len(s) - len(s) % 4}" if len(s) % 4 else None
    position = pad % 4  # of the first "=" within its 4-character quantum
    if position < 2:
        return f"illegal base64 data at input byte {pad}"  # padding too early
    if position == 2:
        if pad + 1 == len(s):
            return f"illegal base64 data at input byte {len(s)}"  # "==" cut short
        if s[pad + 1] != "=":
            return f"illegal base64 data at input byte {pad}"
    end = pad + (2 if position == 2 else 1)
    # Anything after the padding is garbage.
    return f"illegal base64 data at input byte {end}" if end < len(s) else None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "object" if isinstance(value, dict) else "array"


def _data_map_errors(kind: str, field: str, data: Any, *, binary: bool) -> tuple[int, Errors]:
    """Keys and values of a data map, and its size in bytes as the server would store it."""
    size, errs = 0, []
    for key, value in as_dict(data).items():
        path = f"{field}[{key}]"
        errs += [invalid(path, key, msg) for msg in config_key_errors(key)]
        if value is None:
            continue
        if not isinstance(value, str):
            go_type = "[]uint8" if binary else "string"
            detail = f"json: cannot unmarshal {_json_type(value)} into Go struct field "
            errs.append(invalid(path, value, f"{detail}{kind}.{field} of type {go_type}"))
        elif not binary:
            size += len(value.encode())
        elif problem := base64_error(value):
            # A real server fails to decode the body (400); reported here on the field.
            errs.append(invalid(path, "<secret contents redacted>", problem))
        else:
            size += len(base64.b64decode(value.replace("\r", "").replace("\n", "")))
    return size, errs


def _immutable_data(new: Obj, old: Obj, fields: tuple[str, ...]) -> Errors:
    """An object created `immutable: true` keeps its data and the flag."""
    if old.get("immutable") is not True:
        return []
    errs = []
    detail = "field is immutable when `immutable` is set"
    if new.get("immutable") is not True:
        errs.append(forbidden("immutable", detail))
    for field in fields:
        if not same(new.get(field), old.get(field)):
            errs.append(forbidden(field, detail))
    return errs


# -- secrets and config maps -------------------------------------------------------------------


def default_secret(secret: Obj) -> None:
    # v1 conversion: stringData is written into data (overriding it) and never stored.
    string_data = secret.get("stringData")
    if isinstance(string_data, dict) and all(isinstance(v, str) for v in string_data.values()):
        data = owned_dict(secret, "data")
        for key, value in string_data.items():
            data[key] = base64.b64encode(value.encode()).decode()
        del secret["stringData"]
    if "data" in secret:
        secret["data"] = _sorted_map(secret["data"])
    default(secret, "type", "Opaque")


def _decoded(secret: Obj, key: str) -> bytes | None:
    value = as_dict(secret.get("data")).get(key)
    if not isinstance(value, str) or base64_error(value):
        return None
    return base64.b64decode(value.replace("\r", "").replace("\n", ""))


def _secret_type_errors(secret: Obj) -> Errors:
    """The keys each well-known secret type must carry (ValidateSecret)."""
    data, kind = as_dict(secret.get("data")), secret.get("type")
    if kind == "kubernetes.io/service-account-token":
        annotations = as_dict(as_dict(secret.get("metadata")).get("annotations"))
        if not annotations.get("kubernetes.io/service-account.name"):
            return [required("metadata.annotations[kubernetes.io/service-account.name]")]
    elif kind in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        key = ".dockercfg" if kind == "kubernetes.io/dockercfg" else ".dockerconfigjson"
        if key not in data:
            return [required(f"data[{key}]")]
        raw = _decoded(secret, key)
        try:
            json.loads(raw or b"")
        except ValueError as e:
            return [invalid(f"data[{key}]", "<secret contents redacted>", str(e))]
    elif kind == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            return [required("data[username]"), required("data[password]")]
    elif kind == "kubernetes.io/ssh-auth":
        if not _decoded(secret, "ssh-privatekey"):
            return [required("data[ssh-privatekey]")]
    elif kind == "kubernetes.io/tls":
        return [required(f"data[{k}]") for k in ("tls.crt", "tls.key") if k not in data]
    return []


def validate_secret(secret: Obj, old: Obj | None) -> Errors:
    errs: Errors = []
    if old is not None:
        errs += immutable("type", secret.get("type"), old.get("type"))
        errs += _immutable_data(secret, old, ("data",))
    size, found = _data_map_errors("Secret", "data", secret.get("data"), binary=True)
    errs += found
    for key, value in as_dict(secret.get("stringData")).items():  # only left when not strings
        errs.append(invalid(f"stringData[{key}]", value, "must be a string"))
    if size > MAX_DATA_SIZE:
        errs.append(FieldError("data", "FieldValueTooLong", TOO_LONG_DETAIL.format(MAX_DATA_SIZE)))
    return errs + _secret_type_errors(secret)


def default_config_map(cm: Obj) -> None:
    for field in ("data", "binaryData"):
        if field in cm:
            cm[field] = _sorted_map(cm[field])


def validate_config_map(cm: Obj, old: Obj | None) -> Errors:
    errs = _immutable_data(cm, old, ("data", "binaryData")) if old is not None else []
    size, found = _data_map_errors("ConfigMap", "data", cm.get("data"), binary=False)
    binary_size, binary_found = _data_map_errors(
        "ConfigMap", "binaryData", cm.get("binaryData"), binary=True
    )
    errs += found + binary_found
    for key in as_dict(cm.get("binaryData")):
        if key in as_dict(cm.get("data")):
            errs.append(invalid(f"binaryData[{key}]", key, "duplicate of key present in data"))
    if size + binary_size > MAX_DATA_SIZE:
        errs.append(FieldError("", "FieldValueTooLong", TOO_LONG_DETAIL.format(MAX_DATA_SIZE)))
    return errs


# -- persistent volume claims ---------------------------------------------------------------------

ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
# The emulated cluster's default StorageClass: the DefaultStorageClass admission plugin names it
# on every new claim that does not choose one (an explicit "" opts out, as on a real cluster).
DEFAULT_STORAGE_CLASS = "standard"
PVC_SPEC_IMMUTABLE = (
    "spec is immutable after creation except resources.requests and volumeAttributesClassName "
    "for bound claims"
)


def default_pvc(pvc: Obj) -> None:
    spec = pvc.get("spec")
    if isinstance(spec, dict):
        default(spec, "volumeMode", "Filesystem")
        if isinstance(spec.get("resources"), dict):
            canonicalize_resources(spec["resources"])


def create_pvc(pvc: Obj) -> None:
    spec = pvc.get("spec")
    if isinstance(spec, dict) and spec.get("storageClassName") is None:
        spec["storageClassName"] = DEFAULT_STORAGE_CLASS


def _storage(pvc: Obj) -> Decimal | None:
    raw = as_dict(as_dict(as_dict(pvc.get("spec")).get("resources")).get("requests")).get("storage")
    try:
        return None if raw is None else parse_quantity(raw)
    except QuantityError:
        return None


def validate_pvc_spec(spec: Obj, path: str = "spec") -> Errors:
    """ValidatePersistentVolumeClaimSpec."""
    errs: Errors = []
    modes = as_list(spec.get("accessModes"))
    if not modes:
        errs.append(required(f"{path}.accessModes", "at least 1 access mode is required"))
    for mode in modes:
        if mode not in ACCESS_MODES:
            errs.append(not_supported(f"{path}.accessModes", mode, ACCESS_MODES))
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        detail = "may not use ReadWriteOncePod with other access modes"
        errs.append(forbidden(f"{path}.accessModes", detail))
    requests = as_dict(as_dict(spec.get("resources")).get("requests"))
    key = f"{path}.resources[storage]"
    if "storage" not in requests:
        errs.append(required(key))
    else:
        amount, bad = quantity_errors(key, requests["storage"])
        errs += bad
        if amount is not None and amount < 0:
            shown = canonical_quantity(requests["storage"])
            errs.append(invalid(key, shown, "must be greater than or equal to 0"))
        if amount is not None and amount <= 0:
            shown = canonical_quantity(requests["storage"])
            errs.append(invalid(key, shown, "must be greater than zero"))
    name = spec.get("storageClassName")
    if isinstance(name, str) and name:
        errs += [
            invalid(f"{path}.storageClassName", name, m) for m in dns1123_subdomain_errors(name)
        ]
    if spec.get("volumeMode") is not None:
        errs += enum(f"{path}.volumeMode", spec["volumeMode"], ("Block", "Filesystem"))
    return errs


def validate_pvc(pvc: Obj, old: Obj | None) -> Errors:
    errs = validate_pvc_spec(as_dict(pvc.get("spec")))
    if old is None:
        return errs
    # What may change: volumeName once (the binder's), and a bound claim's storage request.
    new_spec, old_spec = copy.deepcopy(as_dict(pvc.get("spec"))), as_dict(old.get("spec"))
    if unset(old_spec, "volumeName"):
        new_spec.pop("volumeName", None)
        old_spec = {k: v for k, v in old_spec.items() if k != "volumeName"}
    bound = as_dict(pvc.get("status")).get("phase") == "Bound"
    if bound and isinstance(as_dict(new_spec.get("resources")).get("requests"), dict):
        old_requests = as_dict(as_dict(old_spec.get("resources")).get("requests"))
        new_spec["resources"]["requests"]["storage"] = old_requests.get("storage")
    if pruned(new_spec) != pruned(old_spec):
        errs.append(forbidden("spec", PVC_SPEC_IMMUTABLE))
    new_size, old_size = _storage(pvc), _storage(old)
    if new_size is not None and old_size is not None and new_size < old_size:
        # With RecoverVolumeExpansionFailure a claim may shrink back, but not to its capacity.
        capacity = as_dict(as_dict(old.get("status")).get("capacity")).get("storage", "0")
        try:
            floor = parse_quantity(capacity)
        except QuantityError:
            floor = Decimal(0)
        if new_size <= floor:
            detail = "field can not be less than status.capacity"
            errs.append(forbidden("spec.resources.requests.storage", detail))
    return errs


# -- namespaces -----------------------------------------------------------------------------------


def default_namespace(ns: Obj) -> None:
    meta = as_dict(ns.get("metadata"))
    if meta.get("name"):
        # The NamespaceDefaultLabelName label, set on every write.
        owned_dict(meta, "labels")["kubernetes.io/metadata.name"] = meta["name"]


def create_namespace(ns: Obj) -> None:
    spec = owned_dict(ns, "spec")
    finalizers = as_list(spec.get("finalizers"))
    if "kubernetes" not in finalizers:
        spec["finalizers"] = [*finalizers, "kubernetes"]


def update_namespace(new: Obj, old: Obj) -> None:
    # spec.finalizers change only through /finalize.
    spec, old_spec = owned_dict(new, "spec"), as_dict(old.get("spec"))
    if "finalizers" in old_spec:
        spec["finalizers"] = copy.deepcopy(old_spec["finalizers"])
    else:
        spec.pop("finalizers", None)


# -- services ----------------------------------------------------------------------------------

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
NODE_PORTS = range(30000, 32768)
# The allocators' memory. Real allocation consults the store; these only keep the addresses
# and ports handed out by this process apart (hashing name and namespace makes them stable).
_issued_ips: set[str] = set()
_issued_node_ports: set[int] = set()
_SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
_PORT_PROTOCOLS = ("SCTP", "TCP", "UDP")


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
            errs += [invalid(f"{at}.name", name, m) for m in dns1123_label_errors(str(name))]
            if name in names:
                errs.append(duplicate(f"{at}.name", name))
            names.add(name)
        errs += port_number_errors(f"{at}.port", port.get("port"))
        errs += enum(f"{at}.protocol", port.get("protocol"), _PORT_PROTOCOLS)
        target = port.get("targetPort")
        if isinstance(target, str):
            errs += [invalid(f"{at}.targetPort", target, m) for m in port_name_errors(target)]
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


# -- events (core/v1, and events.k8s.io/v1 stored as core events) ----------------------------

# Field renames of the real Convert_core_Event_To_v1_Event; everything else keeps its name.
_CORE_TO_EVENTS = {
    "involvedObject": "regarding",
    "message": "note",
    "reportingComponent": "reportingController",
    "source": "deprecatedSource",
    "firstTimestamp": "deprecatedFirstTimestamp",
    "lastTimestamp": "deprecatedLastTimestamp",
    "count": "deprecatedCount",
}
_EVENTS_TO_CORE = {v: k for k, v in _CORE_TO_EVENTS.items()}
# Keys every JSON of the kind has (Go structs are never omitted; these strings lack omitempty).
_CORE_EVENT_KEYS: Obj = {
    "involvedObject": {},
    "source": {},
    "firstTimestamp": None,
    "lastTimestamp": None,
    "eventTime": None,
    "reportingComponent": "",
    "reportingInstance": "",
}
_EVENTS_EVENT_KEYS: Obj = {
    "eventTime": None,
    "regarding": {},
    "deprecatedSource": {},
    "deprecatedFirstTimestamp": None,
    "deprecatedLastTimestamp": None,
}
# events.k8s.io/v1 fields with omitempty: absent rather than empty.
_EVENTS_OMITEMPTY = ("reportingController", "reportingInstance", "action", "reason", "note",
                     "type", "deprecatedCount")  # fmt: skip
EVENTS_API_VERSION = "events.k8s.io/v1"


def _renamed(obj: Obj, names: dict[str, str]) -> Obj:
    return {names.get(k, k): v for k, v in obj.items()}


def event_to_core(obj: Obj) -> Obj:
    """An events.k8s.io/v1 Event in its core/v1 (storage) form; core events pass unchanged."""
    if obj.get("apiVersion") != EVENTS_API_VERSION:
        return obj
    return {**_renamed(obj, _EVENTS_TO_CORE), "apiVersion": "v1"}


def present_core_event(obj: Obj) -> Obj:
    missing = {k: copy.deepcopy(v) for k, v in _CORE_EVENT_KEYS.items() if k not in obj}
    return {**obj, **missing} if missing else obj


def present_events_event(obj: Obj) -> Obj:
    if obj.get("apiVersion") == EVENTS_API_VERSION:
        return obj  # already in this form (a dry-run create)
    out = _renamed(obj, _CORE_TO_EVENTS)
    for key in _EVENTS_OMITEMPTY:
        if out.get(key) in ("", 0, None):
            out.pop(key, None)
    for key, value in _EVENTS_EVENT_KEYS.items():
        out.setdefault(key, copy.deepcopy(value))
    return {**out, "apiVersion": EVENTS_API_VERSION}


def _legacy_event_errors(ev: Obj) -> Errors:
    """legacyValidateEvent, which every event passes whichever API wrote it."""
    errs: Errors = []
    namespace = as_dict(ev.get("metadata")).get("namespace") or ""
    involved_ns = as_dict(ev.get("involvedObject")).get("namespace") or ""
    mismatch = invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
    if not ev.get("eventTime"):
        # Old-style events: the namespace agrees with the object's ("default" for cluster ones).
        if (not involved_ns and namespace not in ("", "default")) or (
            involved_ns and namespace != involved_ns
        ):
            errs.append(mismatch)
        return errs
    if not involved_ns and namespace not in ("default", "kube-system"):
        errs.append(mismatch)
    controller = str(ev.get("reportingComponent") or "")
    if not controller:
        errs.append(required("reportingController"))
    errs += [
        invalid("reportingController", controller, m) for m in qualified_name_errors(controller)
    ]
    for field, limit in (("reportingInstance", 128), ("action", 128), ("reason", 128)):
        value = str(ev.get(field) or "")
        if not value:
            errs.append(required(field))
        if len(value) > limit:
            errs.append(invalid(field, "", f"can have at most {limit} characters"))
    if len(str(ev.get("message") or "")) > 1024:
        errs.append(invalid("message", "", "can have at most 1024 characters"))
    return errs


def _series_errors(ev: Obj) -> Errors:
    series = ev.get("series")
    if series is None:
        return []
    series, errs = as_dict(series), []
    count = series.get("count")
    if not isinstance(count, int) or count < 2:
        errs.append(invalid("series.count", "", "should be at least 2"))
    if not series.get("lastObservedTime"):
        errs.append(required("series.lastObservedTime"))
    return errs


def validate_core_event(obj: Obj, old: Obj | None) -> Errors:
    return _legacy_event_errors(event_to_core(obj))


# Fields an events.k8s.io/v1 update may not change, by their internal (core) names.
_EVENT_IMMUTABLE = (
    "involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count",
    "type", "eventTime", "action", "related", "reportingComponent", "reportingInstance",
)  # fmt: skip
_INTERNAL_NAMES = {"reportingComponent": "reportingController"}


def validate_events_event(obj: Obj, old: Obj | None) -> Errors:
    """ValidateEventCreate / ValidateEventUpdate for events.k8s.io/v1 (strict) requests."""
    ev = event_to_core(obj)
    errs = _legacy_event_errors(ev)
    if old is not None:
        old = event_to_core(old)
        if not same(ev.get("series"), old.get("series")):
            errs += _series_errors(ev)
        for field in _EVENT_IMMUTABLE:
            errs += immutable(_INTERNAL_NAMES.get(field, field), ev.get(field), old.get(field))
        return errs
    errs += _series_errors(ev)
    if not ev.get("eventTime"):
        errs.append(required("eventTime"))
    if ev.get("type") not in ("Normal", "Warning"):
        errs.append(invalid("type", "", f"has invalid value: {ev.get('type') or ''}"))
    for field in ("firstTimestamp", "lastTimestamp", "count"):
        if ev.get(field):
            errs.append(invalid(field, "", "needs to be unset"))
    if as_dict(ev.get("source")).get("component") or as_dict(ev.get("source")).get("host"):
        errs.append(invalid("source", "", "needs to be unset"))
    return errs


STRATEGIES: dict[tuple[str, str], Strategy] = {
    ("", "pods"): Strategy(
        defaults=default_pod, create=create_pod, update=update_pod, validate=validate_pod,
        initial_status={"phase": "Pending"},  # create_pod adds the qosClass
    ),
    ("", "persistentvolumeclaims"): Strategy(
        defaults=default_pvc, create=create_pvc, validate=validate_pvc,
        initial_status={"phase": "Pending"},
    ),
    ("", "namespaces"): Strategy(
        defaults=default_namespace, create=create_namespace, update=update_namespace,
        initial_status={"phase": "Active"},
    ),
    ("", "services"): Strategy(
        defaults=default_service, create=create_service, update=update_service,
        validate=validate_service, initial_status={"loadBalancer": {}},
    ),
    ("", "secrets"): Strategy(defaults=default_secret, validate=validate_secret),
    ("", "configmaps"): Strategy(defaults=default_config_map, validate=validate_config_map),
    ("", "events"): Strategy(validate=validate_core_event, present=present_core_event),
    ("events.k8s.io", "events"): Strategy(
        validate=validate_events_event, to_storage=event_to_core, present=present_events_event
    ),
}  # fmt: skip
