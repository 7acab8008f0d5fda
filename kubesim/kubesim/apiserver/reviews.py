"""The create-only APIs of authentication and authorization, which store nothing.

* authorization.k8s.io/v1 SelfSubjectAccessReview (`kubectl auth can-i`), SelfSubjectRulesReview
  (`kubectl auth can-i --list`), SubjectAccessReview and LocalSubjectAccessReview: the
  authorizer's answer for the caller, or for the user the spec names;
* authentication.k8s.io/v1 SelfSubjectReview (`kubectl auth whoami`) and TokenReview;
* the TokenRequest subresource of ServiceAccounts (`kubectl create token`), which issues a
  token for the account (authn.TokenIssuer).

Each answers 201 with the request echoed and its status filled in, as the real REST storage
does, and refuses a malformed spec with the real 400 or 422.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubesim.apiserver.authn import Authenticator
from kubesim.apiserver.rbac import Authorizer, aggregate
from kubesim.apiserver.requestinfo import Attributes, UserInfo
from kubesim.apiserver.store import Store
from kubesim.registry import deepjson
from kubesim.registry.errors import FieldError, bad_request, conflict, invalid, not_found
from kubesim.registry.field import invalid as invalid_field

AUTHZ = "authorization.k8s.io"
AUTHN = "authentication.k8s.io"
DEFAULT_EXPIRATION = 3600  # SetDefaults_TokenRequestSpec: one hour
MIN_EXPIRATION = 600
MAX_EXPIRATION = 1 << 32


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def decode(body: Any, group: str, kind: str) -> dict[str, Any]:
    """A copy of a review body, refusing another kind as the decoder would."""
    if not isinstance(body, dict):
        raise bad_request(
            f"the body of the request must be a JSON object, not {type(body).__name__}"
        )
    obj: dict[str, Any] = deepjson.deepcopy(body)
    api_version = f"{group}/v1"
    obj.setdefault("apiVersion", api_version)
    obj.setdefault("kind", kind)
    if obj["apiVersion"] != api_version:
        raise bad_request(
            f"the API version in the data ({obj['apiVersion']}) does not match the expected "
            f"API version ({api_version})"
        )
    if obj["kind"] != kind:
        raise bad_request(
            f"the kind in the data ({obj['kind']}) does not match the expected kind ({kind})"
        )
    if not isinstance(obj.get("metadata") or {}, dict):
        raise bad_request("metadata: must be an object")
    if not isinstance(obj.get("spec") or {}, dict):
        raise bad_request("spec: must be an object")
    obj["metadata"] = obj.get("metadata") or {}
    obj["spec"] = obj.get("spec") or {}
    return obj


def _meta_empty(meta: dict[str, Any]) -> bool:
    return all(v in (None, "", {}, []) for v in meta.values())


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


# -- access reviews ----------------------------------------------------------------------------


def _spec_errors(spec: dict[str, Any]) -> list[FieldError]:
    """The attribute checks shared by every access review."""
    errs: list[FieldError] = []
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if resource is not None and non_resource is not None:
        errs.append(
            invalid_field(
                "spec.nonResourceAttributes",
                non_resource,
                "cannot be specified in combination with resourceAttributes",
            )
        )
    if resource is None and non_resource is None:
        errs.append(
            invalid_field(
                "spec.resourceAttributes",
                non_resource,
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )
        )
    return errs


def _review_attributes(user: UserInfo, spec: dict[str, Any]) -> Attributes:
    """authorizationutil.ResourceAttributesFrom / NonResourceAttributesFrom."""
    resource = spec.get("resourceAttributes")
    if isinstance(resource, dict):
        return Attributes(
            user=user,
            verb=_str(resource.get("verb")),
            resource_request=True,
            group=_str(resource.get("group")),
            version=_str(resource.get("version")),
            resource=_str(resource.get("resource")),
            subresource=_str(resource.get("subresource")),
            namespace=_str(resource.get("namespace")),
            name=_str(resource.get("name")),
        )
    non_resource = spec.get("nonResourceAttributes")
    non_resource = non_resource if isinstance(non_resource, dict) else {}
    return Attributes(
        user=user,
        verb=_str(non_resource.get("verb")),
        resource_request=False,
        path=_str(non_resource.get("path")),
    )


def _decide(authorizer: Authorizer, attrs: Attributes) -> dict[str, Any]:
    decision = authorizer.authorize(attrs)
    status: dict[str, Any] = {"allowed": decision.allowed}
    if decision.reason:
        status["reason"] = decision.reason
    return status


def self_subject_access_review(authorizer: Authorizer, user: UserInfo, body: Any) -> dict[str, Any]:
    review = decode(body, AUTHZ, "SelfSubjectAccessReview")
    errs = _spec_errors(review["spec"])
    if not _meta_empty(review["metadata"]):
        errs.insert(0, invalid_field("metadata", review["metadata"], "must be empty"))
    if errs:
        raise invalid("SelfSubjectAccessReview", AUTHZ, "", errs)
    review["status"] = _decide(authorizer, _review_attributes(user, review["spec"]))
    return review


def _named_user(spec: dict[str, Any]) -> UserInfo:
    groups = spec.get("groups")
    extra = spec.get("extra")
    return UserInfo(
        name=_str(spec.get("user")),
        uid=_str(spec.get("uid")),
        groups=tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else (),
        extra=tuple(
            (k, tuple(v for v in values if isinstance(v, str)))
            for k, values in extra.items()
            if isinstance(values, list)
        )
        if isinstance(extra, dict)
        else (),
    )


def subject_access_review(
    authorizer: Authorizer, body: Any, namespace: str | None = None
) -> dict[str, Any]:
    """SubjectAccessReview, or LocalSubjectAccessReview when `namespace` is given."""
    kind = "SubjectAccessReview" if namespace is None else "LocalSubjectAccessReview"
    review = decode(body, AUTHZ, kind)
    spec = review["spec"]
    errs = _spec_errors(spec)
    if not spec.get("user") and not spec.get("groups"):
        errs.append(
            invalid_field(
                "spec.user",
                _str(spec.get("user")),
                "at least one of user or group must be specified",
            )
        )
    if namespace is None:
        if not _meta_empty(review["metadata"]):
            errs.insert(0, invalid_field("metadata", review["metadata"], "must be empty"))
    else:
        meta_ns = review["metadata"].pop("namespace", None)
        if not _meta_empty(review["metadata"]):
            errs.insert(
                0,
                invalid_field("metadata", review["metadata"], "must be empty except for namespace"),
            )
        if meta_ns not in (None, "", namespace):
            raise bad_request(
                "the namespace of the provided object does not match the "
                "namespace sent on the request"
            )
        if spec.get("nonResourceAttributes") is not None:
            errs.append(
                invalid_field(
                    "spec.nonResourceAttributes",
                    spec["nonResourceAttributes"],
                    "disallowed on this kind of request",
                )
            )
        review["metadata"]["namespace"] = namespace
    if errs:
        raise invalid(kind, AUTHZ, "", errs)
    resource = spec.get("resourceAttributes")
    resource_namespace = _str(resource.get("namespace")) if isinstance(resource, dict) else None
    if namespace is not None and resource_namespace not in (None, namespace):
        raise bad_request(f"spec.resourceAttributes.namespace must match namespace: {namespace}")
    review["status"] = _decide(authorizer, _review_attributes(_named_user(spec), spec))
    return review


def self_subject_rules_review(authorizer: Authorizer, user: UserInfo, body: Any) -> dict[str, Any]:
    review = decode(body, AUTHZ, "SelfSubjectRulesReview")
    namespace = _str(review["spec"].get("namespace"))
    if not namespace:
        raise bad_request("no namespace on request")
    rules, errors = authorizer.rules_for(user, namespace)
    resource_rules, non_resource_rules = [], []
    for rule in rules:
        verbs = rule.get("verbs") or []
        if rule.get("resources"):
            out = {"verbs": verbs}
            for key in ("apiGroups", "resources", "resourceNames"):
                if rule.get(key):
                    out[key] = rule[key]
            resource_rules.append(out)
        if rule.get("nonResourceURLs"):
            non_resource_rules.append({"verbs": verbs, "nonResourceURLs": rule["nonResourceURLs"]})
    status: dict[str, Any] = {
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": False,
    }
    if errors:
        status["evaluationError"] = aggregate(errors)
    # The real storage answers a fresh object: the spec is not echoed.
    return {
        "kind": review["kind"],
        "apiVersion": review["apiVersion"],
        "metadata": {"creationTimestamp": None},
        "spec": {},
        "status": status,
    }


# -- authentication ----------------------------------------------------------------------------


def user_info(user: UserInfo) -> dict[str, Any]:
    """authentication/v1 UserInfo."""
    out: dict[str, Any] = {"username": user.name}
    if user.uid:
        out["uid"] = user.uid
    if user.groups:
        out["groups"] = list(user.groups)
    if user.extra:
        out["extra"] = user.extra_dict()
    return out


def self_subject_review(user: UserInfo, body: Any) -> dict[str, Any]:
    review = decode(body, AUTHN, "SelfSubjectReview")
    return {
        "kind": review["kind"],
        "apiVersion": review["apiVersion"],
        "metadata": {"creationTimestamp": _rfc3339(datetime.now(UTC).timestamp())},
        "status": {"userInfo": user_info(user)},
    }


def token_review(authenticator: Authenticator, body: Any) -> dict[str, Any]:
    review = decode(body, AUTHN, "TokenReview")
    spec = review["spec"]
    token = _str(spec.get("token"))
    if not token:
        raise bad_request("token is required for TokenReview in authentication")
    audiences = spec.get("audiences")
    wanted = (
        tuple(a for a in audiences if isinstance(a, str)) if isinstance(audiences, list) else ()
    )
    wanted = wanted or authenticator.issuer.audiences
    user = authenticator.token_user(token, wanted)
    status: dict[str, Any] = {"authenticated": user is not None}
    if user is None:
        status["error"] = "invalid bearer token"
    else:
        status["user"] = user_info(user)
        claims = authenticator.issuer.claims(token) or {}
        aud = claims.get("aud", list(authenticator.issuer.audiences))
        token_audiences = aud if isinstance(aud, list) else [aud]
        status["audiences"] = [a for a in wanted if a in token_audiences]
    review["status"] = status
    review["metadata"] = review["metadata"] or {"creationTimestamp": None}
    return review


def token_request(
    authenticator: Authenticator, store: Store, namespace: str, name: str, body: Any
) -> dict[str, Any]:
    """serviceaccounts/<name>/token: a token for the account, bound to a pod or secret if asked."""
    request = decode(body, AUTHN, "TokenRequest")
    meta, spec = request["metadata"], request["spec"]
    errs: list[FieldError] = []
    if meta.get("name") not in (None, "", name):
        errs.append(
            invalid_field(
                "metadata.name", meta["name"], "must match the service account name if specified"
            )
        )
    if meta.get("namespace") not in (None, "", namespace):
        errs.append(
            invalid_field(
                "metadata.namespace",
                meta["namespace"],
                "must match the service account namespace if specified",
            )
        )
    seconds = spec.get("expirationSeconds")
    if seconds is None:
        seconds = spec["expirationSeconds"] = DEFAULT_EXPIRATION
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        errs.append(invalid_field("spec.expirationSeconds", seconds, "must be an integer"))
    elif seconds < MIN_EXPIRATION:
        errs.append(
            invalid_field(
                "spec.expirationSeconds", seconds, "may not specify a duration less than 10 minutes"
            )
        )
    elif seconds > MAX_EXPIRATION:
        errs.append(
            invalid_field(
                "spec.expirationSeconds",
                seconds,
                "may not specify a duration larger than 2^32 seconds",
            )
        )
    if errs:
        raise invalid("TokenRequest", AUTHN, name, errs)
    account = store.get(("", "serviceaccounts"), namespace, name)
    if account is None:
        raise not_found("serviceaccounts", "", name)
    bound = _bound_object(store, namespace, name, spec.get("boundObjectRef"))
    audiences = spec.get("audiences")
    if not isinstance(audiences, list) or not audiences:
        audiences = spec["audiences"] = list(authenticator.issuer.audiences)
    token, expiry = authenticator.issuer.issue(
        account, expiration_seconds=seconds, audiences=audiences, bound=bound
    )
    meta.setdefault("name", name)
    meta.setdefault("namespace", namespace)
    meta["creationTimestamp"] = _rfc3339(datetime.now(UTC).timestamp())
    spec.setdefault("boundObjectRef", None)
    request["status"] = {"token": token, "expirationTimestamp": _rfc3339(expiry)}
    return request


def _bound_object(store: Store, namespace: str, account: str, ref: Any) -> dict[str, Any] | None:
    if ref is None:
        return None
    if not isinstance(ref, dict):
        raise bad_request("spec.boundObjectRef: must be an object")
    kind, api_version = _str(ref.get("kind")), _str(ref.get("apiVersion"))
    name = _str(ref.get("name"))
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    plural = {"Pod": "pods", "Secret": "secrets"}.get(kind) if not group else None
    if plural is None:
        version = api_version.rpartition("/")[2]
        gvk = f"{group}/{version}, Kind={kind}" if group else f"/{version}, Kind={kind}"
        raise bad_request(f"cannot bind token to object of type {gvk}")
    obj = store.get(("", plural), namespace, name)
    if obj is None:
        raise not_found(plural, "", name)
    if kind == "Pod":
        running_as = (obj.get("spec") or {}).get("serviceAccountName") or "default"
        if running_as != account:
            raise bad_request(
                f'cannot bind token for serviceaccount "{account}" to pod running with '
                f'serviceaccount "{running_as}"'
            )
    uid = obj["metadata"].get("uid", "")
    if ref.get("uid") and ref["uid"] != uid:
        raise conflict(
            kind,
            "",
            name,
            f"the UID in the bound object reference ({ref['uid']}) does not match the UID in "
            f"record ({uid}). The object might have been deleted and then recreated",
        )
    return {"kind": kind, "name": name, "uid": uid}
