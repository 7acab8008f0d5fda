"""Pod validation: ValidatePodSpec on every write, ValidatePodUpdate on updates.

Ported from pkg/apis/core/validation, for the fields a spawner sets; the update rules are the
real ones (a pod's spec changes past creation only in a few places).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kubesim.registry.errors import FieldError
from kubesim.registry.field import (
    PROTOCOLS,
    duplicate,
    enum,
    forbidden,
    invalid,
    invalid_each,
    not_found,
    port_number_errors,
    required,
)
from kubesim.registry.names import dns1123_label_errors, port_name_errors
from kubesim.registry.pod_resources import validate_resources
from kubesim.registry.strategy import Obj, as_dict, as_list, dicts, pruned, unset

# Volume sources, in the order validateVolumeSource checks them.
VOLUME_SOURCES = (
    "emptyDir", "hostPath", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret",
    "nfs", "iscsi", "glusterfs", "flocker", "persistentVolumeClaim", "rbd", "cinder", "cephfs",
    "quobyte", "downwardAPI", "fc", "flexVolume", "configMap", "azureFile", "vsphereVolume",
    "photonPersistentDisk", "portworxVolume", "azureDisk", "storageos", "projected", "scaleIO",
    "csi", "ephemeral", "image",
)  # fmt: skip
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
_RESTART_POLICIES = ("Always", "OnFailure", "Never")
_DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
# The sources' fields that validation requires.
_SOURCE_REQUIRED = {
    "hostPath": ("path",), "secret": ("secretName",), "configMap": ("name",),
    "persistentVolumeClaim": ("claimName",), "nfs": ("server", "path"), "gitRepo": ("repository",),
}  # fmt: skip


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
            errors += invalid_each(f"{at}.name", name, dns1123_label_errors(str(name)))
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
            errs += invalid_each(f"{at}.name", name, msgs)
            if not msgs and name in names:
                errs.append(duplicate(f"{at}.name", name))
            names.add(str(name))
        if not port.get("containerPort"):
            errs.append(required(f"{at}.containerPort"))
        else:
            errs += port_number_errors(f"{at}.containerPort", port["containerPort"])
        if port.get("hostPort"):
            errs += port_number_errors(f"{at}.hostPort", port["hostPort"])
        errs += enum(f"{at}.protocol", port.get("protocol"), PROTOCOLS)
    return errs


def _container_errors(c: Obj, at: str, volumes: set[str]) -> list[FieldError]:
    """validateContainerCommon, for regular and init containers alike."""
    errs: list[FieldError] = []
    if unset(c, "name"):
        errs.append(required(f"{at}.name"))
    else:
        errs += invalid_each(f"{at}.name", c["name"], dns1123_label_errors(str(c["name"])))
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
