"""WorkspaceSpawner: KubeSpawner offering each user exactly the workspaces granted to them today.

A thin layer of KubeSpawner's and JupyterHub's hooks over modules with one job each. Every hook
works from ``spawner_context`` (the namespace, the cache, today, the user's claims and access
decision); beyond that:

- the form (``profile_list``, ``options_form``): ``offers`` for the workspaces ``access``
  permits today (from the watch-fed cache), shown by ``spawn_page`` and ``hub_pages``;
- a start (``load_user_options``): ``hub_options``, ``choosing`` and ``pod_storage``'s claim
  checks refuse (``refusals``: a 4xx ``SpawnException``) before anything is created;
- the pod (``get_pod_manifest``, its request): ``pod_storage`` adds the storage, and
  ``grant_proof`` proves the grant with fresh reads just before the pod is created;
- after start and stop: ``workspace_status`` and ``server_events``;
- while it runs (``poll``, ``get_state``, ``load_state``): ``running`` and the ``revocation``
  registry stop a server whose grant has ended.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from typing import Any

from jupyterhub.utils import maybe_future
from kubernetes_asyncio.client import CoreV1Api
from kubespawner import KubeSpawner
from traitlets import default
from traitlets.config import Config

from . import (
    access,
    choosing,
    clock,
    grant_proof,
    hub_options,
    metrics,
    offers,
    pod_storage,
    profiles,
    running,
    server_events,
    spawn_page,
    storage,
)
from .environment import for_pod
from .hub_pages import ServerWorkspace, enable_home_page, render_running, running_servers
from .kube.events import ACCESS_REVOKED, SERVER_STARTED, SERVER_STOPPED
from .kube.pvc import StorageError
from .models import AnalyticsWorkspace
from .refusals import refuse
from .revocation import RunningServers
from .spawner_context import SpawnerContext
from .user_options import options_ok, options_problem
from .workspace_status import mark_provisioned

_TASKS: set[asyncio.Future[None]] = set()  # started from sync hooks; kept until done


# KubeSpawner ships no type information (mypy sees Any), hence the ignore.
class WorkspaceSpawner(SpawnerContext, KubeSpawner):  # type: ignore[misc]
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
        self._chosen: choosing.Chosen | None = None
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
        self._serving: running.Serving | None = None

    # -- the form ------------------------------------------------------------------------

    async def _workspace_profiles(self, spawner: Any = None) -> list[dict[str, Any]]:
        claims = await self.user_claims()
        snap = await (await self._cache()).snapshot_for(self.user.name, claims)
        today = self._today()
        decision = self._decide(snap, today, claims)

        def warn(ws: AnalyticsWorkspace, exc: Exception) -> None:
            spawn_page.warn_once(self.log, ws, f"not offered to {self.user.name}: {exc}")

        return await offers.offered(decision.permitted, snap, today, self._profile, warn)

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
        profile, plan = offers.offer(
            grant, ds, self.storage_settings(),
            expiring_days=self.expiring_days, url_template=self.workspace_default_url,
        )  # fmt: skip
        if self.profile_hook is not None:
            adjusted = await maybe_future(self.profile_hook(self, grant.workspace, profile))
            if adjusted is not None:
                profile = adjusted
        return profile, plan

    async def _render_form(self, spawner: Any = None) -> str:
        notices = spawn_page.notices_html(self.revocation_notices())
        servers = self._running_html()
        profile_list = await self._workspace_profiles()
        render = self._render_options_form
        body = spawn_page.form_body(profile_list, render, self.no_workspaces_message, self.log)
        return notices + servers + body

    def _running_html(self) -> str:
        """The user's running servers, their workspaces and days left."""
        try:
            return render_running(
                running_servers(self.user), self.additional_profile_form_template_paths
            )
        except Exception:  # never worth losing the form over
            self.log.exception("could not show %s's running servers", self.user.name)
            return ""

    # -- start: fresh access check -------------------------------------------------------

    async def _choose(self) -> choosing.Chosen:
        """The workspace this start may use, decided from the watch-fed cache (``choosing``);
        the grant is proved with fresh reads just before the pod is created (``_reverify``)."""
        requested = choosing.requested(self.user_options)
        return await choosing.choose(
            await self._cache(),
            self.user.name,
            requested,
            sync_timeout=self.cache_sync_timeout,
            today=self._today,
            read_claims=self.user_claims,
            decide=self._decide,
        )

    def _check_user_options(self) -> None:
        """Only known keys, a few KiB at most. JupyterHub stored the options before any spawner
        hook ran, so a refusal puts the last accepted ones back: junk is never kept."""
        problem = options_problem(getattr(self, "user_options", None))
        if problem is None:
            return
        hub_options.store(self, self._accepted_options, commit=True)
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
        self._workspace_env = for_pod(
            offers.environment(chosen.grant, plan, self.environment_prefix)
        )
        named = hub_options.naming(accepted, ws.name)
        if named is not None:  # started without naming one (the user's only workspace)
            accepted = named
            hub_options.store(self, accepted)
        self._accepted_options = accepted

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
        return await pod_storage.check_storage(
            CoreV1Api(self.api_client), await self._cache(), ws.name, plan, self.storage_settings(),
            namespace=self.namespace, cache_namespace=self.ws_namespace, log=self.log,
        )  # fmt: skip

    async def get_pod_manifest(self) -> Any:
        pod = await super().get_pod_manifest()
        if self._chosen is None or self._plan is None:
            raise refuse(500, "No workspace was chosen for this server")
        ws, plan = self._chosen.grant.workspace, self._plan
        self._storage_messages = []
        core = CoreV1Api(self.api_client)
        try:
            raced = await pod_storage.ensure_claims(
                core, self.namespace, ws.name, self._to_create, self._storage_messages
            )
            if raced:
                await self._check_storage(ws, plan)
            new = pod_storage.with_storage(
                self.api_client, pod, plan, keep_admin_volumes=self.keep_admin_volumes
            )
        except (StorageError, storage.StoragePlanError) as exc:
            raise refuse(
                500, f"Storage for workspace {ws.name!r} failed: {exc}", "storage"
            ) from exc
        self._claim = next(m.claim for m in plan.mounts if m.purpose == "workspace")
        return pod_storage.to_pod(self.api_client, new)

    # -- the last check: the grant still holds just before the pod is created ------------

    async def _reverify(self) -> None:
        """Fresh reads of exactly the objects that granted this start (``grant_proof``)."""
        chosen = self._chosen
        if chosen is None:
            raise refuse(500, "No workspace was chosen for this server")
        proof = await grant_proof.prove(
            self.api_client, self.ws_namespace, chosen, self.user.name,
            today=self._today, read_claims=self.user_claims,
            normalize=self.normalize_username,
            allow_negative_only=self.allow_negative_only_claims,
        )  # fmt: skip
        self._fresh, self._granted = proof.workspace, proof.grant
        grant_proof.check_attached(chosen, proof)

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

    async def _record(
        self, workspace: str, reason: str, verb: str, note: str = "", **kw: Any
    ) -> None:
        """An event about this server on its workspace (``server_events``)."""
        server = self.name or "(default)"
        note = note or f"{verb} server {server} of {self.user.name} in pod {self.pod_name}"
        await server_events.record(
            self.api_client, await self._cache(), self.ws_namespace, workspace, reason, note,
            action=verb, annotated=server_events.event_annotations(self.user.name, self.name or ""),
            log=self.log, **kw,
        )  # fmt: skip

    async def start(self) -> Any:
        result = await super().start()
        chosen = self._chosen
        if chosen is not None:
            ws = chosen.grant.workspace
            await mark_provisioned(
                self.api_client, self.ws_namespace, self._fresh or ws, self._claim, self.log
            )
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

    def _pod(self) -> Any:
        """This server's pod as the reflector last saw it (None: not seen)."""
        pods = self.pod_reflector.pods if self.pod_reflector is not None else {}
        return pods.get(f"{self.namespace}/{self.pod_name}")

    def _running_what(self) -> running.Running | None:
        """The workspace this server runs and the data sources it mounts (``running``)."""
        return running.running_what(self._pod(), self._chosen)

    async def _grant_ended(self) -> tuple[str, str] | None:
        """(workspace, why) when this running server's grant has ended, else None."""
        what = self._running_what()
        if what is None:
            return None
        writable = running.writable(self._pod(), self._plan)
        cache = await self._cache()
        if not cache.synced and not await cache.wait_synced(5):
            return None  # not known yet: the first sync re-checks every running server
        why = await running.grant_ended(
            lambda claims: cache.workspace_view(self.user.name, what[0], claims),
            what, self.user.name, self._today(), read_claims=self.user_claims,
            normalize=self.normalize_username, allow_negative_only=self.allow_negative_only_claims,
            writable=writable, decide=self._decide, note=self._note_grant,
        )  # fmt: skip
        return (what[0], why) if why is not None else None

    async def _revoke(self, workspace: str, why: str) -> None:
        """Say in an event on the workspace, in the log and on the next spawn page that this
        server is stopped because its grant ended."""
        server = self.name or "(default)"
        self._revoked = running.revocation_notice(server, workspace, why, clock.now())
        self.log.warning(
            "Stopping server %s of %s: access to workspace %s ended: %s",
            server, self.user.name, workspace, why,
        )  # fmt: skip
        note = f"Stopped server {server} of {self.user.name} in pod {self.pod_name}: {why}"
        await self._record(workspace, ACCESS_REVOKED, "Stop", note, type="Warning")

    # -- what the pages show of a running server ----------------------------------------

    def _note_grant(self, grant: access.PermittedWorkspace | None) -> None:
        if grant is not None:
            self._serving = running.serving(grant)

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
        return running.save_state(super().get_state(), self._revoked, self._serving)

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self._revoked = running.loaded_revocation(state, self._revoked)
        self._serving = running.loaded_serving(state, self._serving)

    def revocation_notices(self) -> list[dict[str, str]]:
        """The user's servers stopped because their grant ended, for the spawn page."""
        spawners = getattr(self.user, "spawners", {}) or {}
        return running.notices(getattr(s, "_revoked", None) for s in list(spawners.values()))


__all__ = ["WorkspaceSpawner", "refuse"]
