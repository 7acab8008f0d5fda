"""Server-side printing: `meta.k8s.io` Table documents, as `kubectl get` asks for them.

kubectl get sends `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;
v=v1beta1;g=meta.k8s.io,application/json` and prints the cells it gets back, so every value that
looks "computed" (ages, `1/1`, `<none>`) is computed here, like the real server does:

* Ages are rendered server-side with duration.HumanDuration, including CRD printer columns of type
  `date` (apiextensions' tableconvertor). A missing CRD column value is a null cell, which kubectl
  (1.32) prints as an empty cell; the built-in printers write `<none>`/`<unknown>` themselves.
  `customresourcedefinitions` use the default convertor: `Created At` is an
  RFC 3339 timestamp that kubectl prints as is.
* The server always renders the wide (priority 1) cells; kubectl hides them without `-o wide`.
* Watch (`kubectl get -w`): each event's object is a Table with one row. The first carries
  `columnDefinitions`, later ones have `columnDefinitions: null` (the apiserver's
  watchEmbeddedEncoder sets `NoHeaders` after the first event); kubectl keeps the first headers.
  `kubectl get -w` first lists (a Table with headers), then watches from that resourceVersion.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from jsonpath_ng.ext import parse as jsonpath_parse

from kubesim.apiserver.discovery import parse_accept
from kubesim.registry.errors import FieldError, bad_request
from kubesim.registry.resources import ResourceType

TABLE_VERSIONS = ("meta.k8s.io/v1", "meta.k8s.io/v1beta1")
INCLUDE_OBJECT_VALUES = ("Metadata", "None", "Object")

NAME_DOC = (
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
AGE_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. "
    "It is not guaranteed to be set in happens-before order across separate operations. Clients "
    "may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the "
    "system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)

Row = tuple[list[Any], list[dict[str, Any]] | None]


def wants_table(accept_header: str | None) -> str | None:
    """The Table apiVersion the Accept header asks for first, or None for the plain object."""
    for media, params in parse_accept(accept_header):
        if media not in ("application/json", "application/*", "*/*"):
            continue  # protobuf/yaml/CBOR are not served; the client lists JSON after them
        if "as" not in params:
            return None
        version = f"{params.get('g', '')}/{params.get('v', '')}"
        if params["as"] == "Table" and version in TABLE_VERSIONS:
            return version
    return None


def check_include_object(value: str | None) -> str:
    """The includeObject query parameter, validated like the real server ("" means Metadata)."""
    value = value or "Metadata"
    if value not in INCLUDE_OBJECT_VALUES:
        supported = ", ".join(f'"{v}"' for v in INCLUDE_OBJECT_VALUES)
        err = FieldError(
            "includeObject", "FieldValueNotSupported", f"supported values: {supported}", value
        )
        raise bad_request(f"Unable to convert to Table as requested: {err.text()}")
    return value


def human_duration(delta: timedelta) -> str:
    """apimachinery's duration.HumanDuration: ~2-3 significant figures, e.g. 45s, 5m10s, 3h, 2d."""
    ns = (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    seconds = int(ns / 10**9)  # Go's int() truncates toward zero
    if seconds < -1:
        return "<invalid>"  # tolerate up to 2s of clock skew, as the real one does
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = ns // (60 * 10**9)
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = ns // (3600 * 10**9)
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if dy == 0 else f"{years}y{dy}d"
    return f"{hours // 24 // 365}y"


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (Time or MicroTime) as an aware datetime, else None."""
    if not isinstance(value, str) or not _RFC3339.match(value):
        return None
    text = value.upper().replace("Z", "+00:00")
    main, dot, rest = text.partition(".")
    if dot:  # Python takes at most 6 fractional digits
        digits = re.match(r"\d+", rest)
        frac = digits.group(0) if digits else ""
        text = f"{main}.{frac[:6].ljust(6, '0')}{rest[len(frac) :]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _since(value: Any, now: datetime) -> str:
    """translateTimestampSince: the age of a timestamp, `<unknown>` when unset."""
    when = parse_time(value)
    return "<unknown>" if when is None else human_duration(now - when)


def _go_float(f: float) -> str:
    """Go's %v of a float64: shortest digits, exponent form when the exponent is < -4 or >= 6."""
    if f != f or f in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}[repr(f)]
    if f == 0:
        return "-0" if repr(f).startswith("-") else "0"
    sign, digits, exponent = Decimal(repr(f)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    exp10 = len(digits) + exponent - 1
    if exp10 < -4 or exp10 >= 6:  # strconv 'g' with shortest precision uses 6 here
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        out = f"{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    else:
        out = format(Decimal(repr(abs(f))).normalize(), "f")
    return ("-" if sign else "") + out


def _jsonpath_text(value: Any) -> str:
    """client-go jsonpath's PrintResults for one value."""
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(value)


@lru_cache(maxsize=512)
def _compile(path: str) -> Any:
    """A CRD column's JSONPath (`.spec.x`, `{.a.b}`, `.labels.a\\.b/c`) for jsonpath-ng."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1].strip()
    if not path.startswith("$"):
        path = "$" + (path if path.startswith((".", "[")) else "." + path)

    # Kubernetes escapes dots inside a key with a backslash; jsonpath-ng wants the key quoted.
    def quote(m: re.Match[str]) -> str:
        key = re.sub(r"\\(.)", r"\1", m.group(1))
        return ".'" + key.replace("'", "\\'") + "'"

    path = re.sub(r"\.((?:[^.\[\\]|\\.)*\\.(?:[^.\[\\]|\\.)*)", quote, path)
    try:
        return jsonpath_parse(path)
    except Exception:  # an unparsable column prints empty, like a missing field
        return None


def _column_value(path: str, obj: dict[str, Any]) -> tuple[bool, Any]:
    expr = _compile(path)
    if expr is None:
        return False, None
    try:
        matches = expr.find(obj)
    except Exception:
        return False, None
    return (True, matches[0].value) if matches else (False, None)


def _crd_cell(column: dict[str, Any], obj: dict[str, Any], now: datetime) -> Any:
    """apiextensions' tableconvertor: one printer column's cell."""
    found, value = _column_value(column.get("jsonPath", ""), obj)
    if not found:
        return None
    kind = column.get("type")
    if kind == "string":
        return _jsonpath_text(value)
    if value is None or (isinstance(value, bool) and kind != "boolean"):
        return None
    if kind == "integer" and isinstance(value, (int, float)):
        return int(value)
    if kind == "number" and isinstance(value, (int, float)):
        return float(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        when = parse_time(value)
        return "<invalid>" if when is None else human_duration(now - when)
    return None


def _col(
    name: str, kind: str = "string", *, priority: int = 0, fmt: str = "", doc: str = ""
) -> dict[str, Any]:
    return {"name": name, "type": kind, "format": fmt, "description": doc, "priority": priority}


NAME_COLUMN = _col("Name", fmt="name", doc=NAME_DOC)
AGE_COLUMN = _col("Age", doc=AGE_DOC)
_DEFAULT_CRD_COLUMNS = (
    {
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
        "description": AGE_DOC,
    },
)


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _pod(pod: dict[str, Any], now: datetime) -> Row:
    """printers.go printPod."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    containers = spec.get("containers") or []
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    total = len(containers) + sum(1 for c in init_specs.values() if _sidecar(c))
    ready = restarts = sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    conditions = status.get("conditions") or []
    if any(
        c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated" for c in conditions
    ):
        reason = "SchedulingGated"
    row_conditions = None
    if phase in ("Succeeded", "Failed"):
        message = (
            "The pod has completed successfully." if phase == "Succeeded" else "The pod failed."
        )
        row_conditions = [
            {"type": "Completed", "status": "True", "reason": phase, "message": message}
        ]

    def finished(cs: dict[str, Any]) -> datetime | None:
        return parse_time(((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))

    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for i, cs in enumerate(init_statuses):
        restarts += cs.get("restartCount") or 0
        last_restart = _later(last_restart, finished(cs))
        is_sidecar = _sidecar(init_specs.get(cs.get("name")))
        if is_sidecar:
            sidecar_restarts += cs.get("restartCount") or 0
            last_sidecar_restart = _later(last_sidecar_restart, finished(cs))
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and (terminated.get("exitCode") or 0) == 0:
            continue
        if is_sidecar and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        if terminated is not None:
            if terminated.get("reason"):
                reason = "Init:" + terminated["reason"]
            elif terminated.get("signal"):
                reason = f"Init:Signal:{terminated['signal']}"
            else:
                reason = f"Init:ExitCode:{terminated.get('exitCode') or 0}"
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or [])}"
        initializing = True
        break

    initialized = any(
        c.get("type") == "Initialized" and c.get("status") == "True" for c in conditions
    )
    if not initializing or initialized:
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += cs.get("restartCount") or 0
            last_restart = _later(last_restart, finished(cs))
            state = cs.get("state") or {}
            terminated, waiting = state.get("terminated"), state.get("waiting")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated is not None:
                signal = terminated.get("signal")
                reason = (
                    f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode') or 0}"
                )
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            pod_ready = any(
                c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
            )
            reason = "Running" if pod_ready else "NotReady"

    deleting = _meta(pod).get("deletionTimestamp") is not None
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration(now - last_restart)} ago)"
    ips = status.get("podIPs") or []
    ip = (ips[0].get("ip") if ips else status.get("podIP")) or "<none>"
    gates = spec.get("readinessGates") or []
    gates_text = "<none>"
    if gates:
        by_type: dict[Any, Any] = {}
        for c in conditions:
            by_type.setdefault(c.get("type"), c.get("status"))
        passed = sum(1 for g in gates if by_type.get(g.get("conditionType")) == "True")
        gates_text = f"{passed}/{len(gates)}"
    cells = [
        _meta(pod).get("name", ""),
        f"{ready}/{total}",
        reason,
        restarts_text,
        _since(_meta(pod).get("creationTimestamp"), now),
        ip,
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gates_text,
    ]
    return cells, row_conditions


def _sidecar(container: dict[str, Any] | None) -> bool:
    # A restartable init container ("sidecar") counts towards the pod's containers.
    return container is not None and container.get("restartPolicy") == "Always"


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return b if b is not None and b > a else a


_ACCESS_MODES = (
    ("ReadWriteOnce", "RWO"),
    ("ReadOnlyMany", "ROX"),
    ("ReadWriteMany", "RWX"),
    ("ReadWriteOncePod", "RWOP"),
)


def _pvc(pvc: dict[str, Any], now: datetime) -> Row:
    spec, status, meta = pvc.get("spec") or {}, pvc.get("status") or {}, _meta(pvc)
    phase = "Terminating" if meta.get("deletionTimestamp") else status.get("phase") or ""
    capacity = modes = ""
    if spec.get("volumeName"):
        held = set(status.get("accessModes") or [])
        modes = ",".join(short for mode, short in _ACCESS_MODES if mode in held)
        capacity = str((status.get("capacity") or {}).get("storage") or "")
    beta = (meta.get("annotations") or {}).get("volume.beta.kubernetes.io/storage-class")
    storage_class = beta if beta is not None else spec.get("storageClassName") or ""
    cells = [
        meta.get("name", ""),
        phase,
        spec.get("volumeName") or "",
        capacity,
        modes,
        storage_class,
        spec.get("volumeAttributesClassName") or "<unset>",
        _since(meta.get("creationTimestamp"), now),
        spec.get("volumeMode") or "<unset>",
    ]
    return cells, None


def _event(ev: dict[str, Any], now: datetime, *, new_api: bool) -> Row:
    """printEvent; events.k8s.io/v1 objects are read through their core field names."""
    if new_api:
        involved, message = ev.get("regarding") or {}, ev.get("note") or ""
        first, last = ev.get("deprecatedFirstTimestamp"), ev.get("deprecatedLastTimestamp")
        count, source = ev.get("deprecatedCount") or 0, ev.get("deprecatedSource") or {}
        controller = ev.get("reportingController") or ""
    else:
        involved, message = ev.get("involvedObject") or {}, ev.get("message") or ""
        first, last = ev.get("firstTimestamp"), ev.get("lastTimestamp")
        count, source = ev.get("count") or 0, ev.get("source") or {}
        controller = ev.get("reportingComponent") or ""
    first_seen = _since(first, now) if parse_time(first) else _since(ev.get("eventTime"), now)
    last_seen = _since(last, now) if parse_time(last) else first_seen
    series = ev.get("series")
    if series is not None:
        last_seen = _since(series.get("lastObservedTime"), now)
        count = series.get("count") or 0
    elif count == 0:
        count = 1  # singleton events carry no count in the new API
    kind = (involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    component = source.get("component") or controller
    instance = source.get("host") or ev.get("reportingInstance") or ""
    source_text = f"{component}, {instance}" if instance else component
    cells = [
        last_seen,
        ev.get("type") or "",
        ev.get("reason") or "",
        target,
        involved.get("fieldPath") or "",
        source_text,
        message.strip(),
        first_seen,
        count,
        _meta(ev).get("name", ""),
    ]
    return cells, None


def _service(svc: dict[str, Any], now: datetime) -> Row:
    spec, status = svc.get("spec") or {}, svc.get("status") or {}
    kind = spec.get("type") or "ClusterIP"
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    external = spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        external_text = ",".join(external) or "<none>"
    elif kind == "LoadBalancer":
        ingress = (status.get("loadBalancer") or {}).get("ingress") or []
        lb = sorted({i.get("ip") or i.get("hostname") for i in ingress} - {None, ""})
        external_text = ",".join(lb + external) or "<pending>"
    elif kind == "ExternalName":
        external_text = spec.get("externalName") or ""
    else:
        external_text = "<unknown>"
    ports = []
    for p in spec.get("ports") or []:
        node_port = f":{p['nodePort']}" if p.get("nodePort") else ""
        ports.append(f"{p.get('port')}{node_port}/{p.get('protocol') or 'TCP'}")
    selector = spec.get("selector") or {}
    selector_text = ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>"
    cells = [
        _meta(svc).get("name", ""),
        kind,
        cluster_ips[0] if cluster_ips else "<none>",
        external_text,
        ",".join(ports) or "<none>",
        _since(_meta(svc).get("creationTimestamp"), now),
        selector_text,
    ]
    return cells, None


def _simple(*cells: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any], datetime], Row]:
    """Name, the given cells, then Age."""

    def row(obj: dict[str, Any], now: datetime) -> Row:
        meta = _meta(obj)
        values = [meta.get("name", ""), *(cell(obj) for cell in cells)]
        return [*values, _since(meta.get("creationTimestamp"), now)], None

    return row


def _created_at(obj: dict[str, Any], now: datetime) -> Row:
    """rest.defaultTableConvertor: the creation time as RFC 3339 in UTC, not as an age."""
    when = parse_time(_meta(obj).get("creationTimestamp"))
    text = (when or datetime(1, 1, 1, tzinfo=UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [_meta(obj).get("name", ""), text], None


_DEFAULT = ([NAME_COLUMN, _col("Created At", "date", doc=AGE_DOC)], _created_at)
_EVENT_COLUMNS = [
    _col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"),
    _col("Subobject", priority=1), _col("Source", priority=1), _col("Message"),
    _col("First Seen", priority=1), _col("Count", priority=1),
    _col("Name", priority=1, fmt="name", doc=NAME_DOC),
]  # fmt: skip
_PRINTERS: dict[tuple[str, str], tuple[list[dict[str, Any]], Callable[..., Row]]] = {
    ("", "pods"): ([NAME_COLUMN, _col("Ready"), _col("Status"), _col("Restarts"), AGE_COLUMN,
                    _col("IP", priority=1), _col("Node", priority=1),
                    _col("Nominated Node", priority=1), _col("Readiness Gates", priority=1)],
                   _pod),
    ("", "persistentvolumeclaims"): ([NAME_COLUMN, _col("Status"), _col("Volume"),
                                      _col("Capacity"), _col("Access Modes"),
                                      _col("StorageClass"), _col("VolumeAttributesClass"),
                                      AGE_COLUMN, _col("VolumeMode", priority=1)], _pvc),
    ("", "events"): (_EVENT_COLUMNS, lambda o, now: _event(o, now, new_api=False)),
    ("events.k8s.io", "events"): (_EVENT_COLUMNS, lambda o, now: _event(o, now, new_api=True)),
    ("", "namespaces"): ([NAME_COLUMN, _col("Status"), AGE_COLUMN],
                         _simple(lambda o: (o.get("status") or {}).get("phase") or "")),
    ("", "secrets"): ([NAME_COLUMN, _col("Type"), _col("Data"), AGE_COLUMN],
                      _simple(lambda o: o.get("type") or "", lambda o: len(o.get("data") or {}))),
    ("", "configmaps"): ([NAME_COLUMN, _col("Data"), AGE_COLUMN],
                         _simple(lambda o: len(o.get("data") or {})
                                 + len(o.get("binaryData") or {}))),
    ("", "serviceaccounts"): ([NAME_COLUMN, _col("Secrets"), AGE_COLUMN],
                              _simple(lambda o: len(o.get("secrets") or []))),
    ("", "services"): ([NAME_COLUMN, _col("Type"), _col("Cluster-IP"), _col("External-IP"),
                        _col("Port(s)"), AGE_COLUMN, _col("Selector", priority=1)], _service),
}  # fmt: skip


def _crd_columns(rt: ResourceType) -> tuple[dict[str, Any], ...]:
    return rt.printer_columns or _DEFAULT_CRD_COLUMNS


def column_definitions(rt: ResourceType) -> list[dict[str, Any]]:
    """The Table columns of a kind (all of them: the server always prints wide)."""
    if rt.custom:
        out = [NAME_COLUMN]
        for c in _crd_columns(rt):
            doc = c.get("description") or (
                f"Custom resource definition column (in JSONPath format): {c.get('jsonPath')}"
            )
            out.append(
                _col(
                    c.get("name", ""),
                    c.get("type", "string"),
                    fmt=c.get("format", ""),
                    priority=c.get("priority", 0),
                    doc=doc,
                )
            )
        return [dict(c) for c in out]
    return [dict(c) for c in _PRINTERS.get((rt.group, rt.plural), _DEFAULT)[0]]


def _row(
    rt: ResourceType, obj: dict[str, Any], include: str, version: str, now: datetime
) -> dict[str, Any]:
    if rt.custom:
        cells: list[Any] = [_meta(obj).get("name", "")]
        cells += [_crd_cell(c, obj, now) for c in _crd_columns(rt)]
        conditions = None
    else:
        cells, conditions = _PRINTERS.get((rt.group, rt.plural), _DEFAULT)[1](obj, now)
    row: dict[str, Any] = {"cells": cells}
    if conditions:
        row["conditions"] = conditions
    if include == "Object":
        row["object"] = obj
    elif include == "Metadata":
        row["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": version,
            "metadata": _meta(obj),
        }
    else:
        row["object"] = None
    return row


def to_table(
    rt: ResourceType,
    objects: list[dict[str, Any]],
    *,
    list_meta: dict[str, Any],
    include_object: str = "Metadata",
    now: datetime | None = None,
    table_version: str = "meta.k8s.io/v1",
    include_columns: bool = True,
) -> dict[str, Any]:
    """A Table of a list response; `list_meta` is the list's metadata (resourceVersion, continue,
    remainingItemCount). A bad include_object raises the 400 the real server answers. Watch events
    carry column definitions only in the first event: pass include_columns=False for the others.
    """
    include = check_include_object(include_object)
    now = now or datetime.now(UTC)
    meta = {k: v for k, v in list_meta.items() if v is not None and v != ""}
    return {
        "kind": "Table",
        "apiVersion": table_version,
        "metadata": meta,
        "columnDefinitions": column_definitions(rt) if include_columns else None,
        "rows": [_row(rt, obj, include, table_version, now) for obj in objects],
    }


def object_table(
    rt: ResourceType,
    obj: dict[str, Any],
    *,
    include_object: str = "Metadata",
    now: datetime | None = None,
    table_version: str = "meta.k8s.io/v1",
    include_columns: bool = True,
) -> dict[str, Any]:
    """A one-row Table of a single object, with the object's resourceVersion as the Table's: a
    GET, or a watch event's object (pass `include_columns=False` for every event after the first
    of a watch, as the real server does).
    """
    rv = _meta(obj).get("resourceVersion")
    return to_table(
        rt,
        [obj],
        list_meta={"resourceVersion": rv},
        include_object=include_object,
        now=now,
        table_version=table_version,
        include_columns=include_columns,
    )
