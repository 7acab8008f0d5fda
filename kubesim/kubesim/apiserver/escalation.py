"""RBAC's guard against privilege escalation: nobody grants what they do not hold.

As the rbac REST storage (pkg/registry/rbac/{role,clusterrole,rolebinding,clusterrolebinding}/
policybased): writing a Role or ClusterRole whose rules the writer's own rules (in that
namespace) do not cover is refused unless they may `escalate` it; writing a binding is refused
unless they may `bind` its role, or hold every permission the role grants. Members of
`system:masters` skip the check. The refusal is the real 403, listing the missing permissions
compacted and sorted as ConfirmNoEscalation does (component-helpers/auth/rbac/validation).
"""

from __future__ import annotations

from typing import Any

from kubesim.apiserver.authn import MASTERS
from kubesim.apiserver.rbac import GROUP, Authorizer, Rule
from kubesim.apiserver.requestinfo import Attributes, UserInfo
from kubesim.registry.errors import ApiError

ROLE_KINDS = ("roles", "clusterroles")
BINDING_KINDS = ("rolebindings", "clusterrolebindings")
# What an aggregationRule needs, since it can gather anything: * on *.* and every URL.
FULL_AUTHORITY: list[Rule] = [
    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
    {"nonResourceURLs": ["*"], "verbs": ["*"]},
]


def _strings(rule: Rule, key: str) -> list[str]:
    value = rule.get(key)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def breakdown(rule: Rule) -> list[Rule]:
    """BreakdownRule: one rule per group, resource, verb and resource name (or URL and verb)."""
    out: list[Rule] = []
    names = _strings(rule, "resourceNames")
    for group in _strings(rule, "apiGroups"):
        for resource in _strings(rule, "resources"):
            for verb in _strings(rule, "verbs"):
                base = {"apiGroups": [group], "resources": [resource], "verbs": [verb]}
                out += [{**base, "resourceNames": [n]} for n in names] if names else [base]
    for url in _strings(rule, "nonResourceURLs"):
        out += [{"nonResourceURLs": [url], "verbs": [v]} for v in _strings(rule, "verbs")]
    return out


def _resources_cover(owned: list[str], wanted: list[str]) -> bool:
    if "*" in owned or set(wanted) <= set(owned):
        return True
    for path in wanted:
        if path in owned:
            continue
        if "/" not in path or "*/" + path.split("/", 1)[1] not in owned:
            return False
    return True


def _url_covers(owner: str, path: str) -> bool:
    return owner == path or (owner.endswith("*") and path.startswith(owner.rstrip("*")))


def rule_covers(owner: Rule, sub: Rule) -> bool:
    """ruleCovers: whether `owner` grants all of the broken-down rule `sub`."""
    verbs, groups = _strings(owner, "verbs"), _strings(owner, "apiGroups")
    owner_names, sub_names = _strings(owner, "resourceNames"), _strings(sub, "resourceNames")
    # Unnamed needs an owner rule for every name; named, one for every name or that name.
    names = not owner_names or (bool(sub_names) and set(sub_names) <= set(owner_names))
    return (
        ("*" in verbs or set(_strings(sub, "verbs")) <= set(verbs))
        and ("*" in groups or set(_strings(sub, "apiGroups")) <= set(groups))
        and _resources_cover(_strings(owner, "resources"), _strings(sub, "resources"))
        and all(
            any(_url_covers(o, p) for o in _strings(owner, "nonResourceURLs"))
            for p in _strings(sub, "nonResourceURLs")
        )
        and names
    )


def uncovered(owner_rules: list[Rule], rules: list[Rule]) -> list[Rule]:
    """Covers: the broken-down rules no owner rule covers."""
    return [
        sub
        for rule in rules
        for sub in breakdown(rule)
        if not any(rule_covers(owner, sub) for owner in owner_rules)
    ]


def compact(rules: list[Rule]) -> list[Rule]:
    """CompactRules: simple rules of one group and resource (and at most one name) merge verbs."""
    out: list[Rule] = []
    simple: dict[tuple[str, str, str | None], Rule] = {}
    for rule in rules:
        groups, resources = _strings(rule, "apiGroups"), _strings(rule, "resources")
        names = _strings(rule, "resourceNames")
        if len(groups) != 1 or len(resources) != 1 or len(names) > 1 or "nonResourceURLs" in rule:
            out.append(rule)
            continue
        key = (groups[0], resources[0], names[0] if names else None)
        if key in simple:
            verbs = simple[key]["verbs"]
            verbs += [v for v in _strings(rule, "verbs") if v not in verbs]
        else:
            simple[key] = {**rule, "verbs": list(_strings(rule, "verbs"))}
    return out + list(simple.values())


def _go_strings(values: list[str]) -> str:
    """Go's %q of a []string: ["a" "b"]."""
    return (
        "["
        + " ".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
        + "]"
    )


def compact_string(rule: Rule) -> str:
    """rbacv1helpers.CompactString."""
    parts = []
    for key, label in (
        ("apiGroups", "APIGroups"),
        ("resources", "Resources"),
        ("nonResourceURLs", "NonResourceURLs"),
        ("resourceNames", "ResourceNames"),
        ("verbs", "Verbs"),
    ):
        if _strings(rule, key):
            parts.append(f"{label}:{_go_strings(_strings(rule, key))}")
    return "{" + ", ".join(parts) + "}"


def _forbidden(plural: str, name: str, message: str) -> ApiError:
    """apierrors.NewForbidden(rbac.Resource(plural), name, err)."""
    details = {"name": name, "group": GROUP, "kind": plural}
    return ApiError(
        403,
        "Forbidden",
        f'{plural}.{GROUP} "{name}" is forbidden: {message}',
        details={k: v for k, v in details.items() if v},
    )


def _may(
    authorizer: Authorizer, user: UserInfo, verb: str, plural: str, ns: str, name: str
) -> bool:
    attrs = Attributes(
        user=user,
        verb=verb,
        resource_request=True,
        group=GROUP,
        version="*",
        resource=plural,
        namespace=ns,
        name=name,
    )
    return authorizer.authorize(attrs).allowed


def check_grant(
    authorizer: Authorizer, user: UserInfo, plural: str, obj: dict[str, Any], request_name: str
) -> None:
    """Refuse a write of a role or binding (`obj`, as it would be stored) that grants `user`
    more than they hold; other kinds pass. `request_name` is the name on the URL ("" for a
    create), which `escalate` is asked for."""
    if plural not in ROLE_KINDS + BINDING_KINDS or not authorizer.enforce:
        return
    if MASTERS in user.groups:  # EscalationAllowed
        return
    meta = obj.get("metadata") or {}
    name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "")
    if plural in ROLE_KINDS:
        if _may(authorizer, user, "escalate", plural, namespace, request_name):
            return
        rules = obj.get("rules")
        granted = [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []
    else:
        ref = obj.get("roleRef") if isinstance(obj.get("roleRef"), dict) else {}
        assert isinstance(ref, dict)
        role_plural = {"Role": "roles", "ClusterRole": "clusterroles"}.get(ref.get("kind", ""))
        role_name = str(ref.get("name", ""))
        if role_plural and _may(authorizer, user, "bind", role_plural, namespace, role_name):
            return
        granted, error = authorizer.rbac.role_rules(ref, namespace)
        if error is not None:
            kind = "role" if ref.get("kind") == "Role" else "clusterrole"
            details = {"name": role_name, "group": GROUP, "kind": kind}
            raise ApiError(404, "NotFound", error, details=details)
    owner_rules, errors = authorizer.rbac.rules_for(user, namespace)
    missing = uncovered(owner_rules, granted)
    if not missing:
        if obj.get("aggregationRule") is not None and uncovered(owner_rules, FULL_AUTHORITY):
            raise _forbidden(
                plural, name, "must have cluster-admin privileges to use the aggregationRule"
            )
        return
    lines = sorted({compact_string(r) for r in compact(missing)})
    message = (
        f'user "{user.name}" (groups={_go_strings(list(user.groups))}) is attempting to grant '
        "RBAC permissions not currently held:\n" + "\n".join(lines)
    )
    if errors:
        message += f"; resolution errors: [{' '.join(errors)}]"
    raise _forbidden(plural, name, message)
