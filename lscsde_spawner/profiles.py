"""What a workspace means as KubeSpawner settings: one profile per permitted workspace.

Pure functions: no I/O, no clock reads. ``overrides_for`` turns a workspace into a
``kubespawner_override`` dict; ``card_for`` makes the plain data the spawn form shows;
``profile_for`` puts both into one ``profile_list`` entry.

Mapping (a key is present only when the workspace sets it, so the admin's config applies otherwise)
    image                       -> ``image``
    resources.requests/limits   -> ``cpu_guarantee``/``cpu_limit`` (float cores),
                                   ``mem_guarantee``/``mem_limit`` (int bytes), any other resource
                                   -> ``extra_resource_guarantees``/``extra_resource_limits``
                                   (the quantity string as written, numbers as ``str``)
    tolerations                 -> ``tolerations`` (a list: replaces the admin's list, as any
                                   KubeSpawner profile does)
    nodeSelector                -> ``node_selector`` (a dict: KubeSpawner merges it into the
                                   admin's, the workspace winning per key)
    extraLabels + WORKSPACE_LABEL -> ``extra_labels`` (always present: the workspace label)
    defaultUri                  -> ``default_url`` (braces doubled, so it is taken literally);
                                   without one, the admin's ``workspace_default_url`` for the
                                   workspace (``folder_url``: its folder, by default)

Quantities follow the Kubernetes grammar (``500m``, ``2``, ``1.5Gi``, ``1G`` = 10**9, ``1e9``).
Memory becomes whole bytes (rounded up, as Kubernetes does) because JupyterHub's
ByteSpecification reads ``G`` as 2**30 and has no ``Gi``/``Mi``; passing ints avoids both traps.
CPU and memory must be positive: KubeSpawner treats 0 as "unset", which would silently drop the
admin's limit. A request above its limit is refused here rather than by the API server.

Labels are untrusted input. Keys and values must be valid Kubernetes labels, and keys that
KubeSpawner, z2jh or this project rely on are refused: ``component``, ``app``, ``heritage``,
``release``, ``chart``, and any key under ``hub.jupyter.org`` (e.g. the z2jh
``hub.jupyter.org/network-access-hub`` network-policy labels), ``xlscsde.nhs.uk``,
``kubernetes.io`` or ``k8s.io`` (or their subdomains). Node-selector values must be label
values too: a ``None`` would make KubeSpawner delete the admin's key.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from .access import PermittedWorkspace
from .models import AnalyticsWorkspace
from .models.workspace import WORKSPACE_LABEL

DEFAULT_EXPIRING_DAYS = 7

#: Every trait ``overrides_for`` may set. KubeSpawner keeps overrides on the spawner object
#: across restarts, so the spawner should restore these before applying a new profile.
OVERRIDE_KEYS = (
    "image",
    "cpu_guarantee",
    "cpu_limit",
    "mem_guarantee",
    "mem_limit",
    "extra_resource_guarantees",
    "extra_resource_limits",
    "tolerations",
    "node_selector",
    "extra_labels",
    "default_url",
)

RESERVED_LABEL_KEYS = frozenset({"component", "app", "heritage", "release", "chart"})
RESERVED_LABEL_DOMAINS = ("hub.jupyter.org", "xlscsde.nhs.uk", "kubernetes.io", "k8s.io")

_QUANTITY = re.compile(
    r"(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?"
)
_SUFFIX = {
    "": Decimal(1),
    **{s: Decimal(1024) ** (i + 1) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
    **{s: Decimal(10) ** e for s, e in (("n", -9), ("u", -6), ("m", -3), ("k", 3), ("M", 6))},
    **{s: Decimal(10) ** e for s, e in (("G", 9), ("T", 12), ("P", 15), ("E", 18))},
}
_MAX_QUANTITY = Decimal(2**63)  # Kubernetes keeps quantities in int64 in practice
# Always fullmatch: "$" would accept a trailing newline.
_LABEL_NAME = re.compile(r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN = re.compile(
    r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
)
_TOLERATION_TEXT_FIELDS = frozenset({"key", "operator", "value", "effect"})
_OPERATORS = {"Exists", "Equal"}
_EFFECTS = {"", "NoSchedule", "PreferNoSchedule", "NoExecute"}


class ProfileError(ValueError):
    """A workspace value that cannot be applied; the message names the workspace and the field."""

    def __init__(self, workspace: str, field: str, reason: str) -> None:
        super().__init__(f"workspace {workspace!r}: {field}: {reason}")
        self.workspace = workspace
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class WorkspaceCard:
    """What the spawn form shows for one workspace: plain data, escaped by the template."""

    slug: str
    display_name: str
    description: str
    expires: date
    days_left: int
    expiring_soon: bool
    image: str
    requests: dict[str, str] = field(default_factory=dict)
    limits: dict[str, str] = field(default_factory=dict)
    storage: list[tuple[str, str]] = field(default_factory=list)  # (mount path, PVC name)
    datasources: list[tuple[str, str]] = field(default_factory=list)  # (display name, mount path)
    via: str | None = None  # how a claim binding grants it ("via group cardiac-team")
    access_level: str = "member"  # the user's level: a viewer's storage is mounted read-only


def parse_quantity(value: object) -> Decimal:
    """A Kubernetes quantity (string or number) as an exact Decimal; ValueError if it is not one."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{value!r} is not a quantity")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r} is not a quantity")
    match = _QUANTITY.fullmatch(str(value))
    if match is None:
        raise ValueError(f"{value!r} is not a Kubernetes quantity")
    suffix = match["suffix"] or ""
    try:
        number = Decimal(match["num"])
        # "E" alone is exa; "e3"/"E3" is an exponent.
        scale = _SUFFIX[suffix] if suffix in _SUFFIX else Decimal(10) ** int(suffix[1:])
        result = number * scale
    except ArithmeticError as err:  # decimal's Overflow and InvalidOperation
        raise ValueError(f"{value!r} is out of range") from err
    if abs(result) >= _MAX_QUANTITY:
        raise ValueError(f"{value!r} is out of range")
    return result


def _memory(value: Decimal) -> int:
    return math.ceil(value)  # a fraction of a byte is rounded up, as Kubernetes does


def _resources(ws: AnalyticsWorkspace, overrides: dict[str, Any]) -> None:
    jw = ws.spec.jupyter_workspace
    resources = jw.resources if jw else None
    if resources is None:
        return
    parsed: dict[str, dict[str, Decimal]] = {"requests": {}, "limits": {}}
    for kind, traits in (
        ("requests", ("cpu_guarantee", "mem_guarantee", "extra_resource_guarantees")),
        ("limits", ("cpu_limit", "mem_limit", "extra_resource_limits")),
    ):
        extra: dict[str, str] = {}
        for name, raw in (getattr(resources, kind) or {}).items():
            where = f"resources.{kind}.{name}"
            if not is_qualified_name(name):
                raise ProfileError(ws.name, where, "not a valid resource name")
            try:
                quantity = parse_quantity(raw)
            except ValueError as err:
                raise ProfileError(ws.name, where, str(err)) from None
            if quantity < 0 or (name in ("cpu", "memory") and quantity == 0):
                raise ProfileError(ws.name, where, f"{raw!r} must be greater than zero")
            parsed[kind][name] = quantity
            if name == "cpu":
                overrides[traits[0]] = float(quantity)
            elif name == "memory":
                overrides[traits[1]] = _memory(quantity)
            else:
                extra[name] = str(raw)
        if extra:
            overrides[traits[2]] = extra
    for name, request in parsed["requests"].items():
        limit = parsed["limits"].get(name)
        if limit is not None and request > limit:
            raise ProfileError(
                ws.name, f"resources.requests.{name}", "the request is greater than the limit"
            )


def is_qualified_name(key: str) -> bool:
    """Kubernetes IsQualifiedName: ``[prefix/]name``, the shape of label and resource names."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return False
    return len(name) <= 63 and bool(_LABEL_NAME.fullmatch(name))


def _label_value_ok(value: object) -> bool:
    return isinstance(value, str) and (
        value == "" or (len(value) <= 63 and bool(_LABEL_NAME.fullmatch(value)))
    )


def _reserved(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if not prefix:
        return name in RESERVED_LABEL_KEYS
    return any(prefix == d or prefix.endswith("." + d) for d in RESERVED_LABEL_DOMAINS)


def _labels(ws: AnalyticsWorkspace, extra: Mapping[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for key, value in extra.items():
        where = f"extraLabels[{key!r}]"
        if not isinstance(key, str) or not is_qualified_name(key):
            raise ProfileError(ws.name, where, "not a valid Kubernetes label key")
        if _reserved(key):
            raise ProfileError(ws.name, where, "this label key is reserved for the hub")
        if not _label_value_ok(value):
            raise ProfileError(ws.name, where, f"{value!r} is not a valid label value")
        labels[key] = value
    if not ws.name or not _label_value_ok(ws.name):
        raise ProfileError(ws.name, "metadata.name", "cannot be a label value (max 63 characters)")
    labels[WORKSPACE_LABEL] = ws.name
    return labels


def check_node_selector(ws: AnalyticsWorkspace, selector: Mapping[str, Any]) -> dict[str, str]:
    """``selector`` as a new dict once every key and value is a valid label; else ProfileError.
    Shape only: which keys a workspace may use is the admin policy's (``policy``)."""
    for key, value in selector.items():
        where = f"nodeSelector[{key!r}]"
        if not isinstance(key, str) or not is_qualified_name(key):
            raise ProfileError(ws.name, where, "not a valid Kubernetes label key")
        if not _label_value_ok(value):
            raise ProfileError(ws.name, where, f"{value!r} is not a valid label value")
    return dict(selector)


def check_tolerations(ws: AnalyticsWorkspace, tolerations: Iterable[Any]) -> list[dict[str, Any]]:
    """New dicts once each toleration has only known fields of the right types; else
    ProfileError. Shape only: which taints a workspace may tolerate is the admin policy's."""
    result: list[dict[str, Any]] = []
    for i, tol in enumerate(tolerations):
        where = f"tolerations[{i}]"
        if not isinstance(tol, Mapping):
            raise ProfileError(ws.name, where, "a toleration must be an object")
        for key, value in tol.items():
            if key == "tolerationSeconds":
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:
                ok = key in _TOLERATION_TEXT_FIELDS and isinstance(value, str)
            if not ok:
                raise ProfileError(ws.name, f"{where}.{key}", f"{value!r} is not allowed")
        if tol.get("operator", "Equal") not in _OPERATORS:
            raise ProfileError(ws.name, f"{where}.operator", "must be Exists or Equal")
        if tol.get("effect", "") not in _EFFECTS:
            raise ProfileError(ws.name, f"{where}.effect", "not a known taint effect")
        result.append(dict(tol))
    return result


def _is_server_path(uri: str) -> bool:
    # A path on the user's own server. "//" and "\" would let a browser leave the hub's origin.
    return (
        uri.startswith("/")
        and not uri.startswith("//")
        and "\\" not in uri
        and not any(c.isspace() or not c.isprintable() for c in uri)
    )


def _literal(uri: str) -> str:
    # JupyterHub str.format()s default_url; workspace text must not be a template.
    return uri.replace("{", "{{").replace("}", "}}")


def _default_url(ws: AnalyticsWorkspace, uri: str) -> str:
    if not _is_server_path(uri):
        raise ProfileError(ws.name, "defaultUri", f"{uri!r} is not a path such as /lab")
    return _literal(uri)


def folder_url(template: str, workspace: str, setting: str = "workspace_default_url") -> str:
    """The default URL ``template`` (``{workspace}`` its only placeholder, e.g.
    ``/lab/tree/{workspace}``) gives for ``workspace``, as KubeSpawner's ``default_url`` takes it
    (braces doubled); "" for an empty template. ValueError naming ``setting`` unless the result
    is a path on the user's server."""
    if not template:
        return ""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"{setting} {template!r} is not a valid template: {exc}") from None
    for _, name, spec, conversion in fields:
        if name is not None and (name != "workspace" or spec or conversion):
            raise ValueError(f"{setting} {template!r} may only use the placeholder {{workspace}}")
    url = template.format(workspace=workspace)
    if not _is_server_path(url):
        raise ValueError(
            f"{setting} {template!r} gives {url!r}, which is not a path on the user's server "
            "such as /lab/tree/{workspace}"
        )
    return _literal(url)


def overrides_for(workspace: AnalyticsWorkspace, *, default_url: str = "") -> dict[str, Any]:
    """The ``kubespawner_override`` dict for ``workspace``: only what it sets, new objects only;
    ``default_url`` (from ``folder_url``) when it sets no ``defaultUri``. Raises ProfileError
    naming the workspace and field for a value that cannot be applied."""
    jw = workspace.spec.jupyter_workspace
    if jw is None:
        raise ProfileError(workspace.name, "spec.jupyterWorkspace", "not a Jupyter workspace")
    overrides: dict[str, Any] = {"image": jw.image}
    _resources(workspace, overrides)
    if jw.tolerations:
        overrides["tolerations"] = check_tolerations(workspace, jw.tolerations)
    if jw.node_selector:
        overrides["node_selector"] = check_node_selector(workspace, jw.node_selector)
    overrides["extra_labels"] = _labels(workspace, jw.extra_labels)
    if jw.default_uri:
        overrides["default_url"] = _default_url(workspace, jw.default_uri)
    elif default_url:
        overrides["default_url"] = default_url
    return overrides


def _as_text(values: Mapping[str, str | int | float] | None) -> dict[str, str]:
    return {name: str(value) for name, value in (values or {}).items()}


def card_for(
    grant: PermittedWorkspace,
    *,
    storage: Iterable[tuple[str, str]] = (),
    datasources: Iterable[tuple[str, str]] = (),
    expiring_days: int = DEFAULT_EXPIRING_DAYS,
) -> WorkspaceCard:
    """The form's data for ``grant``; ``storage`` and ``datasources`` come from the storage plan.
    ``expiring_soon`` when fewer than ``expiring_days`` days are left."""
    ws = grant.workspace
    jw = ws.spec.jupyter_workspace
    resources = jw.resources if jw else None
    return WorkspaceCard(
        slug=ws.name,
        display_name=ws.spec.display_name.strip() or ws.name,
        description=ws.spec.description,
        expires=grant.expires,
        days_left=grant.days_left,
        expiring_soon=grant.days_left < expiring_days,
        image=jw.image if jw else "",
        requests=_as_text(resources.requests if resources else None),
        limits=_as_text(resources.limits if resources else None),
        storage=list(storage),
        datasources=list(datasources),
        via=grant.via,
        access_level=grant.access_level,
    )


def profile_for(
    grant: PermittedWorkspace,
    *,
    card: WorkspaceCard | None = None,
    expiring_days: int = DEFAULT_EXPIRING_DAYS,
    default_url: str = "",
) -> dict[str, Any]:
    """One ``profile_list`` entry for ``grant`` (slug = workspace name). The extra ``lscsde`` key
    holds the WorkspaceCard for the form; ``card`` defaults to one without storage;
    ``default_url`` applies when the workspace sets no ``defaultUri`` (see ``overrides_for``)."""
    overrides = overrides_for(grant.workspace, default_url=default_url)
    if card is None:
        card = card_for(grant, expiring_days=expiring_days)
    return {
        "display_name": card.display_name,
        "slug": grant.workspace.name,
        "description": card.description,  # plain text: the template escapes it
        "kubespawner_override": overrides,
        "lscsde": card,
    }
