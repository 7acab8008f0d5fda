"""What the service reads from and writes to Kubernetes, with its own credentials.

Reads come from the same watch-fed ``WorkspaceCache`` the spawner uses (workspaces, bindings,
data sources and their bindings; no PVCs), so a request costs what the caller's bindings or the
workspace's members number, never a list of the namespace. Writes go to the API: a binding is
created, patched (conditionally on the version seen) or deleted; events are recorded about the
workspace; a workspace's events are listed with a field selector on ``regarding.name``.

After a write the service waits (briefly) until its cache has seen it, so the caller's next
read shows what they just did.

Its Role (examples/kubernetes/workspaces-service.yaml): list and watch the four kinds; create,
patch and delete analyticsworkspacebindings; create and list events.k8s.io events.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, cast

from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client import Configuration, EventsV1Api
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from .. import metrics
from ..kube import customresources as cr
from ..kube.cache import WorkspaceCache
from ..kube.events import EventRecorder, object_reference, reference_by_name
from ..models import AnalyticsWorkspace, AnalyticsWorkspaceBinding
from ..usernames import Normalize
from .errors import Conflict, NotFound, ServiceError, Unavailable

log = logging.getLogger(__name__)
CONTROLLER = "lscsde-workspaces"
SEEN_WITHIN = 3.0  # seconds a write waits for the cache to show it


async def api_client(kubeconfig: str = "", token_dir: str = "") -> ApiClient:
    """A client with the service's own credentials: a kubeconfig file, or a directory holding
    a service-account ``token`` and ``ca.crt`` (in a pod), else ``$KUBECONFIG`` or the pod's
    own service account."""
    configuration = Configuration()
    if kubeconfig:
        await kube_config.load_kube_config(
            config_file=kubeconfig, client_configuration=configuration
        )
    elif token_dir:
        kube_config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration,
            token_filename=f"{token_dir}/token",
            cert_filename=f"{token_dir}/ca.crt",
        )
    else:
        try:
            kube_config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
        except kube_config.ConfigException:
            await kube_config.load_kube_config(client_configuration=configuration)
    return ApiClient(configuration)


def _refused(exc: ApiException, doing: str) -> ServiceError:
    try:
        message = json.loads(exc.body or "{}").get("message") or exc.reason
    except (ValueError, AttributeError):
        message = exc.reason
    if exc.status == 404:
        return NotFound(f"{doing}: not found")
    if exc.status == 409:
        return Conflict(f"{doing}: {message}")
    return Unavailable(f"{doing}: the Kubernetes API answered {exc.status}: {message}")


class Store:
    def __init__(self, client: ApiClient, namespace: str, normalize: Normalize) -> None:
        self.client = client
        self.namespace = namespace
        self.cache = WorkspaceCache(client, namespace, normalize=normalize, claims=False)
        self.bindings = cr.workspace_bindings(client, namespace)
        self.recorder = EventRecorder(client, namespace, controller=CONTROLLER, log=log)
        self.events = EventsV1Api(client)

    async def start(self) -> None:
        await self.cache.start()

    async def stop(self) -> None:
        await self.cache.stop()
        await self.client.close()

    async def synced(self, timeout: float = 10) -> None:  # noqa: ASYNC109
        if not self.cache.synced and not await self.cache.wait_synced(timeout):
            raise Unavailable("workspace information is still loading; try again in a moment")

    # -- bindings ---------------------------------------------------------------------------

    async def create_binding(self, body: dict[str, Any]) -> AnalyticsWorkspaceBinding:
        try:
            made = await self.bindings.create(AnalyticsWorkspaceBinding.model_validate(body))
        except ApiException as exc:
            raise _refused(exc, f"creating binding {body['metadata']['name']}") from None
        await self._seen(made.name, made.metadata.resource_version)
        return made

    async def patch_binding(self, name: str, patch: dict[str, Any]) -> AnalyticsWorkspaceBinding:
        try:
            patched = await self.bindings.patch_merge(name, patch)
        except ApiException as exc:
            if exc.status == 409:
                raise Conflict(
                    f"binding {name} was changed by someone else meanwhile; reload and try again"
                ) from None
            raise _refused(exc, f"changing binding {name}") from None
        await self._seen(name, patched.metadata.resource_version)
        return patched

    async def delete_binding(self, name: str) -> None:
        try:
            await self.bindings.delete(name)
        except ApiException as exc:
            if exc.status != 404:  # already gone is what was asked
                raise _refused(exc, f"deleting binding {name}") from None
        await self._seen(name, None)

    async def _seen(self, name: str, resource_version: str | None) -> None:
        """Wait until the cache holds this version of the binding (None: holds none)."""
        deadline = time.monotonic() + SEEN_WITHIN
        while time.monotonic() < deadline:
            held = self.cache.binding(name)
            rv = held.metadata.resource_version if held is not None else None
            if rv == resource_version:
                return
            await asyncio.sleep(0.02)
        log.warning("the cache has not seen binding %s at version %s", name, resource_version)

    # -- events -----------------------------------------------------------------------------

    def regarding(self, workspace: str) -> dict[str, Any]:
        known = self.cache.workspace(workspace)
        if known is not None:
            return object_reference(known)
        return reference_by_name(AnalyticsWorkspace, workspace, self.namespace)

    async def record(
        self,
        workspace: str,
        reason: str,
        note: str,
        *,
        action: str,
        annotations: dict[str, str],
        related: dict[str, Any] | None = None,
    ) -> None:
        await self.recorder.record(
            self.regarding(workspace), reason, note, action=action, annotations=annotations,
            related=related,
        )  # fmt: skip

    async def events_about(self, workspace: str) -> list[dict[str, Any]]:
        """Every events.k8s.io event regarding the workspace (the server filters, page by page)."""
        selector = f"regarding.name={workspace},regarding.kind={AnalyticsWorkspace.KIND}"
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kw: dict[str, Any] = {"field_selector": selector, "limit": 500}
            if token:
                kw["_continue"] = token
            metrics.kube_request("list", "events")
            try:
                resp = await self.events.list_namespaced_event(
                    self.namespace, _preload_content=False, **kw
                )
                body = await cr.read_body(resp)
            except ApiException as exc:
                raise _refused(exc, f"listing the events of workspace {workspace!r}") from None
            page = cast(dict[str, Any], json.loads(body))
            items += [e for e in page.get("items") or [] if isinstance(e, dict)]
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items


__all__ = ["CONTROLLER", "Store", "api_client"]
