"""Server-side printing: `meta.k8s.io` Table documents, as `kubectl get` asks for them.

kubectl get sends `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;
v=v1beta1;g=meta.k8s.io,application/json` and prints the cells it gets back, so every value that
looks "computed" (ages, `1/1`, `<none>`) is computed here, like the real server does (the built-in
kinds' rows in printers.py and printers_pod.py, CRD columns here, cell values in cells.py):

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

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from jsonpath_ng.ext.parser import parse as jsonpath_parse

from kubesim.apiserver.cells import human_duration, jsonpath_text, metadata, parse_time
from kubesim.apiserver.discovery import parse_accept
from kubesim.apiserver.printers import AGE_DOC, DEFAULT_PRINTER, NAME_COLUMN, PRINTERS, col
from kubesim.registry.errors import FieldError, bad_request
from kubesim.registry.resources import ResourceType

TABLE_VERSIONS = ("meta.k8s.io/v1", "meta.k8s.io/v1beta1")
INCLUDE_OBJECT_VALUES = ("Metadata", "None", "Object")
DEFAULT_CRD_COLUMNS = (
    {
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
        "description": AGE_DOC,
    },
)


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
        return jsonpath_text(value)
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


def _crd_columns(rt: ResourceType) -> tuple[dict[str, Any], ...]:
    return rt.printer_columns or DEFAULT_CRD_COLUMNS


def column_definitions(rt: ResourceType) -> list[dict[str, Any]]:
    """The Table columns of a kind (all of them: the server always prints wide)."""
    if rt.custom:
        out = [NAME_COLUMN]
        for c in _crd_columns(rt):
            doc = c.get("description") or (
                f"Custom resource definition column (in JSONPath format): {c.get('jsonPath')}"
            )
            out.append(
                col(
                    c.get("name", ""),
                    c.get("type", "string"),
                    fmt=c.get("format", ""),
                    priority=c.get("priority", 0),
                    doc=doc,
                )
            )
        return [dict(c) for c in out]
    return [dict(c) for c in PRINTERS.get((rt.group, rt.plural), DEFAULT_PRINTER)[0]]


def _row(
    rt: ResourceType, obj: dict[str, Any], include: str, version: str, now: datetime
) -> dict[str, Any]:
    if rt.custom:
        cells: list[Any] = [metadata(obj).get("name", "")]
        cells += [_crd_cell(c, obj, now) for c in _crd_columns(rt)]
        conditions = None
    else:
        cells, conditions = PRINTERS.get((rt.group, rt.plural), DEFAULT_PRINTER)[1](obj, now)
    row: dict[str, Any] = {"cells": cells}
    if conditions:
        row["conditions"] = conditions
    if include == "Object":
        row["object"] = obj
    elif include == "Metadata":
        row["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": version,
            "metadata": metadata(obj),
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
    rv = metadata(obj).get("resourceVersion")
    return to_table(
        rt,
        [obj],
        list_meta={"resourceVersion": rv},
        include_object=include_object,
        now=now,
        table_version=table_version,
        include_columns=include_columns,
    )
