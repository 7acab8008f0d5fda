"""start_cost_bench's namespace: workspace `plain` bound to every bench user, and other users'
workspaces and bindings filling it up to the size measured."""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from kubernetes_asyncio.client.api_client import ApiClient

from bench.access_data import binding_obj, workspace_obj
from bench.cluster_process import client_configuration
from bench.spawn_bench import FUTURE, PAST
from bench.start_cost_cluster import CostCluster
from tests.support import factories
from tests.support.crds import install_crds
from tests.support.objects import create

WORKSPACE = "plain"
OTHER_USERS = 500  # owners of the filler bindings


def bench_users(starts: int) -> dict[str, list[str]]:
    """The bench's own users, by role."""
    return {
        "starters": [f"start{i}" for i in range(starts + 1)],  # start0: the warm-up start
        "flooders": ["flood0", "flood1"],
        "bystander": ["bystander"],
    }


def filler(
    n_bindings: int, n_workspaces: int, today: date, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Other users' workspaces and bindings (10% expired), as access_bench builds them."""
    rng = random.Random(seed)
    workspaces = []
    for i in range(n_workspaces):
        ws = workspace_obj(i, today)
        ws.pop("status", None)  # a status is written through its subresource, not at create
        workspaces.append(ws)
    bindings = []
    for j in range(n_bindings):
        days = -rng.randrange(1, 180) if j % 10 == 0 else rng.randrange(0, 400)
        bindings.append(
            binding_obj(
                f"awsb-{j:05d}",
                f"ws-{rng.randrange(n_workspaces):04d}",
                f"user{j % OTHER_USERS:04d}.researcher@example.nhs.uk",
                today + timedelta(days=days),
            )
        )
    return workspaces, bindings


async def setup_namespace(
    cluster: CostCluster, users: list[str], n_bindings: int, n_workspaces: int, seed: int
) -> dict[str, Any]:
    """CRDs, workspace `plain` bound to every bench user, then filler up to `n_bindings`
    bindings in all. The filler is created inside the cluster process (no HTTP): seconds for
    10,000 objects instead of tens of seconds."""
    if n_bindings < len(users):
        raise SystemExit(f"--bindings {n_bindings}: the bench's own users need {len(users)}")
    today = datetime.now(UTC).date()
    started = time.perf_counter()
    async with ApiClient(client_configuration(cluster.url)) as api:
        await install_crds(api)
        plain = factories.workspace(
            WORKSPACE, display=WORKSPACE, description=WORKSPACE, available=PAST, expires=FUTURE
        )
        await create(api, plain)
    far = date.fromisoformat(FUTURE)
    own = [binding_obj(f"bench-{u}", WORKSPACE, u, far) for u in users]
    workspaces, bindings = filler(n_bindings - len(own), n_workspaces, today, seed)
    await cluster.run("seed", "analyticsworkspaces", workspaces)
    everything = own + bindings
    for i in range(0, len(everything), 1000):
        await cluster.run("seed", "analyticsworkspacebindings", everything[i : i + 1000])
    await cluster.take()  # set-up traffic is nobody's
    return {
        "bindings": len(everything),
        "bench_user_bindings": len(own),
        "workspaces": len(workspaces) + 1,
        "seconds": round(time.perf_counter() - started, 2),
    }
