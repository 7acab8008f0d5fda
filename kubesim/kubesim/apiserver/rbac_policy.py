"""The RBAC policy a cluster bootstraps with, and ClusterRole aggregation.

As kube-apiserver's bootstrap policy (plugin/pkg/auth/authorizer/rbac/bootstrappolicy), trimmed
to what clients of this emulator meet: `cluster-admin` bound to `system:masters`; discovery
(`system:discovery`: /api, /apis, /openapi, /version, health) for every authenticated user;
`system:public-info-viewer` (/version and health) for everyone, signed in or not;
`system:basic-user` (the self reviews) for every authenticated user;
`system:service-account-issuer-discovery` for every service account; and the user-facing
`admin`, `edit` and `view`, aggregated from `system:aggregate-to-*` like the real ones. Each
object carries the `kubernetes.io/bootstrapping: rbac-defaults` label and the autoupdate
annotation. Missing objects are created at start; existing ones are left as they are.

Aggregation (the clusterrole-aggregation controller): a ClusterRole with an `aggregationRule`
has as its rules those of every ClusterRole its selectors match, in name order, without repeats.
It is recomputed, synchronously, whenever a ClusterRole is written.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from kubesim.registry import deepjson
from kubesim.registry.resources import ResourceType

if TYPE_CHECKING:
    from kubesim.apiserver.api import Api

GROUP = "rbac.authorization.k8s.io"
CLUSTER_ROLES_KEY = (GROUP, "clusterroles")
LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
ANNOTATIONS = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"


def _rule(verbs: list[str], groups: list[str], resources: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def _urls(verbs: list[str], urls: list[str]) -> dict[str, Any]:
    return {"nonResourceURLs": urls, "verbs": verbs}


def _aggregated_to(*roles: str) -> dict[str, str]:
    return {f"{AGGREGATE}{r}": "true" for r in roles}


def _selector(role: str) -> dict[str, Any]:
    return {"clusterRoleSelectors": [{"matchLabels": {f"{AGGREGATE}{role}": "true"}}]}


_VIEW = [
    _rule(READ, [""], ["configmaps", "endpoints", "persistentvolumeclaims",
                       "persistentvolumeclaims/status", "pods", "replicationcontrollers",
                       "replicationcontrollers/scale", "serviceaccounts", "services",
                       "services/status"]),
    _rule(READ, [""], ["bindings", "events", "limitranges", "namespaces/status", "pods/log",
                       "pods/status", "replicationcontrollers/status", "resourcequotas",
                       "resourcequotas/status"]),
    _rule(READ, [""], ["namespaces"]),
    _rule(READ, ["discovery.k8s.io"], ["endpointslices"]),
    _rule(READ, ["apps"], ["controllerrevisions", "daemonsets", "daemonsets/status",
                           "deployments", "deployments/scale", "deployments/status",
                           "replicasets", "replicasets/scale", "replicasets/status",
                           "statefulsets", "statefulsets/scale", "statefulsets/status"]),
    _rule(READ, ["autoscaling"], ["horizontalpodautoscalers",
                                  "horizontalpodautoscalers/status"]),
    _rule(READ, ["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
    _rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
    _rule(READ, ["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"]),
]  # fmt: skip

_EDIT = [
    _rule(READ, [""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets",
                       "services/proxy"]),
    _rule(["impersonate"], [""], ["serviceaccounts"]),
    _rule(WRITE, [""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]),
    _rule(["create"], [""], ["pods/eviction"]),
    _rule(WRITE, [""], ["configmaps", "events", "persistentvolumeclaims",
                        "replicationcontrollers", "replicationcontrollers/scale", "secrets",
                        "serviceaccounts", "services", "services/proxy"]),
    _rule(["create"], [""], ["serviceaccounts/token"]),
    _rule(WRITE, ["apps"], ["daemonsets", "deployments", "deployments/rollback",
                            "deployments/scale", "replicasets", "replicasets/scale",
                            "statefulsets", "statefulsets/scale"]),
    _rule(WRITE, ["autoscaling"], ["horizontalpodautoscalers"]),
    _rule(WRITE, ["batch"], ["cronjobs", "jobs"]),
    _rule(WRITE, ["policy"], ["poddisruptionbudgets"]),
    _rule(WRITE, ["networking.k8s.io"], ["ingresses", "networkpolicies"]),
]  # fmt: skip

_ADMIN = [
    _rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
    _rule(WRITE + READ, [GROUP], ["rolebindings", "roles"]),
]

# name -> (rules, extra labels, aggregationRule)
CLUSTER_ROLES: dict[str, tuple[list[dict[str, Any]], dict[str, str], dict[str, Any] | None]] = {
    "cluster-admin": ([_rule(["*"], ["*"], ["*"]), _urls(["*"], ["*"])], {}, None),
    "system:discovery": ([_urls(["get"], [
        "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
        "/readyz", "/version", "/version/"])], {}, None),
    "system:public-info-viewer": ([_urls(["get"], [
        "/healthz", "/livez", "/readyz", "/version", "/version/"])], {}, None),
    "system:basic-user": ([
        _rule(["create"], ["authorization.k8s.io"],
              ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
        _rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
    ], {}, None),
    "system:service-account-issuer-discovery": ([_urls(["get"], [
        "/.well-known/openid-configuration", "/.well-known/openid-configuration/",
        "/openid/v1/jwks", "/openid/v1/jwks/"])], {}, None),
    "admin": ([], {}, _selector("admin")),
    "edit": ([], _aggregated_to("admin"), _selector("edit")),
    "view": ([], _aggregated_to("admin", "edit"), _selector("view")),
    "system:aggregate-to-admin": (_ADMIN, _aggregated_to("admin"), None),
    "system:aggregate-to-edit": (_EDIT, _aggregated_to("admin", "edit"), None),
    "system:aggregate-to-view": (_VIEW, _aggregated_to("admin", "edit", "view"), None),
}  # fmt: skip

# name -> the ClusterRole of the same name, bound to these groups
CLUSTER_ROLE_BINDINGS: dict[str, list[str]] = {
    "cluster-admin": ["system:masters"],
    "system:discovery": ["system:authenticated"],
    "system:public-info-viewer": ["system:authenticated", "system:unauthenticated"],
    "system:basic-user": ["system:authenticated"],
    "system:service-account-issuer-discovery": ["system:serviceaccounts"],
}


def _meta(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "labels": {**LABELS, **labels}, "annotations": dict(ANNOTATIONS)}


def bootstrap_objects() -> list[tuple[str, dict[str, Any]]]:
    """(plural, object) for every bootstrap ClusterRole and ClusterRoleBinding."""
    out: list[tuple[str, dict[str, Any]]] = []
    for name, (rules, labels, aggregation) in CLUSTER_ROLES.items():
        role: dict[str, Any] = {"metadata": _meta(name, labels), "rules": copy.deepcopy(rules)}
        if aggregation is not None:
            role["aggregationRule"] = copy.deepcopy(aggregation)
        out.append(("clusterroles", role))
    for name, groups in CLUSTER_ROLE_BINDINGS.items():
        binding = {
            "metadata": _meta(name, {}),
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": GROUP, "kind": "Group", "name": g} for g in groups],
        }
        out.append(("clusterrolebindings", binding))
    return out


def ensure_bootstrap_policy(api: Api) -> None:
    """Create the bootstrap roles and bindings that are missing; aggregate."""
    for plural, obj in bootstrap_objects():
        rt = api.registry.get(GROUP, "v1", plural)
        assert rt is not None
        if api.store.get(rt.storage_key, None, obj["metadata"]["name"]) is None:
            api.create(rt, None, obj)
    aggregate_cluster_roles(api)


# -- aggregation -------------------------------------------------------------------------------


def _expression_matches(expr: Any, labels: dict[str, str]) -> bool:
    if not isinstance(expr, dict):
        return False
    key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False


def selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    """metav1.LabelSelector matching; an empty selector matches nothing here (as the aggregation
    controller skips it)."""
    if not isinstance(selector, dict):
        return False
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return False
    if not isinstance(match_labels, dict) or not isinstance(expressions, list):
        return False
    return all(labels.get(k) == v for k, v in match_labels.items()) and all(
        _expression_matches(e, labels) for e in expressions
    )


def aggregate_cluster_roles(api: Api) -> None:
    """Set the rules of every aggregated ClusterRole from the roles its selectors match."""
    rt = api.registry.get(GROUP, "v1", "clusterroles")
    assert rt is not None
    for _ in range(10):  # an aggregated role may itself be aggregated: until nothing changes
        if not _aggregate_once(api, rt):
            return


def _aggregate_once(api: Api, rt: ResourceType) -> bool:
    changed = False
    roles = api.store.items(CLUSTER_ROLES_KEY)
    for role in roles:
        aggregation = role.get("aggregationRule")
        if not isinstance(aggregation, dict):
            continue
        selectors = aggregation.get("clusterRoleSelectors")
        if not isinstance(selectors, list):
            continue
        rules: list[Any] = []
        for other in roles:  # store order is name order
            if other["metadata"]["name"] == role["metadata"]["name"]:
                continue
            labels = other["metadata"].get("labels") or {}
            if not any(selector_matches(s, labels) for s in selectors):
                continue
            for rule in other.get("rules") or []:
                if not any(deepjson.equal(rule, seen) for seen in rules):
                    rules.append(rule)
        if deepjson.equal(rules, role.get("rules") or []):
            continue
        updated = copy.deepcopy(role)
        updated["rules"] = copy.deepcopy(rules)
        api.system_write(rt, updated)
        changed = True
    return changed
