"""Spawn benchmark: Kubernetes API requests per spawn, WorkspaceSpawner versus vanilla KubeSpawner.

Both spawners run in a real JupyterHub (MockHub, configurable-http-proxy, KubeSpawner), one
after the other in one process against one embedded cluster (`LocalCluster`), with the hub
machinery of tests/support/hub.py. Each starts N servers one after another: N users, each
started through the REST API (POST /users/{u}/server), waited for until ready, then stopped
(DELETE) before the next user starts.

- vanilla: `KubeSpawner` with a static one-entry `profile_list` (the same image and resources)
  and KubeSpawner's own PVC handling (`storage_pvc_ensure=True`, one 1Gi claim per user,
  mounted at /home/jovyan), so both spawners ensure one claim per start;
- ours: `WorkspaceSpawner`, the user bound to one workspace (its own PVC), in two set-ups:
  `ours` (no data sources, no additional storage) and `ours+2ds+2st` (two attached data
  sources and two additional storages), to show what grows with them.

For every start the requests the API server answered between the REST start call and the
server being ready are counted, broken down by verb and resource; likewise for every stop
(DELETE until the Hub reports the server gone). Watch requests are the shared, long-running
reflector/cache watches (KubeSpawner's pod and event reflectors, our cache): they are logged
when they end, so they are reported separately and not counted per spawn. Page views of ours
(GET /hub/spawn, which renders the form from the watch-fed cache) are counted after the cache
has synced.

Run: `.venv/bin/python -m bench.spawn_bench [--n 10]`. Writes bench/results/spawn.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import secrets
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

import aiohttp
from jupyterhub.tests.mocking import MockHub
from kubernetes_asyncio import client
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.config import kube_config
from kubespawner import KubeSpawner
from kubespawner.clients import load_config

from kubesim import LocalCluster
from kubesim.testing import client_configuration
from lscsde_spawner.spawner import WorkspaceSpawner
from lscsde_spawner.storage import DATASOURCE_LABEL
from tests.support import factories
from tests.support.crds import install_crds
from tests.support.factories import WS_IMAGE
from tests.support.hub import (
    NAMESPACE,
    RunningHub,
    ensure_chp_on_path,
    hub_config,
    login,
    reset_kubespawner_globals,
)
from tests.support.objects import create

RESULTS = Path(__file__).parent / "results" / "spawn.json"
PAST, FUTURE = "2000-01-01", "2999-12-31"


# -- cluster set-up --------------------------------------------------------------------------


async def create_pvc(api: ApiClient, name: str, labels: dict[str, str]) -> None:
    body = {
        "metadata": {"name": name, "labels": labels},
        "spec": {"accessModes": ["ReadOnlyMany"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    await client.CoreV1Api(api).create_namespaced_persistent_volume_claim(
        NAMESPACE, cast(Any, body)
    )


async def setup_workspaces(api: ApiClient, users: list[str]) -> None:
    """`plain`: image only. `extra`: two data sources and two additional storages."""
    await install_crds(api)
    storage = [
        {
            "mountPath": f"/mnt/shared{i}",
            "persistentVolumeClaim": f"shared-{i}",
            "storageClassName": "standard",
        }
        for i in range(2)
    ]
    extra: dict[str, Any] = {"additionalStorage": storage}
    for name, jupyter in (("plain", {}), ("extra", extra)):
        await create(
            api,
            factories.workspace(
                name, display=name, description=name, available=PAST, expires=FUTURE, **jupyter
            ),
        )
        for user in users:
            await create(api, factories.binding(f"{name}-{user}", name, user, expires=FUTURE))
    for i in range(2):
        ds = f"ds{i}"
        await create(api, factories.datasource(ds, type="databricks"))
        await create(api, factories.datasource_binding(f"{ds}-extra", "extra", ds))
        await create_pvc(api, f"datasource-{ds}", {DATASOURCE_LABEL: ds})


# -- the hub ---------------------------------------------------------------------------------


def vanilla_config() -> dict[str, Any]:
    """Vanilla KubeSpawner's section: a static one-entry profile_list (the same image) and its
    own per-user claim (`storage_pvc_ensure`), so it, too, ensures one claim per start."""
    return {
        "profile_list": [
            {
                "display_name": "plain",
                "slug": "plain",
                "default": True,
                "kubespawner_override": {"image": WS_IMAGE},
            }
        ],
        "storage_pvc_ensure": True,
        "storage_capacity": "1Gi",
        "pvc_name_template": "claim-{user_server}",
        "volumes": [
            {"name": "home", "persistentVolumeClaim": {"claimName": "claim-{user_server}"}}
        ],
        "volume_mounts": [{"name": "home", "mountPath": "/home/jovyan"}],
    }


def point_kube_config_at(cluster: LocalCluster) -> None:
    """What the tests' `kube_env` fixture does, for the whole process."""
    kubeconfig = str(cluster.kubeconfig)
    os.environ["KUBECONFIG"] = kubeconfig
    os.environ.pop("KUBERNETES_SERVICE_HOST", None)
    os.environ.pop("JUPYTERHUB_TEST_DB_URL", None)
    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = kubeconfig
    Configuration.set_default(None)
    load_config.cache_clear()


async def start_hub(
    cluster: LocalCluster,
    http: aiohttp.ClientSession,
    runtime_dir: Path,
    spawner_class: type,
    spawner_config: dict[str, Any],
) -> RunningHub:
    token = secrets.token_hex(32)
    config = hub_config(
        cluster,
        token=token,
        runtime_dir=runtime_dir,
        spawner_class=spawner_class,
        spawner_config=spawner_config,
    )
    app = MockHub(config=config, test_clean_db=True)
    hub = RunningHub(app, token, http)
    await app.initialize([])
    await app.start()
    return hub


# -- counting --------------------------------------------------------------------------------


def window(cluster: LocalCluster) -> tuple[Counter[str], Counter[str]]:
    """Requests logged since the last reset: (per-spawn requests, watch requests)."""
    counted: Counter[str] = Counter()
    watches: Counter[str] = Counter()
    for rec in list(cluster.requests.entries):
        if not rec.verb:
            continue  # discovery, health
        key = f"{rec.verb} {rec.resource}"
        (watches if rec.verb == "watch" else counted)[key] += 1
    return counted, watches


def mean_breakdown(samples: list[Counter[str]]) -> dict[str, float]:
    keys = sorted({k for s in samples for k in s})
    return {k: round(sum(s[k] for s in samples) / len(samples), 2) for k in keys}


async def wait_stopped(hub: RunningHub, user: str, seconds: float = 30) -> None:
    async with asyncio.timeout(seconds):
        while True:
            spawner = hub.user(user).spawner
            if await hub.server_model(user) is None and not spawner.pending:
                return
            await asyncio.sleep(0.1)


async def run_spawner(
    label: str,
    cluster: LocalCluster,
    http: aiohttp.ClientSession,
    runtime_dir: Path,
    spawner_class: type,
    spawner_config: dict[str, Any],
    users: list[str],
    options: dict[str, Any],
    page_views: int,
) -> dict[str, Any]:
    hub = await start_hub(cluster, http, runtime_dir, spawner_class, spawner_config)
    starts: list[Counter[str]] = []
    stops: list[Counter[str]] = []
    watches: Counter[str] = Counter()
    start_s: list[float] = []
    stop_s: list[float] = []
    pages: dict[str, Any] | None = None
    try:
        for user in users:
            await hub.create_user(user)
        if page_views:
            session = await login(hub, users[0])
            try:
                async with session.get(hub.url("hub/spawn")) as r:  # warm: syncs the cache
                    assert r.status == 200, (await r.text())[:300]
                await asyncio.sleep(0.5)
                cluster.requests.reset()
                for _ in range(page_views):
                    async with session.get(hub.url("hub/spawn")) as r:
                        assert r.status == 200
                        await r.read()
                counted, w = window(cluster)
                watches += w
                pages = {
                    "views": page_views,
                    "requests": sum(counted.values()),
                    "breakdown": dict(counted),
                }
            finally:
                await session.close()
        for user in users:
            cluster.requests.reset()
            t0 = time.perf_counter()
            assert await hub.start_server(user, options) == 202
            await hub.wait_ready(user)
            start_s.append(time.perf_counter() - t0)
            counted, w = window(cluster)
            starts.append(counted)
            watches += w

            cluster.requests.reset()
            t0 = time.perf_counter()
            await hub.api("DELETE", f"users/{user}/server", expect=(202, 204))
            await wait_stopped(hub, user)
            stop_s.append(time.perf_counter() - t0)
            counted, w = window(cluster)
            stops.append(counted)
            watches += w
    finally:
        await hub.stop()
        await reset_kubespawner_globals()
    per_start = [sum(s.values()) for s in starts]
    per_stop = [sum(s.values()) for s in stops]
    return {
        "label": label,
        "spawner": spawner_class.__name__,
        "n": len(users),
        "start": {
            "mean_requests": statistics.fmean(per_start),
            "per_spawn": per_start,
            "breakdown_mean": mean_breakdown(starts),
            "wall_p50_s": round(statistics.median(start_s), 3),
            "wall_s": [round(s, 3) for s in start_s],
        },
        "stop": {
            "mean_requests": statistics.fmean(per_stop),
            "per_stop": per_stop,
            "breakdown_mean": mean_breakdown(stops),
            "wall_p50_s": round(statistics.median(stop_s), 3),
        },
        "watch_requests_ended_in_windows": dict(watches),
        "page_views": pages,
    }


# -- main ------------------------------------------------------------------------------------


def print_table(results: list[dict[str, Any]]) -> None:
    head = f"{'spawner':<14}{'req/start':>10}{'req/stop':>10}{'start p50 s':>13}{'stop p50 s':>12}"
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r['label']:<14}{r['start']['mean_requests']:>10.1f}{r['stop']['mean_requests']:>10.1f}"
            f"{r['start']['wall_p50_s']:>13.3f}{r['stop']['wall_p50_s']:>12.3f}"
        )
    keys = sorted(
        {k for r in results for part in ("start", "stop") for k in r[part]["breakdown_mean"]}
    )
    print()
    print(f"{'mean per spawn (start | stop)':<48}" + "".join(f"{r['label']:>18}" for r in results))
    for k in keys:
        cells = "".join(
            f"{r['start']['breakdown_mean'].get(k, 0):>8.1f} |"
            f"{r['stop']['breakdown_mean'].get(k, 0):>7.1f}  "
            for r in results
        )
        print(f"{k:<48}{cells}")


async def main(n: int, page_views: int) -> dict[str, Any]:
    ensure_chp_on_path()
    logging.getLogger().setLevel(logging.WARNING)
    users = [f"user{i}" for i in range(n)]
    results: list[dict[str, Any]] = []
    with LocalCluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        point_kube_config_at(cluster)
        async with ApiClient(client_configuration(cluster)) as api:
            await setup_workspaces(api, users)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            runs = [
                ("vanilla", KubeSpawner, vanilla_config(), {"profile": "plain"}, 0),
                ("ours", WorkspaceSpawner, {}, {"profile": "plain"}, page_views),
                ("ours+2ds+2st", WorkspaceSpawner, {}, {"profile": "extra"}, 0),
            ]
            for i, (label, cls, cfg, opts, views) in enumerate(runs):
                runtime = Path(tmp) / str(i)
                runtime.mkdir()
                results.append(
                    await run_spawner(label, cluster, http, runtime, cls, cfg, users, opts, views)
                )
    base = results[0]["start"]["mean_requests"]
    summary = {
        "ratio_ours_over_vanilla_start": round(results[1]["start"]["mean_requests"] / base, 2),
        "ratio_ours_over_vanilla_stop": round(
            results[1]["stop"]["mean_requests"] / results[0]["stop"]["mean_requests"], 2
        ),
    }
    out = {
        "method": (
            f"{n} users started one after another via REST, each waited until ready then stopped; "
            "requests counted between the start call and ready (and DELETE until gone); watch "
            "requests (shared reflector/cache watches) excluded and reported separately"
        ),
        "python": platform.python_version(),
        "results": results,
        "summary": summary,
    }
    print_table(results)
    print()
    print(json.dumps(summary))
    if results[1]["page_views"]:
        print("ours page views:", json.dumps(results[1]["page_views"]))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10, help="servers started per spawner")
    parser.add_argument("--page-views", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.page_views))
