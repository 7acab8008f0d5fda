"""Authentication: who a request's bearer token says it is.

Two kinds of token are accepted, as a kubeadm cluster accepts them:

* static tokens (the admin's, written into the cluster's kubeconfig): `kubernetes-admin` in
  `system:masters`, which the authorizer lets do anything;
* ServiceAccount tokens from the TokenRequest API (`serviceaccounts/<name>/token`, what `kubectl
  create token` calls): JWTs whose claims are the real ones (iss, sub, aud, exp, iat, nbf, jti and
  `kubernetes.io` naming the namespace, account and its uid), signed here with HMAC-SHA256 rather
  than a key pair. They identify `system:serviceaccount:<ns>:<name>` in the groups
  `system:serviceaccounts` and `system:serviceaccounts:<ns>`, and stay valid only while the
  account (with the same uid) and any object they are bound to exist, and until they expire.

Every authenticated user is also in `system:authenticated` (the authenticated-group adder). A
request with no token is `system:anonymous` (group `system:unauthenticated`) when anonymous
requests are allowed, and otherwise, like a request whose token is unknown, expired or
malformed, answered 401 with the real Status body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubesim.apiserver.requestinfo import UserInfo
from kubesim.registry.errors import ApiError

ADMIN_USER = "kubernetes-admin"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
SERVICE_ACCOUNTS = "system:serviceaccounts"
SA_PREFIX = "system:serviceaccount:"
# kubeadm's --service-account-issuer and --api-audiences.
ISSUER = "https://kubernetes.default.svc.cluster.local"
API_AUDIENCES = (ISSUER,)
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"
# Clock skew tolerated on exp and nbf, as the real JWT validator (jwt.DefaultLeeway).
LEEWAY = 60
ADMIN = UserInfo(ADMIN_USER, groups=(MASTERS, AUTHENTICATED))

# (storage key, namespace, name) -> the stored object or None: the store's `get`.
Lookup = Callable[[tuple[str, str], str, str], dict[str, Any] | None]


def unauthorized() -> ApiError:
    """apierrors.NewUnauthorized("Unauthorized"), as the authentication filter answers."""
    return ApiError(401, "Unauthorized", "Unauthorized")


def service_account_username(namespace: str, name: str) -> str:
    return f"{SA_PREFIX}{namespace}:{name}"


def split_service_account(username: str) -> tuple[str, str] | None:
    """serviceaccount.SplitUsername: (namespace, name) of `system:serviceaccount:ns:name`."""
    if not username.startswith(SA_PREFIX):
        return None
    parts = username[len(SA_PREFIX) :].split(":")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1]


def service_account_groups(namespace: str) -> tuple[str, ...]:
    return (SERVICE_ACCOUNTS, f"{SERVICE_ACCOUNTS}:{namespace}")


def with_authenticated(user: UserInfo) -> UserInfo:
    """group.AuthenticatedGroupAdder."""
    if user.name == ANONYMOUS or AUTHENTICATED in user.groups or UNAUTHENTICATED in user.groups:
        return user
    return UserInfo(user.name, user.uid, (*user.groups, AUTHENTICATED), user.extra)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class TokenIssuer:
    """Signs and checks ServiceAccount JWTs with one per-cluster key."""

    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    issuer: str = ISSUER
    audiences: tuple[str, ...] = API_AUDIENCES

    @property
    def key_id(self) -> str:
        return _b64(hashlib.sha256(self.key).digest()[:16])

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": "HS256", "kid": self.key_id}
        head = _b64(json.dumps(header, separators=(",", ":")).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        mac = hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{_b64(mac)}"

    def claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this issuer signed, or None (signature checked, nothing else)."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        head, body, mac = parts
        expected = hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(_unb64(mac), expected):
                return None
            claims = json.loads(_unb64(body))
        except (ValueError, UnicodeDecodeError):
            return None
        return claims if isinstance(claims, dict) else None

    def issue(
        self,
        account: dict[str, Any],
        *,
        expiration_seconds: int,
        audiences: list[str],
        bound: dict[str, Any] | None = None,
        now: float | None = None,
    ) -> tuple[str, int]:
        """A token for a stored ServiceAccount (serviceaccount.Claims); returns it and its exp."""
        meta = account["metadata"]
        issued = int(now if now is not None else time.time())
        expiry = issued + expiration_seconds
        private: dict[str, Any] = {
            "namespace": meta["namespace"],
            "serviceaccount": {"name": meta["name"], "uid": meta.get("uid", "")},
        }
        if bound is not None:
            key = bound["kind"].lower()
            private[key] = {"name": bound["name"], "uid": bound["uid"]}
        claims = {
            "aud": list(audiences),
            "exp": expiry,
            "iat": issued,
            "iss": self.issuer,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": private,
            "nbf": issued,
            "sub": service_account_username(meta["namespace"], meta["name"]),
        }
        return self.sign(claims), expiry


class Authenticator:
    """Bearer tokens to users: static tokens, then ServiceAccount JWTs."""

    def __init__(
        self,
        lookup: Lookup,
        *,
        issuer: TokenIssuer | None = None,
        static_tokens: Mapping[str, UserInfo] | None = None,
        anonymous: bool = False,
    ) -> None:
        self.lookup = lookup
        self.issuer = issuer or TokenIssuer()
        self.static_tokens = dict(static_tokens or {})
        self.anonymous = anonymous

    def authenticate(self, authorization: str | None) -> UserInfo:
        """The user an Authorization header names; raises the 401 for a bad or missing token."""
        token = bearer_token(authorization)
        if token is None:
            if self.anonymous:
                return UserInfo(ANONYMOUS, groups=(UNAUTHENTICATED,))
            raise unauthorized()
        user = self.token_user(token)
        if user is None:
            raise unauthorized()
        return user

    def token_user(self, token: str, audiences: tuple[str, ...] | None = None) -> UserInfo | None:
        """Who a token identifies (for the API's audiences unless others are given), or None."""
        user = self.static_tokens.get(token)
        if user is not None:
            return with_authenticated(user)
        return self._service_account_user(token, audiences or self.issuer.audiences)

    def _service_account_user(self, token: str, audiences: tuple[str, ...]) -> UserInfo | None:
        claims = self.issuer.claims(token)
        if claims is None or claims.get("iss") != self.issuer.issuer:
            return None
        aud = claims.get("aud")
        token_audiences = aud if isinstance(aud, list) else [aud]
        if not set(token_audiences) & set(audiences):
            return None
        now = time.time()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, (int, float)) or now > exp + LEEWAY:
            return None
        if isinstance(nbf, (int, float)) and now + LEEWAY < nbf:
            return None
        private = claims.get("kubernetes.io")
        if not isinstance(private, dict):
            return None
        namespace = private.get("namespace")
        account_ref = private.get("serviceaccount") or {}
        if not isinstance(namespace, str) or not isinstance(account_ref, dict):
            return None
        name, uid = account_ref.get("name"), account_ref.get("uid")
        if not isinstance(name, str) or claims.get("sub") != service_account_username(
            namespace, name
        ):
            return None
        if not self._current(("", "serviceaccounts"), namespace, name, uid):
            return None  # deleted, or deleted and made again
        for kind, plural in (("pod", "pods"), ("secret", "secrets")):
            ref = private.get(kind)
            if isinstance(ref, dict) and not self._current(
                ("", plural), namespace, str(ref.get("name")), ref.get("uid")
            ):
                return None
        extra: tuple[tuple[str, tuple[str, ...]], ...] = ()
        if isinstance(claims.get("jti"), str):
            extra = ((CREDENTIAL_ID, (f"JTI={claims['jti']}",)),)
        user = UserInfo(
            service_account_username(namespace, name),
            uid=str(uid or ""),
            groups=service_account_groups(namespace),
            extra=extra,
        )
        return with_authenticated(user)

    def _current(self, key: tuple[str, str], namespace: str, name: str, uid: Any) -> bool:
        obj = self.lookup(key, namespace, name)
        if obj is None:
            return False
        meta = obj.get("metadata") or {}
        return meta.get("uid") == uid and not meta.get("deletionTimestamp")


def bearer_token(authorization: str | None) -> str | None:
    """The token of `Authorization: Bearer <token>` (bearertoken.Authenticator), else None."""
    header = (authorization or "").strip()
    if not header:
        return None
    parts = header.split(" ", 2)
    if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
        return None
    return parts[1]
