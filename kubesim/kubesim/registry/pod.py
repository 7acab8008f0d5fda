"""The Pod strategy: v1 defaulting, PrepareForCreate and the mutating admission plugins.

Ported from pkg/apis/core/v1/defaults.go and plugin/pkg/admission (ServiceAccount,
DefaultTolerationSeconds, Priority); validation is in pod_validation.py.
"""

from __future__ import annotations

import random
from typing import Any

from kubesim.registry.pod_resources import qos_class
from kubesim.registry.pod_validation import VOLUME_SOURCES, validate_pod
from kubesim.registry.quantities import canonicalize_resources
from kubesim.registry.strategy import (
    Obj,
    Strategies,
    Strategy,
    as_dict,
    default,
    dicts,
    unset,
)

# -- defaulting (SetDefaults_*, run on every write) ----------------------------------------------

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


def _default_container(c: Obj, host_network: bool, *, template: bool = False) -> None:
    latest = _image_tag(str(c.get("image") or "")) == "latest"
    default(c, "imagePullPolicy", "Always" if latest else "IfNotPresent")
    default(c, "terminationMessagePath", "/dev/termination-log")
    default(c, "terminationMessagePolicy", "File")
    default(c, "resources", {})
    resources = c["resources"]
    if isinstance(resources, dict):
        # A limit without a request requests the limit (SetDefaults_Pod: not in templates).
        limits = resources.get("limits")
        if not template and isinstance(limits, dict) and limits:
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
    if isinstance(spec, dict):
        default_pod_spec(spec)


def default_pod_spec(spec: Obj, *, template: bool = False) -> None:
    """SetDefaults_PodSpec and its containers' and volumes' defaults; a pod itself also gets
    SetDefaults_Pod's (enableServiceLinks, requests from limits, host-network ports), which a
    pod template inside a workload does not."""
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
    if not template:
        default(spec, "enableServiceLinks", True)
    host_network = spec.get("hostNetwork") is True and not template
    for c in dicts(spec.get("containers")) + dicts(spec.get("initContainers")):
        _default_container(c, host_network, template=template)
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


STRATEGIES: Strategies = {
    ("", "pods"): Strategy(
        defaults=default_pod, create=create_pod, update=update_pod, validate=validate_pod,
        initial_status={"phase": "Pending"},  # create_pod adds the qosClass
    ),
}  # fmt: skip
