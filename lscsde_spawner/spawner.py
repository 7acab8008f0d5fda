"""WorkspaceSpawner: KubeSpawner offering each user exactly the workspaces granted to them today.

Thin glue over the pure layers (``access``, ``profiles``, ``storage``, ``policy``) and the
``kube`` clients:

- ``profile_list`` (the form): one profile per workspace permitted today, from the watch-fed cache.
- ``load_user_options`` (start): the options are checked (only ``profile``, a few KiB at most);
  the cache decides whether the named workspace is granted and within the admin policy, and
  every PVC it would mount must say it belongs there; anything not permitted is refused with
  ``SpawnException(status_code=4xx)`` before anything is created. The workspace's overrides are
  applied after restoring the configured values.
- ``get_pod_manifest``: missing workspace PVCs are created and the volumes/mounts added to the pod
  KubeSpawner built, before any admin ``modify_pod_hook``.
- Just before the pod is created the grant is proved by fresh reads of exactly the objects that
  grant it: a revocation seen by then refuses the start, leaving at most the workspace's PVC.
- After start/stop: the workspace status is patched (when it changes) and events are recorded.
- While the server runs its grant is live (``live_grant``): when it ends, the server is stopped.
- The server's environment describes its workspace (``environment``), and the spawn page (and,
  with ``enable_home_page(c)``, the home page) shows each running server's workspace and days
  left (``hub_pages``).
"""

from __future__ import annotations

import asyncio
import copy
import html
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from jupyterhub.spawner import SpawnException
from jupyterhub.utils import maybe_future
from kubernetes_asyncio.client import CoreV1Api
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException
from kubespawner import KubeSpawner
from sqlalchemy.orm import object_session
from traitlets import default
from traitlets.config import Config

from . import access, clock, levels, metrics, policy, profiles, storage
from .claims import UserClaims
from .environment import for_pod, workspace_environment
from .hub_claims import user_claims
from .hub_pages import ServerWorkspace, enable_home_page, render_running, running_servers
from .kube import customresources as cr
from .kube.cache import UserSnapshot, WorkspaceCache
from .kube.events import (
    ACCESS_REVOKED,
    SERVER_ANNOTATION,
    SERVER_STARTED,
    SERVER_STOPPED,
    SUBJECT_ANNOTATION,
    EventRecorder,
    object_reference,
    reference_by_name,
)
from .kube.pvc import StorageError, ensure_pvc, read_pvc
from .models import AnalyticsWorkspace, PersistentVolumeClaim
from .revocation import RunningServers
from .settings import WorkspaceSettings
from .user_options import options_ok, options_problem
from .usernames import Normalize, exact, hub_default

_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_WARNED: set[tuple[str, str | None, str]] = set()
_TASKS: set[asyncio.Future[None]] = set()  # started from sync hooks; kept until done
REVOKED_STATE = "lscsde_revoked"
SERVING_STATE = "lscsde_workspace"  # the running server's workspace and grant, for the pages


def refuse(status: int, message: str, reason: str = "workspace") -> SpawnException:
    """A refusal the Hub reports to the caller with ``status`` (logged without a traceback),
    counted by ``reason`` in ``lscsde_spawner_starts_refused_total``."""
    metrics.refused(reason)
    return SpawnException(message, reason=reason, status_code=status)


@dataclass
class _Chosen:
    grant: access.PermittedWorkspace
    datasources: list[Any]
    datasource_bindings: tuple[str, ...]  # the data-source bindings that attach them


class _Response:
    """What ``ApiClient.deserialize`` reads: a JSON body."""

    def __init__(self, data: Any) -> None:
        self.data = json.dumps(data)


# KubeSpawner ships no type information (mypy sees Any), hence the ignore.
class WorkspaceSpawner(WorkspaceSettings, KubeSpawner):  # type: ignore[misc]
    @default("profile_list")
    def _profile_list_default(self) -> Callable[[Any], Any]:
        return self._workspace_profiles

    @default("additional_profile_form_template_paths")
    def _template_paths_default(self) -> list[str]:
        try:
            from .templating import TEMPLATE_DIR
        except ImportError:  # pragma: no cover
            return []
        return [TEMPLATE_DIR]

    @default("delete_pvc")
    def _delete_pvc_default(self) -> bool:
        # KubeSpawner's per-user claim is not ours; the hub should never need to delete PVCs.
        return False

    @default("options_form")
    def _lscsde_options_form(self) -> Callable[[Any], Any]:
        return self._render_form

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # KubeSpawner keeps overrides on the object between starts: remember the configured ones.
        self._configured = {k: copy.deepcopy(getattr(self, k)) for k in profiles.OVERRIDE_KEYS}
        self._chosen: _Chosen | None = None
        self._plan: storage.StoragePlan | None = None
        self._fresh: AnalyticsWorkspace | None = None  # as read just before the pod
        self._to_create: tuple[storage.ClaimToEnsure, ...] = ()
        self._storage_messages: list[str] = []
        self._claim: str | None = None
        # The last options a start accepted: restored in the database when a start is refused.
        stored = getattr(self.orm_spawner, "user_options", None) if self.orm_spawner else None
        self._accepted_options = copy.deepcopy(stored) if options_ok(stored) else {}
        self._started = False  # a server of ours is up (set after start, cleared at stop)
        self._revoked: dict[str, str] | None = None  # the last revocation, for the spawn page
        self._revoking = False  # this run's AccessRevoked event is recorded
        self._workspace_env: dict[str, str] = {}  # for get_env, from the start's choice
        self._granted: access.PermittedWorkspace | None = None  # as proved before the pod
        # (workspace, display name, last day) of the running server, kept fresh by poll()
        self._serving: tuple[str, str, date] | None = None

    # -- settings and clients ------------------------------------------------------------

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

    # -- the form ------------------------------------------------------------------------

    async def _workspace_profiles(self, spawner: Any = None) -> list[dict[str, Any]]:
        claims = await self.user_claims()
        snap = await (await self._cache()).snapshot_for(self.user.name, claims)
        today = self._today()
        decision = self._decide(snap, today, claims)
        out = []
        for grant in decision.permitted:
            ds, _ = access.attached_datasources(
                grant.name, snap.datasource_bindings, snap.datasources, today
            )
            try:
                out.append((await self._profile(grant, ds))[0])
            except Exception as exc:  # one bad workspace never breaks the page
                self._warn_once(grant.workspace, f"not offered to {self.user.name}: {exc}")
        return out

    def _warn_once(self, ws: AnalyticsWorkspace, text: str) -> None:
        """Log a problem with one version of a workspace once, not on every page view."""
        key = (ws.name, ws.metadata.resource_version, text)
        if key in _WARNED:
            return
        if len(_WARNED) >= 10_000:
            _WARNED.clear()
        _WARNED.add(key)
        self.log.warning("workspace %s: %s", ws.name, text)

    @staticmethod
    def enable_home_page(config: Config) -> None:
        """Show each running server's workspace and days left on the hub's home page (one line
        in ``jupyterhub_config.py``: ``WorkspaceSpawner.enable_home_page(c)``)."""
        enable_home_page(config)

    async def _profile(
        self, grant: access.PermittedWorkspace, ds: list[Any]
    ) -> tuple[dict[str, Any], storage.StoragePlan]:
        """The workspace's profile and storage plan; ProfileError or StoragePlanError when
        the workspace cannot be offered."""
        settings = self.storage_settings()
        assert settings.mount_policy is not None  # storage_settings always sets it
        # The workspace as its author wrote it, not the profile after the admin's hook.
        policy.check_workspace(grant.workspace, settings.mount_policy)
        # A viewer's workspace storage is mounted read-only, as data sources always are.
        read_only = not levels.writable(grant.access_level)
        plan = storage.plan_storage(grant.workspace, ds, settings, read_only=read_only)
        card = profiles.card_for(
            grant,
            storage=[(m.mount_path, m.claim) for m in plan.mounts if m.purpose != "datasource"],
            datasources=[
                (m.source, m.mount_path) for m in plan.mounts if m.purpose == "datasource"
            ],
            expiring_days=self.expiring_days,
        )
        profile = profiles.profile_for(
            grant,
            card=card,
            expiring_days=self.expiring_days,
            default_url=profiles.folder_url(self.workspace_default_url, grant.name),
        )
        if self.profile_hook is not None:
            adjusted = await maybe_future(self.profile_hook(self, grant.workspace, profile))
            if adjusted is not None:
                profile = adjusted
        return profile, plan

    async def _render_form(self, spawner: Any = None) -> str:
        return self._notices_html() + self._running_html() + await self._form_body()

    def _running_html(self) -> str:
        """The user's running servers, their workspaces and days left."""
        try:
            return render_running(
                running_servers(self.user), self.additional_profile_form_template_paths
            )
        except Exception:  # never worth losing the form over
            self.log.exception("could not show %s's running servers", self.user.name)
            return ""

    def _notices_html(self) -> str:
        """Which of the user's servers were stopped because their grant ended, when and why."""
        items = "".join(
            f"<li>Your server <strong>{html.escape(n.get('server', ''))}</strong> in workspace "
            f"<strong>{html.escape(n.get('workspace', ''))}</strong> was stopped at "
            f"{html.escape(n.get('when', ''))}: {html.escape(n.get('why', ''))}</li>"
            for n in self.revocation_notices()
        )
        if not items:
            return ""
        return (
            f'<div class="alert alert-warning lscsde-revoked" role="status"><ul>{items}</ul></div>'
        )

    async def _form_body(self) -> str:
        profile_list = await self._workspace_profiles()
        if not profile_list and self.no_workspaces_message:
            return (
                "<style>#spawn_form .feedback-container { display: none; }</style>"
                f'<p class="lscsde-no-workspaces">{html.escape(self.no_workspaces_message)}</p>'
            )
        try:
            return self._render_cards(profile_list)
        except Exception:
            pass
        # Some card cannot be rendered (or encoded): offer the others.
        good = []
        for profile in profile_list:
            try:
                self._render_cards([profile])
            except Exception as exc:
                card = profile.get("lscsde")
                if isinstance(card, profiles.WorkspaceCard):
                    self.log.warning("workspace %s cannot be shown: %r", card.slug, exc)
                continue
            good.append(profile)
        return self._render_cards(good)

    def _render_cards(self, profile_list: list[dict[str, Any]]) -> str:
        rendered: str = self._render_options_form(profile_list)
        rendered.encode("utf-8")  # a page the hub could not send is an error here
        return rendered

    # -- start: fresh access check -------------------------------------------------------

    def _requested(self) -> str | None:
        options = self.user_options if isinstance(self.user_options, dict) else {}
        name = options.get("profile")
        if name is None or name == "":
            return None
        if not isinstance(name, str):
            raise refuse(
                400, f"'profile' must be a workspace name, not {type(name).__name__}", "bad-input"
            )
        if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
            raise refuse(400, f"{name[:80]!r} is not a valid workspace name", "bad-input")
        return name

    async def _choose(self) -> _Chosen:
        """The workspace this start may use, decided from the watch-fed cache: a refusal needs
        no API request, and a grant is proved with fresh reads just before the pod is created
        (``_reverify``). Costs what this user's grant numbers, not what the namespace holds."""
        requested = self._requested()
        user = self.user.name
        cache = await self._cache()
        if not cache.synced and not await cache.wait_synced(self.cache_sync_timeout):
            raise refuse(
                503, "Workspace information is still loading; try again in a moment", "not-synced"
            )
        today = self._today()
        claims = await self.user_claims()
        if requested is None:
            snap = await cache.snapshot_for(user, claims)
            mine = self._decide(snap, today, claims)
            if not mine.permitted:
                raise refuse(403, f"{user} has no workspace available today", "not-granted")
            if len(mine.permitted) > 1:
                names = ", ".join(p.name for p in mine.permitted)
                raise refuse(400, f"Name a workspace to start: {user} may use {names}", "bad-input")
            requested = mine.permitted[0].name
        view = cache.workspace_view(user, requested, claims)
        decision = self._decide(view, today, claims)
        grant = decision.get(requested)
        if grant is None:
            why = decision.reason_for(requested)
            if why is not None:
                status = 404 if why.reason == "workspace-missing" else 403
                raise refuse(
                    status, f"Workspace {requested!r} cannot be started: {why.detail}", why.reason
                )
            known = view.workspaces or any(e.name == requested for e in view.malformed)
            if not known:
                raise refuse(404, f"Workspace {requested!r} does not exist", "workspace-missing")
            raise refuse(403, f"Workspace {requested!r} is not granted to {user}", "not-granted")
        attached, _ = access.attached_datasources(
            requested, view.datasource_bindings, view.datasources, today,
            malformed=view.malformed,
        )  # fmt: skip
        attaching = _attaching(requested, view.datasource_bindings, attached, today)
        return _Chosen(grant, attached, attaching)

    def _check_user_options(self) -> None:
        """Only known keys, a few KiB at most. JupyterHub stored the options before any spawner
        hook ran, so a refusal puts the last accepted ones back: junk is never kept."""
        options: object = getattr(self, "user_options", None)
        problem = options_problem(options)
        if problem is None:
            return
        self.user_options = copy.deepcopy(self._accepted_options)
        if self.orm_spawner is not None:
            self.orm_spawner.user_options = copy.deepcopy(self._accepted_options)
            session = object_session(self.orm_spawner)
            if session is not None:
                session.commit()
        raise refuse(400, problem, "user_options")

    async def load_user_options(self) -> None:
        self._revoking = False  # a new run: its grant is judged afresh
        self._workspace_env, self._granted = {}, None
        self._check_user_options()
        accepted = copy.deepcopy(self.user_options)
        chosen = await self._choose()
        ws = chosen.grant.workspace
        try:
            profile, plan = await self._profile(chosen.grant, chosen.datasources)
        except (profiles.ProfileError, storage.StoragePlanError) as exc:
            self.log.warning("workspace %s refused to %s: %s", ws.name, self.user.name, exc)
            raise refuse(403, f"Workspace {ws.name!r} cannot be started: {exc}", "policy") from exc
        # Every claim is checked before anything is created.
        self._to_create = await self._check_storage(ws, plan)
        for key, value in self._configured.items():
            setattr(self, key, copy.deepcopy(value))
        self.log.info("Starting workspace %s for %s", ws.name, self.user.name)
        self._apply_overrides(profile.get("kubespawner_override", {}))
        self._chosen, self._plan = chosen, plan
        self._workspace_env = for_pod(self._environment(chosen.grant, plan))
        if isinstance(accepted, dict) and not accepted.get("profile"):
            # Started without naming one (the user's only workspace): record which, so the
            # server's model (user_options.profile) says where it runs, as for a named start.
            accepted = {**accepted, "profile": ws.name}
            self.user_options = copy.deepcopy(accepted)
            if self.orm_spawner is not None:
                self.orm_spawner.user_options = copy.deepcopy(accepted)
        self._accepted_options = accepted

    def _environment(
        self, grant: access.PermittedWorkspace, plan: storage.StoragePlan
    ) -> dict[str, str]:
        """The variables that describe the workspace to the server (see ``environment``)."""
        return workspace_environment(
            workspace=grant.name,
            display_name=grant.workspace.spec.display_name,
            expires=grant.expires,
            workspace_path=next(m.mount_path for m in plan.mounts if m.purpose == "workspace"),
            datasources=[
                (m.source, m.mount_path) for m in plan.mounts if m.purpose == "datasource"
            ],
            prefix=self.environment_prefix,
        )

    def get_env(self) -> dict[str, str]:
        env: dict[str, str] = super().get_env()
        # Our names all start with environment_prefix, never JUPYTERHUB_*/JPY_* (its check).
        env.update(self._workspace_env)
        return env

    # -- storage -------------------------------------------------------------------------

    async def _check_storage(
        self, ws: AnalyticsWorkspace, plan: storage.StoragePlan
    ) -> tuple[storage.ClaimToEnsure, ...]:
        """Read every claim the plan mounts; refuse unless each proves it belongs there.
        Returns the claims to create."""
        core = CoreV1Api(self.api_client)
        names = list(dict.fromkeys(m.claim for m in plan.mounts))
        settings = self.storage_settings()
        cache = await self._cache()
        if cache.claims_synced and self.ws_namespace == self.namespace:
            # Every claim seen, and each with its owner's label: no read needed. Anything else
            # (missing, unlabelled, deleting) is confirmed with fresh reads before it decides.
            seen = {n: _facts(cache.claim(n)) for n in names}
            if all(seen.values()):
                try:
                    return storage.check_claims(plan, seen, settings, namespace=self.namespace)
                except storage.StoragePlanError:
                    pass
        try:
            found = await asyncio.gather(*(read_pvc(core, self.namespace, n) for n in names))
            existing = {n: _facts(pvc) for n, pvc in zip(names, found, strict=True)}
            return storage.check_claims(plan, existing, settings, namespace=self.namespace)
        except storage.ClaimRefused as exc:
            self.log.warning("workspace %s: %s", ws.name, exc)
            raise refuse(
                403, f"Storage for workspace {ws.name!r} refused: {exc}", "storage"
            ) from exc
        except (StorageError, storage.StoragePlanError) as exc:
            raise refuse(
                503, f"Storage for workspace {ws.name!r} is not available: {exc}", "storage"
            ) from exc

    async def get_pod_manifest(self) -> Any:
        pod = await super().get_pod_manifest()
        if self._chosen is None or self._plan is None:
            raise refuse(500, "No workspace was chosen for this server")
        ws, plan = self._chosen.grant.workspace, self._plan
        self._storage_messages = []
        core = CoreV1Api(self.api_client)
        try:
            raced: list[str] = []
            for claim in self._to_create:
                result = await ensure_pvc(
                    core,
                    self.namespace,
                    claim.name,
                    storage_class=claim.storage_class,
                    access_modes=list(claim.access_modes),
                    size=claim.size,
                    labels=claim.labels,
                    seen_missing=True,  # by _check_storage
                )
                if result == "exists":
                    raced.append(claim.name)  # made by someone else since the check
                verb = "Created" if result == "created" else "Using existing"
                self._storage_messages.append(
                    f"{verb} PersistentVolumeClaim {claim.name} for workspace {ws.name}"
                )
            if raced:
                await self._check_storage(ws, plan)
            as_dict = self.api_client.sanitize_for_serialization(pod)
            new = storage.apply_plan(as_dict, plan, keep_admin_volumes=self.keep_admin_volumes)
        except (StorageError, storage.StoragePlanError) as exc:
            raise refuse(
                500, f"Storage for workspace {ws.name!r} failed: {exc}", "storage"
            ) from exc
        self._claim = next(m.claim for m in plan.mounts if m.purpose == "workspace")
        return self.api_client.deserialize(cast(Any, _Response(new)), "V1Pod")

    # -- the last check: the grant still holds just before the pod is created ------------

    async def _reverify(self) -> None:
        """Fresh reads of exactly the objects that granted this start (the workspace, its
        granting bindings, the attaching data-source bindings and their data sources)."""
        chosen = self._chosen
        if chosen is None:
            raise refuse(500, "No workspace was chosen for this server")
        client, ns, name = self.api_client, self.ws_namespace, chosen.grant.name
        try:
            ws, bindings, dsbs, dss = await asyncio.gather(
                _get_or_none(cr.workspaces(client, ns), name),
                _get_all(cr.workspace_bindings(client, ns), chosen.grant.bindings),
                _get_all(cr.datasource_bindings(client, ns), chosen.datasource_bindings),
                _get_all(cr.datasources(client, ns), [d.name for d in chosen.datasources]),
            )
        except cr.MalformedObject as exc:
            raise refuse(403, f"Workspace {name!r} cannot be started: {exc}", "malformed") from exc
        except (ApiException, OSError, TimeoutError) as exc:
            raise refuse(
                503, f"Could not confirm access to workspace {name!r}: {exc}", "api-unavailable"
            ) from exc
        today = self._today()
        decision = access.decide(
            {name: ws} if ws is not None else {},
            bindings,
            self.user.name,
            today,
            normalize=self.normalize_username,
            claims=await self.user_claims(),  # read again: a group may have gone meanwhile
            allow_negative_only=self.allow_negative_only_claims,
        )
        if decision.get(name) is None:
            why = decision.reason_for(name)
            detail = why.detail if why else f"{self.user.name} no longer holds a grant to it"
            raise refuse(
                403, f"Access to workspace {name!r} ended during the start: {detail}", "revoked"
            )
        if ws is not None and ws.spec != chosen.grant.workspace.spec:
            # The pod was built from the version the cache held; never start a stale one.
            raise refuse(
                409, f"Workspace {name!r} changed during the start; start it again", "changed"
            )
        self._fresh, self._granted = ws, decision.get(name)
        still, _ = access.attached_datasources(name, dsbs, dss, today)
        gone = sorted({d.name for d in chosen.datasources} - {d.name for d in still})
        if gone:
            raise refuse(
                403,
                f"Data source(s) {', '.join(gone)} were detached from workspace {name!r} "
                "during the start",
                "revoked",
            )

    async def _make_create_pod_request(self, pod: Any, request_timeout: float) -> bool:
        # KubeSpawner's pod POST (retried on 409): the grant is proved again right before it.
        await self._reverify()
        created: bool = await super()._make_create_pod_request(pod, request_timeout)
        return created

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        sent = 0
        async for event in super().progress():
            for message in self._storage_messages[sent:]:
                yield {"progress": 2, "message": message}
            sent = len(self._storage_messages)
            yield event
        for message in self._storage_messages[sent:]:
            yield {"message": message}

    # -- after start / stop --------------------------------------------------------------

    async def _record(self, workspace: str, reason: str, verb: str) -> None:
        """An event about this server on its workspace (by uid when the cache knows it)."""
        server = self.name or "(default)"
        note = f"{verb} server {server} of {self.user.name} in pod {self.pod_name}"
        await EventRecorder(self.api_client, self.ws_namespace, log=self.log).record(
            await self._regarding(workspace), reason, note, action=verb,
            annotations=self._event_annotations(),
        )  # fmt: skip

    def _event_annotations(self) -> dict[str, str]:
        """Whom an event about this server concerns, and which server (the audit trail)."""
        return {SUBJECT_ANNOTATION: self.user.name, SERVER_ANNOTATION: self.name or ""}

    async def _regarding(self, workspace: str) -> dict[str, Any]:
        """An event's reference to the workspace: with its uid when the cache knows it (so
        kubectl describe finds the event), else by name (e.g. one just deleted)."""
        known = (await self._cache()).workspace(workspace)
        if known is not None:
            return object_reference(known)
        return reference_by_name(AnalyticsWorkspace, workspace, self.ws_namespace)

    async def start(self) -> Any:
        result = await super().start()
        chosen = self._chosen
        if chosen is not None:
            ws = chosen.grant.workspace
            wanted = {"statusText": "Provisioned", "persistentVolumeClaim": self._claim}
            if not _status_says(self._fresh or ws, wanted):
                try:
                    await cr.workspaces(self.api_client, self.ws_namespace).patch_status(
                        ws.name, wanted
                    )
                except Exception as exc:  # the server runs; the status is informational
                    self.log.warning("could not patch status of workspace %s: %s", ws.name, exc)
            await self._record(ws.name, SERVER_STARTED, "Started")
            self._note_grant(self._granted or chosen.grant)
            self._started = True
            self._revoked = None  # the user has seen the notice and started again
        return result

    async def stop(self, now: bool = False) -> None:
        # A refused or failed start is stopped by the Hub too: that is no server stopping. A
        # server started by an earlier Hub process (no choice remembered) counts if it runs.
        was_running = self._started or (
            self._chosen is None and await KubeSpawner.poll(self) is None
        )
        what = self._running_what() if was_running else None  # before the pod goes
        await super().stop(now=now)
        RunningServers.forget(self)
        self._started, self._serving = False, None
        if what is not None:
            await self._record(what[0], SERVER_STOPPED, "Stopped")

    # -- a running server's grant is live ------------------------------------------------

    def start_polling(self) -> None:
        # JupyterHub polls a server from when it is up until it stops: so do our re-checks.
        super().start_polling()
        task = asyncio.ensure_future(self._follow_grant())
        _TASKS.add(task)
        task.add_done_callback(_TASKS.discard)

    async def _follow_grant(self) -> None:
        RunningServers.shared(await self._cache()).add(self)

    async def poll(self) -> int | None:
        """KubeSpawner's answer; and a running server whose grant has ended counts as stopped,
        so JupyterHub stops it and cleans up (no API request: the cache decides)."""
        status: int | None = await super().poll()
        if status is not None:
            return status
        if self._revoking:
            return 1  # stopped (or being stopped) because its grant ended
        ended = await self._grant_ended()
        if ended is None:
            return None
        # JupyterHub stops a server only while poll() says it runs: stop it here, then say so.
        self._revoking = True
        try:
            await self._revoke(*ended)
            await self.stop()
            metrics.SERVERS_REVOKED.inc()
        except Exception:
            self._revoking = False  # still running: the next poll tries again
            self.log.exception("could not stop %s after its grant ended", self._log_name)
            return None
        return 1

    def _running_what(self) -> tuple[str, frozenset[str] | None] | None:
        """The workspace this server runs and the data sources it mounts: from its pod (as the
        spawner labelled and annotated it, so a restarted hub knows), else from the start."""
        pods = self.pod_reflector.pods if self.pod_reflector is not None else {}
        found = storage.running_from_pod(pods.get(f"{self.namespace}/{self.pod_name}"))
        if found is not None:
            return found
        if self._chosen is not None:
            return self._chosen.grant.name, frozenset(d.name for d in self._chosen.datasources)
        return None

    def _writable(self) -> bool:
        """Whether this server mounts its workspace's storage writable: as its pod says, else
        as its start planned; a pod that does not say (from before access levels) did."""
        pods = self.pod_reflector.pods if self.pod_reflector is not None else {}
        said = storage.writable_from_pod(pods.get(f"{self.namespace}/{self.pod_name}"))
        if said is not None:
            return said
        if self._plan is not None:
            return any(not m.read_only for m in self._plan.mounts if m.purpose != "datasource")
        return True

    async def _grant_ended(self) -> tuple[str, str] | None:
        """(workspace, why) when this running server's grant has ended, else None."""
        what = self._running_what()
        if what is None:
            return None
        name, mounted = what
        writable = self._writable()
        cache = await self._cache()
        if not cache.synced and not await cache.wait_synced(5):
            return None  # not known yet: the first sync re-checks every running server
        today = self._today()

        def ended(claims: UserClaims | None) -> str | None:
            view = cache.workspace_view(self.user.name, name, claims)
            why = access.grant_ended(
                name, mounted, view.workspaces, view.bindings, view.datasource_bindings,
                view.datasources, self.user.name, today,
                normalize=self.normalize_username, malformed=view.malformed, claims=claims,
                allow_negative_only=self.allow_negative_only_claims, writable=writable,
            )  # fmt: skip
            if why is None:  # still granted: the pages show its expiry as it is now
                self._note_grant(self._decide(view, today, claims).get(name))
            return why

        # Claims only ever add grants: a server its username bindings keep alive needs no
        # claims read (auth_state decryption, the admin's hook) on every sweep.
        why = ended(None)
        if why is not None:
            why = ended(await self.user_claims())
        return (name, why) if why is not None else None

    async def _revoke(self, workspace: str, why: str) -> None:
        """Say in an event on the workspace, in the log and on the next spawn page that this
        server is stopped because its grant ended."""
        server = self.name or "(default)"
        self._revoked = {
            "server": server,
            "workspace": workspace,
            "when": clock.now().strftime("%Y-%m-%d %H:%M UTC"),
            "why": why,
        }
        self.log.warning(
            "Stopping server %s of %s: access to workspace %s ended: %s",
            server, self.user.name, workspace, why,
        )  # fmt: skip
        note = f"Stopped server {server} of {self.user.name} in pod {self.pod_name}: {why}"
        await EventRecorder(self.api_client, self.ws_namespace, log=self.log).record(
            await self._regarding(workspace),
            ACCESS_REVOKED,
            note,
            type="Warning",
            action="Stop",
            annotations=self._event_annotations(),
        )

    # -- what the pages show of a running server ----------------------------------------

    def _note_grant(self, grant: access.PermittedWorkspace | None) -> None:
        if grant is not None:
            ws = grant.workspace
            self._serving = (ws.name, ws.spec.display_name.strip() or ws.name, grant.expires)

    def running_workspace(self) -> ServerWorkspace | None:
        """The workspace this server runs and its grant's last day, for the hub's pages (the
        last day unknown for a server no check of this hub has seen yet)."""
        server = self.name or ""
        if self._serving is None:
            what = self._running_what()
            return ServerWorkspace(server, what[0], what[0]) if what else None
        name, display_name, expires = self._serving
        return ServerWorkspace(
            server, name, display_name, expires, self._today(), expiring_days=self.expiring_days
        )

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()
        if self._revoked:
            state[REVOKED_STATE] = dict(self._revoked)
        if self._serving is not None:
            name, display_name, expires = self._serving
            state[SERVING_STATE] = {
                "workspace": name,
                "display_name": display_name,
                "expires": expires.isoformat(),
            }
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        notice = state.get(REVOKED_STATE)
        if isinstance(notice, dict):
            self._revoked = {str(k): str(v) for k, v in notice.items()}
        serving = state.get(SERVING_STATE)
        if isinstance(serving, dict):
            try:
                self._serving = (
                    str(serving["workspace"]),
                    str(serving["display_name"]),
                    date.fromisoformat(str(serving["expires"])),
                )
            except (KeyError, ValueError):
                self._serving = None  # a later check of the grant fills it in

    def revocation_notices(self) -> list[dict[str, str]]:
        """The user's servers stopped because their grant ended, for the spawn page."""
        spawners = getattr(self.user, "spawners", {}) or {}
        found = [getattr(s, "_revoked", None) for s in list(spawners.values())]
        return [n for n in found if n]


def _attaching(
    workspace: str, bindings: list[Any], attached: list[Any], today: date
) -> tuple[str, ...]:
    """The live data-source bindings that attach ``attached`` to ``workspace``."""
    names = {d.name for d in attached}
    return tuple(
        sorted(
            b.name
            for b in bindings
            if b.spec.workspace == workspace
            and b.spec.datasource in names
            and (b.spec.expires is None or b.spec.expires >= today)
        )
    )


def _status_says(ws: AnalyticsWorkspace, wanted: dict[str, Any]) -> bool:
    """The workspace's status already holds these values (then it is not patched again)."""
    status = ws.status.model_dump(by_alias=True) if ws.status is not None else {}
    return all(status.get(k) == v for k, v in wanted.items())


def _facts(pvc: Any) -> storage.ExistingClaim | None:
    """What a PVC says of itself: from the client's model or from the cache's."""
    if pvc is None:
        return None
    if isinstance(pvc, PersistentVolumeClaim):
        return storage.ExistingClaim(dict(pvc.metadata.labels), being_deleted=pvc.being_deleted)
    meta = pvc.metadata
    labels = dict(meta.labels or {}) if meta is not None else {}
    deleting = bool(meta is not None and meta.deletion_timestamp)
    return storage.ExistingClaim(labels, being_deleted=deleting)


async def _get_or_none(crs: cr.CustomResourceClient[Any], name: str) -> Any:
    try:
        return await crs.get(name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


async def _get_all(crs: cr.CustomResourceClient[Any], names: Any) -> list[Any]:
    found = await asyncio.gather(*(_get_or_none(crs, n) for n in names))
    return [f for f in found if f is not None]


__all__ = ["WorkspaceSpawner", "refuse"]
