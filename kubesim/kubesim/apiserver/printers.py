"""The Table columns and rows of the built-in kinds, as the real server's printers make them.

Each printer returns a row's cells (see cells.py for how values are rendered); kinds without a
printer get the default convertor's Name and Created At.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubesim.apiserver.cells import Row, metadata, parse_time, since
from kubesim.apiserver.printers_pod import pod_row
from kubesim.apiserver.printers_workloads import PRINTERS as WORKLOAD_PRINTERS

Printer = Callable[[dict[str, Any], datetime], Row]

NAME_DOC = (
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
AGE_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. "
    "It is not guaranteed to be set in happens-before order across separate operations. Clients "
    "may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the "
    "system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)


def col(
    name: str, kind: str = "string", *, priority: int = 0, fmt: str = "", doc: str = ""
) -> dict[str, Any]:
    """A Table column definition."""
    return {"name": name, "type": kind, "format": fmt, "description": doc, "priority": priority}


NAME_COLUMN = col("Name", fmt="name", doc=NAME_DOC)
AGE_COLUMN = col("Age", doc=AGE_DOC)

_ACCESS_MODES = (
    ("ReadWriteOnce", "RWO"),
    ("ReadOnlyMany", "ROX"),
    ("ReadWriteMany", "RWX"),
    ("ReadWriteOncePod", "RWOP"),
)


def _pvc(pvc: dict[str, Any], now: datetime) -> Row:
    spec, status, meta = pvc.get("spec") or {}, pvc.get("status") or {}, metadata(pvc)
    phase = "Terminating" if meta.get("deletionTimestamp") else status.get("phase") or ""
    capacity = modes = ""
    if spec.get("volumeName"):
        held = set(status.get("accessModes") or [])
        modes = ",".join(short for mode, short in _ACCESS_MODES if mode in held)
        capacity = str((status.get("capacity") or {}).get("storage") or "")
    beta = (meta.get("annotations") or {}).get("volume.beta.kubernetes.io/storage-class")
    storage_class = beta if beta is not None else spec.get("storageClassName") or ""
    cells = [
        meta.get("name", ""),
        phase,
        spec.get("volumeName") or "",
        capacity,
        modes,
        storage_class,
        spec.get("volumeAttributesClassName") or "<unset>",
        since(meta.get("creationTimestamp"), now),
        spec.get("volumeMode") or "<unset>",
    ]
    return cells, None


def _event(ev: dict[str, Any], now: datetime, *, new_api: bool) -> Row:
    """printEvent; events.k8s.io/v1 objects are read through their core field names."""
    if new_api:
        involved, message = ev.get("regarding") or {}, ev.get("note") or ""
        first, last = ev.get("deprecatedFirstTimestamp"), ev.get("deprecatedLastTimestamp")
        count, source = ev.get("deprecatedCount") or 0, ev.get("deprecatedSource") or {}
        controller = ev.get("reportingController") or ""
    else:
        involved, message = ev.get("involvedObject") or {}, ev.get("message") or ""
        first, last = ev.get("firstTimestamp"), ev.get("lastTimestamp")
        count, source = ev.get("count") or 0, ev.get("source") or {}
        controller = ev.get("reportingComponent") or ""
    first_seen = since(first, now) if parse_time(first) else since(ev.get("eventTime"), now)
    last_seen = since(last, now) if parse_time(last) else first_seen
    series = ev.get("series")
    if series is not None:
        last_seen = since(series.get("lastObservedTime"), now)
        count = series.get("count") or 0
    elif count == 0:
        count = 1  # singleton events carry no count in the new API
    kind = (involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    component = source.get("component") or controller
    instance = source.get("host") or ev.get("reportingInstance") or ""
    source_text = f"{component}, {instance}" if instance else component
    cells = [
        last_seen,
        ev.get("type") or "",
        ev.get("reason") or "",
        target,
        involved.get("fieldPath") or "",
        source_text,
        message.strip(),
        first_seen,
        count,
        metadata(ev).get("name", ""),
    ]
    return cells, None


def _service(svc: dict[str, Any], now: datetime) -> Row:
    spec, status = svc.get("spec") or {}, svc.get("status") or {}
    kind = spec.get("type") or "ClusterIP"
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    external = spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        external_text = ",".join(external) or "<none>"
    elif kind == "LoadBalancer":
        ingress = (status.get("loadBalancer") or {}).get("ingress") or []
        lb = sorted({i.get("ip") or i.get("hostname") for i in ingress} - {None, ""})
        external_text = ",".join(lb + external) or "<pending>"
    elif kind == "ExternalName":
        external_text = spec.get("externalName") or ""
    else:
        external_text = "<unknown>"
    ports = []
    for p in spec.get("ports") or []:
        node_port = f":{p['nodePort']}" if p.get("nodePort") else ""
        ports.append(f"{p.get('port')}{node_port}/{p.get('protocol') or 'TCP'}")
    selector = spec.get("selector") or {}
    selector_text = ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>"
    cells = [
        metadata(svc).get("name", ""),
        kind,
        cluster_ips[0] if cluster_ips else "<none>",
        external_text,
        ",".join(ports) or "<none>",
        since(metadata(svc).get("creationTimestamp"), now),
        selector_text,
    ]
    return cells, None


_ROLE_PREFIX = "node-role.kubernetes.io/"


def _node_address(node: dict[str, Any], kind: str) -> str:
    addresses = (node.get("status") or {}).get("addresses") or []
    return next((a.get("address") or "" for a in addresses if a.get("type") == kind), "<none>")


def _node(node: dict[str, Any], now: datetime) -> Row:
    """printNode: Ready/NotReady (Unknown without one), SchedulingDisabled, roles from labels."""
    meta, spec, status = metadata(node), node.get("spec") or {}, node.get("status") or {}
    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    states = [("Ready" if c.get("status") == "True" else "NotReady") for c in ready[-1:]]
    states = states or ["Unknown"]
    if spec.get("unschedulable"):
        states.append("SchedulingDisabled")
    roles: set[str] = set()
    for key, value in (meta.get("labels") or {}).items():
        if key.startswith(_ROLE_PREFIX) and key[len(_ROLE_PREFIX) :]:
            roles.add(key[len(_ROLE_PREFIX) :])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    info = status.get("nodeInfo") or {}
    cells = [
        meta.get("name", ""),
        ",".join(states),
        ",".join(sorted(roles)) or "<none>",
        since(meta.get("creationTimestamp"), now),
        info.get("kubeletVersion") or "",
        _node_address(node, "InternalIP"),
        _node_address(node, "ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]
    return cells, None


def _simple(*cells: Callable[[dict[str, Any]], Any]) -> Printer:
    """Name, the given cells, then Age."""

    def row(obj: dict[str, Any], now: datetime) -> Row:
        meta = metadata(obj)
        values = [meta.get("name", ""), *(cell(obj) for cell in cells)]
        return [*values, since(meta.get("creationTimestamp"), now)], None

    return row


def _binding(obj: dict[str, Any], now: datetime) -> Row:
    """printRoleBinding / printClusterRoleBinding (rbac.SubjectsStrings for the wide cells)."""
    meta, ref = metadata(obj), obj.get("roleRef") or {}
    users, groups, accounts = [], [], []
    for subject in obj.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name", "")
        if kind == "ServiceAccount":
            accounts.append(f"{subject.get('namespace', '')}/{name}")
        elif kind == "User":
            users.append(name)
        elif kind == "Group":
            groups.append(name)
    cells = [
        meta.get("name", ""),
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        since(meta.get("creationTimestamp"), now),
        ", ".join(users),
        ", ".join(groups),
        ", ".join(accounts),
    ]
    return cells, None


def _binding_columns(role_ref_doc: str) -> list[dict[str, Any]]:
    return [
        NAME_COLUMN, col("Role", doc=role_ref_doc), AGE_COLUMN,
        col("Users", priority=1, doc="Users in the roleBinding"),
        col("Groups", priority=1, doc="Groups in the roleBinding"),
        col("ServiceAccounts", priority=1, doc="ServiceAccounts in the roleBinding"),
    ]  # fmt: skip


_ROLE_REF_DOC = (
    "RoleRef can reference a Role in the current namespace or a ClusterRole in the global "
    "namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This "
    "field is immutable."
)
_CLUSTER_ROLE_REF_DOC = (
    "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be "
    "resolved, the Authorizer must return an error. This field is immutable."
)


def _apiservice(obj: dict[str, Any], now: datetime) -> Row:
    """kube-aggregator's apiservice ConvertToTable: the service (or Local), and Available."""
    meta, spec = metadata(obj), obj.get("spec") or {}
    ref = spec.get("service")
    service = f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else "Local"
    available = "Unknown"
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Available":
            status, reason = cond.get("status", ""), cond.get("reason")
            available = f"{status} ({reason})" if status != "True" and reason else status
            break
    age = since(meta.get("creationTimestamp"), now)
    return [meta.get("name", ""), service, available, age], None


def _created_at(obj: dict[str, Any], now: datetime) -> Row:
    """rest.defaultTableConvertor: the creation time as RFC 3339 in UTC, not as an age."""
    when = parse_time(metadata(obj).get("creationTimestamp"))
    text = (when or datetime(1, 1, 1, tzinfo=UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [metadata(obj).get("name", ""), text], None


DEFAULT_PRINTER: tuple[list[dict[str, Any]], Printer] = (
    [NAME_COLUMN, col("Created At", "date", doc=AGE_DOC)],
    _created_at,
)

_EVENT_COLUMNS = [
    col("Last Seen"), col("Type"), col("Reason"), col("Object"),
    col("Subobject", priority=1), col("Source", priority=1), col("Message"),
    col("First Seen", priority=1), col("Count", priority=1),
    col("Name", priority=1, fmt="name", doc=NAME_DOC),
]  # fmt: skip
PRINTERS: dict[tuple[str, str], tuple[list[dict[str, Any]], Printer]] = {
    ("", "pods"): ([NAME_COLUMN, col("Ready"), col("Status"), col("Restarts"), AGE_COLUMN,
                    col("IP", priority=1), col("Node", priority=1),
                    col("Nominated Node", priority=1), col("Readiness Gates", priority=1)],
                   pod_row),
    ("", "persistentvolumeclaims"): ([NAME_COLUMN, col("Status"), col("Volume"),
                                      col("Capacity"), col("Access Modes"),
                                      col("StorageClass"), col("VolumeAttributesClass"),
                                      AGE_COLUMN, col("VolumeMode", priority=1)], _pvc),
    ("", "events"): (_EVENT_COLUMNS, lambda o, now: _event(o, now, new_api=False)),
    ("events.k8s.io", "events"): (_EVENT_COLUMNS, lambda o, now: _event(o, now, new_api=True)),
    ("", "nodes"): ([NAME_COLUMN, col("Status", doc="The status of the node"),
                     col("Roles", doc="The roles of the node"), AGE_COLUMN,
                     col("Version", doc="Kubelet Version reported by the node."),
                     col("Internal-IP", priority=1, doc="List of addresses reachable to the node."),
                     col("External-IP", priority=1, doc="List of addresses reachable to the node."),
                     col("OS-Image", priority=1, doc="OS Image reported by the node from "
                         "/etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
                     col("Kernel-Version", priority=1, doc="Kernel Version reported by the node "
                         "from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
                     col("Container-Runtime", priority=1, doc="Container Runtime Version "
                         "reported by the node through runtime remote API (e.g. "
                         "containerd://1.4.2).")], _node),
    ("", "namespaces"): ([NAME_COLUMN, col("Status"), AGE_COLUMN],
                         _simple(lambda o: (o.get("status") or {}).get("phase") or "")),
    ("", "secrets"): ([NAME_COLUMN, col("Type"), col("Data"), AGE_COLUMN],
                      _simple(lambda o: o.get("type") or "", lambda o: len(o.get("data") or {}))),
    ("", "configmaps"): ([NAME_COLUMN, col("Data"), AGE_COLUMN],
                         _simple(lambda o: len(o.get("data") or {})
                                 + len(o.get("binaryData") or {}))),
    ("", "serviceaccounts"): ([NAME_COLUMN, col("Secrets"), AGE_COLUMN],
                              _simple(lambda o: len(o.get("secrets") or []))),
    ("", "services"): ([NAME_COLUMN, col("Type"), col("Cluster-IP"), col("External-IP"),
                        col("Port(s)"), AGE_COLUMN, col("Selector", priority=1)], _service),
    ("rbac.authorization.k8s.io", "rolebindings"): (_binding_columns(_ROLE_REF_DOC), _binding),
    ("apiregistration.k8s.io", "apiservices"): (
        [NAME_COLUMN,
         col("Service", doc="The reference to the service that hosts this API endpoint."),
         col("Available", doc="Whether this service is available."), AGE_COLUMN],
        _apiservice),
    ("rbac.authorization.k8s.io", "clusterrolebindings"): (
        _binding_columns(_CLUSTER_ROLE_REF_DOC), _binding),
    **WORKLOAD_PRINTERS,
}  # fmt: skip
