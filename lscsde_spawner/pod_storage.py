"""A start's PVCs: each claim the storage plan mounts proved to belong there (from the cache,
else from fresh reads) before anything is created, and the missing ones created just before the
pod, each step a progress message, and the pod given the plan's volumes and mounts. Refusals
name the workspace."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, cast

from kubernetes_asyncio.client import CoreV1Api
from kubernetes_asyncio.client.api_client import ApiClient

from . import storage
from .kube.cache import WorkspaceCache
from .kube.pvc import StorageError, ensure_pvc, read_pvc
from .models import PersistentVolumeClaim
from .refusals import refuse


def facts(pvc: Any) -> storage.ExistingClaim | None:
    """What a PVC says of itself: from the client's model or from the cache's."""
    if pvc is None:
        return None
    if isinstance(pvc, PersistentVolumeClaim):
        return storage.ExistingClaim(dict(pvc.metadata.labels), being_deleted=pvc.being_deleted)
    meta = pvc.metadata
    labels = dict(meta.labels or {}) if meta is not None else {}
    deleting = bool(meta is not None and meta.deletion_timestamp)
    return storage.ExistingClaim(labels, being_deleted=deleting)


async def check_storage(
    core: CoreV1Api,
    cache: WorkspaceCache,
    workspace: str,
    plan: storage.StoragePlan,
    settings: storage.StorageSettings,
    *,
    namespace: str,
    cache_namespace: str,
    log: logging.Logger | logging.LoggerAdapter[Any],
) -> tuple[storage.ClaimToEnsure, ...]:
    """Read every claim the plan mounts; refuse unless each proves it belongs there.
    Returns the claims to create."""
    names = list(dict.fromkeys(m.claim for m in plan.mounts))
    if cache.claims_synced and cache_namespace == namespace:
        # Every claim seen, and each with its owner's label: no read needed. Anything else
        # (missing, unlabelled, deleting) is confirmed with fresh reads before it decides.
        seen = {n: facts(cache.claim(n)) for n in names}
        if all(seen.values()):
            try:
                return storage.check_claims(plan, seen, settings, namespace=namespace)
            except storage.StoragePlanError:
                pass
    try:
        found = await asyncio.gather(*(read_pvc(core, namespace, n) for n in names))
        existing = {n: facts(pvc) for n, pvc in zip(names, found, strict=True)}
        return storage.check_claims(plan, existing, settings, namespace=namespace)
    except storage.ClaimRefused as exc:
        log.warning("workspace %s: %s", workspace, exc)
        raise refuse(403, f"Storage for workspace {workspace!r} refused: {exc}", "storage") from exc
    except (StorageError, storage.StoragePlanError) as exc:
        raise refuse(
            503, f"Storage for workspace {workspace!r} is not available: {exc}", "storage"
        ) from exc


async def ensure_claims(
    core: CoreV1Api,
    namespace: str,
    workspace: str,
    to_create: tuple[storage.ClaimToEnsure, ...],
    messages: list[str],
) -> list[str]:
    """Create the claims ``check_storage`` found missing, appending a progress message for
    each to ``messages``; returns those someone else made since the check (to check again)."""
    raced: list[str] = []
    for claim in to_create:
        result = await ensure_pvc(
            core,
            namespace,
            claim.name,
            storage_class=claim.storage_class,
            access_modes=list(claim.access_modes),
            size=claim.size,
            labels=claim.labels,
            seen_missing=True,  # by check_storage
        )
        if result == "exists":
            raced.append(claim.name)  # made by someone else since the check
        verb = "Created" if result == "created" else "Using existing"
        messages.append(f"{verb} PersistentVolumeClaim {claim.name} for workspace {workspace}")
    return raced


class _Response:
    """What ``ApiClient.deserialize`` reads: a JSON body."""

    def __init__(self, data: Any) -> None:
        self.data = json.dumps(data)


def with_storage(
    client: ApiClient, pod: Any, plan: storage.StoragePlan, *, keep_admin_volumes: bool
) -> dict[str, Any]:
    """The pod KubeSpawner built, as a manifest, with the plan's volumes and mounts added."""
    as_dict = client.sanitize_for_serialization(pod)
    return storage.apply_plan(as_dict, plan, keep_admin_volumes=keep_admin_volumes)


def to_pod(client: ApiClient, manifest: dict[str, Any]) -> Any:
    """The V1Pod of ``manifest``, as KubeSpawner's later hooks expect it."""
    return client.deserialize(cast(Any, _Response(manifest)), "V1Pod")


__all__ = ["check_storage", "ensure_claims", "facts", "to_pod", "with_storage"]
