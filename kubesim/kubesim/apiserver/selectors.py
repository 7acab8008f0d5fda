"""Label and field selectors, parsed and matched as k8s.io/apimachinery does.

The label selector parser is a port of pkg/labels/selector.go (its lexer, parser and error
texts); the field selector one of pkg/fields/selector.go plus the apiserver's field label
conversion, whose error wording differs by kind.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubesim.registry.errors import ApiError, bad_request
from kubesim.registry.names import label_value_errors, qualified_name_errors

# selection.Operator values.
EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "=", "==", "!="
IN, NOT_IN, EXISTS, DOES_NOT_EXIST = "in", "notin", "exists", "!"
GREATER_THAN, LESS_THAN = "gt", "lt"
_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)

_INT64 = re.compile(r"[+-]?[0-9]+")


def _parse_int64(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64): a sign and decimal digits, in int64 range."""
    if not _INT64.fullmatch(text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def _go_quote(text: str) -> str:
    """Go's %q, as field errors print string values."""
    escapes = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f",
               "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}  # fmt: skip
    out = []
    for ch in text:
        if ch in escapes:
            out.append(escapes[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


class _SelectorError(Exception):
    pass


@dataclass(frozen=True)
class Requirement:
    """One label requirement; values are sorted, as sets.String.List() leaves them."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if op in (NOT_IN, NOT_EQUALS):
            # Absent keys satisfy != and notin.
            return self.key not in labels or labels[self.key] not in self.values
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        if op in (GREATER_THAN, LESS_THAN) and self.key in labels and len(self.values) == 1:
            have, want = _parse_int64(labels[self.key]), _parse_int64(self.values[0])
            if have is None or want is None:
                return False
            return have > want if op == GREATER_THAN else have < want
        return False

    def __str__(self) -> str:
        op = self.operator
        if op == EXISTS:
            return self.key
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        symbol = {IN: " in ", NOT_IN: " notin ", GREATER_THAN: ">", LESS_THAN: "<"}.get(op, op)
        values = ",".join(self.values)
        return f"{self.key}{symbol}({values})" if op in (IN, NOT_IN) else self.key + symbol + values


def _new_requirement(key: str, op: str, values: list[str]) -> Requirement:
    """labels.NewRequirement's checks on the values (the parser has already checked the key)."""
    errs: list[str] = []
    if op in (GREATER_THAN, LESS_THAN):
        for i, value in enumerate(values):
            if _parse_int64(value) is None:
                errs.append(
                    f"values[{i}]: Invalid value: {_go_quote(value)}: "
                    "for 'Gt', 'Lt' operators, the value must be an integer"
                )
    for i, value in enumerate(values):
        if msgs := label_value_errors(value):
            errs.append(f"values[{i}][{key}]: Invalid value: {_go_quote(value)}: {'; '.join(msgs)}")
    if errs:
        # utilerrors.Aggregate: one message alone, several (deduplicated) in brackets.
        unique = list(dict.fromkeys(errs))
        raise _SelectorError(unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]")
    return Requirement(key, op, tuple(values))


class _Tok(enum.Enum):
    EOS = enum.auto()
    CLOSED_PAR = enum.auto()
    COMMA = enum.auto()
    DOES_NOT_EXIST = enum.auto()
    DOUBLE_EQUALS = enum.auto()
    EQUALS = enum.auto()
    GREATER_THAN = enum.auto()
    IDENTIFIER = enum.auto()
    IN = enum.auto()
    LESS_THAN = enum.auto()
    NOT_EQUALS = enum.auto()
    NOT_IN = enum.auto()
    OPEN_PAR = enum.auto()


_STRING2TOKEN = {
    ")": _Tok.CLOSED_PAR, ",": _Tok.COMMA, "!": _Tok.DOES_NOT_EXIST, "==": _Tok.DOUBLE_EQUALS,
    "=": _Tok.EQUALS, ">": _Tok.GREATER_THAN, "in": _Tok.IN, "<": _Tok.LESS_THAN,
    "!=": _Tok.NOT_EQUALS, "notin": _Tok.NOT_IN, "(": _Tok.OPEN_PAR,
}  # fmt: skip
_OPERATOR_TOKENS = {
    _Tok.IN: IN, _Tok.EQUALS: EQUALS, _Tok.DOUBLE_EQUALS: DOUBLE_EQUALS,
    _Tok.GREATER_THAN: GREATER_THAN, _Tok.LESS_THAN: LESS_THAN, _Tok.NOT_IN: NOT_IN,
    _Tok.NOT_EQUALS: NOT_EQUALS,
}  # fmt: skip
_WHITESPACE = " \t\r\n"
_SPECIAL = "=!(),><"


def _scan(text: str) -> list[tuple[_Tok, str]]:
    """The Lexer: all tokens up to and including the end-of-string one."""
    items: list[tuple[_Tok, str]] = []
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= end or text[pos] == "\0":  # Go's lexer reads NUL as end of input
            items.append((_Tok.EOS, ""))
            return items
        if text[pos] in _SPECIAL:
            # The longest run of special characters that is still one token ("!=", "==").
            literal = text[pos]
            pos += 1
            while pos < end and text[pos] in _SPECIAL and literal + text[pos] in _STRING2TOKEN:
                literal += text[pos]
                pos += 1
            items.append((_STRING2TOKEN[literal], literal))
            continue
        start = pos
        while pos < end and text[pos] not in _SPECIAL + _WHITESPACE + "\0":
            pos += 1
        literal = text[start:pos]
        if pos < end and text[pos] == "\0":
            pos += 1  # scanIDOrKeyword consumes the NUL that ends an identifier
        items.append((_STRING2TOKEN.get(literal, _Tok.IDENTIFIER), literal))


class _Parser:
    """labels.Parser. 'in'/'notin' read as identifiers wherever a value may stand."""

    def __init__(self, text: str) -> None:
        self.items = _scan(text)
        self.position = 0

    def lookahead(self, values: bool = True) -> tuple[_Tok, str]:
        tok, lit = self.items[self.position]
        if values and tok in (_Tok.IN, _Tok.NOT_IN):
            tok = _Tok.IDENTIFIER
        return tok, lit

    def consume(self, values: bool = True) -> tuple[_Tok, str]:
        item = self.lookahead(values)
        self.position += 1
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self.lookahead()
            if tok in (_Tok.IDENTIFIER, _Tok.DOES_NOT_EXIST):
                try:
                    requirements.append(self.parse_requirement())
                except _SelectorError as exc:
                    raise _SelectorError(f"unable to parse requirement: {exc}") from None
                tok, lit = self.consume()
                if tok == _Tok.EOS:
                    return requirements
                if tok != _Tok.COMMA:
                    raise _SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
                tok2, lit2 = self.lookahead()
                if tok2 not in (_Tok.IDENTIFIER, _Tok.DOES_NOT_EXIST):
                    raise _SelectorError(f"found '{lit2}', expected: identifier after ','")
            elif tok == _Tok.EOS:
                return requirements
            else:
                raise _SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def parse_requirement(self) -> Requirement:
        operator = ""
        tok, key = self.consume()
        if tok == _Tok.DOES_NOT_EXIST:
            operator = DOES_NOT_EXIST
            tok, key = self.consume()
        if tok != _Tok.IDENTIFIER:
            raise _SelectorError(f"found '{key}', expected: identifier")
        if msgs := qualified_name_errors(key):
            # The parser's field path is nil, which Go prints as "<nil>".
            raise _SelectorError(f"<nil>: Invalid value: {_go_quote(key)}: {'; '.join(msgs)}")
        if self.lookahead()[0] in (_Tok.EOS, _Tok.COMMA) and operator != DOES_NOT_EXIST:
            operator = EXISTS
        if operator in (EXISTS, DOES_NOT_EXIST):
            return _new_requirement(key, operator, [])
        tok, lit = self.consume(values=False)
        if tok not in _OPERATOR_TOKENS:
            raise _SelectorError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        operator = _OPERATOR_TOKENS[tok]
        values = self.parse_values() if operator in (IN, NOT_IN) else self.parse_exact_value()
        return _new_requirement(key, operator, sorted(values))

    def parse_values(self) -> set[str]:
        tok, lit = self.consume()
        if tok != _Tok.OPEN_PAR:
            raise _SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok == _Tok.CLOSED_PAR:  # "()" is the one empty value
            self.consume()
            return {""}
        if tok not in (_Tok.IDENTIFIER, _Tok.COMMA):
            raise _SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self.parse_identifiers_list()
        self.consume()  # the ')' parse_identifiers_list stopped at
        return values

    def parse_identifiers_list(self) -> set[str]:
        """A comma-separated list in which empty items (",," or "(,") are empty values."""
        values: set[str] = set()
        while True:
            tok, lit = self.consume()
            if tok == _Tok.IDENTIFIER:
                values.add(lit)
                tok2, lit2 = self.lookahead()
                if tok2 == _Tok.CLOSED_PAR:
                    return values
                if tok2 != _Tok.COMMA:
                    raise _SelectorError(f"found '{lit2}', expected: ',' or ')'")
            elif tok == _Tok.COMMA:
                if not values:
                    values.add("")
                tok2, _ = self.lookahead()
                if tok2 == _Tok.CLOSED_PAR:
                    values.add("")
                    return values
                if tok2 == _Tok.COMMA:
                    self.consume()
                    values.add("")
            else:
                raise _SelectorError(f"found '{lit}', expected: ',', or identifier")

    def parse_exact_value(self) -> set[str]:
        if self.lookahead()[0] in (_Tok.EOS, _Tok.COMMA):
            return {""}  # "k=" selects the empty value
        tok, lit = self.consume()
        if tok != _Tok.IDENTIFIER:
            raise _SelectorError(f"found '{lit}', expected: identifier")
        return {lit}


def _bad_request(exc: Exception) -> ApiError:
    return bad_request(str(exc))


@dataclass(frozen=True)
class LabelSelector:
    """A parsed labelSelector: requirements ANDed, sorted by key."""

    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        if not text:
            return cls()
        try:
            requirements = _Parser(text).parse()
        except _SelectorError as exc:
            raise _bad_request(exc) from None
        return cls(tuple(sorted(requirements, key=lambda r: r.key)))

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """The one value the selector requires for key, if it requires exactly one."""
        for r in self.requirements:
            if r.key == key:
                exact = r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1
                return r.values[0] if exact else None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def escape_field_value(value: str) -> str:
    """fields.EscapeValue."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_field_value(text: str) -> str:
    """fields.UnescapeValue: only \\\\, \\, and \\= are escapes; bare ',' and '=' are errors."""
    out: list[str] = []
    in_slash = False
    for ch in text:
        if in_slash:
            if ch not in "\\,=":
                raise _SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch in ",=":
            # Go prints the rune with %v: its code point.
            raise _SelectorError(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if in_slash:
        raise _SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_field_terms(text: str) -> list[str]:
    """Comma-separated terms; a backslash-escaped comma stays in its term."""
    terms: list[str] = []
    start, in_slash = 0, False
    for i, ch in enumerate(text):
        if in_slash:
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_field_term(term: str) -> tuple[str, str, str] | None:
    """The first operator from the left splits; "!=" and "==" win over "=" at one position."""
    for i in range(len(term)):
        for op in (NOT_EQUALS, DOUBLE_EQUALS, EQUALS):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


# Kinds without their own field label conversion get runtime.DefaultMetaV1FieldSelectorConversion
# and its different wording.
_DEFAULT_CONVERSION_RESOURCES = frozenset(
    {"configmaps", "persistentvolumeclaims", "serviceaccounts", "customresourcedefinitions",
     "customresourcedefinitions.apiextensions.k8s.io"}
)  # fmt: skip


def _unsupported_field_message(field: str, resource: str) -> str:
    if resource in _DEFAULT_CONVERSION_RESOURCES:
        return (
            f'{_go_quote(field)} is not a known field selector: only "metadata.name", '
            '"metadata.namespace"'
        )
    return f"field label not supported: {field}"


# Missing booleans read as Go's zero value, as the server's selectable-field sets print them.
_BOOL_FIELDS = frozenset({"spec.hostNetwork", "spec.unschedulable"})
# Fields not found at their own dotted path: events' "source" is source.component, jobs'
# "status.successful" is status.succeeded.
_FIELD_PATHS = {"source": ("source", "component"), "status.successful": ("status", "succeeded")}
# Integer fields selectable even when zero (and so omitted from the object): jobs'
# status.successful, replica sets' and replication controllers' status.replicas.
_COUNT_FIELDS = frozenset({"status.successful", "status.replicas"})
# The two Event APIs name the same data differently; objects in either shape match either name.
_EVENT_ALIASES = {
    "involvedObject": "regarding", "regarding": "involvedObject",
    "reportingComponent": "reportingController", "reportingController": "reportingComponent",
    "source": "deprecatedSource",
}  # fmt: skip
_MISSING = object()


def _lookup(obj: Any, parts: Iterable[str]) -> Any:
    for part in parts:
        if not isinstance(obj, Mapping) or part not in obj:
            return _MISSING
        obj = obj[part]
    return obj


def field_value(obj: Mapping[str, Any], field: str) -> str:
    """The string a field selector compares for `field` of obj ("" when absent)."""
    parts = _FIELD_PATHS.get(field) or tuple(field.split("."))
    value = _lookup(obj, parts)
    if value is _MISSING and parts[0] in _EVENT_ALIASES:
        value = _lookup(obj, (_EVENT_ALIASES[parts[0]], *parts[1:]))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if field in _COUNT_FIELDS:
        return "0"
    return "false" if field in _BOOL_FIELDS else ""


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    operator: str  # "=" (also for "==") or "!="
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        equal = field_value(obj, self.field) == self.value
        return equal if self.operator == EQUALS else not equal

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{escape_field_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """A parsed fieldSelector: requirements ANDed, in the sorted order of their terms."""

    requirements: tuple[FieldRequirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None, allowed: frozenset[str], resource: str) -> FieldSelector:
        if not text:
            return cls()
        parsed: list[tuple[str, str, str]] = []
        try:
            for term in sorted(_split_field_terms(text)):
                if not term:
                    continue
                split = _split_field_term(term)
                if split is None:
                    raise _SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
                lhs, op, rhs = split
                parsed.append((lhs, op, _unescape_field_value(rhs)))
        except _SelectorError as exc:
            raise _bad_request(exc) from None
        # The apiserver then converts each field label for the kind, rejecting unknown ones.
        requirements = []
        for field, op, value in parsed:
            if field == "spec.host" and resource == "pods":
                field = "spec.nodeName"  # kept for old v1 clients
            if field not in allowed:
                raise bad_request(_unsupported_field_message(field, resource))
            requirements.append(
                FieldRequirement(field, NOT_EQUALS if op == NOT_EQUALS else EQUALS, value)
            )
        return cls(tuple(requirements))

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    def requires_exact_match(self, field: str) -> str | None:
        for r in self.requirements:
            if r.field == field and r.operator == EQUALS:
                return r.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def selector_matches(obj: Mapping[str, Any], labels: LabelSelector, fields: FieldSelector) -> bool:
    metadata = obj.get("metadata")
    object_labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    return labels.matches(object_labels) and fields.matches(obj)
