"""Discovery documents: /version, /api, /apis, /apis/{group} and the per-version resource lists.

Only the legacy (unaggregated) format is served. client-go (discovery_client.go, downloadLegacy /
downloadAPIs) asks `/api` and `/apis` with

    Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,
            application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,
            application/json

and decides how to decode by the *response* Content-Type (`ContentTypeIsGVK`): only a type whose
`g`, `v` and `as` parameters name apidiscovery.k8s.io APIGroupDiscoveryList is read as aggregated;
anything else (plain `application/json`, or an unparsable/empty type) is read as APIVersions /
APIGroupList, after which it fetches every `/apis/{g}/{v}` on its own. So a legacy-only server must
answer `Content-Type: application/json` (see `discovery_content_type`) and must never echo the
aggregated media type back.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from kubesim.registry.resources import ALL_VERBS, Registry, ResourceType

# A minor for which /usr/lib/google-cloud-sdk/bin/kubectl.1.32 exists: Google's kubectl dispatcher
# reads /version and runs the matching client, so this pins the kubectl the tests exercise.
KUBE_VERSION = "v1.32.5"

_VERSION_INFO = {
    "major": "1",
    "minor": "32",
    "gitVersion": KUBE_VERSION,
    "gitCommit": "9894294ef13a5b32803e3ca2c0d620a088cc84d1",
    "gitTreeState": "clean",
    "buildDate": "2025-05-15T09:12:10Z",
    "goVersion": "go1.23.8",
    "compiler": "gc",
    "platform": "linux/amd64",
}

# What the legacy discovery endpoints answer with (never the apidiscovery.k8s.io aggregated type).
LEGACY_DISCOVERY_CONTENT_TYPE = "application/json"

STATUS_VERBS = ["get", "patch", "update"]

# Group priorities of the real API server (higher first); CRD groups get 1000 (crdregistration).
_GROUP_PRIORITY = {
    "apps": 17800,
    "events.k8s.io": 17750,
    "authentication.k8s.io": 17700,
    "authorization.k8s.io": 17600,
    "batch": 17400,
    "rbac.authorization.k8s.io": 17000,
    "apiextensions.k8s.io": 16700,
}
_CRD_GROUP_PRIORITY = 1000
_BUILTIN_DEFAULT_PRIORITY = 15000

# Verbs the real server lists where they differ from ALL_VERBS.
_VERBS_OVERRIDE = {("", "namespaces"): [v for v in ALL_VERBS if v != "deletecollection"]}


def version_info() -> dict[str, str]:
    """The body of GET /version."""
    return dict(_VERSION_INFO)


def parse_accept(header: str | None) -> list[tuple[str, dict[str, str]]]:
    """Accept clauses as (media type, parameters), best first (by q; ties keep their order)."""
    clauses: list[tuple[float, int, str, dict[str, str]]] = []
    for index, part in enumerate((header or "").split(",")):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        if not media:
            continue
        params: dict[str, str] = {}
        for piece in pieces[1:]:
            key, _, value = piece.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 1.0
        if q > 0:
            clauses.append((-q, index, media, params))
    clauses.sort(key=lambda c: (c[0], c[1]))
    return [(media, params) for _, _, media, params in clauses]


def discovery_content_type(accept_header: str | None) -> str | None:
    """The Content-Type to answer /api, /apis, /apis/{g}[/{v}] with, or None for 406.

    Clauses naming the aggregated format (`as=APIGroupDiscoveryList`) are skipped: the client
    always lists plain `application/json` after them, and falls back when the response says
    `application/json` without `g`/`v`/`as`.
    """
    if not (accept_header or "").strip():
        return LEGACY_DISCOVERY_CONTENT_TYPE
    for media, params in parse_accept(accept_header):
        if media in ("application/json", "application/*", "*/*") and "as" not in params:
            return LEGACY_DISCOVERY_CONTENT_TYPE
    return None


_KUBE_VERSION_RE = re.compile(r"^v([1-9][0-9]*)(?:(alpha|beta)([1-9][0-9]*))?$")


def kube_version_key(version: str) -> tuple[int, int, int, str]:
    """Sort key putting versions in the server's preference order (v2, v1, v1beta2, ..., others).

    Mirrors apimachinery's CompareKubeAwareVersionStrings: GA before beta before alpha, higher
    numbers first, and non-Kubernetes-like names last in alphabetical order.
    """
    m = _KUBE_VERSION_RE.match(version)
    if not m:
        return (3, 0, 0, version)
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    return (stage, -int(m.group(1)), -int(m.group(3) or 0), "")


def storage_version_hash(group: str, version: str, kind: str) -> str:
    """Like the real server: base64 of the first 8 bytes of sha256("group/version/kind")."""
    digest = hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def api_versions(server_address: str) -> dict[str, Any]:
    """The body of GET /api."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group_entries(registry: Registry) -> list[tuple[str, list[str], bool]]:
    """(group, versions in preference order, custom) for every non-core group, in /apis order."""
    custom: dict[str, bool] = {}
    for rt in registry:
        if rt.group:
            custom[rt.group] = custom.get(rt.group, True) and rt.custom
    entries = []
    for group, versions in registry.groups().items():
        if group:
            entries.append((group, sorted(versions, key=kube_version_key), custom[group]))

    def order(entry: tuple[str, list[str], bool]) -> tuple[int, str]:
        group, versions, is_custom = entry
        if group == APIREGISTRATION:
            priority = 20001  # above every APIService's: the aggregator lists its group first
        elif is_custom:
            priority = _CRD_GROUP_PRIORITY
        else:
            priority = _GROUP_PRIORITY.get(group, _BUILTIN_DEFAULT_PRIORITY)
        # The aggregator breaks ties by APIService name, "<version>.<group>".
        return (-priority, min(f"{v}.{group}" for v in versions))

    return sorted(entries, key=order)


# The aggregator's own group: listed first, having no APIService of its own (handler_apis.go).
APIREGISTRATION = "apiregistration.k8s.io"


def _apiservice_entries(apiservices: list[dict[str, Any]]) -> list[tuple[str, list[str], bool]]:
    """The groups of /apis as the aggregator lists them from the APIServices (local and
    remote alike; SortedByGroupAndVersion): its own group first, then by group priority
    (highest first) and name; each group's versions by version priority, then kube-aware."""

    def spec(svc: dict[str, Any]) -> dict[str, Any]:
        value = svc.get("spec")
        return value if isinstance(value, dict) else {}

    ordered = sorted(
        apiservices,
        key=lambda s: (-(spec(s).get("groupPriorityMinimum") or 0), s["metadata"]["name"]),
    )
    groups: dict[str, list[dict[str, Any]]] = {}
    for svc in ordered:
        groups.setdefault(str(spec(svc).get("group") or ""), []).append(svc)
    entries: list[tuple[str, list[str], bool]] = [(APIREGISTRATION, ["v1"], False)]
    for group, members in groups.items():
        if not group:  # the legacy core group is /api's
            continue
        members.sort(
            key=lambda s: (
                -(spec(s).get("versionPriority") or 0),
                kube_version_key(str(spec(s).get("version") or "")),
            )
        )
        versions = list(dict.fromkeys(str(spec(s).get("version") or "") for s in members))
        if group != APIREGISTRATION:
            entries.append((group, versions, False))
    return entries


def _group_doc(group: str, versions: list[str]) -> dict[str, Any]:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list(
    registry: Registry, apiservices: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The body of GET /apis: every non-core group, built-in groups first; from the
    APIServices when they are given, as the aggregator answers it."""
    entries = _apiservice_entries(apiservices) if apiservices else _group_entries(registry)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_doc(g, versions) for g, versions, _ in entries],
    }


def api_group(
    registry: Registry, group: str, apiservices: list[dict[str, Any]] | None = None
) -> dict[str, Any] | None:
    """The body of GET /apis/{group}, or None if no such group is served. With APIServices,
    the aggregator answers for the groups they name, and the API server for the rest."""
    candidates = _apiservice_entries(apiservices) if apiservices else []
    for name, versions, _ in [*candidates, *_group_entries(registry)]:
        if name == group:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(name, versions)}
    return None


def _resource_entries(rt: ResourceType) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs or _VERBS_OVERRIDE.get((rt.group, rt.plural), ALL_VERBS)),
    }
    if rt.short_names:
        main["shortNames"] = list(rt.short_names)
    if rt.categories:
        main["categories"] = list(rt.categories)
    # Views sharing one storage (events and events.k8s.io events) share the hash, as on a real
    # server; the storage's group stands in for its storage version's.
    if rt.verbs != ("create",):  # the reviews are never stored, so they have no hash
        main["storageVersionHash"] = storage_version_hash(rt.storage_key[0], rt.version, rt.kind)
    out = [main]

    def sub(name: str, verbs: list[str], **extra: Any) -> dict[str, Any]:
        entry = {"name": f"{rt.plural}/{name}", "singularName": "", "namespaced": rt.namespaced}
        entry.update(extra or {"kind": rt.kind})
        entry["verbs"] = verbs
        return entry

    if "status" in rt.subresources:
        out.append(sub("status", STATUS_VERBS))
    if "log" in rt.subresources:
        out.append(sub("log", ["get"]))
    for name, options in (("attach", "PodAttachOptions"), ("exec", "PodExecOptions"),
                          ("portforward", "PodPortForwardOptions")):  # fmt: skip
        if name in rt.subresources:
            out.append(sub(name, ["create", "get"], kind=options))
    if "scale" in rt.subresources:
        out.append(sub("scale", STATUS_VERBS, group="autoscaling", version="v1", kind="Scale"))
    if "token" in rt.subresources:
        token = {"group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"}
        out.append(sub("token", ["create"], **token))
    return out


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """The body of GET /api/v1 or /apis/{group}/{version}, or None if not served."""
    types = registry.in_group_version(group, version)
    if not types:
        return None
    resources = [entry for rt in types for entry in _resource_entries(rt)]
    resources.sort(key=lambda r: r["name"])
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }
