"""The kinds the embedded API serves: built-in ones and those that CRDs add."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

# Field selectors every kind supports; kinds add their own.
COMMON_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


@dataclass(frozen=True)
class ResourceType:
    """One served resource: a (group, version, plural) with what clients need to know about it."""

    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # Subresources served: "status", "scale", "log", and pods' "exec", "attach", "portforward".
    subresources: frozenset[str] = frozenset()
    # Extra field selectors beyond metadata.name / metadata.namespace.
    fields: frozenset[str] = frozenset()
    # CRD-only: the version's openAPIV3Schema, printer columns and scale paths.
    schema: dict[str, Any] | None = None
    printer_columns: tuple[dict[str, Any], ...] = ()
    scale: dict[str, Any] | None = None
    # True for kinds a CRD defines.
    custom: bool = False
    # Objects of several served kinds may share one storage (events and events.k8s.io events;
    # every served version of a CRD). The key names that storage.
    storage: tuple[str, str] = field(default=("", ""))
    # Whether objects carry metadata.generation (bumped on changes outside metadata and status).
    generation: bool = False
    # Whether PUT may create or skip the resourceVersion precondition.
    unconditional_update: bool = True
    # The verbs served, when not all of them: ("create",) for the reviews, which store nothing.
    verbs: tuple[str, ...] = ()
    # The store's ReturnDeletedObject: an immediate delete answers with the object rather than
    # a Status of Success (pods, services, service accounts, namespaces).
    returns_deleted: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def storage_key(self) -> tuple[str, str]:
        return self.storage if self.storage != ("", "") else (self.group, self.plural)

    @property
    def selectable_fields(self) -> frozenset[str]:
        return COMMON_FIELDS | self.fields

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def qualified(self) -> str:
        """`plural.group`, as in error messages and CRD names."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _core(
    kind: str,
    plural: str,
    *,
    namespaced: bool = True,
    short: Iterable[str] = (),
    sub: Iterable[str] = (),
    fields: Iterable[str] = (),
    categories: Iterable[str] = (),
    group: str = "",
    version: str = "v1",
    storage: tuple[str, str] = ("", ""),
    generation: bool = False,
    unconditional_update: bool = True,
    verbs: Iterable[str] = (),
    returns_deleted: bool = False,
) -> ResourceType:
    return ResourceType(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        short_names=tuple(short),
        categories=tuple(categories),
        subresources=frozenset(sub),
        fields=frozenset(fields),
        storage=storage,
        generation=generation,
        unconditional_update=unconditional_update,
        verbs=tuple(verbs),
        returns_deleted=returns_deleted,
    )


EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_TYPES = (
    _core("Role", "roles", group=RBAC_GROUP),
    _core("ClusterRole", "clusterroles", namespaced=False, group=RBAC_GROUP),
    _core("RoleBinding", "rolebindings", group=RBAC_GROUP),
    _core("ClusterRoleBinding", "clusterrolebindings", namespaced=False, group=RBAC_GROUP),
)
# Create-only kinds that store nothing: the server answers them (apiserver/reviews.py).
REVIEW_TYPES = (
    _core("SelfSubjectAccessReview", "selfsubjectaccessreviews", namespaced=False,
          group="authorization.k8s.io", verbs=["create"]),
    _core("SelfSubjectRulesReview", "selfsubjectrulesreviews", namespaced=False,
          group="authorization.k8s.io", verbs=["create"]),
    _core("SubjectAccessReview", "subjectaccessreviews", namespaced=False,
          group="authorization.k8s.io", verbs=["create"]),
    _core("LocalSubjectAccessReview", "localsubjectaccessreviews",
          group="authorization.k8s.io", verbs=["create"]),
    _core("SelfSubjectReview", "selfsubjectreviews", namespaced=False,
          group="authentication.k8s.io", verbs=["create"]),
    _core("TokenReview", "tokenreviews", namespaced=False, group="authentication.k8s.io",
          verbs=["create"]),
)  # fmt: skip

ALL = ["all"]
# The workload kinds and their controllers' bookkeeping (registry/apps*.py, batch.py).
WORKLOAD_TYPES = (
    _core("ReplicationController", "replicationcontrollers", short=["rc"],
          sub=["status", "scale"], fields=["status.replicas"], categories=ALL, generation=True),
    _core("Deployment", "deployments", group="apps", short=["deploy"], sub=["status", "scale"],
          categories=ALL, generation=True),
    _core("ReplicaSet", "replicasets", group="apps", short=["rs"], sub=["status", "scale"],
          fields=["status.replicas"], categories=ALL, generation=True),
    _core("StatefulSet", "statefulsets", group="apps", short=["sts"], sub=["status", "scale"],
          categories=ALL, generation=True),
    _core("DaemonSet", "daemonsets", group="apps", short=["ds"], sub=["status"], categories=ALL,
          generation=True),
    _core("ControllerRevision", "controllerrevisions", group="apps"),
    _core("Job", "jobs", group="batch", sub=["status"], fields=["status.successful"],
          categories=ALL, generation=True),
    _core("CronJob", "cronjobs", group="batch", short=["cj"], sub=["status"], categories=ALL,
          generation=True),
)  # fmt: skip

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    # (metadata.namespace is accepted as a namespace field selector; a real server refuses it)
    _core("Namespace", "namespaces", namespaced=False, short=["ns"], sub=["status"],
          fields=["status.phase"], returns_deleted=True),
    _core("Node", "nodes", namespaced=False, short=["no"], sub=["status"],
          fields=["spec.unschedulable"]),
    _core("Pod", "pods", short=["po"], sub=["status", "log", "exec", "attach", "portforward"],
          categories=["all"],
          returns_deleted=True,
          fields=["spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                  "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                  "status.podIP", "status.podIPs", "status.nominatedNodeName"]),
    _core("PersistentVolumeClaim", "persistentvolumeclaims", short=["pvc"], sub=["status"]),
    _core("Event", "events", short=["ev"], fields=EVENT_FIELDS),
    _core("Secret", "secrets", fields=["type"]),
    _core("ConfigMap", "configmaps", short=["cm"]),
    _core("Service", "services", short=["svc"], sub=["status"], categories=["all"],
          returns_deleted=True,
          fields=["spec.clusterIP", "spec.type"]),
    _core("ServiceAccount", "serviceaccounts", short=["sa"], sub=["token"],
          returns_deleted=True),
    # events.k8s.io/v1 is another view of the core events (the server converts between them).
    _core("Event", "events", short=["ev"], group="events.k8s.io", storage=("", "events"),
          fields=["regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid",
                  "regarding.apiVersion", "regarding.resourceVersion", "regarding.fieldPath",
                  "reason", "reportingController", "type"]),
    _core("CustomResourceDefinition", "customresourcedefinitions", namespaced=False,
          short=["crd", "crds"], sub=["status"], group="apiextensions.k8s.io",
          categories=["api-extensions"], generation=True),
    # The kube-aggregator's (registry/apiservices.py, apiserver/aggregator.py).
    _core("APIService", "apiservices", namespaced=False, sub=["status"],
          group="apiregistration.k8s.io", categories=["api-extensions"],
          unconditional_update=False),
    *WORKLOAD_TYPES,
    *RBAC_TYPES,
    *REVIEW_TYPES,
)  # fmt: skip


def crd_types(crd: dict[str, Any]) -> list[ResourceType]:
    """The served versions of a CRD object, one ResourceType each (all share one storage)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group", "")
    plural = names.get("plural", "")
    out = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        sub = version.get("subresources") or {}
        subresources = {k for k in ("status", "scale") if k in sub}
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        out.append(
            ResourceType(
                group=group,
                version=version.get("name", ""),
                kind=names.get("kind", ""),
                plural=plural,
                singular=names.get("singular") or names.get("kind", "").lower(),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=frozenset(subresources),
                schema=schema,
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
                scale=sub.get("scale"),
                custom=True,
                storage=(group, plural),
                generation=True,
                unconditional_update=False,
            )
        )
    return out


class Registry:
    """The resource types currently served, looked up by group/version/plural."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        # CRD name -> the types it added, so deleting the CRD removes exactly those.
        self._by_crd: dict[str, list[ResourceType]] = {}
        for rt in BUILTIN_TYPES:
            self._add(rt)

    def _add(self, rt: ResourceType) -> None:
        self._types[(rt.group, rt.version, rt.plural)] = rt

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def by_storage(self, key: tuple[str, str]) -> list[ResourceType]:
        return [rt for rt in self._types.values() if rt.storage_key == key]

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._types.values()))

    def groups(self) -> dict[str, list[str]]:
        """Group name -> served versions, in registration order (core group under "")."""
        out: dict[str, list[str]] = {}
        for rt in self._types.values():
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self._types.values() if rt.group == group and rt.version == version]

    def set_crd(self, crd: dict[str, Any]) -> list[ResourceType]:
        """Serve (or re-serve, after an update) the kinds of a CRD; returns its types."""
        name = (crd.get("metadata") or {}).get("name", "")
        self.remove_crd(name)
        types = crd_types(crd)
        for rt in types:
            self._add(rt)
        self._by_crd[name] = types
        return types

    def remove_crd(self, name: str) -> list[ResourceType]:
        types = self._by_crd.pop(name, [])
        for rt in types:
            self._types.pop((rt.group, rt.version, rt.plural), None)
        return types

    def crd_storage(self, name: str) -> tuple[str, str] | None:
        types = self._by_crd.get(name)
        return types[0].storage_key if types else None
