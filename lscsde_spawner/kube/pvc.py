"""Make sure a PersistentVolumeClaim exists, safely under concurrent spawns."""

from __future__ import annotations

import json
import logging
from typing import Any, Literal, cast

import aiohttp
from kubernetes_asyncio.client import CoreV1Api, V1PersistentVolumeClaim
from kubernetes_asyncio.client.exceptions import ApiException

from .. import metrics

log = logging.getLogger(__name__)

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "lscsde-spawner"


class StorageError(Exception):
    """A PVC could not be found or made; the message is fit to show a user."""

    def __init__(
        self, message: str, *, namespace: str, name: str, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.namespace = namespace
        self.name = name
        self.status = status


def api_message(exc: ApiException) -> str:
    """The `message` of the Kubernetes Status in a failed response, else its reason."""
    try:
        body = json.loads(exc.body or b"")
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(exc.reason or "no details")


def _failure(exc: ApiException, namespace: str, name: str, doing: str) -> StorageError:
    what = f"PersistentVolumeClaim {name!r} in namespace {namespace!r}"
    if exc.status == 403:
        text = (
            f"Could not {doing} {what}: refused by a resource quota or a missing permission "
            f"(403 Forbidden): {api_message(exc)}"
        )
    else:
        text = f"Could not {doing} {what}: the API answered {exc.status}: {api_message(exc)}"
    return StorageError(text, namespace=namespace, name=name, status=exc.status)


def pvc_manifest(
    name: str,
    *,
    storage_class: str | None,
    access_modes: list[str],
    size: str,
    labels: dict[str, str],
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": list(access_modes),
        "resources": {"requests": {"storage": size}},
    }
    if storage_class is not None:  # None: the cluster's default class; "": no class at all
        spec["storageClassName"] = storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "labels": {**labels, MANAGED_BY_LABEL: MANAGED_BY}},
        "spec": spec,
    }


async def read_pvc(core: CoreV1Api, namespace: str, name: str) -> V1PersistentVolumeClaim | None:
    """The PVC, or None when there is none; any other failure raises `StorageError`."""
    metrics.kube_request("get", "persistentvolumeclaims")
    try:
        pvc: V1PersistentVolumeClaim = await core.read_namespaced_persistent_volume_claim(
            name, namespace
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise _failure(exc, namespace, name, "read") from exc
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise StorageError(
            f"Could not reach the Kubernetes API to read PersistentVolumeClaim {name!r} "
            f"in namespace {namespace!r}: {exc!r}",
            namespace=namespace,
            name=name,
        ) from exc
    return pvc


def _usable(found: V1PersistentVolumeClaim, namespace: str, name: str) -> Literal["exists"]:
    if found.metadata is not None and found.metadata.deletion_timestamp:
        # Reusing it would leave the pod Pending until the claim is gone.
        raise StorageError(
            f"PersistentVolumeClaim {name!r} in namespace {namespace!r} is being deleted; "
            "try again once it is gone",
            namespace=namespace,
            name=name,
        )
    return "exists"


async def ensure_pvc(
    core: CoreV1Api,
    namespace: str,
    name: str,
    *,
    storage_class: str | None,
    access_modes: list[str],
    size: str,
    labels: dict[str, str],
    seen_missing: bool = False,
) -> Literal["created", "exists"]:
    """Create the PVC unless it exists. An existing claim is reused as it is (its size and
    class are not checked); a 409 from a concurrent creator counts as "exists" once a GET
    confirms it. `seen_missing`: the caller has just read that it does not exist, so go
    straight to the create. Every failure raises `StorageError`."""
    try:
        found = None if seen_missing else await read_pvc(core, namespace, name)
        if found is not None:
            return _usable(found, namespace, name)
        body = pvc_manifest(
            name, storage_class=storage_class, access_modes=access_modes, size=size, labels=labels
        )
        try:
            metrics.kube_request("create", "persistentvolumeclaims")
            # The client sends a dict body as it is (the stubs only admit the model).
            await core.create_namespaced_persistent_volume_claim(namespace, cast(Any, body))
        except ApiException as exc:
            if exc.status != 409:
                raise _failure(exc, namespace, name, "create") from exc
            found = await read_pvc(core, namespace, name)
            if found is None:  # a 409 that is not AlreadyExists
                raise _failure(exc, namespace, name, "create") from exc
            log.info("PersistentVolumeClaim %s/%s was created concurrently", namespace, name)
            return _usable(found, namespace, name)
        log.info("created PersistentVolumeClaim %s/%s", namespace, name)
        return "created"
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise StorageError(
            f"Could not reach the Kubernetes API to make PersistentVolumeClaim {name!r} "
            f"in namespace {namespace!r}: {exc!r}",
            namespace=namespace,
            name=name,
        ) from exc
