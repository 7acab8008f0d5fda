"""Go's `%#v` text of the typed values field errors show (field.Error.ErrorBody falls back to
`%#v` for values that are neither scalars nor Stringers): label maps, LabelSelectors and
IntOrStrings, as in `spec.selector: Invalid value: v1.LabelSelector{...}: field is immutable`.

A `GoText` prints as its text where errors.py renders a field error's value.
"""

from __future__ import annotations

from typing import Any

from kubesim.registry.errors import go_quote


class GoText:
    """A value already rendered as Go prints it; str() gives the text unquoted."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"GoText({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoText) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def _string(value: Any) -> str:
    return go_quote(value) if isinstance(value, str) else go_quote(str(value))


def string_map(value: Any) -> str:
    """map[string]string, keys sorted as fmt prints maps."""
    if not isinstance(value, dict):
        return "map[string]string(nil)"
    items = ", ".join(f"{_string(k)}:{_string(value[k])}" for k in sorted(value, key=str))
    return f"map[string]string{{{items}}}"


def _strings(value: Any) -> str:
    if not isinstance(value, list):
        return "[]string(nil)"
    return "[]string{" + ", ".join(_string(v) for v in value) + "}"


def _requirement(req: Any) -> str:
    req = req if isinstance(req, dict) else {}
    return (
        f"v1.LabelSelectorRequirement{{Key:{_string(req.get('key') or '')}, "
        f"Operator:{_string(req.get('operator') or '')}, Values:{_strings(req.get('values'))}}}"
    )


def label_selector(value: Any) -> GoText:
    """A metav1.LabelSelector (a nil pointer prints as null)."""
    if not isinstance(value, dict):
        return GoText("null")
    exprs = value.get("matchExpressions")
    if isinstance(exprs, list):
        body = ", ".join(_requirement(r) for r in exprs)
        expr_text = f"[]v1.LabelSelectorRequirement{{{body}}}"
    else:
        expr_text = "[]v1.LabelSelectorRequirement(nil)"
    labels = string_map(value.get("matchLabels"))
    return GoText(f"v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{expr_text}}}")


def labels(value: Any) -> GoText:
    return GoText(string_map(value))


def int_or_string(value: Any) -> GoText:
    """An intstr.IntOrString (Type 0 for an integer, 1 for a string)."""
    if isinstance(value, str):
        return GoText(f"intstr.IntOrString{{Type:1, IntVal:0, StrVal:{_string(value)}}}")
    number = value if isinstance(value, int) and not isinstance(value, bool) else 0
    return GoText(f'intstr.IntOrString{{Type:0, IntVal:{number}, StrVal:""}}')


def pointer(go_type: str, value: Any) -> str:
    """A pointer field inside a %#v struct: nil, or an address (which differs on every real
    server too, so any address will do)."""
    return f"(*{go_type})({'nil' if value is None else '0xc000a1e000'})"


def strategy(go_type: str, value: Any, rolling_type: str) -> GoText:
    """An update strategy struct: {Type, RollingUpdate pointer}."""
    value = value if isinstance(value, dict) else {}
    kind = go_quote(str(value.get("type") or ""))
    rolling = pointer(rolling_type, value.get("rollingUpdate"))
    return GoText(f"{go_type}{{Type:{kind}, RollingUpdate:{rolling}}}")
