"""WorkspaceSpawner: KubeSpawner offering each user exactly the workspaces granted to them today.

Thin glue over the pure layers (``access``, ``profiles``, ``storage``) and the ``kube`` clients:

- ``profile_list`` (the form): one profile per workspace permitted today, from the watch-fed cache.
- ``load_user_options`` (start): the named workspace is checked again with FRESH API reads;
  anything not permitted now is refused with ``SpawnException(status_code=4xx)`` before anything
  is created. The workspace's overrides are applied after restoring the configured values.
- ``get_pod_manifest``: the storage step (PVCs ensured, volumes/mounts added) runs on the pod
  KubeSpawner built, before any admin ``modify_pod_hook`` and before the pod is created. Any
  storage failure fails the spawn.
- After start/stop: the workspace status is patched and Kubernetes events are recorded.
"""

from __future__ import annotations

import copy
import html
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, cast

from jupyterhub.spawner import SpawnException
from jupyterhub.utils import maybe_future
from kubernetes_asyncio.client import CoreV1Api
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException
from kubespawner import KubeSpawner
from traitlets import Bool, Integer, List, Unicode, default
from traitlets import Callable as CallableTrait

from . import access, profiles, storage
from .kube import customresources as cr
from .kube.cache import WorkspaceCache
from .kube.events import SERVER_STARTED, SERVER_STOPPED, EventRecorder, object_reference
from .kube.pvc import StorageError, ensure_pvc
from .models import AnalyticsWorkspace

_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def refuse(status: int, message: str, reason: str = "workspace") -> SpawnException:
    """A refusal the Hub reports to the caller with ``status`` (logged without a traceback)."""
    return SpawnException(message, reason=reason, status_code=status)


@dataclass
class _Chosen:
    grant: access.PermittedWorkspace
    datasources: list[Any]


class _Response:
    """What ``ApiClient.deserialize`` reads: a JSON body."""

    def __init__(self, data: Any) -> None:
        self.data = json.dumps(data)


class WorkspaceSpawner(KubeSpawner):
    workspace_namespace = Unicode(
        "",
        config=True,
        help="Namespace of the AnalyticsWorkspace resources and bindings (default: the "
        "spawner's namespace).",
    )
    time_zone = Unicode("UTC", config=True, help="IANA time zone that decides what 'today' is.")
    case_sensitive_usernames = Bool(
        False, config=True, help="Compare binding usernames case-sensitively."
    )
    expiring_days = Integer(
        7, config=True, help="Highlight a workspace on the form when fewer days than this remain."
    )
    workspace_claim_prefix = Unicode(
        "workspace-", config=True, help="Prefix of a workspace PVC name when none is recorded."
    )
    workspace_storage_class = Unicode(
        None,
        allow_none=True,
        config=True,
        help="Storage class for new workspace PVCs (None: the cluster default; a workspace's "
        "own storageClassName wins).",
    )
    workspace_access_modes = List(
        Unicode(), ["ReadWriteMany"], config=True, help="Access modes for new workspace PVCs."
    )
    workspace_capacity = Unicode("10Gi", config=True, help="Size of new workspace PVCs.")
    workspace_mount_path_template = Unicode(
        "/home/jovyan/{workspace}", config=True, help="Where the workspace PVC is mounted."
    )
    datasource_mount_template = Unicode(
        "/data/{datasource}", config=True, help="Where each attached data source is mounted."
    )
    datasource_read_only = Bool(True, config=True, help="Mount data sources read-only.")
    datasource_claim_template = Unicode(
        "datasource-{datasource}",
        config=True,
        help="PVC name of a data source without the claim annotation.",
    )
    datasource_claim_annotation = Unicode(
        "xlscsde.nhs.uk/persistent-volume-claim",
        config=True,
        help="Annotation on an AnalyticsDataSource naming its PVC.",
    )
    keep_admin_volumes = Bool(
        True,
        config=True,
        help="Keep the admin's configured volumes (e.g. a z2jh home directory) beside the "
        "workspace storage.",
    )
    profile_hook = CallableTrait(
        None,
        allow_none=True,
        config=True,
        help="Callable(spawner, workspace, profile) -> profile | None, adjusting each "
        "workspace's profile (may be async). Returning None keeps the profile as it is.",
    )
    no_workspaces_message = Unicode(
        "",
        config=True,
        help="Plain text shown on the spawn page when the user has no workspace today (escaped). "
        "Empty: the form template's own friendly message.",
    )

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
        self._storage_messages: list[str] = []
        self._claim: str | None = None
        self._started = False  # a server of ours is up (set after start, cleared at stop)

    # -- settings and clients ------------------------------------------------------------

    @property
    def ws_namespace(self) -> str:
        return str(self.workspace_namespace or self.namespace)

    def storage_settings(self) -> storage.StorageSettings:
        return storage.StorageSettings(
            claim_prefix=self.workspace_claim_prefix,
            storage_class=self.workspace_storage_class,
            access_modes=tuple(self.workspace_access_modes),
            capacity=self.workspace_capacity,
            mount_path_template=self.workspace_mount_path_template,
            datasource_mount_template=self.datasource_mount_template,
            datasource_read_only=self.datasource_read_only,
            datasource_claim_template=self.datasource_claim_template,
            datasource_claim_annotation=self.datasource_claim_annotation,
            keep_admin_volumes=self.keep_admin_volumes,
        )

    @property
    def api_client(self) -> ApiClient:
        client: ApiClient = self.api.api_client
        return client

    async def _cache(self) -> WorkspaceCache:
        cache = WorkspaceCache.shared(
            ApiClient, self.ws_namespace, case_sensitive=self.case_sensitive_usernames
        )
        await cache.start()
        return cache

    # -- the form ------------------------------------------------------------------------

    async def _workspace_profiles(self, spawner: Any = None) -> list[dict[str, Any]]:
        snap = await (await self._cache()).snapshot_for(self.user.name)
        today = access.today_in(self.time_zone)
        decision = access.decide(
            snap.workspaces,
            snap.bindings,
            self.user.name,
            today,
            case_sensitive=self.case_sensitive_usernames,
            malformed=snap.malformed,
        )
        out = []
        for grant in decision.permitted:
            ds, _ = access.attached_datasources(
                grant.name, snap.datasource_bindings, snap.datasources, today
            )
            try:
                out.append(await self._profile(grant, ds))
            except (profiles.ProfileError, storage.StoragePlanError) as exc:
                self.log.warning(
                    "workspace %s not offered to %s: %s", grant.name, self.user.name, exc
                )
        return out

    async def _profile(self, grant: access.PermittedWorkspace, ds: list[Any]) -> dict[str, Any]:
        plan = storage.plan_storage(grant.workspace, ds, self.storage_settings())
        card = profiles.card_for(
            grant,
            storage=[(m.mount_path, m.claim) for m in plan.mounts if m.purpose != "datasource"],
            datasources=[
                (m.source, m.mount_path) for m in plan.mounts if m.purpose == "datasource"
            ],
            expiring_days=self.expiring_days,
        )
        profile = profiles.profile_for(grant, card=card, expiring_days=self.expiring_days)
        if self.profile_hook is not None:
            adjusted = await maybe_future(self.profile_hook(self, grant.workspace, profile))
            if adjusted is not None:
                profile = adjusted
        return profile

    async def _render_form(self, spawner: Any = None) -> str:
        profile_list = await self._workspace_profiles()
        if not profile_list and self.no_workspaces_message:
            return (
                "<style>#spawn_form .feedback-container { display: none; }</style>"
                f'<p class="lscsde-no-workspaces">{html.escape(self.no_workspaces_message)}</p>'
            )
        rendered: str = self._render_options_form(profile_list)
        return rendered

    # -- start: fresh access check -------------------------------------------------------

    def _requested(self) -> str | None:
        options = self.user_options if isinstance(self.user_options, dict) else {}
        name = options.get("profile")
        if name is None or name == "":
            return None
        if not isinstance(name, str):
            raise refuse(400, f"'profile' must be a workspace name, not {type(name).__name__}")
        if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
            raise refuse(400, f"{name[:80]!r} is not a valid workspace name")
        return name

    async def _choose(self) -> _Chosen:
        requested = self._requested()
        client, ns, user = self.api_client, self.ws_namespace, self.user.name
        try:
            listed_ws = await cr.workspaces(client, ns).list()
            bindings = await cr.workspace_bindings(client, ns).list()
        except ApiException as exc:
            raise refuse(503, f"Could not read workspaces: the API answered {exc.status}") from exc
        today = access.today_in(self.time_zone)
        decision = access.decide(
            listed_ws.items,
            bindings.items,
            user,
            today,
            case_sensitive=self.case_sensitive_usernames,
            malformed=[*listed_ws.errors, *bindings.errors],
        )
        if requested is None:
            if not decision.permitted:
                raise refuse(403, f"{user} has no workspace available today")
            if len(decision.permitted) > 1:
                names = ", ".join(p.name for p in decision.permitted)
                raise refuse(400, f"Name a workspace to start: {user} may use {names}")
            grant = decision.permitted[0]
        else:
            found = decision.get(requested)
            if found is None:
                known = {w.name for w in listed_ws.items} | {e.name for e in listed_ws.errors}
                if requested not in known:
                    raise refuse(404, f"Workspace {requested!r} does not exist")
                why = decision.reason_for(requested)
                if why is None:
                    raise refuse(403, f"Workspace {requested!r} is not granted to {user}")
                raise refuse(403, f"Workspace {requested!r} cannot be started: {why.detail}")
            grant = found
        try:
            dsb = await cr.datasource_bindings(client, ns).list()
            dss = await cr.datasources(client, ns).list()
        except ApiException as exc:
            raise refuse(
                503, f"Could not read data sources: the API answered {exc.status}"
            ) from exc
        attached, _ = access.attached_datasources(
            grant.name, dsb.items, dss.items, today, malformed=dss.errors
        )
        return _Chosen(grant, attached)

    async def load_user_options(self) -> None:
        chosen = await self._choose()
        try:
            profile = await self._profile(chosen.grant, chosen.datasources)
        except (profiles.ProfileError, storage.StoragePlanError) as exc:
            raise refuse(403, f"Workspace {chosen.grant.name!r} cannot be started: {exc}") from exc
        for key, value in self._configured.items():
            setattr(self, key, copy.deepcopy(value))
        self.log.info("Starting workspace %s for %s", chosen.grant.name, self.user.name)
        self._apply_overrides(profile.get("kubespawner_override", {}))
        self._chosen = chosen

    # -- the pod: storage ----------------------------------------------------------------

    async def get_pod_manifest(self) -> Any:
        pod = await super().get_pod_manifest()
        if self._chosen is None:
            raise refuse(500, "No workspace was chosen for this server")
        ws = self._chosen.grant.workspace
        self._storage_messages = []
        try:
            plan = storage.plan_storage(ws, self._chosen.datasources, self.storage_settings())
            core = CoreV1Api(self.api_client)
            for claim in plan.claims:
                result = await ensure_pvc(
                    core,
                    self.namespace,
                    claim.name,
                    storage_class=claim.storage_class,
                    access_modes=list(claim.access_modes),
                    size=claim.size,
                    labels=claim.labels,
                )
                verb = "Created" if result == "created" else "Using existing"
                self._storage_messages.append(
                    f"{verb} PersistentVolumeClaim {claim.name} for workspace {ws.name}"
                )
            for name in plan.required_claims():
                try:
                    await core.read_namespaced_persistent_volume_claim(name, self.namespace)
                except ApiException as exc:
                    raise StorageError(
                        f"PersistentVolumeClaim {name!r} needed by workspace {ws.name!r} "
                        f"is not available ({exc.status})",
                        namespace=self.namespace,
                        name=name,
                        status=exc.status,
                    ) from exc
            as_dict = self.api_client.sanitize_for_serialization(pod)
            new = storage.apply_plan(as_dict, plan, keep_admin_volumes=self.keep_admin_volumes)
        except (StorageError, storage.StoragePlanError) as exc:
            raise refuse(
                500, f"Storage for workspace {ws.name!r} failed: {exc}", "storage"
            ) from exc
        self._claim = storage.workspace_claim_name(ws, self.storage_settings())
        return self.api_client.deserialize(cast(Any, _Response(new)), "V1Pod")

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

    async def _record(self, ws: AnalyticsWorkspace, reason: str, verb: str) -> None:
        server = self.name or "(default)"
        note = f"{verb} server {server} of {self.user.name} in pod {self.pod_name}"
        await EventRecorder(self.api_client, self.ws_namespace, log=self.log).record(
            object_reference(ws), reason, note, action=verb
        )

    async def start(self) -> Any:
        result = await super().start()
        chosen = self._chosen
        if chosen is not None:
            ws = chosen.grant.workspace
            try:
                await cr.workspaces(self.api_client, self.ws_namespace).patch_status(
                    ws.name, {"statusText": "Provisioned", "persistentVolumeClaim": self._claim}
                )
            except Exception as exc:  # the server runs; the status is informational
                self.log.warning("could not patch status of workspace %s: %s", ws.name, exc)
            await self._record(ws, SERVER_STARTED, "Started")
            self._started = True
        return result

    async def _running_workspace(self) -> AnalyticsWorkspace | None:
        """The workspace of this server: the one chosen at start, or (after a Hub restart,
        when the server was started by an earlier process) the one its options name."""
        if self._chosen is not None:
            return self._chosen.grant.workspace
        options = self.user_options if isinstance(self.user_options, dict) else {}
        name = options.get("profile")
        if not isinstance(name, str) or not _DNS_SUBDOMAIN.fullmatch(name):
            return None
        try:
            return await cr.workspaces(self.api_client, self.ws_namespace).get(name)
        except Exception as exc:  # best effort: the event is informational
            self.log.warning("stop: could not read workspace %s: %s", name, exc)
            return None

    async def stop(self, now: bool = False) -> None:
        # A refused or failed start is stopped by the Hub too: that is no server stopping. A
        # server started by an earlier Hub process (no choice remembered) counts if it runs.
        was_running = self._started or (self._chosen is None and await self.poll() is None)
        await super().stop(now=now)
        self._started = False
        ws = await self._running_workspace() if was_running else None
        if ws is not None:
            await self._record(ws, SERVER_STOPPED, "Stopped")


__all__ = ["WorkspaceSpawner", "refuse"]
