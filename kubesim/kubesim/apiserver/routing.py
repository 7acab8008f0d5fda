"""Which resource a request path names, and which Kubernetes verb the request is."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from kubesim.apiserver.httpio import query_bool
from kubesim.registry.errors import method_not_allowed, resource_not_found
from kubesim.registry.resources import Registry, ResourceType

# Subresources of a namespace itself, not a namespaced collection: /api/v1/namespaces/NAME/status.
NAMESPACE_SUBRESOURCES = {"status", "finalize"}
# Subresources created by a POST to them: serviceaccounts/<name>/token (a TokenRequest).
CREATE_SUBRESOURCES = {"token"}
# Connect subresources (pods/exec, attach, portforward): GET (a WebSocket) is get, POST create.
CONNECT_SUBRESOURCES = {"exec", "attach", "portforward"}


@dataclass
class Target:
    rt: ResourceType
    namespace: str | None
    name: str | None
    sub: str | None

    @property
    def resource(self) -> str:
        return f"{self.rt.plural}/{self.sub}" if self.sub else self.rt.plural


def resolve(registry: Registry, path: str) -> Target | None:
    """The resource a path names; None for non-resource paths (discovery, health)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not registry.in_group_version(group, version):
        raise resource_not_found()
    namespace = None
    if (
        rest[0] == "namespaces"
        and len(rest) >= 3
        and not (not group and len(rest) == 3 and rest[2] in NAMESPACE_SUBRESOURCES)
    ):
        namespace, rest = rest[1], rest[2:]
    rt = registry.get(group, version, rest[0])
    if rt is None or len(rest) > 3:
        raise resource_not_found()
    if namespace is not None and not rt.namespaced:
        raise resource_not_found()
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub is not None and sub not in rt.subresources:
        raise resource_not_found()
    return Target(rt, namespace, name, sub)


def request_verb(request: web.Request, t: Target) -> str:
    """The Kubernetes verb of a request on a resource, or the 405 a real server answers."""
    method = request.method
    if method in ("GET", "HEAD"):
        if t.sub in CONNECT_SUBRESOURCES:
            return "get"
        if t.name is None or t.sub == "log":
            if t.name is None and query_bool(request.query, "watch"):
                return "watch"
            return "list" if t.name is None else "get"
        return "watch" if query_bool(request.query, "watch") else "get"
    if method == "POST":
        if t.name is not None and t.sub not in CREATE_SUBRESOURCES | CONNECT_SUBRESOURCES:
            raise method_not_allowed()
        return "create"
    if method == "PUT":
        if t.name is None:
            raise method_not_allowed()
        return "update"
    if method == "PATCH":
        if t.name is None:
            raise method_not_allowed()
        return "patch"
    if method == "DELETE":
        if t.sub is not None:
            raise method_not_allowed()
        return "delete" if t.name is not None else "deletecollection"
    raise method_not_allowed()
