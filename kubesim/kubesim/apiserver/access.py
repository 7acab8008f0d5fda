"""Access control for every request: authentication, impersonation, authorization.

The order is the real server's filter chain: the bearer token names the user (authn.py, 401 if it
cannot), `Impersonate-*` headers switch to another user if the caller may impersonate it, and
the authorizer (rbac.py) allows the request's attributes (requestinfo.py) or refuses them with
the real 403, all before the request is routed. The API's own authentication and authorization
endpoints (reviews.py) are answered here too, since they need the same authenticator and
authorizer.

`enforce=False` is a cluster without access control: no token is needed, an unknown one is
ignored, and the authorizer allows everything (AlwaysAllow); a valid token still names its user.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from kubesim.apiserver import reviews
from kubesim.apiserver.authn import (
    ADMIN,
    ANONYMOUS,
    AUTHENTICATED,
    UNAUTHENTICATED,
    Authenticator,
    TokenIssuer,
    bearer_token,
    service_account_groups,
    service_account_username,
    split_service_account,
)
from kubesim.apiserver.rbac import Authorizer, forbidden
from kubesim.apiserver.requestinfo import Attributes, UserInfo, request_attributes
from kubesim.apiserver.store import Store
from kubesim.registry.errors import ApiError, method_not_allowed

IMPERSONATE_USER = "impersonate-user"
IMPERSONATE_GROUP = "impersonate-group"
IMPERSONATE_UID = "impersonate-uid"
IMPERSONATE_EXTRA = "impersonate-extra-"
AUTHN_GROUP = "authentication.k8s.io"


class AccessControl:
    """Who a request is from, and whether they may make it."""

    def __init__(
        self,
        store: Store,
        *,
        enforce: bool = True,
        admin_token: str | None = None,
        issuer: TokenIssuer | None = None,
        anonymous: bool = False,
    ) -> None:
        self.store = store
        self.enforce = enforce
        tokens = {admin_token: ADMIN} if admin_token else {}
        self.authenticator = Authenticator(
            store.get, issuer=issuer, static_tokens=tokens, anonymous=anonymous
        )
        self.authorizer = Authorizer(store, enforce=enforce)

    def admit(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Iterable[tuple[str, str]],
    ) -> Attributes:
        """The request's attributes, with the user it acts as; raises its 401 or 403."""
        attrs = request_attributes(self.identify(headers), method, path, query)
        self.authorize(attrs)
        return attrs

    def identify(self, headers: Iterable[tuple[str, str]]) -> UserInfo:
        """The user a request acts as: its token's, or the one it may impersonate (401, 403)."""
        header_list = [(k.lower(), v) for k, v in headers]
        return self.impersonate(self.authenticate_headers(header_list), header_list)

    def authenticate_headers(self, headers: Iterable[tuple[str, str]]) -> UserInfo:
        """The user a request's Authorization header names (401 if none)."""
        authorization = next((v for k, v in headers if k.lower() == "authorization"), None)
        return self.authenticate(authorization)

    def authorize(self, attrs: Attributes) -> None:
        """Raise the 403 for a request the authorizer does not allow."""
        decision = self.authorizer.authorize(attrs)
        if not decision.allowed:
            raise forbidden(attrs, decision.reason)

    def authenticate(self, authorization: str | None) -> UserInfo:
        if self.enforce:
            return self.authenticator.authenticate(authorization)
        token = bearer_token(authorization)
        user = self.authenticator.token_user(token) if token else None
        return user or ADMIN

    # -- impersonation (filters.WithImpersonation) ---------------------------------------------

    def impersonate(self, requester: UserInfo, headers: Iterable[tuple[str, str]]) -> UserInfo:
        """The user the `Impersonate-*` headers ask for, if `requester` may impersonate them
        (403 if not); `requester` without them."""
        headers = [(k.lower(), v) for k, v in headers]
        wanted_user = next((v for k, v in headers if k == IMPERSONATE_USER), "")
        groups_asked = [v for k, v in headers if k == IMPERSONATE_GROUP]
        extras = [
            (unquote(k[len(IMPERSONATE_EXTRA) :]), v)
            for k, v in headers
            if k.startswith(IMPERSONATE_EXTRA)
        ]
        wanted_uid = next((v for k, v in headers if k == IMPERSONATE_UID), "")
        if not (wanted_user or groups_asked or extras or wanted_uid):
            return requester
        if not wanted_user:
            raise ApiError(
                500,
                "InternalError",
                "Internal error occurred: requested impersonation of groups, extras or a uid "
                "without impersonating a user",
            )
        checks: list[Attributes] = []

        def check(**attrs: Any) -> None:
            checks.append(
                Attributes(user=requester, verb="impersonate", resource_request=True, **attrs)
            )

        name = wanted_user
        groups: list[str] = []
        account = split_service_account(wanted_user)
        if account is not None:
            namespace, account_name = account
            check(version="v1", resource="serviceaccounts", namespace=namespace, name=account_name)
            name = service_account_username(namespace, account_name)
            if not groups_asked:
                groups = list(service_account_groups(namespace))
        else:
            check(version="v1", resource="users", name=wanted_user)
        for group in groups_asked:
            check(version="v1", resource="groups", name=group)
            groups.append(group)
        extra: dict[str, list[str]] = {}
        for key, value in extras:
            check(
                group=AUTHN_GROUP, version="v1", resource="userextras", subresource=key, name=value
            )
            extra.setdefault(key, []).append(value)
        if wanted_uid:
            check(group=AUTHN_GROUP, version="v1", resource="uids", name=wanted_uid)
        for attrs in checks:
            decision = self.authorizer.authorize(attrs)
            if not decision.allowed:
                raise forbidden(attrs, decision.reason)
        if name != ANONYMOUS:
            if AUTHENTICATED not in groups and UNAUTHENTICATED not in groups:
                groups.append(AUTHENTICATED)
        elif UNAUTHENTICATED not in groups:
            groups.append(UNAUTHENTICATED)
        return UserInfo(
            name,
            uid=wanted_uid,
            groups=tuple(groups),
            extra=tuple((k, tuple(v)) for k, v in extra.items()),
        )

    # -- the APIs of authentication and authorization ------------------------------------------

    def serve(
        self,
        user: UserInfo,
        group: str,
        plural: str,
        verb: str,
        namespace: str | None,
        body: Any,
    ) -> dict[str, Any]:
        """A create of one of the review kinds (registry REVIEW_TYPES)."""
        if verb != "create":
            raise method_not_allowed()
        if (group, plural) == ("authorization.k8s.io", "selfsubjectaccessreviews"):
            return reviews.self_subject_access_review(self.authorizer, user, body)
        if (group, plural) == ("authorization.k8s.io", "selfsubjectrulesreviews"):
            return reviews.self_subject_rules_review(self.authorizer, user, body)
        if (group, plural) == ("authorization.k8s.io", "subjectaccessreviews"):
            return reviews.subject_access_review(self.authorizer, body)
        if (group, plural) == ("authorization.k8s.io", "localsubjectaccessreviews"):
            return reviews.subject_access_review(self.authorizer, body, namespace or "")
        if (group, plural) == (AUTHN_GROUP, "selfsubjectreviews"):
            return reviews.self_subject_review(user, body)
        if (group, plural) == (AUTHN_GROUP, "tokenreviews"):
            return reviews.token_review(self.authenticator, body)
        raise method_not_allowed()

    def token_request(self, namespace: str, name: str, body: Any) -> dict[str, Any]:
        return reviews.token_request(self.authenticator, self.store, namespace, name, body)
