"""What every hook of ``WorkspaceSpawner`` works from, derived from its settings: the workspace
namespace, the hub's username normalisation, the API client and the shared watch-fed cache,
today in the configured time zone, the user's claims now, and the access decision over what the
cache holds. A mixin over ``WorkspaceSettings``, before ``KubeSpawner`` in the spawner's bases.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from kubernetes_asyncio.client.api_client import ApiClient

from . import access, clock
from .claims import UserClaims
from .hub_claims import user_claims
from .kube.cache import UserSnapshot, WorkspaceCache
from .settings import WorkspaceSettings
from .usernames import Normalize, exact, hub_default


class SpawnerContext(WorkspaceSettings):
    """The settings, and what the spawner's hooks derive from them for one hub user."""

    if TYPE_CHECKING:  # KubeSpawner's, which mypy cannot see
        user: Any
        api: Any
        authenticator: Any
        namespace: str

    @property
    def ws_namespace(self) -> str:
        return str(self.workspace_namespace or self.namespace)

    @property
    def normalize_username(self) -> Normalize:
        """The hub's own username normalisation, by which a binding names its one hub user."""
        if self.case_sensitive_usernames:
            return exact
        auth = self.authenticator
        return auth.normalize_username if auth is not None else hub_default

    @property
    def api_client(self) -> ApiClient:
        client: ApiClient = self.api.api_client
        return client

    async def _cache(self) -> WorkspaceCache:
        cache = WorkspaceCache.shared(
            ApiClient,
            self.ws_namespace,
            normalize=self.normalize_username,
            freeze_after_sync=self.freeze_gc_after_sync,
        )
        await cache.start()
        return cache

    def _today(self) -> date:
        return access.today_in(self.time_zone, clock.now())

    def _decide(
        self, snap: UserSnapshot, today: date, claims: UserClaims | None
    ) -> access.AccessDecision:
        """The access decision for this user over what the cache holds."""
        return access.decide(
            snap.workspaces,
            snap.bindings,
            self.user.name,
            today,
            normalize=self.normalize_username,
            malformed=snap.malformed,
            claims=claims,
            allow_negative_only=self.allow_negative_only_claims,
            groups_claim=self.groups_claim,
        )

    async def user_claims(self) -> UserClaims | None:
        """This user's claims now: the auth_state userinfo, then the hub's groups, then the
        admin's ``claims_hook`` (later ones win per claim). None when they cannot be read:
        then claim-based bindings grant nothing (fail closed)."""
        return await user_claims(
            self.user,
            self,
            groups_claim=self.groups_claim,
            auth_state_key=self.auth_state_claims,
            hook=self.claims_hook,
            log=self.log,
        )


__all__ = ["SpawnerContext"]
