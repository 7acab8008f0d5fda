"""The access benchmark's data set: workspaces and bindings as the field has them, and seeding.

start_cost_bench builds its filler from the same shapes (`workspace_obj`, `binding_obj`).
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from lscsde_spawner.models import GROUP, VERSION
from lscsde_spawner.usernames import USER_LABEL, username_label
from tests.support import factories

NS = "default"
# the kinds the cache lists and watches
PLURALS = (
    "analyticsworkspaces",
    "analyticsworkspacebindings",
    "analyticsdatasources",
    "analyticsdatasourcebindings",
)
FIELD_LABEL = "xlscsde.nhs.uk/username"  # written by lscsde-workspace-mgmt and the field tools

# The measured user, and another user whose username differs only in a character the field
# label folds away: lscsde-workspace-mgmt labels both bindings identically.
USER = "mary-jane.smith@example.nhs.uk"
COLLIDING_USER = "mary_jane.smith@example.nhs.uk"


def field_label(username: str) -> str:
    """The `xlscsde.nhs.uk/username` value lscsde-workspace-mgmt 0.1.14 derives (lossy).

    A port of `models.KubernetesHelper.format_as_label`: casefold, then every run of characters
    outside [0-9a-z.] becomes `___`. Checked against the installed package at run time.
    """
    return re.sub("[^0-9a-z.]+", "___", username.casefold())


@dataclass
class Dataset:
    workspaces: list[dict[str, Any]]
    bindings: list[dict[str, Any]]
    user_workspaces: list[str]  # every workspace the user has a binding for
    permitted_today: set[str]  # ground truth under the field rule (crd-reference.md)
    not_usable_today: dict[str, str]  # bound, but outside the dates: workspace -> why
    colliding: dict[str, str]  # another user's grants that share the user's field label
    users: int = 0


def workspace_obj(i: int, today: date) -> dict[str, Any]:
    name = f"ws-{i:04d}"
    return factories.workspace(
        name,
        display=f"Study {i:04d}: cohort analysis",
        description=(
            f"Workspace {i} for an approved study.\n"
            "Pseudonymised extracts only; outputs go through disclosure control."
        ),
        available=(today - timedelta(days=365)).isoformat(),
        expires=(today + timedelta(days=365)).isoformat(),
        image=f"ghcr.io/lsc-sde/jupyter-datascience:1.{i % 7}.0",
        namespace=NS,
        status={"statusText": "Provisioned", "persistentVolumeClaim": f"{name}-shared"},
        extraLabels={"project": f"p{i % 50:02d}"},
        defaultUri="/lab",
        resources={
            "requests": {"cpu": "1", "memory": "4Gi"},
            "limits": {"cpu": "2", "memory": "8Gi"},
        },
        nodeSelector={"kubernetes.io/os": "linux"},
        tolerations=[
            {"key": "workload", "operator": "Equal", "value": "jupyter", "effect": "NoSchedule"}
        ],
        persistentVolumeClaim={"name": f"{name}-shared", "storageClassName": "managed-csi"},
    )


def binding_obj(
    name: str, workspace: str, username: str, expires: date, namespace: str | None = None
) -> dict[str, Any]:
    """A binding as the field tools write it, with their label and our own `USER_LABEL`."""
    return factories.binding(
        name,
        workspace,
        username,
        expires=expires.isoformat(),
        namespace=namespace,
        labels={FIELD_LABEL: field_label(username), USER_LABEL: username_label(username)},
        comments="Approved by the data access committee",
        replicas=0,
    )


def make_dataset(
    n_workspaces: int, n_bindings: int, user_bindings: int, n_users: int, today: date, seed: int
) -> Dataset:
    """Workspaces `ws-NNNN`; the user bound to every (n_workspaces // user_bindings)-th one.

    Among the user's bindings a few sit at the date boundaries, as in the field: two bindings
    expired (30 days ago, yesterday), one workspace expired yesterday, one workspace not available
    until next week, one binding ending today (still usable today). One binding belongs to a
    user whose field label collides with the measured user's. The rest are spread over
    `n_users` other users, 10% of them expired.

    Every binding carries the field label lscsde-workspace-mgmt writes and queries, and our own
    `USER_LABEL` (used only by the cold path with `trust_user_label`).
    """
    if user_bindings < 5 or n_workspaces < 2 * user_bindings:
        raise SystemExit("need at least 5 user bindings and 2 workspaces per user binding")
    rng = random.Random(seed)
    workspaces = [workspace_obj(i, today) for i in range(n_workspaces)]
    step = n_workspaces // user_bindings
    mine = [i * step for i in range(user_bindings)]
    grants: list[tuple[str, str, date]] = []  # (workspace, username, expires)
    not_usable: dict[str, str] = {}
    for k, i in enumerate(mine):
        ws = workspaces[i]
        name = ws["metadata"]["name"]
        expires = today + timedelta(days=30 + k)
        if k == 0:
            expires = today - timedelta(days=30)
            not_usable[name] = "binding expired 30 days ago"
        elif k == 1:
            expires = today - timedelta(days=1)
            not_usable[name] = "binding expired yesterday"
        elif k == 2:
            ws["spec"]["validity"]["expires"] = (today - timedelta(days=1)).isoformat()
            not_usable[name] = "workspace expired yesterday"
        elif k == 3:
            ws["spec"]["validity"]["availableFrom"] = (today + timedelta(days=7)).isoformat()
            not_usable[name] = "workspace not available until next week"
        elif k == 4:
            expires = today  # the last day: still usable
        grants.append((name, USER, expires))
    user_workspaces = [workspaces[i]["metadata"]["name"] for i in mine]
    permitted = set(user_workspaces) - set(not_usable)

    colliding_ws = workspaces[1]["metadata"]["name"]  # not one of the user's
    grants.append((colliding_ws, COLLIDING_USER, today + timedelta(days=60)))
    colliding = {colliding_ws: f"granted to {COLLIDING_USER}, not to {USER}"}

    others = [f"user{k:04d}.researcher@example.nhs.uk" for k in range(n_users)]
    for j in range(n_bindings - len(grants)):
        if j % 10 == 0:
            expires = today - timedelta(days=rng.randrange(1, 180))
        else:
            expires = today + timedelta(days=rng.randrange(0, 400))
        grants.append((f"ws-{rng.randrange(n_workspaces):04d}", others[j % n_users], expires))
    rng.shuffle(grants)
    bindings = [
        binding_obj(f"awsb-{n:05d}", ws_name, username, expires, namespace=NS)
        for n, (ws_name, username, expires) in enumerate(grants)
    ]
    return Dataset(
        workspaces=workspaces,
        bindings=bindings,
        user_workspaces=user_workspaces,
        permitted_today=permitted,
        not_usable_today=not_usable,
        colliding=colliding,
        users=n_users + 2,
    )


async def seed(api: ApiClient, ds: Dataset) -> float:
    """Create the data set through the API (statuses through their subresource); seconds."""
    custom = client.CustomObjectsApi(api)
    sem = asyncio.Semaphore(32)
    merge_patch: dict[str, Any] = {"_content_type": "application/merge-patch+json"}

    async def create(plural: str, obj: dict[str, Any]) -> None:
        async with sem:
            body = {k: v for k, v in obj.items() if k != "status"}
            await custom.create_namespaced_custom_object(GROUP, VERSION, NS, plural, body)
            if "status" in obj:
                await custom.patch_namespaced_custom_object_status(
                    GROUP,
                    VERSION,
                    NS,
                    plural,
                    obj["metadata"]["name"],
                    {"status": obj["status"]},
                    **merge_patch,
                )

    start = time.perf_counter()
    await asyncio.gather(*(create("analyticsworkspaces", w) for w in ds.workspaces))
    await asyncio.gather(*(create("analyticsworkspacebindings", b) for b in ds.bindings))
    return time.perf_counter() - start
