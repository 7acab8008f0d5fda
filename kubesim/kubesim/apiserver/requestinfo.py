"""What a request asks to do, as the API server's authorizers see it (apiserver's RequestInfo).

`request_attributes` parses a path, method and query the way
`k8s.io/apiserver/pkg/endpoints/request.RequestInfoFactory` does, without consulting what is
served: authorization runs before routing, so a request for a resource that does not exist is
refused (403) before it could be answered 404. The HTTP layer's own routing (routing.py) is
separate; the two agree on every path the server serves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Prefixes of resource paths; "api" carries no group.
API_PREFIXES = ("api", "apis")
GROUPLESS_PREFIXES = ("api",)
# Subresources of a namespace itself (/api/v1/namespaces/NAME/status), not a namespaced kind.
NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
# Legacy verb path segments (/api/v1/watch/..., /api/v1/proxy/...).
SPECIAL_VERBS = frozenset({"proxy", "watch"})
SPECIAL_VERBS_NO_SUBRESOURCES = frozenset({"proxy"})
_METHOD_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


@dataclass(frozen=True)
class UserInfo:
    """An authenticated identity: user.Info."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def extra_dict(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.extra}


@dataclass(frozen=True)
class Attributes:
    """authorizer.Attributes: who asks to do what. Resource requests carry group/resource/name;
    the others only a path and a lower-case HTTP method as their verb."""

    user: UserInfo
    verb: str
    resource_request: bool
    path: str = ""
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def combined_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def _split(path: str) -> list[str]:
    trimmed = path.strip("/")
    return trimmed.split("/") if trimmed else []


def _watch_requested(query: Mapping[str, str]) -> bool:
    value = query.get("watch")
    if value is None:
        return False
    return value.lower() not in ("false", "0")  # as the lenient fallback of the real parser


def _exact_name(field_selector: str) -> str:
    """The name a field selector requires exactly (`metadata.name=x` or `==`), else ""."""
    for term in field_selector.split(","):
        term = term.strip()
        for op in ("==", "="):
            key, sep, value = term.partition(op)
            if sep and "!" not in key:
                if key.strip() == "metadata.name":
                    value = value.strip()
                    valid = value not in (".", "..") and "/" not in value and "%" not in value
                    return value if valid else ""
                break
    return ""


def request_attributes(
    user: UserInfo, method: str, path: str, query: Mapping[str, str]
) -> Attributes:
    """The authorizer attributes of one request (RequestInfoFactory.NewRequestInfo)."""
    non_resource = Attributes(user=user, verb=method.lower(), resource_request=False, path=path)
    parts = _split(path)
    if len(parts) < 3 or parts[0] not in API_PREFIXES:
        return non_resource
    prefix, parts = parts[0], parts[1:]
    group = ""
    if prefix not in GROUPLESS_PREFIXES:
        if len(parts) < 3:
            return non_resource
        group, parts = parts[0], parts[1:]
    version, parts = parts[0], parts[1:]
    if parts[0] in SPECIAL_VERBS:
        if len(parts) < 2:
            return non_resource  # the real parser fails the request; nothing to authorize
        verb, parts = parts[0], parts[1:]
    else:
        verb = _METHOD_VERBS.get(method.upper(), "")
    namespace = ""
    if parts[0] == "namespaces" and len(parts) > 1:
        namespace = parts[1]
        if len(parts) > 2 and parts[2] not in NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    resource = parts[0]
    name = parts[1] if len(parts) >= 2 else ""
    subresource = ""
    if len(parts) >= 3 and verb not in SPECIAL_VERBS_NO_SUBRESOURCES:
        subresource = parts[2]
    if not name and verb == "get":
        verb = "watch" if _watch_requested(query) else "list"
        name = _exact_name(query.get("fieldSelector") or "")
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(
        user=user,
        verb=verb,
        resource_request=True,
        path=path,
        group=group,
        version=version,
        resource=resource,
        subresource=subresource,
        namespace=namespace,
        name=name,
    )
