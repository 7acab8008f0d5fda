"""Authorization: the RBAC authorizer over the stored Roles and bindings.

As kube-apiserver with `--authorization-mode=RBAC`: members of `system:masters` may do anything
(the privileged-group authorizer runs first), then the RBAC authorizer visits every
ClusterRoleBinding, and the RoleBindings of the request's namespace, that name the user (by
name, by a group, or as a ServiceAccount), and allows the request if one rule of a bound role
matches it (plugin/pkg/auth/authorizer/rbac: RuleAllows, the rbac/v1 helpers' matchers, the
rule resolver's binding descriptions). Nothing is ever denied outright: a request no rule allows
is refused with the real 403 (`forbidden`), its reason naming any role a binding refers to that
does not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kubesim.apiserver.authn import MASTERS, split_service_account
from kubesim.apiserver.requestinfo import Attributes, UserInfo
from kubesim.apiserver.store import Store
from kubesim.registry.errors import ApiError

GROUP = "rbac.authorization.k8s.io"
ROLES = (GROUP, "roles")
CLUSTER_ROLES = (GROUP, "clusterroles")
ROLE_BINDINGS = (GROUP, "rolebindings")
CLUSTER_ROLE_BINDINGS = (GROUP, "clusterrolebindings")

Rule = dict[str, Any]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


# -- rule matching (k8s.io/kubernetes/pkg/apis/rbac/v1 helpers) --------------------------------


def _list(rule: Rule, key: str) -> list[str]:
    value = rule.get(key)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def verb_matches(rule: Rule, verb: str) -> bool:
    return any(v == "*" or v == verb for v in _list(rule, "verbs"))


def api_group_matches(rule: Rule, group: str) -> bool:
    return any(g == "*" or g == group for g in _list(rule, "apiGroups"))


def resource_matches(rule: Rule, combined: str, subresource: str) -> bool:
    for resource in _list(rule, "resources"):
        if resource in ("*", combined):
            return True
        # "*/subresource" matches that subresource of every resource.
        if subresource and resource == "*/" + subresource:
            return True
    return False


def resource_name_matches(rule: Rule, name: str) -> bool:
    names = _list(rule, "resourceNames")
    return not names or name in names


def non_resource_url_matches(rule: Rule, path: str) -> bool:
    for url in _list(rule, "nonResourceURLs"):
        if url in ("*", path):
            return True
        if url.endswith("*") and path.startswith(url.rstrip("*")):
            return True
    return False


def rule_allows(attrs: Attributes, rule: Rule) -> bool:
    """rbac.RuleAllows."""
    if attrs.resource_request:
        return (
            verb_matches(rule, attrs.verb)
            and api_group_matches(rule, attrs.group)
            and resource_matches(rule, attrs.combined_resource, attrs.subresource)
            and resource_name_matches(rule, attrs.name)
        )
    return verb_matches(rule, attrs.verb) and non_resource_url_matches(rule, attrs.path)


# -- whose bindings apply ----------------------------------------------------------------------


def applies_to(user: UserInfo, subject: Any, namespace: str) -> bool:
    """appliesToUser: a binding's subject names this user."""
    if not isinstance(subject, dict):
        return False
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return bool(user.name == name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        # A RoleBinding's account without a namespace is one of the binding's namespace.
        sa_namespace = subject.get("namespace") or namespace
        return bool(sa_namespace) and split_service_account(user.name) == (sa_namespace, name)
    return False


def describe_subject(subject: dict[str, Any], binding_namespace: str) -> str:
    kind, name = subject.get("kind", ""), subject.get("name", "")
    if kind == "ServiceAccount":
        return f'{kind} "{name}/{subject.get("namespace") or binding_namespace}"'
    return f'{kind} "{name}"'


def describe_binding(binding: dict[str, Any], subject: dict[str, Any]) -> str:
    """The rule resolver's roleBindingDescriber / clusterRoleBindingDescriber."""
    meta, ref = binding["metadata"], binding.get("roleRef") or {}
    namespace = meta.get("namespace") or ""
    if namespace:
        kind, name = "RoleBinding", f"{meta['name']}/{namespace}"
    else:
        kind, name = "ClusterRoleBinding", meta["name"]
    return (
        f'{kind} "{name}" of {ref.get("kind", "")} "{ref.get("name", "")}" to '
        f"{describe_subject(subject, namespace)}"
    )


class RbacAuthorizer:
    """RBAC over the roles and bindings in `store`, read afresh on every decision."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def role_rules(self, ref: Any, namespace: str) -> tuple[list[Rule], str | None]:
        """GetRoleReferenceRules: the rules of a binding's role, or the error finding it."""
        ref = ref if isinstance(ref, dict) else {}
        kind, name = ref.get("kind"), str(ref.get("name", ""))
        if kind == "Role":
            role = self.store.get(ROLES, namespace, name) if namespace else None
            what = "role"
        elif kind == "ClusterRole":
            role = self.store.get(CLUSTER_ROLES, None, name)
            what = "clusterrole"
        else:
            return [], f'unsupported role reference kind: "{kind}"'
        if role is None:
            return [], f'{what}.{GROUP} "{name}" not found'
        rules = role.get("rules")
        return [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else [], None

    def visit(self, user: UserInfo, namespace: str) -> Iterator[tuple[str, Rule | None, str]]:
        """VisitRulesFor: (source, rule, "") for each rule that applies to the user, and
        ("", None, error) for each binding whose role cannot be found."""
        for key, scope in ((CLUSTER_ROLE_BINDINGS, None), (ROLE_BINDINGS, namespace)):
            if key == ROLE_BINDINGS and not namespace:
                continue
            for binding in self.store.items(key, scope):
                subjects = binding.get("subjects")
                subject = next(
                    (s for s in subjects if applies_to(user, s, scope or "")), None
                ) if isinstance(subjects, list) else None  # fmt: skip
                if subject is None:
                    continue
                rules, error = self.role_rules(binding.get("roleRef"), scope or "")
                if error is not None:
                    yield "", None, error
                    continue
                source = describe_binding(binding, subject)
                for rule in rules:
                    yield source, rule, ""

    def authorize(self, attrs: Attributes) -> Decision:
        errors: list[str] = []
        for source, rule, error in self.visit(attrs.user, attrs.namespace):
            if rule is not None and rule_allows(attrs, rule):
                return Decision(True, f"RBAC: allowed by {source}")
            if error:
                errors.append(error)
        return Decision(False, f"RBAC: {aggregate(errors)}" if errors else "")

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[Rule], list[str]]:
        """RulesFor: every rule that applies, and the errors met on the way."""
        rules, errors = [], []
        for _, rule, error in self.visit(user, namespace):
            if rule is not None:
                rules.append(rule)
            if error:
                errors.append(error)
        return rules, errors


def aggregate(errors: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message, or several in brackets (deduplicated)."""
    unique = list(dict.fromkeys(errors))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


class Authorizer:
    """The union kube-apiserver builds: privileged groups (system:masters), then RBAC. With
    `enforce=False` it is AlwaysAllow."""

    def __init__(self, store: Store, *, enforce: bool = True) -> None:
        self.rbac = RbacAuthorizer(store)
        self.enforce = enforce

    def authorize(self, attrs: Attributes) -> Decision:
        if not self.enforce or MASTERS in attrs.user.groups:
            return Decision(True)
        return self.rbac.authorize(attrs)

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[Rule], list[str]]:
        everything = [
            {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
            {"verbs": ["*"], "nonResourceURLs": ["*"]},
        ]
        if not self.enforce:
            return everything, []
        rules, errors = self.rbac.rules_for(user, namespace)
        if MASTERS in user.groups:
            rules = everything + rules
        return rules, errors


# -- the refusal -------------------------------------------------------------------------------


def forbidden_message(attrs: Attributes) -> str:
    """responsewriters.forbiddenMessage."""
    user = attrs.user.name
    if not attrs.resource_request:
        return f'User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    resource = attrs.combined_resource
    if attrs.namespace:
        return (
            f'User "{user}" cannot {attrs.verb} resource "{resource}" in API group '
            f'"{attrs.group}" in the namespace "{attrs.namespace}"'
        )
    return (
        f'User "{user}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.group}" '
        "at the cluster scope"
    )


def forbidden(attrs: Attributes, reason: str = "") -> ApiError:
    """responsewriters.Forbidden: apierrors.NewForbidden of the group/resource and name."""
    text = forbidden_message(attrs)
    if reason:
        text = f"{text}: {reason}"
    details: dict[str, Any] = {}
    if not attrs.resource_request or not attrs.resource:
        message = f"forbidden: {text}"
    else:
        qualified = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
        name = f' "{attrs.name}"' if attrs.name else ""
        message = f"{qualified}{name} is forbidden: {text}"
        details = {"name": attrs.name, "group": attrs.group, "kind": attrs.resource}
        details = {k: v for k, v in details.items() if v}
    return ApiError(403, "Forbidden", message, details=details)
