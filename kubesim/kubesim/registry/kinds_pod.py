"""The Pod registry strategy, and the building blocks every kind's strategy shares.

Ported from kubernetes: pkg/apis/core/v1/defaults.go (defaulting), plugin/pkg/admission
(ServiceAccount, DefaultTolerationSeconds, Priority), pkg/apis/core/validation (ValidatePod,
ValidatePodUpdate), pkg/apis/core/helper/qos (ComputePodQOS) and apimachinery's
pkg/api/resource (Quantity parsing and its canonical form). `kinds.py` wires these in.
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Iterable, Sequence
from decimal import MAX_EMAX, MIN_EMIN, ROUND_UP, Context, Decimal, InvalidOperation
from typing import Any

from kubesim.registry.errors import FieldError, _go_repr
from kubesim.registry.names import dns1123_label_errors, max_len_error, qualified_name_errors

Obj = dict[str, Any]

# -- field errors ---------------------------------------------------------------------------------


class _ShownValueError(FieldError):
    """NotFound / Duplicate, which field.Error renders with the bad value (errors.py does not)."""

    _SHOWN = {"FieldValueNotFound": "Not found", "FieldValueDuplicate": "Duplicate value"}

    def text(self) -> str:
        out = f"{self.field}: {self._SHOWN[self.kind]}: {_go_repr(self.value)}"
        return out + (f": {self.detail}" if self.detail else "")


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(path, "FieldValueRequired", detail)


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, "FieldValueInvalid", detail, value)


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(path, "FieldValueForbidden", detail)


def not_supported(path: str, value: Any, supported: Iterable[str]) -> FieldError:
    detail = "supported values: " + ", ".join(f'"{v}"' for v in supported)
    return FieldError(path, "FieldValueNotSupported", detail, value)


def duplicate(path: str, value: Any) -> FieldError:
    return _ShownValueError(path, "FieldValueDuplicate", "", value)


def not_found(path: str, value: Any) -> FieldError:
    return _ShownValueError(path, "FieldValueNotFound", "", value)


def immutable(path: str, new: Any, old: Any) -> list[FieldError]:
    return [] if same(new, old) else [invalid(path, new, "field is immutable")]


def enum(path: str, value: Any, supported: Sequence[str]) -> list[FieldError]:
    """A required value out of a fixed set (the real messages list the set in Go's order)."""
    if value in (None, ""):
        return [required(path)]
    return [] if value in supported else [not_supported(path, value, supported)]


# -- loose JSON access: bad shapes are reported by validation, never crash defaulting ----------


def as_dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def dicts(value: Any) -> list[Obj]:
    """The dict entries of a list, in place (so defaulting mutates the object itself)."""
    return [v for v in as_list(value) if isinstance(v, dict)]


def owned_dict(parent: Obj, key: str) -> Obj:
    """parent[key] as a dict to fill in, made one (replacing null or a bad value) if needed."""
    value = parent.get(key)
    if not isinstance(value, dict):
        value = parent[key] = {}
    return value


def unset(d: Obj, key: str) -> bool:
    """Go's zero value test for an optional string or pointer field."""
    return d.get(key) in (None, "")


def default(d: Obj, key: str, value: Any) -> None:
    if unset(d, key):
        d[key] = copy.deepcopy(value)


def pruned(value: Any) -> Any:
    """`value` without null / empty members: Go's semantic DeepEqual treats nil and empty alike."""
    if isinstance(value, dict):
        items = ((k, pruned(v)) for k, v in value.items())
        return {k: v for k, v in items if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [pruned(v) for v in value]
    return value


def same(a: Any, b: Any) -> bool:
    """Go's semantic equality of two field values (absent, null and empty are all alike)."""
    return pruned({"": a}) == pruned({"": b})


# -- resource quantities (k8s.io/apimachinery/pkg/api/resource) ---------------------------------

QUANTITY_FORMAT_ERROR = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
QUANTITY_NUMERIC_ERROR = "unable to parse numeric part of quantity"
QUANTITY_SUFFIX_ERROR = "unable to parse quantity's suffix"

_DIGITS = "0123456789"
_SUFFIX_CHARS = "eEinumkKMGTP"
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXP = {e: s for s, e in _DECIMAL.items()}
_BINARY_BY_EXP = {e: s for s, e in _BINARY.items()} | {0: ""}
_MAX_INT64 = 2**63 - 1
_NANO = Decimal("1e-9")
# Enough digits that no arithmetic on a quantity ever rounds.
_CTX = Context(prec=200, Emax=MAX_EMAX, Emin=MIN_EMIN)


class QuantityError(ValueError):
    """A string that is not a quantity; the message is the real server's."""


def _split_quantity(s: str) -> tuple[str, str, str, str]:
    """(number, integer digits, fraction digits, suffix), as parseQuantityString splits them."""
    end, pos = len(s), 0
    if s[:1] in ("+", "-"):
        pos = 1
    while pos < end and s[pos] == "0":  # leading zeros do not count as precision
        pos += 1
    if pos == end:
        return "0", "0", "", ""  # nothing but a sign and zeros: zero
    start = pos
    while pos < end and s[pos] in _DIGITS:
        pos += 1
    whole, frac = s[start:pos] or "0", ""
    if pos < end and s[pos] == ".":
        pos += 1
        start = pos
        while pos < end and s[pos] in _DIGITS:
            pos += 1
        frac = s[start:pos]
    number, suffix_start = s[:pos], pos
    while pos < end and s[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and s[pos] in "+-":
        pos += 1
    while pos < end and s[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise QuantityError(QUANTITY_FORMAT_ERROR)
    return number, whole, frac, s[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, str]:
    """(base, exponent, format) of a suffix, as the quantity suffixer reads it."""
    if suffix in _DECIMAL:
        return 10, _DECIMAL[suffix], "DecimalSI"
    if suffix in _BINARY:
        return 2, _BINARY[suffix], "BinarySI"
    if len(suffix) > 1 and suffix[0] in "eE" and re.fullmatch(r"[+-]?[0-9]+", suffix[1:]):
        return 10, int(suffix[1:]), "DecimalExponent"
    raise QuantityError(QUANTITY_SUFFIX_ERROR)


def _parse(value: Any) -> tuple[Decimal, str, str | None]:
    """(amount, format, the string a real server keeps verbatim if it does) of a quantity."""
    if value is None:  # JSON null decodes to the zero quantity
        return Decimal(0), "DecimalSI", None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise QuantityError(QUANTITY_FORMAT_ERROR)
    s = str(value).strip()
    if not s:
        raise QuantityError(QUANTITY_FORMAT_ERROR)
    number, whole, frac, suffix = _split_quantity(s)
    base, exponent, fmt = _interpret(suffix)
    negative = s.startswith("-")
    # The fast path of ParseQuantity: an int64 mantissa. Strings already in canonical form are
    # kept as sent (so "500m" stays "500m" but "0.5" comes back as "500m").
    if fmt == "BinarySI":
        fast = exponent >= 0 and not frac and 15 - len(whole) - int(exponent * 3 / 10) - 1 >= 0
        mantissa, scale = 1 << exponent, 0
    else:
        fast = 18 - (len(whole) + len(frac)) >= 0
        mantissa, scale = 1, exponent
    scale -= len(frac)
    if fast and scale >= -9:
        digits = whole + frac
        result = int(digits) * mantissa
        if result <= _MAX_INT64:
            if fmt == "BinarySI":
                keep = exponent % 10 == 0 and int(digits) & 0x07 != 0
            else:
                keep = scale % 3 == 0 and not digits.endswith("000") and digits[0] != "0"
            amount = _CTX.scaleb(Decimal(-result if negative else result), scale)
            return amount, fmt, s if keep else None
    try:
        amount = Decimal(number)
    except InvalidOperation:
        raise QuantityError(QUANTITY_NUMERIC_ERROR) from None
    amount = _CTX.scaleb(amount, exponent) if base == 10 else _CTX.multiply(amount, 2**exponent)
    magnitude = abs(amount)
    if magnitude > _MAX_INT64:
        magnitude = Decimal(_MAX_INT64)  # the real cap
    elif magnitude:
        # Non-zero amounts round up to the nearest nano, so asking for a little gets something.
        magnitude = magnitude.quantize(_NANO, rounding=ROUND_UP, context=_CTX)
    if fmt == "BinarySI" and 0 < magnitude < 1:
        fmt = "DecimalSI"
    return (-magnitude if amount < 0 else magnitude), fmt, None


def parse_quantity(value: Any) -> Decimal:
    """The exact value of a Kubernetes quantity ("500m", "1.5Gi", "1e3"); QuantityError if bad."""
    return _parse(value)[0]


def _canonical(amount: Decimal, fmt: str) -> str:
    if not amount:
        return "0"
    if fmt == "BinarySI" and (-1024 < amount < 1024 or amount != amount.to_integral_value()):
        fmt = "DecimalSI"  # small or fractional binary amounts print in decimal, not rounded
    if fmt == "BinarySI":
        n, times = abs(int(amount)), 0
        while n >= 1024 and n % 1024 == 0:
            n, times = n // 1024, times + 1
        return f"{'-' if amount < 0 else ''}{n}{_BINARY_BY_EXP[times * 10]}"
    sign, digit_tuple, exp = amount.normalize(_CTX).as_tuple()
    assert isinstance(exp, int)
    shift = exp % 3  # the exponent goes down to a multiple of 3
    n, exp = int("".join(map(str, digit_tuple))) * 10**shift, exp - shift
    number = f"{'-' if sign else ''}{n}"
    if fmt == "DecimalSI" and exp in _DECIMAL_BY_EXP:
        return number + _DECIMAL_BY_EXP[exp]
    return number + (f"e{exp}" if exp else "")


def canonical_quantity(value: Any) -> str:
    """The string a real server returns for a quantity it was sent (its canonical form)."""
    amount, fmt, kept = _parse(value)
    return kept if kept is not None else _canonical(amount, fmt)


def canonical_resource_list(resources: Any) -> Any:
    """A ResourceList as a real server returns it: keys sorted, valid quantities canonical.

    Invalid quantities are left as sent, for validation to report.
    """
    if not isinstance(resources, dict):
        return resources
    out = {}
    for name in sorted(resources):
        try:
            out[name] = canonical_quantity(resources[name])
        except QuantityError:
            out[name] = resources[name]
    return out


def canonicalize_resources(owner: Obj, keys: Iterable[str] = ("limits", "requests")) -> None:
    """Canonicalize the ResourceLists under `keys`; empty ones are dropped (omitempty)."""
    for key in keys:
        if owner.get(key) in ({}, None):
            owner.pop(key, None)
        else:
            owner[key] = canonical_resource_list(owner[key])


def quantity_errors(path: str, value: Any) -> tuple[Decimal | None, list[FieldError]]:
    """The value of a quantity field, or the error a real server gives for it.

    A real server fails to decode a bad quantity (400 BadRequest with the same message); here it
    is reported as a 422 on the field instead.
    """
    try:
        return parse_quantity(value), []
    except QuantityError as e:
        return None, [invalid(path, value, str(e))]


# -- resource names (pkg/apis/core/helper) ----------------------------------------------------

_CONTAINER_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})
_STANDARD_RESOURCES = _CONTAINER_RESOURCES | {
    "pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
    "persistentvolumeclaims", "storage", "requests.cpu", "requests.memory", "requests.storage",
    "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage",
    "services.nodeports", "services.loadbalancers",
}  # fmt: skip
_INTEGER_RESOURCES = frozenset({
    "pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
    "persistentvolumeclaims", "services.nodeports", "services.loadbalancers",
})  # fmt: skip


def is_native_resource(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def is_extended_resource(name: str) -> bool:
    if is_native_resource(name) or name.startswith("requests."):
        return False
    return not qualified_name_errors("requests." + name)


def _hugepages(name: str) -> bool:
    return name.startswith("hugepages-")


def overcommit_allowed(name: str) -> bool:
    """Only native, non-hugepage resources may request less than their limit."""
    return is_native_resource(name) and not _hugepages(name)


def _container_resource_name_errors(name: str, path: str) -> list[FieldError]:
    errs = [invalid(path, name, msg) for msg in qualified_name_errors(name)]
    if errs:
        return errs
    if "/" not in name:
        if name not in _STANDARD_RESOURCES and not _hugepages(name):
            errs.append(invalid(path, name, "must be a standard resource type or fully qualified"))
        if name not in _CONTAINER_RESOURCES and not _hugepages(name):
            errs.append(invalid(path, name, "must be a standard resource for containers"))
    elif not is_native_resource(name) and not is_extended_resource(name):
        errs.append(invalid(path, name, "doesn't follow extended resource name standard"))
    return errs


def _resource_list(resources: Any, path: str) -> tuple[dict[str, Decimal], list[FieldError]]:
    """Parsed quantities of a container ResourceList, with name and value errors."""
    values: dict[str, Decimal] = {}
    errs: list[FieldError] = []
    for name, raw in as_dict(resources).items():
        key = f"{path}[{name}]"
        errs += _container_resource_name_errors(name, key)
        amount, bad = quantity_errors(key, raw)
        errs += bad
        if amount is None:
            continue
        values[name] = amount
        if amount < 0:
            errs.append(invalid(key, canonical_quantity(raw), "must be greater than or equal to 0"))
        if (name in _INTEGER_RESOURCES or is_extended_resource(name)) and amount % 1:
            errs.append(invalid(key, canonical_quantity(raw), "must be an integer"))
    return values, errs


def validate_resources(resources: Any, path: str) -> list[FieldError]:
    """ValidateContainerResourceRequirements (limits first, then requests against them)."""
    res = as_dict(resources)
    limits, errs = _resource_list(res.get("limits"), f"{path}.limits")
    requests, req_errs = _resource_list(res.get("requests"), f"{path}.requests")
    errs += req_errs
    raw_limits, raw_requests = as_dict(res.get("limits")), as_dict(res.get("requests"))
    for name, amount in requests.items():
        shown = canonical_quantity(raw_requests[name])
        if name in limits:
            limit = canonical_quantity(raw_limits[name])
            if amount != limits[name] and not overcommit_allowed(name):
                detail = f"must be equal to {name} limit of {limit}"
                errs.append(invalid(f"{path}.requests", shown, detail))
            elif amount > limits[name]:
                detail = f"must be less than or equal to {name} limit of {limit}"
                errs.append(invalid(f"{path}.requests", shown, detail))
        elif not overcommit_allowed(name):
            errs.append(
                required(f"{path}.limits", "Limit must be set for non overcommitable resources")
            )
    return errs


def _qos_amounts(resources: Any) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for name in ("cpu", "memory"):  # the only resources QoS looks at
        try:
            amount = parse_quantity(as_dict(resources).get(name, "0"))
        except QuantityError:
            continue
        if amount > 0:
            out[name] = amount
    return out


def qos_class(spec: Obj) -> str:
    """Guaranteed / Burstable / BestEffort, by ComputePodQOS."""
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    guaranteed = True
    for c in dicts(spec.get("containers")) + dicts(spec.get("initContainers")):
        res = as_dict(c.get("resources"))
        # As the API's defaulting does, a limit without a request requests the limit.
        requested = {**as_dict(res.get("limits")), **as_dict(res.get("requests"))}
        for source, total in ((requested, requests), (res.get("limits"), limits)):
            for name, amount in _qos_amounts(source).items():
                total[name] = total.get(name, Decimal(0)) + amount
        if set(_qos_amounts(res.get("limits"))) != {"cpu", "memory"}:
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and requests == limits:
        return "Guaranteed"
    return "Burstable"


# -- pod defaulting (SetDefaults_*, run on every write) -----------------------------------------

# Volume sources, in the order validateVolumeSource checks them.
VOLUME_SOURCES = (
    "emptyDir", "hostPath", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret",
    "nfs", "iscsi", "glusterfs", "flocker", "persistentVolumeClaim", "rbd", "cinder", "cephfs",
    "quobyte", "downwardAPI", "fc", "flexVolume", "configMap", "azureFile", "vsphereVolume",
    "photonPersistentDisk", "portworxVolume", "azureDisk", "storageos", "projected", "scaleIO",
    "csi", "ephemeral", "image",
)  # fmt: skip
_FILE_MODE_SOURCES = ("secret", "configMap", "downwardAPI", "projected")
DEFAULT_FILE_MODE = 0o644  # 420, as clients see it


def _image_tag(image: str) -> str:
    """The tag ParseImageName finds: "latest" when there is neither tag nor digest."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.rpartition(":")[2] if ":" in last else ""
    return tag or ("" if digest else "latest")


def _default_probe(probe: Any) -> None:
    if isinstance(probe, dict):
        for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10),
                           ("successThreshold", 1), ("failureThreshold", 3)):  # fmt: skip
            default(probe, key, value)
        _default_http_get(probe.get("httpGet"))


def _default_http_get(action: Any) -> None:
    if isinstance(action, dict):
        default(action, "path", "/")
        default(action, "scheme", "HTTP")


def _default_field_refs(items: Any) -> None:
    for item in dicts(items):
        if isinstance(item.get("fieldRef"), dict):
            default(item["fieldRef"], "apiVersion", "v1")


def _default_container(c: Obj, host_network: bool) -> None:
    latest = _image_tag(str(c.get("image") or "")) == "latest"
    default(c, "imagePullPolicy", "Always" if latest else "IfNotPresent")
    default(c, "terminationMessagePath", "/dev/termination-log")
    default(c, "terminationMessagePolicy", "File")
    default(c, "resources", {})
    resources = c["resources"]
    if isinstance(resources, dict):
        # A limit without a request requests the limit.
        limits = resources.get("limits")
        if isinstance(limits, dict) and limits:
            requests = resources.get("requests")
            requests = requests if isinstance(requests, dict) else {}
            resources["requests"] = {**limits, **requests}
        canonicalize_resources(resources)
    for port in dicts(c.get("ports")):
        default(port, "protocol", "TCP")
        if host_network and not port.get("hostPort"):
            port["hostPort"] = port.get("containerPort")
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(c.get(key))
    for hook in as_dict(c.get("lifecycle")).values():
        _default_http_get(as_dict(hook).get("httpGet"))
    for env in dicts(c.get("env")):
        ref = as_dict(env.get("valueFrom")).get("fieldRef")
        if isinstance(ref, dict):
            default(ref, "apiVersion", "v1")


def _default_volume(volume: Obj) -> None:
    if not any(volume.get(k) is not None for k in VOLUME_SOURCES):
        volume["emptyDir"] = {}  # a volume without a source is an emptyDir
    for key in _FILE_MODE_SOURCES:
        if isinstance(volume.get(key), dict):
            default(volume[key], "defaultMode", DEFAULT_FILE_MODE)
    if isinstance(volume.get("hostPath"), dict):
        volume["hostPath"].setdefault("type", "")
    _default_field_refs(as_dict(volume.get("downwardAPI")).get("items"))
    for source in dicts(as_dict(volume.get("projected")).get("sources")):
        _default_field_refs(as_dict(source.get("downwardAPI")).get("items"))
        if isinstance(source.get("serviceAccountToken"), dict):
            default(source["serviceAccountToken"], "expirationSeconds", 3600)


def default_pod(pod: Obj) -> None:
    """The v1 defaulting (and v1 conversion) every pod write goes through."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    # v1 conversion: the deprecated serviceAccount mirrors serviceAccountName.
    if unset(spec, "serviceAccountName") and not unset(spec, "serviceAccount"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    if not unset(spec, "serviceAccountName"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    default(spec, "restartPolicy", "Always")
    default(spec, "dnsPolicy", "ClusterFirst")
    default(spec, "terminationGracePeriodSeconds", 30)
    default(spec, "securityContext", {})
    default(spec, "schedulerName", "default-scheduler")
    default(spec, "enableServiceLinks", True)
    for c in dicts(spec.get("containers")) + dicts(spec.get("initContainers")):
        _default_container(c, spec.get("hostNetwork") is True)
    for volume in dicts(spec.get("volumes")):
        _default_volume(volume)


# -- pod create: PrepareForCreate and the mutating admission plugins -------------------------

SERVICE_ACCOUNT_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
# utilrand.String's alphabet: no vowels, no confusable digits.
_RAND_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_NODE_TOLERATIONS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
_SYSTEM_PRIORITIES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}


def token_volume(name: str) -> Obj:
    """The projected volume the ServiceAccount admission adds (TokenVolumeSource)."""
    return {
        "name": name,
        "projected": {
            "defaultMode": DEFAULT_FILE_MODE,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt",
                               "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                    "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        },
    }  # fmt: skip


def _admit_service_account(spec: Obj) -> None:
    default(spec, "serviceAccountName", "default")
    spec["serviceAccount"] = spec["serviceAccountName"]
    # The real plugin also honours the ServiceAccount's own automount setting (not read here).
    if spec.get("automountServiceAccountToken") is False:
        return
    volumes = dicts(spec.get("volumes"))
    existing = next((v["name"] for v in volumes if str(v.get("name", "")).startswith(
        "kube-api-access-")), None)  # fmt: skip
    name = existing or "kube-api-access-" + "".join(random.choices(_RAND_ALPHABET, k=5))
    mount = {"name": name, "readOnly": True, "mountPath": SERVICE_ACCOUNT_MOUNT_PATH}
    needed = False
    for c in dicts(spec.get("initContainers")) + dicts(spec.get("containers")):
        mounts = c.get("volumeMounts")
        if mounts is None:
            mounts = c["volumeMounts"] = []
        if not isinstance(mounts, list):
            continue
        # A container that mounts something at the token path keeps it.
        if not any(as_dict(m).get("mountPath") == SERVICE_ACCOUNT_MOUNT_PATH for m in mounts):
            mounts.append(dict(mount))
            needed = True
    if needed and existing is None:
        if spec.get("volumes") is None:
            spec["volumes"] = []
        if isinstance(spec["volumes"], list):
            spec["volumes"].append(token_volume(name))


def _admit_tolerations(spec: Obj) -> None:
    """DefaultTolerationSeconds: 300s on not-ready / unreachable nodes unless tolerated."""
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = spec["tolerations"] = []
    if not isinstance(tolerations, list):
        return
    for key in _NODE_TOLERATIONS:
        covered = any(
            t.get("key") in (key, "", None) and t.get("effect") in ("NoExecute", "", None)
            for t in dicts(tolerations)
        )
        if not covered:
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": 300})  # fmt: skip


def create_pod(pod: Obj) -> None:
    """Status as PrepareForCreate sets it, then the admission plugins' changes."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    pod["status"] = {"phase": "Pending", "qosClass": qos_class(spec)}
    _admit_service_account(spec)
    _admit_tolerations(spec)
    # Priority admission. Other priority classes are not served here, so they resolve to 0
    # (a real server rejects a class it does not know).
    if spec.get("priority") is None:
        spec["priority"] = _SYSTEM_PRIORITIES.get(str(spec.get("priorityClassName")), 0)
    default(spec, "preemptionPolicy", "PreemptLowerPriority")


def update_pod(new: Obj, old: Obj) -> None:
    """What a pod update keeps: the priority admission restores fields it set on create."""
    new_spec, old_spec = new.get("spec"), as_dict(old.get("spec"))
    if isinstance(new_spec, dict):
        for key in ("priority", "preemptionPolicy"):
            if new_spec.get(key) is None and key in old_spec:
                new_spec[key] = old_spec[key]


# -- pod validation ------------------------------------------------------------------------------

_PROTOCOLS = ("SCTP", "TCP", "UDP")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
_RESTART_POLICIES = ("Always", "OnFailure", "Never")
_DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
# The sources' fields that validation requires.
_SOURCE_REQUIRED = {
    "hostPath": ("path",), "secret": ("secretName",), "configMap": ("name",),
    "persistentVolumeClaim": ("claimName",), "nfs": ("server", "path"), "gitRepo": ("repository",),
}  # fmt: skip
PORT_RANGE_ERROR = "must be between 1 and 65535, inclusive"


def port_number_errors(path: str, value: Any) -> list[FieldError]:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return []
    return [invalid(path, value, PORT_RANGE_ERROR)]


def port_name_errors(name: str) -> list[str]:
    """validation.IsValidPortName (IANA_SVC_NAME)."""
    errs = []
    if len(name) > 15:
        errs.append(max_len_error(15))
    if not re.fullmatch(r"[-a-z0-9]+", name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name[:1] == "-" or name[-1:] == "-":
        errs.append("must not begin or end with a hyphen")
    return errs


def _volume_source_errors(volume: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    found = [k for k in VOLUME_SOURCES if volume.get(k) is not None]
    for key in found[1:]:
        errs.append(forbidden(f"{path}.{key}", "may not specify more than 1 volume type"))
    if not found:
        errs.append(required(path, "must specify a volume type"))
    else:
        source = as_dict(volume[found[0]])
        for field in _SOURCE_REQUIRED.get(found[0], ()):
            if unset(source, field):
                errs.append(required(f"{path}.{found[0]}.{field}"))
    return errs


def _validate_volumes(volumes: Any, path: str) -> tuple[set[str], list[FieldError]]:
    """ValidateVolumes: the names of the valid volumes, and the errors of the others."""
    names: set[str] = set()
    errs: list[FieldError] = []
    for i, volume in enumerate(as_list(volumes)):
        volume = as_dict(volume)
        at, name = f"{path}[{i}]", volume.get("name")
        errors = _volume_source_errors(volume, at)
        if unset(volume, "name"):
            errors.append(required(f"{at}.name"))
        else:
            errors += [invalid(f"{at}.name", name, m) for m in dns1123_label_errors(str(name))]
        if name in names:
            errors.append(duplicate(f"{at}.name", name))
        if errors:
            errs += errors
        else:
            names.add(str(name))
    return names, errs


def _relative_path_errors(path: str, value: str) -> list[FieldError]:
    errs = []
    if value.startswith("/"):
        errs.append(invalid(path, value, "must be a relative path"))
    if ".." in value.replace("\\", "/").split("/"):
        errs.append(invalid(path, value, "must not contain '..'"))
    return errs


def _volume_mount_errors(mounts: Any, volumes: set[str], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[Any] = set()
    for i, mount in enumerate(as_list(mounts)):
        mount, at = as_dict(mount), f"{path}[{i}]"
        if unset(mount, "name"):
            errs.append(required(f"{at}.name"))
        if mount.get("name") not in volumes:
            errs.append(not_found(f"{at}.name", mount.get("name") or ""))
        if unset(mount, "mountPath"):
            errs.append(required(f"{at}.mountPath"))
        if mount.get("mountPath") in seen:
            errs.append(invalid(f"{at}.mountPath", mount.get("mountPath"), "must be unique"))
        seen.add(mount.get("mountPath"))
        if not unset(mount, "subPath"):
            errs += _relative_path_errors(f"{at}.subPath", str(mount["subPath"]))
    return errs


def _container_port_errors(ports: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(as_list(ports)):
        port, at = as_dict(port), f"{path}[{i}]"
        name = port.get("name")
        if name:
            msgs = port_name_errors(str(name))
            errs += [invalid(f"{at}.name", name, m) for m in msgs]
            if not msgs and name in names:
                errs.append(duplicate(f"{at}.name", name))
            names.add(str(name))
        if not port.get("containerPort"):
            errs.append(required(f"{at}.containerPort"))
        else:
            errs += port_number_errors(f"{at}.containerPort", port["containerPort"])
        if port.get("hostPort"):
            errs += port_number_errors(f"{at}.hostPort", port["hostPort"])
        errs += enum(f"{at}.protocol", port.get("protocol"), _PROTOCOLS)
    return errs


def _container_errors(c: Obj, at: str, volumes: set[str]) -> list[FieldError]:
    """validateContainerCommon, for regular and init containers alike."""
    errs: list[FieldError] = []
    if unset(c, "name"):
        errs.append(required(f"{at}.name"))
    else:
        errs += [invalid(f"{at}.name", c["name"], m) for m in dns1123_label_errors(str(c["name"]))]
    if unset(c, "image"):
        errs.append(required(f"{at}.image"))
    errs += _container_port_errors(c.get("ports"), f"{at}.ports")
    for i, env in enumerate(dicts(c.get("env"))):
        if unset(env, "name"):
            errs.append(required(f"{at}.env[{i}].name"))
    errs += _volume_mount_errors(c.get("volumeMounts"), volumes, f"{at}.volumeMounts")
    errs += enum(f"{at}.terminationMessagePolicy", c.get("terminationMessagePolicy"),
                 _MESSAGE_POLICIES)  # fmt: skip
    errs += enum(f"{at}.imagePullPolicy", c.get("imagePullPolicy"), _PULL_POLICIES)
    errs += validate_resources(c.get("resources"), f"{at}.resources")
    return errs


def validate_pod_spec(spec: Obj, path: str = "spec") -> list[FieldError]:
    """ValidatePodSpec, for the fields a spawner sets."""
    volumes, errs = _validate_volumes(spec.get("volumes"), f"{path}.volumes")
    containers = as_list(spec.get("containers"))
    if not containers:
        errs.append(required(f"{path}.containers"))
    # Names are unique across containers and init containers; the clash is reported on the
    # later one.
    names: set[Any] = set()
    for key in ("containers", "initContainers"):
        for i, c in enumerate(as_list(spec.get(key))):
            c, at = as_dict(c), f"{path}.{key}[{i}]"
            errs += _container_errors(c, at, volumes)
            if c.get("name") in names:
                errs.append(duplicate(f"{at}.name", c["name"]))
            elif not unset(c, "name"):
                names.add(c["name"])
    errs += enum(f"{path}.restartPolicy", spec.get("restartPolicy"), _RESTART_POLICIES)
    errs += enum(f"{path}.dnsPolicy", spec.get("dnsPolicy"), _DNS_POLICIES)
    return errs


POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set "
    "to 1 if it was previously negative)"
)


def _keep(target: Obj, source: Obj, key: str) -> None:
    """Make target[key] what source has, present or absent."""
    if key in source:
        target[key] = copy.deepcopy(source[key])
    else:
        target.pop(key, None)


def _spec_diff(old: Obj, new: Obj) -> str:
    """A short stand-in for the cmp.Diff the real message appends: the changed fields."""
    lines = ["  core.PodSpec{"]
    for key in sorted(set(old) | set(new)):
        if pruned(old.get(key)) != pruned(new.get(key)):
            for sign, side in (("-", old), ("+", new)):
                if key in side:
                    lines.append(f"{sign} \t{key}: {json.dumps(side[key], sort_keys=True)},")
    return "\n".join([*lines, "  }"])


def _container_update_errors(new: Any, old: Any, path: str) -> tuple[list[FieldError], bool]:
    if len(as_list(new)) != len(as_list(old)):
        return [forbidden(path, "pod updates may not add or remove containers")], True
    errs: list[FieldError] = []
    for i, c in enumerate(as_list(new)):
        image = as_dict(c).get("image")
        if unset(as_dict(c), "image"):
            errs.append(required(f"{path}[{i}].image"))
        elif isinstance(image, str) and image != image.strip():
            errs.append(invalid(f"{path}[{i}].image", image,
                                "must not have leading or trailing whitespace"))  # fmt: skip
    return errs, False


def _deadline_errors(new: Any, old: Any) -> list[FieldError]:
    path = "spec.activeDeadlineSeconds"
    if new is None:
        if old is not None:
            return [invalid(path, None, "must not update from a positive integer to nil value")]
        return []
    if not isinstance(new, int) or not 0 <= new <= 2**31 - 1:
        return [invalid(path, new, "must be between 0 and 2147483647, inclusive")]
    if isinstance(old, int) and old < new:
        return [invalid(path, new, "must be less than or equal to previous value")]
    return []


def _toleration_errors(new: Any, old: Any) -> list[FieldError]:
    """Existing tolerations stay (only their tolerationSeconds may change)."""

    def without_seconds(t: Any) -> Any:
        return pruned({k: v for k, v in as_dict(t).items() if k != "tolerationSeconds"})

    remaining = [without_seconds(t) for t in as_list(new)]
    for t in as_list(old):
        if without_seconds(t) not in remaining:
            detail = "existing toleration can not be modified except its tolerationSeconds"
            return [forbidden("spec.tolerations", detail)]
    return []


def validate_pod_update(new: Obj, old: Obj) -> list[FieldError]:
    """ValidatePodUpdate: past creation a pod's spec changes only in a few places."""
    spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
    errs: list[FieldError] = []
    for key in ("containers", "initContainers"):
        found, stop = _container_update_errors(spec.get(key), old_spec.get(key), f"spec.{key}")
        errs += found
        if stop:
            return errs
    errs += _deadline_errors(spec.get("activeDeadlineSeconds"),
                             old_spec.get("activeDeadlineSeconds"))  # fmt: skip
    errs += _toleration_errors(spec.get("tolerations"), old_spec.get("tolerations"))
    for gate in as_list(spec.get("schedulingGates")):
        if gate not in as_list(old_spec.get("schedulingGates")):
            name = as_dict(gate).get("name")
            detail = f"only deletion is allowed, but found new scheduling gate '{name}'"
            errs.append(forbidden("spec.schedulingGates", detail))
    # The allowed changes are undone; whatever still differs was not allowed.
    munged = copy.deepcopy(spec)
    for key in ("containers", "initContainers"):
        for c, was in zip(dicts(munged.get(key)), as_list(old_spec.get(key)), strict=False):
            _keep(c, as_dict(was), "image")
    for key in ("activeDeadlineSeconds", "tolerations", "schedulingGates"):
        _keep(munged, old_spec, key)
    grace = old_spec.get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and grace < 0 and munged.get("terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = grace
    if pruned(munged) != pruned(old_spec):
        message = f"{POD_UPDATE_FORBIDDEN}\n{_spec_diff(old_spec, munged)}"
        errs.append(forbidden("spec", message))
    return errs


def validate_pod(pod: Obj, old: Obj | None) -> list[FieldError]:
    errs = validate_pod_spec(as_dict(pod.get("spec")))
    if old is not None:
        errs += validate_pod_update(pod, old)
    return errs
