"""The base of every custom-resource model: camelCase aliases, lossless round trips."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

GROUP = "xlscsde.nhs.uk"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"


class CRModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are kept, so a
    read-modify-write never loses what other tools wrote."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        validate_assignment=True,
    )

    def to_dict(self) -> dict[str, Any]:
        """The object as the API server wants it: aliases, JSON types, only fields that were set."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class ObjectMeta(CRModel):
    name: str = ""
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class Resource(CRModel):
    """A namespaced custom resource of group xlscsde.nhs.uk/v1."""

    KIND: ClassVar[str] = ""
    PLURAL: ClassVar[str] = ""

    api_version: str = API_VERSION
    kind: str = ""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    @property
    def name(self) -> str:
        return self.metadata.name


R = TypeVar("R", bound=Resource)


@dataclass(frozen=True)
class ParseError:
    """One object that did not parse: reported for that object only."""

    kind: str
    namespace: str | None
    name: str
    reason: str
    # What could still be read of a broken binding, so only its own user is told about it.
    username: str | None = None
    workspace: str | None = None

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where} is malformed: {self.reason}"


@dataclass
class Parsed(Generic[R]):
    items: list[R]
    errors: list[ParseError]


def describe(err: ValidationError) -> str:
    """A short, specific account of what is wrong, naming the fields."""
    parts = []
    for e in err.errors()[:5]:
        loc = ".".join(str(p) for p in e["loc"])
        parts.append(f"{loc}: {e['msg']}")
    more = len(err.errors()) - 5
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


class Unreadable(dict[str, Any]):
    """An object the JSON layer would not hand over in full (see kube/safejson.py): too deep,
    too large or not JSON. It holds only what could be read safely (metadata, a binding's
    spec.username and spec.workspace) and `reason`; `parse_one` makes it that object's
    ParseError, so it never becomes a model."""

    def __init__(self, readable: dict[str, Any], reason: str) -> None:
        super().__init__(readable)
        self.reason = reason


def parse_one(model: type[R], obj: Any) -> R | ParseError:
    if isinstance(obj, Unreadable):
        return _error(model, obj, obj.reason)
    try:
        return model.model_validate(obj)
    except ValidationError as err:
        return _error(model, obj, describe(err))
    except Exception as err:  # RecursionError, a bug in a validator: this object only
        return _error(model, obj, f"cannot be parsed: {type(err).__name__}: {str(err)[:200]}")


def _error(model: type[Resource], obj: Any, reason: str) -> ParseError:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    spec = obj.get("spec") if isinstance(obj, dict) else None
    spec = spec if isinstance(spec, dict) else {}
    return ParseError(
        model.KIND,
        _text(meta.get("namespace")),
        _name(meta.get("name", "?")),
        reason,
        username=_text(spec.get("username")),
        workspace=_text(spec.get("workspace")),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _name(value: Any) -> str:
    # str() of a container could recurse without bound; a name is a scalar or unknown.
    return str(value) if isinstance(value, (str, int, float)) else "?"


def parse_many(model: type[R], objs: Iterable[Any]) -> Parsed[R]:
    """Parse a list; a bad object is reported on its own and never fails the rest."""
    items: list[R] = []
    errors: list[ParseError] = []
    for obj in objs:
        parsed = parse_one(model, obj)
        if isinstance(parsed, ParseError):
            errors.append(parsed)
        else:
            items.append(parsed)
    return Parsed(items, errors)
