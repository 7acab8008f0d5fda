"""The rbac.authorization.k8s.io/v1 strategies: Role, ClusterRole, RoleBinding, ClusterRoleBinding.

As pkg/apis/rbac/validation: names need only be valid path segments; every rule names verbs, and
either resources (with API groups) or, in a ClusterRole only, non-resource URLs; a binding's
roleRef names a Role or ClusterRole of this group and never changes; each subject is a User or
Group (of this group) or a ServiceAccount (of the core group, with a namespace in a
ClusterRoleBinding). v1 defaulting fills in roleRef.apiGroup and each subject's apiGroup.

A value of the wrong JSON type (a string where a list belongs) is refused by the real decoder
with a 400; here it is reported on its field (422), as datamaps.py does.
"""

from __future__ import annotations

from typing import Any

from kubesim.registry.field import invalid, invalid_each, not_supported, required
from kubesim.registry.names import dns1123_subdomain_errors, path_segment_errors
from kubesim.registry.strategy import Errors, Obj, Strategies, Strategy, as_dict, dicts, same

GROUP = "rbac.authorization.k8s.io"
SUBJECT_KINDS = ("ServiceAccount", "User", "Group")
_RULE_LISTS = ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs")


def _strings(path: str, value: Any) -> tuple[list[str], Errors]:
    """A `[]string` field: its items, or the error its JSON type earns."""
    if value is None:
        return [], []
    if not isinstance(value, list):
        return [], [invalid(path, value, "must be a list of strings")]
    errors = [
        invalid(f"{path}[{i}]", v, "must be a string")
        for i, v in enumerate(value)
        if not isinstance(v, str)
    ]
    return [v for v in value if isinstance(v, str)], errors


def _string(path: str, value: Any) -> tuple[str, Errors]:
    if value is None:
        return "", []
    if not isinstance(value, str):
        return "", [invalid(path, value, "must be a string")]
    return value, []


# -- defaults -----------------------------------------------------------------------------------


def default_subjects(obj: Obj) -> None:
    """SetDefaults_Subject: Users and Groups are of this API group, ServiceAccounts of none."""
    for subject in dicts(obj.get("subjects")):
        if subject.get("apiGroup") in (None, "") and subject.get("kind") in ("User", "Group"):
            subject["apiGroup"] = GROUP


def default_binding(obj: Obj) -> None:
    """SetDefaults_RoleBinding / SetDefaults_ClusterRoleBinding, then the subjects."""
    ref = obj.get("roleRef")
    if isinstance(ref, dict) and ref.get("apiGroup") in (None, ""):
        ref["apiGroup"] = GROUP
    default_subjects(obj)


# -- validation ---------------------------------------------------------------------------------


def rule_errors(rule: Any, namespaced: bool, path: str) -> Errors:
    """validatePolicyRule."""
    if not isinstance(rule, dict):
        return [invalid(path, rule, "must be an object")]
    errs: Errors = []
    lists: dict[str, list[str]] = {}
    for key in _RULE_LISTS:
        lists[key], bad = _strings(f"{path}.{key}", rule.get(key))
        errs += bad
    if not lists["verbs"]:
        errs.append(required(f"{path}.verbs", "verbs must contain at least one value"))
    urls = lists["nonResourceURLs"]
    if urls:
        if namespaced:
            errs.append(
                invalid(
                    f"{path}.nonResourceURLs",
                    urls,
                    "namespaced rules cannot apply to non-resource URLs",
                )
            )
        if lists["apiGroups"] or lists["resources"] or lists["resourceNames"]:
            errs.append(
                invalid(
                    f"{path}.nonResourceURLs",
                    urls,
                    "rules cannot apply to both regular resources and non-resource URLs",
                )
            )
        return errs
    if not lists["apiGroups"]:
        errs.append(
            required(f"{path}.apiGroups", "resource rules must supply at least one api group")
        )
    if not lists["resources"]:
        errs.append(
            required(f"{path}.resources", "resource rules must supply at least one resource")
        )
    if lists["resourceNames"] and len(lists["resources"]) > 1:
        errs.append(
            required(f"{path}.resourceNames", "resource names cannot apply to multiple resources")
        )
    return errs


def _rules_errors(obj: Obj, namespaced: bool) -> Errors:
    rules = obj.get("rules")
    if rules is not None and not isinstance(rules, list):
        return [invalid("rules", rules, "must be a list of policy rules")]
    errs: Errors = []
    for i, rule in enumerate(rules or []):
        errs += rule_errors(rule, namespaced, f"rules[{i}]")
    return errs


def validate_role(obj: Obj, old: Obj | None) -> Errors:
    return _rules_errors(obj, namespaced=True)


def validate_cluster_role(obj: Obj, old: Obj | None) -> Errors:
    errs = _rules_errors(obj, namespaced=False)
    aggregation = obj.get("aggregationRule")
    if aggregation is not None:
        selectors = as_dict(aggregation).get("clusterRoleSelectors")
        if not isinstance(selectors, list) or not selectors:
            errs.append(
                required(
                    "aggregationRule.clusterRoleSelectors",
                    "at least one clusterRoleSelector required if aggregationRule is non-nil",
                )
            )
        else:
            for i, selector in enumerate(selectors):
                if not isinstance(selector, dict):
                    path = f"aggregationRule.clusterRoleSelectors[{i}]"
                    errs.append(invalid(path, selector, "invalid label selector."))
    return errs


def subject_errors(subject: Any, namespaced: bool, path: str) -> Errors:
    """validateRoleBindingSubject."""
    if not isinstance(subject, dict):
        return [invalid(path, subject, "must be an object")]
    errs: Errors = []
    name, bad = _string(f"{path}.name", subject.get("name"))
    errs += bad
    kind, bad = _string(f"{path}.kind", subject.get("kind"))
    errs += bad
    api_group, bad = _string(f"{path}.apiGroup", subject.get("apiGroup"))
    errs += bad
    namespace, bad = _string(f"{path}.namespace", subject.get("namespace"))
    errs += bad
    if not name:
        errs.append(required(f"{path}.name"))
    if kind == "ServiceAccount":
        if name:
            # ValidateServiceAccountName: a DNS subdomain.
            errs += invalid_each(f"{path}.name", name, dns1123_subdomain_errors(name))
        if api_group:
            errs.append(not_supported(f"{path}.apiGroup", api_group, [""]))
        if not namespaced and not namespace:
            errs.append(required(f"{path}.namespace"))
    elif kind in ("User", "Group"):
        if not name:
            what = "user" if kind == "User" else "group"
            errs.append(invalid(f"{path}.name", name, f"{what} name cannot be empty"))
        if api_group != GROUP:
            errs.append(not_supported(f"{path}.apiGroup", api_group, [GROUP]))
    else:
        errs.append(not_supported(f"{path}.kind", kind, SUBJECT_KINDS))
    return errs


def _binding_errors(obj: Obj, old: Obj | None, role_kinds: tuple[str, ...]) -> Errors:
    namespaced = role_kinds != ("ClusterRole",)
    errs: Errors = []
    raw_ref = obj.get("roleRef")
    if raw_ref is not None and not isinstance(raw_ref, dict):
        errs.append(invalid("roleRef", raw_ref, "must be an object"))
    ref = as_dict(raw_ref)
    api_group, bad = _string("roleRef.apiGroup", ref.get("apiGroup"))
    errs += bad
    kind, bad = _string("roleRef.kind", ref.get("kind"))
    errs += bad
    name, bad = _string("roleRef.name", ref.get("name"))
    errs += bad
    if api_group != GROUP:
        errs.append(not_supported("roleRef.apiGroup", api_group, [GROUP]))
    if kind not in role_kinds:
        errs.append(not_supported("roleRef.kind", kind, role_kinds))
    if not name:
        errs.append(required("roleRef.name"))
    else:
        errs += invalid_each("roleRef.name", name, path_segment_errors(name))
    subjects = obj.get("subjects")
    if subjects is not None and not isinstance(subjects, list):
        errs.append(invalid("subjects", subjects, "must be a list of subjects"))
    else:
        for i, subject in enumerate(subjects or []):
            errs += subject_errors(subject, namespaced, f"subjects[{i}]")
    if old is not None and not same(old.get("roleRef"), obj.get("roleRef")):
        errs.append(invalid("roleRef", obj.get("roleRef"), "cannot change roleRef"))
    return errs


def validate_role_binding(obj: Obj, old: Obj | None) -> Errors:
    return _binding_errors(obj, old, ("Role", "ClusterRole"))


def validate_cluster_role_binding(obj: Obj, old: Obj | None) -> Errors:
    return _binding_errors(obj, old, ("ClusterRole",))


STRATEGIES: Strategies = {
    (GROUP, "roles"): Strategy(validate=validate_role),
    (GROUP, "clusterroles"): Strategy(validate=validate_cluster_role),
    (GROUP, "rolebindings"): Strategy(defaults=default_binding, validate=validate_role_binding),
    (GROUP, "clusterrolebindings"): Strategy(
        defaults=default_binding, validate=validate_cluster_role_binding
    ),
}
