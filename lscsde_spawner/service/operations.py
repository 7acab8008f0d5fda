"""Every operation of the workspaces service, shared by its REST API and its pages.

Each takes the caller and returns plain JSON data or raises a ``ServiceError``. The rules are
``rules`` (who may), ``members`` (what a request may ask), ``audit`` and ``views`` (what is
shown); this module wires them to the cache, the Kubernetes writes (``store``) and the hub's
REST API (``hubapi``). A caller's grants are decided exactly as the spawner decides them
(``access.decide`` over the same cache), with their JupyterHub groups as claims.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from .. import access, clock
from .. import claims as claim_rules
from ..access import AccessDecision
from ..claims import UserClaims
from ..kube.cache import WorkspaceCache
from ..kube.events import (
    ACTOR_ANNOTATION,
    MEMBER_ADDED,
    MEMBER_CHANGED,
    MEMBER_REMOVED,
    SERVER_ANNOTATION,
    SESSION_STOPPED,
    SUBJECT_ANNOTATION,
    object_reference,
)
from ..models import AnalyticsWorkspace
from ..usernames import Normalize
from . import audit, members, metrics, rules, views
from .config import ServiceSettings
from .errors import Conflict, Forbidden, NotFound
from .hubapi import HubApi
from .rules import Action, Caller
from .store import Store

#: A request body, read (and checked) only once the caller's right to the workspace is known.
Body = Callable[[], dict[str, Any]]
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class Operations:
    def __init__(self, settings: ServiceSettings, store: Store, hub: HubApi) -> None:
        self.settings = settings
        self.store = store
        self.hub = hub
        self.normalize: Normalize = store.cache.normalize
        self.zone = access.resolve_zone(settings.time_zone)

    @property
    def cache(self) -> WorkspaceCache:
        return self.store.cache

    def today(self) -> date:
        return access.today_in(self.zone, clock.now())

    # -- who the caller is ----------------------------------------------------------------

    async def claims_of(self, caller: Caller) -> tuple[UserClaims, dict[str, Any] | None]:
        """The caller's claims (their hub groups under ``groups_claim``) and hub model."""
        model = await self.hub.user(caller.name)
        if not self.settings.groups_claim:
            return {}, model
        groups = (model or {}).get("groups")
        names = [g for g in groups if isinstance(g, str)] if isinstance(groups, list) else []
        return claim_rules.user_claims({self.settings.groups_claim: names}), model

    def _decide(self, name: str, view: Any, claims: UserClaims) -> AccessDecision:
        return access.decide(
            view.workspaces, view.bindings, name, self.today(),
            normalize=self.normalize, malformed=view.malformed, claims=claims,
            allow_negative_only=self.settings.allow_negative_only_claims,
            groups_claim=self.settings.groups_claim,
        )  # fmt: skip

    async def authorize(self, caller: Caller, workspace: str, action: Action) -> AnalyticsWorkspace:
        """The workspace, when ``caller`` may do ``action`` there; NotFound or Forbidden."""
        if len(workspace) > 253 or not _DNS_SUBDOMAIN.fullmatch(workspace):
            raise NotFound(f"workspace {workspace[:80]!r} not found")
        await self.store.synced(self.settings.sync_timeout)
        found = self.cache.workspace(workspace)
        level = None
        if not caller.hub_admin:
            # Asked whether or not the workspace exists: a stranger's 404 takes the same path.
            claims, _ = await self.claims_of(caller)
            view = self.cache.workspace_view(caller.name, workspace, claims)
            grant = self._decide(caller.name, view, claims).get(workspace)
            level = grant.access_level if grant is not None else None
        rules.authorize(caller, workspace, exists=found is not None, level=level, action=action)
        assert found is not None  # authorize raises NotFound otherwise
        return found

    # -- my workspaces ----------------------------------------------------------------------

    async def my_workspaces(self, caller: Caller, *, everything: bool = False) -> dict[str, Any]:
        """The caller's workspaces today; with ``everything``, a hub admin's list also holds
        every other workspace (to manage)."""
        await self.store.synced(self.settings.sync_timeout)
        claims, model = await self.claims_of(caller)
        view = self.cache.user_view(caller.name, claims)
        decision = self._decide(caller.name, view, claims)
        today = decision.today
        rows = []
        for grant in decision.permitted:
            attached, _ = access.attached_datasources(
                grant.name, view.datasource_bindings, view.datasources, today,
                malformed=view.malformed,
            )  # fmt: skip
            servers = views.servers_in(model or {}, grant.name)
            manages = rules.manages(caller, grant.access_level)
            rows.append(views.workspace_row(grant, attached, servers, manages=manages))
        others = []
        if everything and caller.hub_admin:
            mine = {r["name"] for r in rows}
            spaces = self.cache.workspaces()
            others = [views.managed_row(spaces[n]) for n in sorted(spaces) if n not in mine]
        return {
            "user": caller.name,
            "hubAdmin": caller.hub_admin,
            "today": today.isoformat(),
            "workspaces": rows,
            "otherWorkspaces": others,
        }

    # -- members ----------------------------------------------------------------------------

    async def members(self, caller: Caller, workspace: str) -> dict[str, Any]:
        ws = await self.authorize(caller, workspace, "read-members")
        today = self.today()
        rows = [
            members.member_row(b, today, self.normalize) for b in self.cache.bindings_to(ws.name)
        ]
        rows += [members.error_row(e) for e in self.cache.binding_errors_to(ws.name)]
        return {"workspace": ws.name, "expires": ws.spec.validity.expires.isoformat(),
                "members": rows}  # fmt: skip

    def _bindings_of(self, workspace: str, user: str) -> list[Any]:
        return [
            b
            for b in self.cache.bindings_to(workspace)
            if members.is_members_binding(b, user, self.normalize)
        ]

    def _user(self, raw: str) -> str:
        try:
            return members.check_username(raw, self.normalize)
        except Exception:
            raise NotFound(f"no member {raw[:80]!r}") from None

    async def _event(
        self,
        ws: AnalyticsWorkspace,
        reason: str,
        note: str,
        *,
        caller: Caller,
        user: str,
        server: str | None = None,
        related: Any = None,
    ) -> None:
        annotations = {SUBJECT_ANNOTATION: user, ACTOR_ANNOTATION: caller.name}
        if server is not None:
            annotations[SERVER_ANNOTATION] = server
        action = reason.removeprefix("Member").removeprefix("Session")
        await self.store.record(
            ws.name, reason, note, action=action, annotations=annotations,
            related=object_reference(related) if related is not None else None,
        )  # fmt: skip

    async def add_member(self, caller: Caller, workspace: str, body: Body) -> Any:
        """``body`` is read only once the caller may manage the workspace."""
        ws = await self.authorize(caller, workspace, "manage-members")
        new = members.parse_new(
            body(), today=self.today(), workspace=ws.name,
            workspace_expires=ws.spec.validity.expires, normalize=self.normalize,
        )  # fmt: skip
        existing = self._bindings_of(ws.name, new.username)
        if existing:
            raise Conflict(
                f"{new.username} already has a grant to workspace {ws.name!r} (binding "
                f"{existing[0].name}); change it instead"
            )
        made = await self.store.create_binding(
            members.binding_body(ws.name, new, actor=caller.name, namespace=self.store.namespace)
        )
        note = (
            f"{caller.name} added {new.username} to workspace {ws.name} as {new.access_level} "
            f"until {new.expires}"
        )
        await self._event(ws, MEMBER_ADDED, note, caller=caller, user=new.username, related=made)
        metrics.MEMBER_CHANGES.labels(action="added").inc()
        return members.member_row(made, self.today(), self.normalize)

    async def change_member(self, caller: Caller, workspace: str, username: str, body: Body) -> Any:
        ws = await self.authorize(caller, workspace, "manage-members")
        user = self._user(username)
        targets = self._bindings_of(ws.name, user)
        if not targets:
            raise NotFound(f"{user} has no binding to workspace {ws.name!r} naming them")
        change = members.parse_change(
            body(),
            today=self.today(),
            workspace=ws.name,
            workspace_expires=ws.spec.validity.expires,
        )
        done = []
        for binding in targets:
            described = members.describe_change(binding, change)
            patched = await self.store.patch_binding(
                binding.name, members.change_patch(binding, change, actor=caller.name)
            )
            note = f"{caller.name} changed {user} in workspace {ws.name}: {described}"
            await self._event(ws, MEMBER_CHANGED, note, caller=caller, user=user, related=patched)
            done.append(members.member_row(patched, self.today(), self.normalize))
        metrics.MEMBER_CHANGES.labels(action="changed").inc()
        return {"members": done}

    async def remove_member(self, caller: Caller, workspace: str, username: str) -> Any:
        ws = await self.authorize(caller, workspace, "manage-members")
        user = self._user(username)
        targets = self._bindings_of(ws.name, user)
        if not targets:
            raise NotFound(f"{user} has no binding to workspace {ws.name!r} naming them")
        for binding in targets:
            await self.store.delete_binding(binding.name)
        note = (
            f"{caller.name} removed {user} from workspace {ws.name} (binding(s) "
            f"{', '.join(b.name for b in targets)})"
        )
        await self._event(ws, MEMBER_REMOVED, note, caller=caller, user=user)
        metrics.MEMBER_CHANGES.labels(action="removed").inc()
        return {"removed": [b.name for b in targets], "username": user}

    # -- sessions ---------------------------------------------------------------------------

    async def sessions(self, caller: Caller, workspace: str) -> dict[str, Any]:
        ws = await self.authorize(caller, workspace, "read-sessions")
        users = await self.hub.active_users()
        return {"workspace": ws.name, "sessions": views.sessions(users, ws.name)}

    async def stop_session(
        self, caller: Caller, workspace: str, username: str, server: str
    ) -> dict[str, Any]:
        ws = await self.authorize(caller, workspace, "stop-sessions")
        shown = server or "(default)"
        model = await self.hub.user(username) if username else None
        running = views.servers_in(model or {}, ws.name)
        if not any(s["server"] == server for s in running):
            raise NotFound(f"{username[:80]} has no server {shown[:80]} in workspace {ws.name!r}")
        status = await self.hub.stop_server(username, server)
        note = f"{caller.name} stopped server {shown} of {username} in workspace {ws.name}"
        await self._event(ws, SESSION_STOPPED, note, caller=caller, user=username, server=server)
        metrics.SESSIONS_STOPPED.inc()
        return {"user": username, "server": server, "stopping": status == 202}

    # -- events -----------------------------------------------------------------------------

    async def events(
        self, caller: Caller, workspace: str, args: dict[str, str | None]
    ) -> dict[str, Any]:
        ws = await self.authorize(caller, workspace, "read-events")
        filters = audit.parse_filters(args, self.zone)
        found = await self.store.events_about(ws.name)
        return {"workspace": ws.name, **audit.trail(found, filters)}


def caller_of(model: dict[str, Any]) -> Caller:
    """The caller a hub user model describes; services are refused (they have no grants)."""
    if model.get("kind", "user") != "user":
        raise Forbidden(f"{model.get('kind')} {model.get('name')} is not a user")
    return Caller(str(model["name"]), hub_admin=bool(model.get("admin")))


__all__ = ["Body", "Operations", "caller_of"]
