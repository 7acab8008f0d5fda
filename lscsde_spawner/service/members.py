"""Members of a workspace: checking requests to add or change one, and the bindings that result.
Pure functions over the models (the date is an argument).

A request body is a JSON object of at most ``MAX_BODY`` bytes with only the fields named below;
anything else is a 400 naming the field (413 when too large):

    add     {"username", "expires", "accessLevel"?, "comments"?}
    change  {"expires"?, "accessLevel"?, "comments"?}, at least one

``username`` follows JupyterHub's own rule for a valid name (not empty, no ``/``, not only
dots, no surrounding spaces) and more: no control or invisible characters, no spaces, at most
255 characters; it is stored as the hub normalises it. ``expires`` is a ``YYYY-MM-DD`` date from
today to the workspace's own expiry. ``accessLevel`` is one of ``levels.LEVELS`` (default
member). ``comments`` is text of at most ``MAX_COMMENTS`` characters.

A member added here is one AnalyticsWorkspaceBinding named ``<workspace>-<user>-<hash>``
(deterministic, so two concurrent adds of one user meet as a 409), labelled with the workspace
and the spawner's user label, its level in ``levels.ANNOTATION`` and who added or last changed
it in ``ADDED_BY`` / ``CHANGED_BY``.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

from .. import levels
from ..levels import AccessLevel
from ..models import API_VERSION, AnalyticsWorkspaceBinding, ParseError
from ..models.workspace import WORKSPACE_LABEL
from ..usernames import USER_LABEL, Normalize, owner, username_label
from .errors import BadRequest, TooLarge

MAX_BODY = 16 * 1024
MAX_USERNAME = 255
MAX_COMMENTS = 1000
ADDED_BY = "lscsde-spawner.xlscsde.nhs.uk/added-by"
CHANGED_BY = "lscsde-spawner.xlscsde.nhs.uk/changed-by"
MANAGED_BY = ("app.kubernetes.io/managed-by", "lscsde-workspaces")
ADD_FIELDS = frozenset({"username", "expires", "accessLevel", "comments"})
CHANGE_FIELDS = frozenset({"expires", "accessLevel", "comments"})
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


@dataclass(frozen=True)
class NewMember:
    username: str
    expires: date
    access_level: AccessLevel
    comments: str | None


@dataclass(frozen=True)
class Change:
    expires: date | None = None
    access_level: AccessLevel | None = None
    comments: str | None = None


def parse_body(raw: bytes) -> dict[str, Any]:
    """A request body: one JSON object, at most MAX_BODY bytes."""
    if len(raw) > MAX_BODY:
        raise TooLarge(f"the request body is {len(raw)} bytes; at most {MAX_BODY} are accepted")
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def _unsafe(text: str, allowed: str = "") -> str | None:
    """The first control or invisible character in ``text`` (not in ``allowed``), else None."""
    for c in text:
        if c not in allowed and (unicodedata.category(c)[0] == "C" or c in "\u2028\u2029"):
            return c
    return None


def check_username(value: object, normalize: Normalize) -> str:
    """A hub username as the hub normalises it; BadRequest saying what is wrong otherwise."""
    if not isinstance(value, str) or not value:
        raise BadRequest("'username' must be a non-empty string")
    shown = repr(value[:60])
    if len(value) > MAX_USERNAME:
        raise BadRequest(f"'username' {shown}... is longer than {MAX_USERNAME} characters")
    bad = _unsafe(value)
    if bad is not None:
        raise BadRequest(f"'username' {shown} contains a control or invisible character {bad!r}")
    if any(c.isspace() for c in value):
        raise BadRequest(f"'username' {shown} contains a space")
    if "/" in value or set(value) == {"."}:
        raise BadRequest(f"'username' {shown} is not a valid JupyterHub username")
    name = owner(value, normalize)
    if name is None:
        raise BadRequest(f"'username' {shown} names no hub user")
    return name


def check_expires(value: object, today: date, workspace_expires: date, workspace: str) -> date:
    """A ``YYYY-MM-DD`` date from ``today`` to the workspace's own expiry."""
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise BadRequest("'expires' must be a date, YYYY-MM-DD")
    try:
        expires = date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"'expires' {value!r} is not a date") from None
    if expires < today:
        raise BadRequest(f"'expires' {value} is in the past (today is {today})")
    if expires > workspace_expires:
        raise BadRequest(
            f"'expires' {value} is after workspace {workspace!r} expires ({workspace_expires}): "
            "a grant may not outlast its workspace"
        )
    return expires


def check_level(value: object) -> AccessLevel:
    level = levels.parse(value)
    if level is None:
        raise BadRequest(f"'accessLevel' must be one of {', '.join(levels.LEVELS)}")
    return level


def check_comments(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest("'comments' must be a string")
    if len(value) > MAX_COMMENTS:
        raise BadRequest(f"'comments' is longer than {MAX_COMMENTS} characters")
    bad = _unsafe(value, allowed="\n\t")
    if bad is not None:
        raise BadRequest(f"'comments' contains a control or invisible character {bad!r}")
    return value


def _only(body: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(str(k)[:40] for k in body if k not in allowed)
    if unknown:
        raise BadRequest(
            f"unknown field(s) {', '.join(map(repr, unknown))}; "
            f"expected {', '.join(sorted(allowed))}"
        )


def parse_new(
    body: dict[str, Any],
    *,
    today: date,
    workspace: str,
    workspace_expires: date,
    normalize: Normalize,
) -> NewMember:
    _only(body, ADD_FIELDS)
    if "username" not in body or "expires" not in body:
        raise BadRequest("'username' and 'expires' are required")
    return NewMember(
        username=check_username(body["username"], normalize),
        expires=check_expires(body["expires"], today, workspace_expires, workspace),
        access_level=check_level(body.get("accessLevel", levels.DEFAULT)),
        comments=check_comments(body.get("comments")),
    )


def parse_change(
    body: dict[str, Any], *, today: date, workspace: str, workspace_expires: date
) -> Change:
    _only(body, CHANGE_FIELDS)
    if not body:
        raise BadRequest(f"nothing to change: give one of {', '.join(sorted(CHANGE_FIELDS))}")
    return Change(
        expires=(
            check_expires(body["expires"], today, workspace_expires, workspace)
            if "expires" in body
            else None
        ),
        access_level=check_level(body["accessLevel"]) if "accessLevel" in body else None,
        comments=check_comments(body.get("comments")),
    )


def binding_name(workspace: str, username: str) -> str:
    """``<workspace>-<user slug>-<hash>``: a valid name, the same for the same user."""
    digest = hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    slug = re.sub(r"[^a-z0-9]+", "-", username.lower()).strip("-")[:40].strip("-") or "user"
    head = workspace[: 253 - len(slug) - len(digest) - 2].rstrip("-.")
    return f"{head}-{slug}-{digest}"


def binding_body(
    workspace: str, member: NewMember, *, actor: str, namespace: str
) -> dict[str, Any]:
    """The AnalyticsWorkspaceBinding that makes ``member`` a member of ``workspace``."""
    labels = {USER_LABEL: username_label(member.username), MANAGED_BY[0]: MANAGED_BY[1]}
    if len(workspace) <= 63 and _LABEL_VALUE.fullmatch(workspace):
        labels[WORKSPACE_LABEL] = workspace
    spec: dict[str, Any] = {
        "workspace": workspace,
        "username": member.username,
        "expires": member.expires.isoformat(),
    }
    if member.comments is not None:
        spec["comments"] = member.comments
    return {
        "apiVersion": API_VERSION,
        "kind": AnalyticsWorkspaceBinding.KIND,
        "metadata": {
            "name": binding_name(workspace, member.username),
            "namespace": namespace,
            "labels": labels,
            "annotations": {levels.ANNOTATION: member.access_level, ADDED_BY: actor},
        },
        "spec": spec,
    }


def change_patch(
    binding: AnalyticsWorkspaceBinding, change: Change, *, actor: str
) -> dict[str, Any]:
    """A merge patch making ``change`` to ``binding``, conditional on the version seen (a
    concurrent edit makes it a 409 rather than be overwritten)."""
    spec: dict[str, Any] = {}
    if change.expires is not None:
        spec["expires"] = change.expires.isoformat()
    if change.comments is not None:
        spec["comments"] = change.comments
    annotations = {CHANGED_BY: actor}
    if change.access_level is not None:
        annotations[levels.ANNOTATION] = change.access_level
    meta: dict[str, Any] = {"annotations": annotations}
    if binding.metadata.resource_version:
        meta["resourceVersion"] = binding.metadata.resource_version
    patch: dict[str, Any] = {"metadata": meta}
    if spec:
        patch["spec"] = spec
    return patch


def level_text(binding: AnalyticsWorkspaceBinding) -> str:
    """The binding's level as written (its raw annotation when unknown)."""
    known = levels.level_of(binding.metadata.annotations)
    return known or binding.metadata.annotations.get(levels.ANNOTATION, "")


def describe_change(binding: AnalyticsWorkspaceBinding, change: Change) -> str:
    """What ``change`` does to ``binding``, for an event note: ``access level member ->
    viewer, expires 2026-01-31 -> 2026-03-31``."""
    parts = []
    if change.access_level is not None and change.access_level != level_text(binding):
        parts.append(f"access level {level_text(binding)} -> {change.access_level}")
    if change.expires is not None and change.expires != binding.spec.expires:
        parts.append(f"expires {binding.spec.expires} -> {change.expires}")
    if change.comments is not None and change.comments != (binding.spec.comments or ""):
        parts.append("comments changed")
    return ", ".join(parts) or "no change"


def is_members_binding(binding: AnalyticsWorkspaceBinding, user: str, normalize: Normalize) -> bool:
    """Whether ``binding`` names hub user ``user`` by username (claims aside)."""
    return bool(binding.spec.username) and owner(binding.spec.username, normalize) == user


def member_row(
    binding: AnalyticsWorkspaceBinding, today: date, normalize: Normalize
) -> dict[str, Any]:
    """One binding as the members list shows it."""
    spec = binding.spec
    level = levels.level_of(binding.metadata.annotations)
    if level is None:
        state = "malformed"
    elif spec.expires < today:
        state = "expired"
    else:
        state = "active"
    row: dict[str, Any] = {
        "binding": binding.name,
        "username": owner(spec.username, normalize) if spec.username else None,
        "claims": [{"name": c.name, "operator": c.operator, "value": c.value} for c in spec.claims],
        "expires": spec.expires.isoformat(),
        "accessLevel": level_text(binding),
        "comments": spec.comments or "",
        "state": state,
        "addedBy": binding.metadata.annotations.get(ADDED_BY),
        "changedBy": binding.metadata.annotations.get(CHANGED_BY),
    }
    if level is None:
        row["problem"] = levels.problem(binding.metadata.annotations)
    return row


def error_row(error: ParseError) -> dict[str, Any]:
    """A binding to the workspace that does not parse: shown, so an admin can fix it."""
    return {
        "binding": error.name,
        "username": error.username,
        "claims": [],
        "expires": None,
        "accessLevel": None,
        "comments": "",
        "state": "malformed",
        "problem": error.reason,
    }


__all__ = [
    "ADDED_BY",
    "CHANGED_BY",
    "MAX_BODY",
    "Change",
    "NewMember",
    "binding_body",
    "binding_name",
    "change_patch",
    "check_comments",
    "check_expires",
    "check_level",
    "check_username",
    "describe_change",
    "error_row",
    "is_members_binding",
    "member_row",
    "parse_body",
    "parse_change",
    "parse_new",
]
