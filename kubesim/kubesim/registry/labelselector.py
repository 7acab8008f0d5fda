"""metav1.LabelSelector as the workload kinds use it: validation (ValidateLabelSelector),
conversion to a selector (LabelSelectorAsSelector), matching and its string form.

The API server's query selectors (apiserver/selectors.py) parse text; these are the structured
selectors stored in objects, and the controllers match pods with them too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubesim.registry.errors import FieldError
from kubesim.registry.field import forbidden, invalid, invalid_each, required
from kubesim.registry.names import label_value_errors, qualified_name_errors
from kubesim.registry.strategy import as_dict, as_list

Requirement = tuple[str, str, tuple[str, ...]]  # (key, operator, values)
_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def _label_map_errors(labels: Any, path: str) -> list[FieldError]:
    """ValidateLabels: every key a qualified name, every value a label value, on one path."""
    errs: list[FieldError] = []
    for key, value in as_dict(labels).items():
        errs += invalid_each(path, key, qualified_name_errors(str(key)))
        errs += invalid_each(path, value, label_value_errors(str(value)))
    return errs


def selector_errors(selector: Any, path: str) -> list[FieldError]:
    """ValidateLabelSelector (label values checked strictly); a nil selector has none."""
    if not isinstance(selector, dict):
        return []
    errs = _label_map_errors(selector.get("matchLabels"), f"{path}.matchLabels")
    for i, expr in enumerate(as_list(selector.get("matchExpressions"))):
        expr, at = as_dict(expr), f"{path}.matchExpressions[{i}]"
        op, values = expr.get("operator"), as_list(expr.get("values"))
        if op in ("In", "NotIn"):
            if not values:
                detail = "must be specified when `operator` is 'In' or 'NotIn'"
                errs.append(required(f"{at}.values", detail))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                detail = "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                errs.append(forbidden(f"{at}.values", detail))
        else:
            errs.append(invalid(f"{at}.operator", op or "", "not a valid selector operator"))
        errs += invalid_each(f"{at}.key", expr.get("key") or "",
                             qualified_name_errors(str(expr.get("key") or "")))  # fmt: skip
        for j, value in enumerate(values):
            errs += invalid_each(f"{at}.values[{j}]", value, label_value_errors(str(value)))
    return errs


def requirements(selector: Any) -> list[Requirement] | None:
    """LabelSelectorAsSelector: the requirements sorted by key, or None where it fails."""
    if not isinstance(selector, dict):
        return None
    out: list[Requirement] = []
    for key, value in as_dict(selector.get("matchLabels")).items():
        if qualified_name_errors(str(key)) or label_value_errors(str(value)):
            return None
        out.append((str(key), "=", (str(value),)))
    for expr in as_list(selector.get("matchExpressions")):
        expr = as_dict(expr)
        op, key = expr.get("operator"), str(expr.get("key") or "")
        values = tuple(sorted(str(v) for v in as_list(expr.get("values"))))
        if op not in _OPERATORS or qualified_name_errors(key):
            return None
        if (op in ("In", "NotIn")) != bool(values):
            return None
        if any(label_value_errors(v) for v in values):
            return None
        out.append((key, _OPERATORS[op], values))
    return sorted(out, key=lambda r: r[0])


def is_empty(selector: Any) -> bool:
    sel = as_dict(selector)
    return not as_dict(sel.get("matchLabels")) and not as_list(sel.get("matchExpressions"))


def _holds(req: Requirement, labels: Mapping[str, str]) -> bool:
    key, op, values = req
    if op == "=":
        return labels.get(key) == values[0]
    if op == "in":
        return key in labels and labels[key] in values
    if op == "notin":
        return key not in labels or labels[key] not in values
    return (key in labels) == (op == "exists")


def matches(selector: Any, labels: Any) -> bool:
    """Whether labels satisfy a selector; a nil or invalid selector matches nothing, an empty
    one everything (as LabelSelectorAsSelector makes them)."""
    reqs = requirements(selector)
    if reqs is None:
        return False
    held = {str(k): str(v) for k, v in as_dict(labels).items()}
    return all(_holds(r, held) for r in reqs)


def selector_string(selector: Any) -> str | None:
    """labels.Selector.String() of a LabelSelector ("" for an empty or nil one); None if
    invalid."""
    if selector is None:
        return ""  # labels.Nothing() prints as nothing
    reqs = requirements(selector)
    if reqs is None:
        return None
    parts = []
    for key, op, values in reqs:
        if op == "=":
            parts.append(f"{key}={values[0]}")
        elif op in ("in", "notin"):
            parts.append(f"{key} {op} ({','.join(values)})")
        else:
            parts.append(key if op == "exists" else f"!{key}")
    return ",".join(parts)


def format_selector(selector: Any) -> str:
    """metav1.FormatLabelSelector: "<none>" for an empty selector, "<error>" for a bad one."""
    text = selector_string(selector)
    if text is None:
        return "<error>"
    return text or "<none>"


def format_labels(labels: Any) -> str:
    """labels.FormatLabels: sorted `k=v` pairs, "<none>" when there are none."""
    items = as_dict(labels)
    return ",".join(f"{k}={items[k]}" for k in sorted(items)) or "<none>"
