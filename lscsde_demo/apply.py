"""Put the CRDs and the sample data into a cluster through its REST API, create-or-update.

Applying again refreshes every date and never deletes anything: objects are merge-patched, so
status (e.g. a workspace's recorded claim) and anything added by hand survive, except the spec
fields the sample has retired (``sample.RETIRED_SPEC``).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from datetime import date
from typing import Any, cast

from kubernetes_asyncio.client import ApiextensionsV1Api, CoreV1Api, CustomObjectsApi
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from lscsde_spawner.crds import load_crds
from lscsde_spawner.kube.pvc import ensure_pvc
from lscsde_spawner.models import ALL_KINDS, GROUP, VERSION
from lscsde_spawner.storage import DATASOURCE_LABEL

from .sample import DATASOURCE_CLAIM_SIZE, NAMESPACE, RETIRED_SPEC, sample

MERGE_PATCH = "application/merge-patch+json"
PLURALS = {model.KIND: model.PLURAL for model in ALL_KINDS}


async def apply_crds(api: ApiClient, *, within: float = 30.0) -> None:
    """Create or replace the five CRDs, then wait until the API serves each kind."""
    ext = ApiextensionsV1Api(api)
    crds = load_crds()
    for crd in crds:
        name = crd["metadata"]["name"]
        try:
            await ext.create_custom_resource_definition(cast(Any, crd))
        except ApiException as exc:
            if exc.status != 409:
                raise
            current = await ext.read_custom_resource_definition(name)
            body = copy.deepcopy(crd)
            body["metadata"]["resourceVersion"] = current.metadata.resource_version
            await ext.replace_custom_resource_definition(name, cast(Any, body))
    custom = CustomObjectsApi(api)
    async with asyncio.timeout(within):
        for crd in crds:
            plural = crd["spec"]["names"]["plural"]
            while True:
                try:
                    await custom.list_namespaced_custom_object(
                        GROUP, VERSION, NAMESPACE, plural, limit=1
                    )
                    break
                except ApiException as exc:
                    if exc.status != 404:
                        raise
                    await asyncio.sleep(0.1)


async def apply_object(api: ApiClient, obj: dict[str, Any]) -> str:
    """Create ``obj``, or merge its labels and spec into the existing one; "created"/"updated"."""
    custom = CustomObjectsApi(api)
    plural = PLURALS[obj["kind"]]
    meta = obj["metadata"]
    try:
        await custom.create_namespaced_custom_object(GROUP, VERSION, meta["namespace"], plural, obj)
        return "created"
    except ApiException as exc:
        if exc.status != 409:
            raise
    spec = _merged(RETIRED_SPEC.get(obj["kind"], {}), obj["spec"])
    patch = {"metadata": {"labels": meta.get("labels") or {}}, "spec": spec}
    patch_object = cast(Callable[..., Any], custom.patch_namespaced_custom_object)
    await patch_object(
        GROUP,
        VERSION,
        meta["namespace"],
        plural,
        meta["name"],
        patch,
        _content_type=MERGE_PATCH,  # a dict body would otherwise go as a JSON patch
    )
    return "updated"


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` merged into it, ``over`` winning (dicts merged key by key)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


async def apply_sample(api: ApiClient, today: date) -> dict[str, int]:
    """CRDs, then the sample objects and the data sources' PVCs; counts of what was done."""
    await apply_crds(api)
    data = sample(today)
    counts = {"created": 0, "updated": 0}
    for obj in data.objects:
        counts[await apply_object(api, obj)] += 1
    core = CoreV1Api(api)
    for source, claim in data.datasource_claims.items():
        # The data source's label is what lets the spawner mount the claim for it.
        labels = {"app.kubernetes.io/part-of": "lscsde-spawner-demo", DATASOURCE_LABEL: source}
        created = await ensure_pvc(
            core,
            NAMESPACE,
            claim,
            storage_class=None,
            access_modes=["ReadOnlyMany"],
            size=DATASOURCE_CLAIM_SIZE,
            labels=labels,
        )
        if created == "exists":  # adopt a claim an earlier demo made, as an admin would
            patch = {"metadata": {"labels": labels}}
            await core.patch_namespaced_persistent_volume_claim(claim, NAMESPACE, cast(Any, patch))
    return counts


__all__ = ["apply_crds", "apply_object", "apply_sample"]
