"""Which volumes a workspace's pod gets: pure planning, no I/O.

``plan_storage`` turns a workspace and its attached data sources into a ``StoragePlan``: the
PVCs to create when missing and the mounts; ``apply_plan`` adds the plan to the pod manifest
(JSON shape, as ``ApiClient().sanitize_for_serialization(pod)`` yields) and returns a new dict.
Two promises: storage is never silently missing, and nobody gets a mount they are not granted.
Anything that cannot be planned raises ``StoragePlanError`` (a ``ValueError``) with a message
that names the workspace, data source or mounts concerned; the spawner fails the spawn with it.

The workspace PVC
    ``spec.jupyterWorkspace.persistentVolumeClaim.name`` if set, else ``claim_prefix`` +
    workspace name (an empty string counts as unset). ``status.persistentVolumeClaim`` never
    names it: status is a record of what was used, and whoever can write it must not be able to
    redirect the mount. Always in ``claims``: created when missing, with the workspace's
    ``persistentVolumeClaim.storageClassName``, else ``settings.storage_class``, else ``None``
    (the cluster's default class; ``""`` in the settings means "no class", as in Kubernetes).
    Mounted writable at ``mount_path_template``.

Additional storage
    Each ``additionalStorage`` entry is mounted writable at its ``mountPath``. An entry that
    names a ``storageClassName`` is also in ``claims`` (created when missing, with that class and
    the settings' access modes and capacity): the class only means something for a claim we may
    create. An entry without one refers to a claim provisioned by someone else (shared project
    data): creating an empty stand-in would hide a typo or a missing provision behind an empty
    directory, so it is listed in ``StoragePlan.required_claims()`` instead, for the spawner to
    check and fail loudly when it is missing.

Data sources
    AnalyticsDataSource has no PVC field. Its claim is the annotation
    ``datasource_claim_annotation`` (default ``xlscsde.nhs.uk/persistent-volume-claim``) on the
    data source when present and non-empty, else ``datasource_claim_template`` (default
    ``datasource-{datasource}``). This is compatible with the field reference: annotations are
    object metadata that any tool may add without a schema change, objects written by other
    tools stay valid, and an object without the annotation still gets a well-defined name.
    Whoever may edit a data source may point it at any claim in the namespace, so editing data
    sources must stay an administrator's right. Data-source claims are never created (an empty
    volume would silently stand in for the data): they are in ``required_claims()``. They are
    mounted at ``datasource_mount_template`` (default ``/home/jovyan/data/{datasource}``: inside
    JupyterLab's root, so the file browser shows them under ``data/``), always read-only: both
    the volume's ``persistentVolumeClaim.readOnly`` and the mount's ``readOnly`` are set.

Whose claim it is
    A name in an object proves nothing: the PVC itself must say whom it belongs to.
    ``check_claims`` takes what the API server says of each planned claim and refuses a claim
    mounted as workspace storage (the workspace PVC or additional storage) unless it carries
    ``xlscsde.nhs.uk/workspace=<workspace>`` (or matches the admin's ``trusted_claim_selector``),
    and a data source's claim unless it carries ``xlscsde.nhs.uk/datasource=<data source>``.
    Claims this planner creates carry their workspace's label. The refusal names the
    ``kubectl label`` command an admin runs to adopt an existing claim. A planned claim that does
    not exist and may not be created is an error too: storage is never silently missing.

Templates
    ``{workspace}`` (and, in the data-source templates, ``{datasource}``) are the only
    placeholders; no attribute access, indexing, conversion or format spec. They are filled with
    object names checked as DNS-1123 subdomains, never with free text. Mount paths that result
    must be absolute and normalised, without ``..``, and not ``/``; claim names must be valid
    PersistentVolumeClaim names. The data-source templates must use ``{datasource}``. The
    ``check_*`` functions hold the settings to these rules for sample names when the hub starts
    (``settings.WorkspaceSettings``); ``check_settings`` also holds the templates' mount paths
    to the admin policy.

Volumes and mount paths
    One volume per claim (``lscsde-`` + claim name); a claim mounted at several paths shares it.
    A claim mounted both read-only and writable is an error: the writable mount would defeat the
    read-only one. Volume names are DNS-1123 labels: a claim name with dots or too long for 63
    characters is sanitised and given a short hash suffix, and a name already taken (in the plan
    or in the pod) gets a different hash, so names never collide. Two mounts at the same path
    (compared after normalisation, so ``/a/`` is ``/a``) are an error naming both, across the
    workspace, additional storage, data sources and the mounts already in the container. A path
    inside another is allowed, as Kubernetes allows it, except between a data source and writable
    storage: the runtime creates the inner mount point on the outer volume, so a data source
    inside the workspace's storage would write a directory to its PVC, and storage inside a data
    source could not start (the data is read-only). Either is an error naming both.

The admin's own volumes
    ``apply_plan(..., keep_admin_volumes=False)`` drops every volume in the pod except
    KubeSpawner's own (``jupyterhub-internal-certs``), and every mount or device of a dropped
    volume in any container, so the pod never mounts an unknown volume. With True they stay, and
    their mount paths take part in the collision check.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import posixpath
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .models import AnalyticsDataSource, AnalyticsWorkspace, JupyterWorkspace
from .models.workspace import WORKSPACE_LABEL, check_mount_path
from .policy import AdminPolicy, MountPathRefused
from .policy import check_mount_path as check_policy_path
from .profiles import parse_quantity

#: The data sources a pod mounts (a JSON list), so a restarted hub knows what to re-check.
MOUNTED_ANNOTATION = "lscsde-spawner.xlscsde.nhs.uk/datasources"
#: Whether the pod mounts its workspace's storage writable ("true"/"false"), so a restarted hub
#: knows whether a viewer's level forbids what the pod has.
WRITABLE_ANNOTATION = "lscsde-spawner.xlscsde.nhs.uk/workspace-writable"
#: The label that says which data source a PVC holds; only such a PVC is mounted for it.
DATASOURCE_LABEL = "xlscsde.nhs.uk/datasource"

Purpose = Literal["workspace", "additional", "datasource"]

VOLUME_PREFIX = "lscsde-"
# Volumes KubeSpawner adds itself (internal SSL); never dropped with the admin's volumes.
KUBESPAWNER_VOLUMES = frozenset({"jupyterhub-internal-certs"})
ACCESS_MODES = frozenset({"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"})
#: The names the settings checks fill the templates with (any valid object names would do).
SAMPLE_WORKSPACE = "example-workspace"
SAMPLE_DATASOURCE = "example-datasource"

_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_LABEL_KEY = re.compile(
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
)
_MAX_LABEL = 63
_MAX_SUBDOMAIN = 253
_HASH_LEN = 8


class StoragePlanError(ValueError):
    """The storage of a workspace cannot be planned; the message is fit to show a user."""


@dataclass(frozen=True)
class StorageSettings:
    claim_prefix: str = "workspace-"
    storage_class: str | None = None
    access_modes: tuple[str, ...] = ("ReadWriteMany",)
    capacity: str = "10Gi"
    mount_path_template: str = "/home/jovyan/{workspace}"
    datasource_mount_template: str = "/home/jovyan/data/{datasource}"
    #: Labels (key, value; value None: the key present) any of which marks a PVC the admin
    #: allows every workspace to mount as its storage. Empty: only the workspace's own label.
    trusted_claim_selector: tuple[tuple[str, str | None], ...] = ()
    #: The admin's refused mount paths apply to every mount, templates' included.
    mount_policy: AdminPolicy | None = None
    datasource_claim_template: str = "datasource-{datasource}"
    datasource_claim_annotation: str = "xlscsde.nhs.uk/persistent-volume-claim"
    keep_admin_volumes: bool = True


@dataclass(frozen=True)
class ClaimToEnsure:
    """A PVC to create when it does not exist (an existing one is used as it is)."""

    name: str
    storage_class: str | None
    access_modes: tuple[str, ...]
    size: str
    labels: dict[str, str]


@dataclass(frozen=True)
class Mount:
    volume: str
    claim: str
    mount_path: str
    read_only: bool
    purpose: Purpose
    source: str = ""  # the workspace or data source the mount comes from
    owner: tuple[str, str] = ("", "")  # the label (key, value) the PVC must carry

    def describe(self) -> str:
        if self.purpose == "workspace":
            return f"the storage of workspace {self.source!r} (PVC {self.claim!r})"
        if self.purpose == "additional":
            return f"additional storage of workspace {self.source!r} (PVC {self.claim!r})"
        return f"data source {self.source!r} (PVC {self.claim!r})"


@dataclass(frozen=True)
class StoragePlan:
    claims: tuple[ClaimToEnsure, ...]  # PVCs to create when missing
    mounts: tuple[Mount, ...]

    def volumes(self) -> list[dict[str, Any]]:
        """One Kubernetes Volume per distinct volume name, in mount order."""
        out: dict[str, dict[str, Any]] = {}
        for m in self.mounts:
            if m.volume not in out:
                source: dict[str, Any] = {"claimName": m.claim}
                if m.read_only:
                    source["readOnly"] = True
                out[m.volume] = {"name": m.volume, "persistentVolumeClaim": source}
        return list(out.values())

    def volume_mounts(self) -> list[dict[str, Any]]:
        """The Kubernetes VolumeMounts, in plan order (``readOnly`` only when true, as a real
        API server stores them)."""
        out = []
        for m in self.mounts:
            mount: dict[str, Any] = {"name": m.volume, "mountPath": m.mount_path}
            if m.read_only:
                mount["readOnly"] = True
            out.append(mount)
        return out

    def required_claims(self) -> tuple[str, ...]:
        """Claims that are mounted but never created: they must already exist, and a spawn
        must fail when one does not."""
        ensured = {c.name for c in self.claims}
        return tuple(dict.fromkeys(m.claim for m in self.mounts if m.claim not in ensured))


# -- names and templates ---------------------------------------------------------------------


def _check_name(value: str, what: str) -> str:
    """A DNS-1123 subdomain (object and PVC names), else StoragePlanError naming ``what``."""
    if not (0 < len(value) <= _MAX_SUBDOMAIN and _DNS_SUBDOMAIN.fullmatch(value)):
        raise StoragePlanError(f"{what} {value!r} is not a valid Kubernetes name")
    return value


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_LEN]


def _label_value(name: str) -> str:
    """``name`` as a label value: itself when it fits, else truncated with a hash suffix."""
    if len(name) <= _MAX_LABEL and _LABEL_VALUE.fullmatch(name):
        return name
    head = name[: _MAX_LABEL - _HASH_LEN - 1].rstrip("-._")
    return f"{head}-{_digest(name)}" if head else _digest(name)


def volume_name(claim: str, taken: Iterable[str] = ()) -> str:
    """A DNS-1123 label for the volume of ``claim``, not in ``taken``: ``lscsde-<claim>`` when
    that is a valid label, else sanitised (dots to hyphens, truncated) with a hash suffix."""
    used = set(taken)
    natural = VOLUME_PREFIX + claim
    if len(natural) <= _MAX_LABEL and _DNS_LABEL.fullmatch(natural) and natural not in used:
        return natural
    clean = re.sub(r"[^a-z0-9-]", "-", natural.lower())
    head = clean[: _MAX_LABEL - _HASH_LEN - 1].rstrip("-")
    salt = 0
    while True:
        name = f"{head}-{_digest(claim if salt == 0 else f'{claim}#{salt}')}"
        if name not in used:
            return name
        salt += 1


def _fill(template: str, values: Mapping[str, str], what: str) -> str:
    """``template`` with its placeholders, each one of ``values``, replaced."""
    allowed = ", ".join("{" + k + "}" for k in values)
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise StoragePlanError(f"{what} {template!r} is not a valid template: {exc}") from exc
    for _literal, name, spec, conversion in fields:
        if name is not None and (name not in values or spec or conversion):
            raise StoragePlanError(
                f"{what} {template!r} may only use the placeholders {allowed}, as they are"
            )
    return template.format_map(values)


def _mount_path(path: str, what: str) -> str:
    """An absolute, normalised path (without a trailing slash), else StoragePlanError."""
    try:
        check_mount_path(path)
    except ValueError as exc:
        raise StoragePlanError(f"{what}: {exc}") from exc
    return path.rstrip("/")


def _same_path(path: str) -> str:
    """The form mount paths are compared in: ``/a/`` and ``/a//b/.`` are ``/a`` and ``/a/b``."""
    return posixpath.normpath("/" + path.lstrip("/"))


# -- the rules -------------------------------------------------------------------------------


def _jupyter(ws: AnalyticsWorkspace) -> JupyterWorkspace:
    jw = ws.spec.jupyter_workspace
    if jw is None:
        raise StoragePlanError(f"workspace {ws.name!r} is not a Jupyter workspace")
    return jw


def workspace_claim_name(ws: AnalyticsWorkspace, settings: StorageSettings) -> str:
    """The workspace PVC: spec name, else prefix + workspace name (never the status)."""
    jw = ws.spec.jupyter_workspace
    spec_name = jw.persistent_volume_claim.name if jw and jw.persistent_volume_claim else None
    if spec_name:
        return _check_name(
            spec_name, f"workspace {ws.name!r}: spec.jupyterWorkspace.persistentVolumeClaim.name"
        )
    name = _check_name(ws.name, "workspace name")
    return _check_name(
        settings.claim_prefix + name, f"workspace {name!r}: claim prefix + workspace name"
    )


def workspace_storage_class(ws: AnalyticsWorkspace, settings: StorageSettings) -> str | None:
    """The workspace's ``persistentVolumeClaim.storageClassName``, else the settings' class,
    else None (the cluster's default)."""
    jw = ws.spec.jupyter_workspace
    own = (
        jw.persistent_volume_claim.storage_class_name if jw and jw.persistent_volume_claim else None
    )
    return own or settings.storage_class


def datasource_claim_name(ds: AnalyticsDataSource, settings: StorageSettings) -> str:
    """The data source's annotation when present and non-empty, else the claim template."""
    name = _check_name(ds.name, "data source name")
    key = settings.datasource_claim_annotation
    annotated = ds.metadata.annotations.get(key) if key else None
    if annotated:
        return _check_name(annotated, f"data source {name!r}: annotation {key}")
    claim = _fill(
        settings.datasource_claim_template, {"datasource": name}, "datasource_claim_template"
    )
    return _check_name(claim, f"data source {name!r}: claim from datasource_claim_template")


def _check_settings(settings: StorageSettings) -> None:
    modes = settings.access_modes
    if not modes or any(m not in ACCESS_MODES for m in modes):
        raise StoragePlanError(
            f"access modes {list(modes)!r} are not valid: use some of {sorted(ACCESS_MODES)}"
        )


# -- the settings, checked when the hub starts ------------------------------------------------
# Each check raises StoragePlanError (a ValueError) whose message starts with the setting's name.


def _template_fields(template: str, setting: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise StoragePlanError(f"{setting} {template!r} is not a valid template: {exc}") from exc


def _sample_values(placeholders: Sequence[str]) -> dict[str, str]:
    samples = {"workspace": SAMPLE_WORKSPACE, "datasource": SAMPLE_DATASOURCE}
    return {name: samples[name] for name in placeholders}


def check_mount_template(
    template: str, setting: str, placeholders: Sequence[str], *, required: str | None = None
) -> str:
    """The mount path ``template`` gives for sample names; StoragePlanError naming ``setting``
    unless it uses only ``placeholders`` (and ``required``, when given) and gives an absolute,
    normalised path other than ``/``."""
    _require(template, setting, required, "mount path")
    path = _fill(template, _sample_values(placeholders), setting)
    try:
        check_mount_path(path)
    except ValueError as exc:
        raise StoragePlanError(f"{setting} {template!r}: {exc}") from exc
    return path.rstrip("/")


def check_claim_template(
    template: str, setting: str, placeholders: Sequence[str], *, required: str | None = None
) -> str:
    """The PVC name ``template`` gives for sample names; StoragePlanError naming ``setting``
    unless it uses only ``placeholders`` (and ``required``, when given) and gives a valid
    PersistentVolumeClaim name (a DNS-1123 subdomain)."""
    _require(template, setting, required, "PVC")
    claim = _fill(template, _sample_values(placeholders), setting)
    return _check_claim(claim, f"{setting} {template!r}")


def _check_claim(claim: str, what: str) -> str:
    if not (0 < len(claim) <= _MAX_SUBDOMAIN and _DNS_SUBDOMAIN.fullmatch(claim)):
        raise StoragePlanError(
            f"{what} gives {claim!r}, which is not a valid PersistentVolumeClaim name (at most "
            "253 lowercase letters, digits, '-' and '.', starting and ending with a letter or "
            "digit)"
        )
    return claim


def _require(template: str, setting: str, required: str | None, what: str) -> None:
    fields = _template_fields(template, setting)
    if required is not None and required not in fields:
        raise StoragePlanError(
            f"{setting} {template!r} must use {{{required}}}: otherwise every {required} "
            f"would get the same {what}"
        )


def check_claim_prefix(prefix: str, setting: str) -> str:
    """The PVC name ``prefix`` gives a sample workspace name; StoragePlanError naming
    ``setting`` unless it is a valid PVC name."""
    return _check_claim(prefix + SAMPLE_WORKSPACE, f"{setting} {prefix!r}")


def check_capacity(value: object, setting: str) -> str:
    """A Kubernetes quantity greater than zero (a PVC's storage request); else
    StoragePlanError naming ``setting``."""
    try:
        size = parse_quantity(value)
    except ValueError as exc:
        raise StoragePlanError(f"{setting}: {exc} (e.g. '10Gi')") from None
    if size <= 0:
        raise StoragePlanError(f"{setting}: {value!r} must be greater than zero")
    return str(value)


def check_access_modes(modes: Sequence[object], setting: str) -> tuple[str, ...]:
    """PVC access modes as Kubernetes accepts them: at least one, each known, and
    ReadWriteOncePod only alone; else StoragePlanError naming ``setting``."""
    if not modes:
        raise StoragePlanError(f"{setting}: at least one access mode is required")
    for mode in modes:
        if mode not in ACCESS_MODES:
            raise StoragePlanError(
                f"{setting}: {mode!r} is not an access mode (use {', '.join(sorted(ACCESS_MODES))})"
            )
    if "ReadWriteOncePod" in modes and len(set(modes)) > 1:
        raise StoragePlanError(f"{setting}: ReadWriteOncePod may not be used with other modes")
    return tuple(str(m) for m in modes)


def check_settings(settings: StorageSettings) -> None:
    """The storage settings as a whole, for sample names: each setting as above, and the mount
    paths the templates give allowed by the admin policy (``settings.mount_policy``). Raises
    StoragePlanError naming the settings concerned."""
    check_claim_prefix(settings.claim_prefix, "workspace_claim_prefix")
    check_access_modes(settings.access_modes, "workspace_access_modes")
    check_capacity(settings.capacity, "workspace_capacity")
    check_claim_template(
        settings.datasource_claim_template,
        "datasource_claim_template",
        ("datasource",),
        required="datasource",
    )
    paths = {
        "workspace_mount_path_template": (
            settings.mount_path_template,
            check_mount_template(
                settings.mount_path_template, "workspace_mount_path_template", ("workspace",)
            ),
        ),
        "datasource_mount_template": (
            settings.datasource_mount_template,
            check_mount_template(
                settings.datasource_mount_template,
                "datasource_mount_template",
                ("workspace", "datasource"),
                required="datasource",
            ),
        ),
    }
    for setting, (template, path) in paths.items():
        if settings.mount_policy is None:
            break
        try:
            check_policy_path(path, settings.mount_policy, f"{setting} {template!r}")
        except MountPathRefused as exc:
            raise StoragePlanError(str(exc)) from exc
    _check_nesting(
        [
            (path, f"the {what} of {setting} {template!r}", setting.startswith("datasource"))
            for (setting, (template, path)), what in zip(
                paths.items(), ("workspace storage", "data source"), strict=True
            )
        ]
    )


def _check_paths(entries: Iterable[tuple[str, str]]) -> None:
    """(mount path, description) pairs: an exact duplicate is an error naming both."""
    seen: dict[str, str] = {}
    for path, what in entries:
        key = _same_path(path)
        if key in seen:
            raise StoragePlanError(
                f"mount path {key!r} is used twice: by {seen[key]} and by {what}"
            )
        seen[key] = what


def _inside(inner: str, outer: str) -> bool:
    """``inner`` is strictly below ``outer`` (both compared normalised)."""
    outer = _same_path(outer)
    return _same_path(inner).startswith(outer.rstrip("/") + "/")


def _check_nesting(entries: Sequence[tuple[str, str, bool]]) -> None:
    """(mount path, description, is a data source) triples: a data source inside writable
    storage, or writable storage inside a data source, is an error naming both."""
    for path, what, is_data in entries:
        if not is_data:
            continue
        for other, other_what, other_is_data in entries:
            if other_is_data:
                continue
            if _inside(path, other):
                raise StoragePlanError(
                    f"{what} would be mounted at {_same_path(path)!r}, inside {other_what} at "
                    f"{_same_path(other)!r}: its mount point would be written to that storage. "
                    "Mount data sources outside workspace storage (datasource_mount_template)"
                )
            if _inside(other, path):
                raise StoragePlanError(
                    f"{other_what} would be mounted at {_same_path(other)!r}, inside {what} at "
                    f"{_same_path(path)!r}, which is read-only"
                )


def _with_volumes(pending: Sequence[Mount], taken: Iterable[str] = ()) -> list[Mount]:
    """Give each claim one volume name, unique among themselves and ``taken``; a claim mounted
    both read-only and writable is an error."""
    used = set(taken)
    first: dict[str, Mount] = {}
    out = []
    for m in pending:
        if m.claim in first:
            earlier = first[m.claim]
            if earlier.read_only != m.read_only:
                ro, rw = (earlier, m) if earlier.read_only else (m, earlier)
                raise StoragePlanError(
                    f"PVC {m.claim!r} would be mounted read-only for {ro.describe()} and writable "
                    f"for {rw.describe()}; the writable mount would defeat the read-only one"
                )
            out.append(dataclasses.replace(m, volume=earlier.volume))
        else:
            named = dataclasses.replace(m, volume=volume_name(m.claim, used))
            used.add(named.volume)
            first[m.claim] = named
            out.append(named)
    return out


def plan_storage(
    ws: AnalyticsWorkspace,
    datasources: Sequence[AnalyticsDataSource],
    settings: StorageSettings,
    *,
    read_only: bool = False,
) -> StoragePlan:
    """The PVCs to ensure and the mounts for ``ws`` with ``datasources`` attached (mounted in
    the order given, each data source once). ``read_only`` (a viewer's start): the workspace
    PVC and its additional storage are mounted read-only too, as data sources always are."""
    _check_settings(settings)
    name = _check_name(ws.name, "workspace name")
    jw = _jupyter(ws)
    owner = (WORKSPACE_LABEL, _label_value(name))
    labels = dict([owner])

    claims: dict[str, ClaimToEnsure] = {}

    def ensure(claim: str, storage_class: str | None) -> None:
        if claim not in claims:  # the first wins: the workspace claim, then entries in order
            claims[claim] = ClaimToEnsure(
                claim, storage_class, tuple(settings.access_modes), settings.capacity, labels
            )

    ws_claim = workspace_claim_name(ws, settings)
    ensure(ws_claim, workspace_storage_class(ws, settings))
    ws_path = _fill(settings.mount_path_template, {"workspace": name}, "mount_path_template")
    pending = [
        Mount(
            "", ws_claim, _mount_path(ws_path, f"workspace {name!r}"), read_only, "workspace",
            name, owner,
        )
    ]  # fmt: skip

    for i, extra in enumerate(jw.additional_storage):
        at = f"workspace {name!r}: additionalStorage[{i}]"
        claim = _check_name(extra.persistent_volume_claim, f"{at}.persistentVolumeClaim")
        if extra.storage_class_name:
            ensure(claim, extra.storage_class_name)
        path = _mount_path(extra.mount_path, f"{at}.mountPath")
        pending.append(Mount("", claim, path, read_only, "additional", name, owner))

    seen: set[str] = set()
    for ds in datasources:
        ds_name = _check_name(ds.name, "data source name")
        if ds_name in seen:
            continue
        seen.add(ds_name)
        claim = datasource_claim_name(ds, settings)
        path = _fill(
            settings.datasource_mount_template,
            {"workspace": name, "datasource": ds_name},
            "datasource_mount_template",
        )
        path = _mount_path(path, f"data source {ds_name!r}")
        ds_owner = (DATASOURCE_LABEL, _label_value(ds_name))
        pending.append(Mount("", claim, path, True, "datasource", ds_name, ds_owner))

    mounts = _with_volumes(pending)
    _check_paths((m.mount_path, m.describe()) for m in mounts)
    _check_nesting([(m.mount_path, m.describe(), m.purpose == "datasource") for m in mounts])
    if settings.mount_policy is not None:
        for m in mounts:
            try:
                check_policy_path(
                    m.mount_path, settings.mount_policy, f"the mount of {m.describe()}"
                )
            except MountPathRefused as exc:
                raise StoragePlanError(str(exc)) from exc
    return StoragePlan(tuple(claims.values()), tuple(mounts))


# -- whose claim it is ----------------------------------------------------------------------


class ClaimRefused(StoragePlanError):
    """An existing PVC does not say it belongs where the plan would mount it."""


class ClaimMissing(StoragePlanError):
    """A PVC the plan mounts does not exist, and is not one the spawner may create."""


@dataclass(frozen=True)
class ExistingClaim:
    """What the API server says of a PVC that exists."""

    labels: Mapping[str, str]
    being_deleted: bool = False


def parse_selector(text: str) -> tuple[tuple[str, str | None], ...]:
    """An equality label selector (``k=v,k2``; ``k`` alone: the key present) as pairs; any
    of them marks a PVC. ValueError for anything else (``!=``, ``in``, ``!k`` are refused)."""
    out: list[tuple[str, str | None]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if key.endswith("!") or key.startswith("!") or " " in key or (eq and not value):
            raise ValueError(f"{part!r}: use key=value or key")
        if not _LABEL_KEY.fullmatch(key) or (eq and not _LABEL_VALUE.fullmatch(value)):
            raise ValueError(f"{part!r} is not a valid label key or value")
        out.append((key, value if eq else None))
    return tuple(out)


def _owned(mount: Mount, labels: Mapping[str, str], settings: StorageSettings) -> bool:
    key, value = mount.owner
    if key and labels.get(key) == value:
        return True
    if mount.purpose == "datasource":
        return False  # data-source claims prove themselves with their own label only
    return any(
        k in labels and (v is None or labels[k] == v) for k, v in settings.trusted_claim_selector
    )


def _adopt(mount: Mount, namespace: str) -> str:
    key, value = mount.owner
    return f"kubectl label pvc {mount.claim} -n {namespace} {key}={value}"


def check_claims(
    plan: StoragePlan,
    existing: Mapping[str, ExistingClaim | None],
    settings: StorageSettings,
    *,
    namespace: str,
) -> tuple[ClaimToEnsure, ...]:
    """Check every planned claim against what exists (``existing``: claim name -> facts, None
    when it does not exist; every claim of the plan must be a key), before anything is created.
    Returns the claims to create. Raises ``ClaimRefused`` for a claim that is not this
    workspace's (or data source's), ``ClaimMissing`` for a required claim that does not exist,
    and ``StoragePlanError`` for one being deleted."""
    ensurable = {c.name: c for c in plan.claims}
    create: dict[str, ClaimToEnsure] = {}
    for m in plan.mounts:
        found = existing[m.claim]
        if found is None:
            if m.claim not in ensurable:
                raise ClaimMissing(
                    f"{m.describe()} does not exist; a spawner never creates it, because an "
                    "empty volume would stand in for it"
                )
            create[m.claim] = ensurable[m.claim]
        elif found.being_deleted:
            raise StoragePlanError(f"{m.describe()} is being deleted; try again once it is gone")
        elif not _owned(m, found.labels, settings):
            raise ClaimRefused(
                f"{m.describe()} exists but is not labelled as belonging to it, so it is not "
                f"mounted. An admin who wants it used adopts it with: {_adopt(m, namespace)}"
            )
    return tuple(create.values())


# -- the pod ---------------------------------------------------------------------------------


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _existing(volume: str) -> str:
    owner = "KubeSpawner's" if volume in KUBESPAWNER_VOLUMES else "the admin's"
    return f"{owner} volume {volume!r}"


def apply_plan(
    pod: Mapping[str, Any],
    plan: StoragePlan,
    *,
    container: str = "notebook",
    keep_admin_volumes: bool,
) -> dict[str, Any]:
    """A new pod dict (JSON shape) with the plan's volumes and mounts added to ``container``;
    the admin's volumes kept or dropped. ``pod`` is not modified."""
    new: dict[str, Any] = copy.deepcopy(dict(pod))
    spec = new.get("spec")
    if not isinstance(spec, dict):
        raise StoragePlanError("the pod manifest has no spec to add storage to")
    target = next((c for c in _dicts(spec.get("containers")) if c.get("name") == container), None)
    if target is None:
        raise StoragePlanError(f"the pod has no container named {container!r} to mount storage in")

    volumes = _dicts(spec.get("volumes"))
    if not keep_admin_volumes:
        dropped = {v.get("name") for v in volumes} - KUBESPAWNER_VOLUMES
        volumes = [v for v in volumes if v.get("name") not in dropped]
        for key in ("initContainers", "containers", "ephemeralContainers"):
            for c in _dicts(spec.get(key)):
                for refs in ("volumeMounts", "volumeDevices"):
                    if isinstance(c.get(refs), list):
                        c[refs] = [r for r in _dicts(c[refs]) if r.get("name") not in dropped]

    # Rename a planned volume whose name the pod already uses.
    present = {str(v.get("name")) for v in volumes}
    used = present | {m.volume for m in plan.mounts}
    renamed: dict[str, str] = {}
    for m in plan.mounts:
        if m.volume in present and m.volume not in renamed:
            renamed[m.volume] = volume_name(m.claim, used)
            used.add(renamed[m.volume])
    mounts = tuple(
        dataclasses.replace(m, volume=renamed.get(m.volume, m.volume)) for m in plan.mounts
    )
    final = dataclasses.replace(plan, mounts=mounts)

    existing = _dicts(target.get("volumeMounts"))
    _check_paths(
        [(str(m.get("mountPath", "")), _existing(str(m.get("name")))) for m in existing]
        + [(m.mount_path, m.describe()) for m in mounts]
    )
    spec["volumes"] = volumes + final.volumes()
    target["volumeMounts"] = existing + final.volume_mounts()
    # What the pod mounts, so its grant can be re-checked after a hub restart too.
    meta = new.setdefault("metadata", {})
    sources = sorted({m.source for m in mounts if m.purpose == "datasource"})
    annotations = meta.setdefault("annotations", {})
    annotations[MOUNTED_ANNOTATION] = json.dumps(sources)
    writable = any(not m.read_only for m in mounts if m.purpose != "datasource")
    annotations[WRITABLE_ANNOTATION] = "true" if writable else "false"
    return new


def running_from_pod(pod: Any) -> tuple[str, frozenset[str] | None] | None:
    """The workspace a running pod serves (its workspace label) and the data sources it mounts
    (its annotation; None when it has none or it cannot be read), or None for a pod that is not
    a workspace's."""
    meta = _mapping(pod.get("metadata") if isinstance(pod, dict) else None)
    name = _mapping(meta.get("labels")).get(WORKSPACE_LABEL)
    if not isinstance(name, str) or not name:
        return None
    annotations = _mapping(meta.get("annotations"))
    try:
        mounted = json.loads(annotations.get(MOUNTED_ANNOTATION) or "null")
    except (TypeError, ValueError):
        mounted = None
    if not isinstance(mounted, list):
        return name, None
    return name, frozenset(str(m) for m in mounted)


def writable_from_pod(pod: Any) -> bool | None:
    """Whether a pod mounts its workspace's storage writable (its annotation); None when it
    does not say (a pod from before levels: it mounted it writable)."""
    meta = _mapping(pod.get("metadata") if isinstance(pod, dict) else None)
    value = _mapping(meta.get("annotations")).get(WRITABLE_ANNOTATION)
    return {"true": True, "false": False}.get(value) if isinstance(value, str) else None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
