"""What the admin allows a workspace to ask for: pure rules, no I/O.

Workspace authors are less trusted than the admin. A workspace's tolerations, node selector,
resources and additional-storage mount paths must stay inside an ``AdminPolicy``;
``check_workspace`` raises ``PolicyViolation`` (a ``profiles.ProfileError``) on the first thing
that does not, and ``violations`` lists them all for the log. Each violation names the
workspace, the field (``tolerations[0]``, ``nodeSelector['kubernetes.io/hostname']``,
``resources.limits.memory``, ``additionalStorage[1].mountPath``) and the rule: the name of the
setting that refuses it, so an admin knows which knob to look at.

Tolerations (``allowed_toleration_keys``, ``allowed_toleration_effects``,
``allow_wildcard_tolerations``)
    ``operator: Exists`` without a key (or with ``key: ""``) tolerates every taint: refused
    unless ``allow_wildcard_tolerations``. Any other toleration's key must be listed. An effect
    that is absent or ``""`` means every effect, so it is allowed only when all three are.
Node selector (``allowed_node_selector_keys``)
    Every key must be listed; values are free (``profiles`` checks they are label values).
Resources (``max_resources``)
    Every request and every limit must name a resource the mapping names (fail closed: an
    unknown extended resource is refused) and be at most its maximum, compared exactly
    (``500m`` is ``0.5``, ``1Gi`` is ``1073741824``).
Mount paths (``refused_mount_path_prefixes``, ``refused_mount_paths``)
    Compared after normalisation (``/etc/``, ``//etc`` and ``/etc/./x`` are ``/etc``, ``/etc``
    and ``/etc/x``). A prefix refuses itself, everything below it, and every directory above it
    (a mount there would hide it). An exact path refuses only itself, so ``/home/jovyan`` can be
    refused while ``/home/jovyan/ws1`` is fine. Two rules no setting turns off: a path must be
    absolute without ``..`` (``absolute_path``), and hold no control or invisible character
    (``control_characters``).

A value that is not even well-formed (a toleration that is not an object, a quantity that does
not parse) raises a plain ``ProfileError``, as ``profiles.overrides_for`` would.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .models import AnalyticsWorkspace
from .models.workspace import unsafe_characters
from .profiles import (
    ProfileError,
    check_node_selector,
    check_tolerations,
    is_qualified_name,
    parse_quantity,
)

#: The taint effects Kubernetes knows; an empty toleration effect means all of them.
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")

DEFAULT_TOLERATION_KEYS = ("nvidia.com/gpu",)
# Labels that choose a kind of machine, never one machine or a control-plane node.
DEFAULT_NODE_SELECTOR_KEYS = (
    "node.kubernetes.io/instance-type",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "kubernetes.io/arch",
    "nvidia.com/gpu.product",
    "accelerator",
)
DEFAULT_MAX_RESOURCES: Mapping[str, str] = MappingProxyType(
    {"cpu": "16", "memory": "128Gi", "nvidia.com/gpu": "2", "ephemeral-storage": "100Gi"}
)
# The image's system directories: writable storage there could replace binaries or config.
DEFAULT_REFUSED_MOUNT_PATH_PREFIXES = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root",
    "/run", "/sbin", "/srv", "/sys", "/usr", "/var", "/opt",
)  # fmt: skip
# Directories that hold the hub's own mounts: storage exactly there would hide them, while a
# subdirectory (/home/jovyan/ws1, /data/x) is where workspace storage belongs.
DEFAULT_REFUSED_MOUNT_PATHS = ("/", "/home", "/home/jovyan", "/tmp", "/data")

# Rules that are not settings (always on).
ABSOLUTE_PATH = "absolute_path"
CONTROL_CHARACTERS = "control_characters"


class PolicyViolation(ProfileError):
    """A workspace asks for something the admin policy refuses. ``rule`` names the setting."""

    def __init__(self, workspace: str, field: str, rule: str, reason: str) -> None:
        super().__init__(workspace, field, f"{reason} ({rule})")
        self.rule = rule


class MountPathRefused(ValueError):
    """A mount path the admin policy refuses; the message starts with what the mount is for."""

    def __init__(self, what: str, path: str, rule: str, reason: str) -> None:
        super().__init__(f"{what}: {reason} ({rule})")
        self.what = what
        self.path = path
        self.rule = rule
        self.reason = reason


# -- settings validation (shared with the traitlets in policy_settings) -----------------------


def validate_label_keys(setting: str, keys: Iterable[Any]) -> tuple[str, ...]:
    """Kubernetes qualified names (``[prefix/]name``), else ValueError naming ``setting``."""
    out = tuple(keys)
    for key in out:
        if not isinstance(key, str) or not is_qualified_name(key):
            raise ValueError(f"{setting}: {key!r} is not a valid Kubernetes label key")
    return out


def validate_effects(setting: str, effects: Iterable[Any]) -> tuple[str, ...]:
    out = tuple(effects)
    for effect in out:
        if effect not in TAINT_EFFECTS:
            raise ValueError(
                f"{setting}: {effect!r} is not a taint effect (use {', '.join(TAINT_EFFECTS)})"
            )
    return out


def validate_maxima(setting: str, maxima: Mapping[Any, Any]) -> Mapping[str, str | int | float]:
    """Resource names mapped to positive quantities, else ValueError naming ``setting``."""
    for name, value in maxima.items():
        if not isinstance(name, str) or not is_qualified_name(name):
            raise ValueError(f"{setting}: {name!r} is not a valid resource name")
        try:
            quantity = parse_quantity(value)
        except ValueError as err:
            raise ValueError(f"{setting}[{name!r}]: {err}") from None
        if quantity <= 0:
            raise ValueError(
                f"{setting}[{name!r}]: {value!r} must be greater than zero "
                "(leave a resource out to refuse it)"
            )
    return MappingProxyType(dict(maxima))


def validate_paths(setting: str, paths: Iterable[Any]) -> tuple[str, ...]:
    """Absolute paths without ``..`` or control characters, normalised; else ValueError."""
    out = []
    for path in paths:
        if not isinstance(path, str) or not path.startswith("/") or ".." in path.split("/"):
            raise ValueError(f"{setting}: {path!r} is not an absolute path without '..'")
        if unsafe_characters(path):
            raise ValueError(f"{setting}: {path!r} contains a control or invisible character")
        out.append(normalise_path(path))
    return tuple(out)


# -- the policy -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdminPolicy:
    """The bounds on what a workspace may ask for (see the module docstring). Validated on
    construction: a bad value raises ValueError naming the setting."""

    allowed_toleration_keys: tuple[str, ...] = DEFAULT_TOLERATION_KEYS
    allowed_toleration_effects: tuple[str, ...] = TAINT_EFFECTS
    allow_wildcard_tolerations: bool = False
    allowed_node_selector_keys: tuple[str, ...] = DEFAULT_NODE_SELECTOR_KEYS
    max_resources: Mapping[str, str | int | float] = field(
        default_factory=lambda: DEFAULT_MAX_RESOURCES
    )
    refused_mount_path_prefixes: tuple[str, ...] = DEFAULT_REFUSED_MOUNT_PATH_PREFIXES
    refused_mount_paths: tuple[str, ...] = DEFAULT_REFUSED_MOUNT_PATHS

    def __post_init__(self) -> None:
        # Validated and frozen here (lists become tuples), so a policy is never half-checked.
        if not isinstance(self.allow_wildcard_tolerations, bool):
            # "false" from a careless config file would otherwise be truthy.
            raise ValueError("allow_wildcard_tolerations: must be True or False")
        checked: dict[str, object] = {
            "allowed_toleration_keys": validate_label_keys(
                "allowed_toleration_keys", self.allowed_toleration_keys
            ),
            "allowed_toleration_effects": validate_effects(
                "allowed_toleration_effects", self.allowed_toleration_effects
            ),
            "allowed_node_selector_keys": validate_label_keys(
                "allowed_node_selector_keys", self.allowed_node_selector_keys
            ),
            "max_resources": validate_maxima("max_resources", self.max_resources),
            "refused_mount_path_prefixes": validate_paths(
                "refused_mount_path_prefixes", self.refused_mount_path_prefixes
            ),
            "refused_mount_paths": validate_paths("refused_mount_paths", self.refused_mount_paths),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)


# -- mount paths ------------------------------------------------------------------------------


def normalise_path(path: str) -> str:
    """``path`` as the kernel would name it: ``//etc/`` and ``/etc/./`` are ``/etc``. (POSIX
    ``normpath`` keeps a leading ``//``, hence the strip.)"""
    return posixpath.normpath("/" + path.lstrip("/"))


def _is_within(path: str, directory: str) -> bool:
    return directory == "/" or path == directory or path.startswith(directory + "/")


def check_mount_path(path: str, policy: AdminPolicy, what: str) -> str:
    """``path`` normalised when ``policy`` allows a mount there, else ``MountPathRefused``
    whose message starts with ``what`` (e.g. ``workspace 'x': additionalStorage[0].mountPath``).
    For every mount the storage planner makes, whoever wrote its path."""
    bad = unsafe_characters(path)
    if bad:
        raise MountPathRefused(
            what, path, CONTROL_CHARACTERS, f"{path!r} contains a control or invisible character"
        )
    if not path.startswith("/") or ".." in path.split("/"):
        raise MountPathRefused(
            what, path, ABSOLUTE_PATH, f"{path!r} is not an absolute path without '..'"
        )
    norm = normalise_path(path)
    if norm in policy.refused_mount_paths:
        raise MountPathRefused(
            what, path, "refused_mount_paths", f"a mount at {norm!r} is refused by the admin policy"
        )
    for prefix in policy.refused_mount_path_prefixes:
        if _is_within(norm, prefix):
            reason = f"a mount at {norm!r} (in {prefix!r}) is refused by the admin policy"
        elif _is_within(prefix, norm):
            reason = f"a mount at {norm!r} would hide {prefix!r}, which the admin policy protects"
        else:
            continue
        raise MountPathRefused(what, path, "refused_mount_path_prefixes", reason)
    return norm


# -- the workspace ----------------------------------------------------------------------------


def _tolerations(ws: AnalyticsWorkspace, policy: AdminPolicy) -> Iterator[PolicyViolation]:
    jw = ws.spec.jupyter_workspace
    for i, tol in enumerate(check_tolerations(ws, jw.tolerations if jw else [])):
        where = f"tolerations[{i}]"
        key = tol.get("key") or ""
        if tol.get("operator", "Equal") == "Exists" and not key:
            if not policy.allow_wildcard_tolerations:
                yield PolicyViolation(
                    ws.name,
                    where,
                    "allow_wildcard_tolerations",
                    "a wildcard toleration (operator Exists without a key) is refused by the "
                    "admin policy",
                )
        elif key not in policy.allowed_toleration_keys:
            yield PolicyViolation(
                ws.name,
                f"{where}.key",
                "allowed_toleration_keys",
                f"tolerating taint {key!r} is not allowed by the admin policy",
            )
        effect = tol.get("effect") or ""
        if effect == "":
            missing = [e for e in TAINT_EFFECTS if e not in policy.allowed_toleration_effects]
            if missing:
                yield PolicyViolation(
                    ws.name,
                    f"{where}.effect",
                    "allowed_toleration_effects",
                    "an empty effect tolerates every effect, and the admin policy does not "
                    f"allow {', '.join(missing)}",
                )
        elif effect not in policy.allowed_toleration_effects:
            yield PolicyViolation(
                ws.name,
                f"{where}.effect",
                "allowed_toleration_effects",
                f"tolerating effect {effect!r} is not allowed by the admin policy",
            )


def _node_selector(ws: AnalyticsWorkspace, policy: AdminPolicy) -> Iterator[PolicyViolation]:
    jw = ws.spec.jupyter_workspace
    for key in check_node_selector(ws, jw.node_selector if jw else {}):
        if key not in policy.allowed_node_selector_keys:
            yield PolicyViolation(
                ws.name,
                f"nodeSelector[{key!r}]",
                "allowed_node_selector_keys",
                f"selecting nodes by {key!r} is not allowed by the admin policy",
            )


def _resources(ws: AnalyticsWorkspace, policy: AdminPolicy) -> Iterator[PolicyViolation]:
    jw = ws.spec.jupyter_workspace
    resources = jw.resources if jw else None
    for kind in ("requests", "limits"):
        for name, raw in ((getattr(resources, kind) if resources else None) or {}).items():
            where = f"resources.{kind}.{name}"
            try:
                quantity = parse_quantity(raw)
            except ValueError as err:
                raise ProfileError(ws.name, where, str(err)) from None
            maximum = policy.max_resources.get(name)
            if maximum is None:
                yield PolicyViolation(
                    ws.name,
                    where,
                    "max_resources",
                    f"the resource {name!r} is not one the admin policy allows",
                )
            elif quantity > parse_quantity(maximum):
                yield PolicyViolation(
                    ws.name,
                    where,
                    "max_resources",
                    f"{raw!r} is more than the admin policy's maximum of {maximum!r}",
                )


def _mount_paths(ws: AnalyticsWorkspace, policy: AdminPolicy) -> Iterator[PolicyViolation]:
    jw = ws.spec.jupyter_workspace
    for i, extra in enumerate(jw.additional_storage if jw else []):
        where = f"additionalStorage[{i}].mountPath"
        try:
            check_mount_path(extra.mount_path, policy, where)
        except MountPathRefused as err:
            yield PolicyViolation(ws.name, where, err.rule, err.reason)


def _all(ws: AnalyticsWorkspace, policy: AdminPolicy) -> Iterator[PolicyViolation]:
    yield from _tolerations(ws, policy)
    yield from _node_selector(ws, policy)
    yield from _resources(ws, policy)
    yield from _mount_paths(ws, policy)


def violations(ws: AnalyticsWorkspace, policy: AdminPolicy) -> list[PolicyViolation]:
    """Every way ``ws`` breaks ``policy``, in field order (empty: it may be offered). A
    workspace that is not a Jupyter workspace asks for nothing this policy bounds."""
    return list(_all(ws, policy))


def check_workspace(ws: AnalyticsWorkspace, policy: AdminPolicy) -> None:
    """Raise the first ``PolicyViolation`` of ``ws`` against ``policy``, if any."""
    first = next(_all(ws, policy), None)
    if first is not None:
        raise first


__all__ = [
    "ABSOLUTE_PATH",
    "CONTROL_CHARACTERS",
    "TAINT_EFFECTS",
    "AdminPolicy",
    "MountPathRefused",
    "PolicyViolation",
    "check_mount_path",
    "check_workspace",
    "normalise_path",
    "validate_effects",
    "validate_label_keys",
    "validate_maxima",
    "validate_paths",
    "violations",
]
