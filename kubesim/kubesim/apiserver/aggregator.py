"""The kube-aggregator's controllers over APIServices, run as the writes that drive them happen.

- autoregister (at start): a local APIService, labelled `automanaged: onstart`, for each group
  version the server itself serves and has a priority for (registry/apiservices.PRIORITIES);
  created when missing, its spec put back when changed, and deleted when the group version is
  no longer served. APIServices without the label are never touched.
- crdregistration: a local APIService (`automanaged: "true"`, priorities 1000 and 100) for each
  group version a CRD serves that is not a built-in one; created, or recreated, while a CRD
  serves it, and deleted when the last such CRD goes.
- availability: a local APIService is Available ("Local"); a remote one (with a `service`) gets
  what the remote availability controller finds: ServiceNotFound, ServicePortError,
  EndpointsNotFound, MissingEndpoints, or, when pods would answer, FailedDiscoveryCheck, since
  nothing here serves an aggregated API. It is worked out again when the APIService or a
  Service is written, or a pod is written through the API (not as the kubelet updates pods).

Writes are made straight to the store, as a controller's would be, with watch events.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from kubesim.apiserver.store import Store
from kubesim.registry.apiservices import (
    AUTOMANAGED,
    CONTINUOUSLY,
    CRD_PRIORITY,
    KEY,
    ON_START,
    PRIORITIES,
    condition,
    desired,
    local_available,
    now_rfc3339,
    set_condition,
)
from kubesim.registry.errors import go_quote
from kubesim.registry.resources import Registry, ResourceType

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
SERVICES_KEY, PODS_KEY, NAMESPACES_KEY = ("", "services"), ("", "pods"), ("", "namespaces")
Obj = dict[str, Any]


def builtin_group_versions(registry: Registry) -> set[tuple[str, str]]:
    return {(rt.group, rt.version) for rt in registry if not rt.custom}


def _managed(obj: Obj) -> str:
    return str((obj["metadata"].get("labels") or {}).get(AUTOMANAGED, ""))


def _create(store: Store, obj: Obj) -> None:
    meta = obj["metadata"]
    meta.update(uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339())
    obj["status"] = {}
    set_condition(obj, _availability(store, obj))
    store.put(KEY, obj)


def _sync(store: Store, wanted: dict[str, Obj], managed: str) -> None:
    """Make the APIServices labelled `managed` those `wanted` (checkAPIService)."""
    for name, want in wanted.items():
        current = store.get(KEY, None, name)
        if current is None:
            _create(store, copy.deepcopy(want))
        elif _managed(current) in (ON_START, CONTINUOUSLY) and current.get("spec") != want["spec"]:
            updated = copy.deepcopy(current)
            updated["spec"] = copy.deepcopy(want["spec"])
            store.put(KEY, updated)
    for current in store.items(KEY):
        name = current["metadata"]["name"]
        if _managed(current) == managed and name not in wanted:
            store.remove(KEY, None, name)


def register_on_start(store: Store, registry: Registry) -> None:
    """The autoregister controller's first sync, then the CRDs' and the availability."""
    wanted = {}
    for group, version in sorted(builtin_group_versions(registry)):
        if (group, version) in PRIORITIES:
            obj = desired(group, version, PRIORITIES[(group, version)], ON_START)
            wanted[obj["metadata"]["name"]] = obj
    _sync(store, wanted, ON_START)
    sync_crds(store, registry)
    refresh(store)


def sync_crds(store: Store, registry: Registry) -> None:
    """The crdregistration controller: an APIService per CRD-served group version."""
    builtin = builtin_group_versions(registry) | set(PRIORITIES)
    wanted = {}
    for rt in registry:
        if rt.custom and (rt.group, rt.version) not in builtin:
            obj = desired(rt.group, rt.version, CRD_PRIORITY, CONTINUOUSLY)
            wanted[obj["metadata"]["name"]] = obj
    _sync(store, wanted, CONTINUOUSLY)


# -- availability ------------------------------------------------------------------------------


def _ready_pod_matches(store: Store, namespace: str, selector: dict[str, Any]) -> bool:
    for pod in store.items(PODS_KEY, namespace):
        labels = pod["metadata"].get("labels") or {}
        if any(labels.get(k) != v for k, v in selector.items()):
            continue
        conditions = (pod.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            return True
    return False


def _availability(store: Store, obj: Obj) -> Obj:
    """The Available condition the local or remote availability controller would set."""
    spec = obj.get("spec") or {}
    ref = spec.get("service")
    if not isinstance(ref, dict):
        return local_available()
    namespace, name = str(ref.get("namespace") or ""), str(ref.get("name") or "")
    port = ref.get("port", 443)
    where = f"service/{name} in {go_quote(namespace)}"
    service = store.get(SERVICES_KEY, namespace, name)
    if service is None:
        return condition("False", "ServiceNotFound", f"{where} is not present")
    service_spec = service.get("spec") or {}
    if service_spec.get("type", "ClusterIP") == "ClusterIP":
        ports = [p for p in service_spec.get("ports") or [] if p.get("port") == port]
        if not ports:
            return condition(
                "False", "ServicePortError", f"{where} is not listening on port {port}"
            )
        selector = service_spec.get("selector") or {}
        if not selector:  # no endpoints controller writes Endpoints for a selectorless service
            return condition("False", "EndpointsNotFound", f"cannot find endpoints for {where}")
        if not _ready_pod_matches(store, namespace, selector):
            port_name = go_quote(str(ports[0].get("name") or ""))
            message = f"endpoints for {where} have no addresses with port name {port_name}"
            return condition("False", "MissingEndpoints", message)
    host = service_spec.get("clusterIP") or f"{name}.{namespace}.svc"
    url = f"https://{host}:{port}/apis/{spec.get('group', '')}/{spec.get('version', '')}"
    address = f"{host}:{port}"
    message = (
        f'failing or missing response from {url}: Get "{url}": dial tcp {address}: '
        "connect: connection refused"
    )
    return condition("False", "FailedDiscoveryCheck", message)


def refresh(store: Store, names: set[str] | None = None) -> None:
    """Set the Available condition of the APIServices named (all when None)."""
    for current in store.items(KEY):
        if names is not None and current["metadata"]["name"] not in names:
            continue
        updated = copy.deepcopy(current)
        if set_condition(updated, _availability(store, current)):
            store.put(KEY, updated)


def _remote_in(store: Store, namespace: str, service: str | None = None) -> set[str]:
    """The remote APIServices whose service is in `namespace` (and named `service`)."""
    out = set()
    for obj in store.items(KEY):
        ref = (obj.get("spec") or {}).get("service")
        if (
            isinstance(ref, dict)
            and ref.get("namespace") == namespace
            and (service is None or ref.get("name") == service)
        ):
            out.add(obj["metadata"]["name"])
    return out


def proxied(store: Store, path: str) -> bool:
    """Whether a request path is an aggregated API's: under /apis/<group>/<version> (or /api,
    for "v1.") of an APIService with a service, which the aggregator proxies to."""
    parts = path.split("/")
    if len(parts) >= 2 and parts[1] == "api":
        name = "v1."
    elif len(parts) >= 4 and parts[1] == "apis" and parts[2] and parts[3]:
        name = f"{parts[3]}.{parts[2]}"
    else:
        return False
    found = store.get(KEY, None, name)
    return found is not None and isinstance((found.get("spec") or {}).get("service"), dict)


# -- hooks: the API calls these after its writes ----------------------------------------------


def after_write(store: Store, registry: Registry, rt: ResourceType, obj: Obj) -> None:
    key, meta = rt.storage_key, obj["metadata"]
    if key == CRD_KEY:
        sync_crds(store, registry)
    elif key == KEY:
        refresh(store, {meta["name"]})
    elif key == SERVICES_KEY:
        names = _remote_in(store, meta.get("namespace", ""), meta["name"])
        if names:
            refresh(store, names)
    elif key == PODS_KEY:
        names = _remote_in(store, meta.get("namespace", ""))
        if names:
            refresh(store, names)


def after_remove(store: Store, registry: Registry, rt: ResourceType, obj: Obj) -> None:
    key = rt.storage_key
    if key in (CRD_KEY, KEY):
        sync_crds(store, registry)  # a CRD's APIService that was deleted comes back
    elif key in (SERVICES_KEY, PODS_KEY, NAMESPACES_KEY):
        meta = obj["metadata"]
        if key == NAMESPACES_KEY:  # its services went with it
            names = _remote_in(store, meta["name"])
        else:
            service = meta["name"] if key == SERVICES_KEY else None
            names = _remote_in(store, meta.get("namespace", ""), service)
        if names:
            refresh(store, names)
