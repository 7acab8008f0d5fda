"""What one container of a pod gets in the process runtime: its argv, environment and mounts.

Works out, from the pod and the objects it refers to, what a real kubelet would hand the
container runtime: env with `valueFrom` and `envFrom` resolved and `$(VAR)` references expanded,
command and args, and each volume mount as a host directory. A problem a real kubelet would also
refuse with (a missing secret key, an unsupported volume type) raises `ContainerConfigError`.
"""

from __future__ import annotations

import base64
import math
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from kubesim.registry.quantities import parse_quantity

Lookup = Callable[[str, str, str], "dict[str, Any] | None"]  # (plural, namespace, name)
ANY_ADDRESS = "0.0.0.0"
_VOLUME_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_REF = re.compile(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")


class ContainerConfigError(Exception):
    """The container cannot be configured: the kubelet's CreateContainerConfigError."""


@dataclass(frozen=True)
class Mount:
    source: Path  # a host directory (or file, for a subPath into a file)
    target: str  # the mountPath, absolute inside the container
    read_only: bool

    def as_json(self) -> dict[str, Any]:
        return {"source": str(self.source), "target": self.target, "readOnly": self.read_only}


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined names are replaced, `$$` is a literal `$`."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)

    return _REF.sub(sub, text)


def bind_to_pod_ip(value: str, pod_ip: str) -> str:
    """Rewrite the any-address a server is told to bind to (`0.0.0.0`) into the pod's IP.

    Pods on this node share the host's network, so a server listening on 0.0.0.0 would take the
    port on every pod IP. Rewritten: an exact `0.0.0.0`, `...=0.0.0.0` (`--ip=0.0.0.0`) and
    `://0.0.0.0` in URLs (`JUPYTERHUB_SERVICE_URL=http://0.0.0.0:8888/...`).
    """
    if value == ANY_ADDRESS:
        return pod_ip
    if value.endswith("=" + ANY_ADDRESS):
        return value[: -len(ANY_ADDRESS)] + pod_ip
    return value.replace("://" + ANY_ADDRESS, "://" + pod_ip)


def _field_ref(pod: dict[str, Any], path: str, pod_ip: str, node: str) -> str:
    meta = pod["metadata"]
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": node,
        "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName", ""),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": "127.0.0.1",
        "status.hostIPs": "127.0.0.1",
    }
    if path in simple:
        return str(simple[path])
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']*)'\]", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    raise ContainerConfigError(f"unsupported fieldRef {path!r}")


def _resource_ref(container: dict[str, Any], ref: dict[str, Any]) -> str:
    kind, _, resource = str(ref.get("resource", "")).partition(".")
    amount = ((container.get("resources") or {}).get(kind) or {}).get(resource)
    if amount is None:
        return "0"
    divisor = parse_quantity(ref.get("divisor") or "1")
    return str(math.ceil(parse_quantity(amount) / divisor))


def _key_of(lookup: Lookup, plural: str, ns: str, ref: dict[str, Any], what: str) -> str | None:
    obj = lookup(plural, ns, str(ref.get("name", "")))
    optional = bool(ref.get("optional"))
    kind = "secret" if plural == "secrets" else "configmap"
    if obj is None:
        if optional:
            return None
        raise ContainerConfigError(f'{kind} "{ref.get("name")}" not found ({what})')
    key = str(ref.get("key", ""))
    data = _data(obj, plural)
    if key not in data:
        if optional:
            return None
        raise ContainerConfigError(
            f"couldn't find key {key} in {kind} {ns}/{ref.get('name')} ({what})"
        )
    return data[key].decode(errors="replace")


def _data(obj: dict[str, Any], plural: str) -> dict[str, bytes]:
    if plural == "secrets":
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    data = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
    data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return data


def container_env(
    pod: dict[str, Any], container: dict[str, Any], pod_ip: str, node: str, lookup: Lookup
) -> dict[str, str]:
    """The container's environment as the kubelet builds it (without the image's own)."""
    ns = pod["metadata"].get("namespace") or ""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix") or "")
        for plural, key in (("configmaps", "configMapRef"), ("secrets", "secretRef")):
            ref = source.get(key)
            if ref is None:
                continue
            obj = lookup(plural, ns, str(ref.get("name", "")))
            if obj is None:
                if ref.get("optional"):
                    continue
                raise ContainerConfigError(f'{plural[:-1]} "{ref.get("name")}" not found')
            env.update(
                {prefix + k: v.decode(errors="replace") for k, v in _data(obj, plural).items()}
            )
    for item in container.get("env") or []:
        name = str(item.get("name", ""))
        value_from = item.get("valueFrom")
        if not value_from:
            env[name] = expand(str(item.get("value") or ""), env)
            continue
        value: str | None
        if "fieldRef" in value_from:
            value = _field_ref(pod, str(value_from["fieldRef"].get("fieldPath", "")), pod_ip, node)
        elif "resourceFieldRef" in value_from:
            value = _resource_ref(container, value_from["resourceFieldRef"])
        elif "secretKeyRef" in value_from:
            value = _key_of(lookup, "secrets", ns, value_from["secretKeyRef"], f"env {name}")
        elif "configMapKeyRef" in value_from:
            value = _key_of(lookup, "configmaps", ns, value_from["configMapKeyRef"], f"env {name}")
        else:
            raise ContainerConfigError(f"env {name}: unsupported valueFrom")
        if value is not None:
            env[name] = value
    return {k: bind_to_pod_ip(v, pod_ip) for k, v in env.items()}


def container_argv(container: dict[str, Any], env: dict[str, str], pod_ip: str) -> list[str]:
    """command + args with `$(VAR)` expanded; the image's entrypoint is not known here."""
    argv = [*(container.get("command") or []), *(container.get("args") or [])]
    return [bind_to_pod_ip(expand(str(a), env), pod_ip) for a in argv]


def _safe_relative(path: str, what: str) -> PurePosixPath:
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts:
        raise ContainerConfigError(f"{what} {path!r} must be a relative path without '..'")
    return rel


def _write_files(directory: Path, files: dict[str, bytes]) -> None:
    """A fresh, read-only-in-spirit projection of keys to files (the kubelet's atomic writer)."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    for rel, content in files.items():
        path = directory / _safe_relative(rel, "file path")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def _projected_files(
    pod: dict[str, Any], sources: list[dict[str, Any]], lookup: Lookup
) -> dict[str, bytes]:
    ns = pod["metadata"].get("namespace") or ""
    files: dict[str, bytes] = {}
    for source in sources:
        if "serviceAccountToken" in source:
            # No token issuer here: the embedded API does not authenticate.
            path = source["serviceAccountToken"].get("path") or "token"
            files[path] = b"embedded-cluster-has-no-service-account-tokens"
        for plural, key in (("configmaps", "configMap"), ("secrets", "secret")):
            if key in source:
                files.update(_object_files(source[key], plural, ns, lookup))
        if "downwardAPI" in source:
            for item in source["downwardAPI"].get("items") or []:
                ref = (item.get("fieldRef") or {}).get("fieldPath", "")
                files[item["path"]] = _field_ref(pod, ref, "", "").encode()
    return files


def _object_files(ref: dict[str, Any], plural: str, ns: str, lookup: Lookup) -> dict[str, bytes]:
    name = str(ref.get("name") or ref.get("secretName") or "")
    obj = lookup(plural, ns, name)
    if obj is None:
        if ref.get("optional"):
            return {}
        # kube-root-ca.crt: there is no CA, the embedded API serves plain HTTP.
        if plural == "configmaps" and name == "kube-root-ca.crt":
            return {"ca.crt": b""}
        raise ContainerConfigError(f'{plural[:-1]} "{name}" not found')
    data = _data(obj, plural)
    items = ref.get("items")
    if not items:
        return data
    out: dict[str, bytes] = {}
    for item in items:
        if item.get("key") in data:
            out[item.get("path") or item["key"]] = data[item["key"]]
        elif not ref.get("optional"):
            raise ContainerConfigError(f"couldn't find key {item.get('key')} in {plural[:-1]}")
    return out


class VolumeDirs:
    """Where volumes live on the host: claims by volume name, the rest per pod."""

    def __init__(self, claims_dir: Path, pod_dir: Path) -> None:
        self.claims_dir = claims_dir
        self.pod_dir = pod_dir

    def claim(self, pvc: dict[str, Any]) -> Path:
        volume = str((pvc.get("spec") or {}).get("volumeName") or "")
        if not _VOLUME_NAME.fullmatch(volume) or ".." in volume:
            raise ContainerConfigError(
                f"claim {pvc['metadata'].get('name')} is not bound to a usable volume"
            )
        path = self.claims_dir / volume
        path.mkdir(parents=True, exist_ok=True)
        return path

    def local(self, name: str) -> Path:
        return self.pod_dir / "volumes" / name


def volume_source(
    pod: dict[str, Any], volume: dict[str, Any], dirs: VolumeDirs, lookup: Lookup
) -> tuple[Path, bool]:
    """The host directory of one pod volume, and whether the volume itself is read-only."""
    ns = pod["metadata"].get("namespace") or ""
    name = str(volume.get("name", ""))
    if "persistentVolumeClaim" in volume:
        source = volume["persistentVolumeClaim"]
        claim = lookup("persistentvolumeclaims", ns, str(source.get("claimName", "")))
        if claim is None or (claim.get("status") or {}).get("phase") != "Bound":
            raise ContainerConfigError(
                f'persistentvolumeclaim "{source.get("claimName")}" is not bound'
            )
        return dirs.claim(claim), bool(source.get("readOnly"))
    if "emptyDir" in volume:
        path = dirs.local(name)
        path.mkdir(parents=True, exist_ok=True)
        return path, False
    # Projections are rewritten at each start and always read-only, as the kubelet mounts them.
    if "configMap" in volume:
        files = _object_files(volume["configMap"], "configmaps", ns, lookup)
    elif "secret" in volume:
        files = _object_files(volume["secret"], "secrets", ns, lookup)
    elif "projected" in volume:
        files = _projected_files(pod, volume["projected"].get("sources") or [], lookup)
    elif "downwardAPI" in volume:
        files = _projected_files(pod, [volume], lookup)
    else:
        kinds = sorted(k for k in volume if k != "name")
        raise ContainerConfigError(
            f"volume {name}: {', '.join(kinds) or 'no source'} is not supported by the process "
            "runtime (persistentVolumeClaim, emptyDir, configMap, secret, projected and "
            "downwardAPI are)"
        )
    path = dirs.local(name)
    _write_files(path, files)
    return path, True


def container_mounts(
    pod: dict[str, Any], container: dict[str, Any], dirs: VolumeDirs, lookup: Lookup
) -> list[Mount]:
    """Each volumeMount of the container as a host path at its mountPath."""
    volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or []}
    sources: dict[str, tuple[Path, bool]] = {}
    mounts: list[Mount] = []
    for vm in container.get("volumeMounts") or []:
        name = vm.get("name")
        if name not in volumes:
            raise ContainerConfigError(f"volumeMount {name}: no such volume")
        if name not in sources:
            sources[name] = volume_source(pod, volumes[name], dirs, lookup)
        source, read_only = sources[name]
        target = str(PurePosixPath(str(vm.get("mountPath", ""))))
        if not target.startswith("/") or ".." in PurePosixPath(target).parts:
            raise ContainerConfigError(f"mountPath {vm.get('mountPath')!r} must be absolute")
        sub = vm.get("subPath")
        if sub:
            volume_root = source
            source = source / _safe_relative(str(sub), "subPath")
            if not source.exists() and not source.is_symlink():
                source.mkdir(parents=True)  # as the kubelet creates a missing subPath
            # A link inside the volume must not lead the mount out of it (CVE-2017-1002101).
            if not source.resolve().is_relative_to(volume_root.resolve()):
                raise ContainerConfigError(f"subPath {sub!r} leaves its volume")
        mounts.append(Mount(source, target, read_only or bool(vm.get("readOnly"))))
    return mounts


__all__ = [
    "ContainerConfigError",
    "Mount",
    "VolumeDirs",
    "bind_to_pod_ip",
    "container_argv",
    "container_env",
    "container_mounts",
    "expand",
]
