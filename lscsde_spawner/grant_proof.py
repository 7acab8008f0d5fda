"""The last check of a start: fresh reads of exactly the objects that granted it (the
workspace, its granting bindings, the attaching data-source bindings and their data sources),
just before the pod is created. A grant ended, a workspace changed or a data source detached
since the cache decided refuses the start."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from . import access
from .choosing import Chosen
from .claims import UserClaims
from .kube import customresources as cr
from .models import AnalyticsWorkspace
from .refusals import refuse
from .usernames import Normalize


async def _get_or_none(crs: cr.CustomResourceClient[Any], name: str) -> Any:
    try:
        return await crs.get(name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


async def _get_all(crs: cr.CustomResourceClient[Any], names: Iterable[str]) -> list[Any]:
    found = await asyncio.gather(*(_get_or_none(crs, n) for n in names))
    return [f for f in found if f is not None]


@dataclass(frozen=True)
class Proof:
    """What the fresh reads found: the workspace now (None: gone) and the grant they prove,
    and the data-source bindings and data sources read for the attached ones."""

    workspace: AnalyticsWorkspace | None
    grant: access.PermittedWorkspace | None
    datasource_bindings: list[Any]
    datasources: list[Any]
    today: date


async def prove(
    client: ApiClient,
    namespace: str,
    chosen: Chosen,
    user: str,
    *,
    today: Callable[[], date],
    read_claims: Callable[[], Awaitable[UserClaims | None]],
    normalize: Normalize,
    allow_negative_only: bool,
) -> Proof:
    """Fresh reads of what granted ``chosen``; refused unless they still grant it, to the
    workspace version the pod was built from (then ``check_attached``)."""
    name = chosen.grant.name
    try:
        ws, bindings, dsbs, dss = await asyncio.gather(
            _get_or_none(cr.workspaces(client, namespace), name),
            _get_all(cr.workspace_bindings(client, namespace), chosen.grant.bindings),
            _get_all(cr.datasource_bindings(client, namespace), chosen.datasource_bindings),
            _get_all(cr.datasources(client, namespace), [d.name for d in chosen.datasources]),
        )
    except cr.MalformedObject as exc:
        raise refuse(403, f"Workspace {name!r} cannot be started: {exc}", "malformed") from exc
    except (ApiException, OSError, TimeoutError) as exc:
        raise refuse(
            503, f"Could not confirm access to workspace {name!r}: {exc}", "api-unavailable"
        ) from exc
    day = today()
    decision = access.decide(
        {name: ws} if ws is not None else {},
        bindings,
        user,
        day,
        normalize=normalize,
        claims=await read_claims(),  # read again: a group may have gone meanwhile
        allow_negative_only=allow_negative_only,
    )
    if decision.get(name) is None:
        why = decision.reason_for(name)
        detail = why.detail if why else f"{user} no longer holds a grant to it"
        raise refuse(
            403, f"Access to workspace {name!r} ended during the start: {detail}", "revoked"
        )
    if ws is not None and ws.spec != chosen.grant.workspace.spec:
        # The pod was built from the version the cache held; never start a stale one.
        raise refuse(409, f"Workspace {name!r} changed during the start; start it again", "changed")
    return Proof(ws, decision.get(name), dsbs, dss, day)


def check_attached(chosen: Chosen, proof: Proof) -> None:
    """Refused when a data source ``chosen`` mounts was detached since the cache decided."""
    name = chosen.grant.name
    still, _ = access.attached_datasources(
        name, proof.datasource_bindings, proof.datasources, proof.today
    )
    gone = sorted({d.name for d in chosen.datasources} - {d.name for d in still})
    if gone:
        raise refuse(
            403,
            f"Data source(s) {', '.join(gone)} were detached from workspace {name!r} "
            "during the start",
            "revoked",
        )


__all__ = ["Proof", "check_attached", "prove"]
