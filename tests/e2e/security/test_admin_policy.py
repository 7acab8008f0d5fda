"""Attack: a workspace author asks for nodes, taints, resources or mount paths the admin refuses.

A workspace that breaks the admin policy is not offered, a start of it is refused with a 403
naming the rule (the setting), and the hub log says which field broke which rule."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from kubernetes_asyncio.client.api_client import ApiClient

from tests.support.factories import WS_IMAGE
from tests.support.hub import RunningHub, StartHub
from tests.support.objects import (
    bind,
    pods,
    post_start,
    pvcs,
    start_hub,
    wait_for_spawns,
    workspace,
)

pytestmark = pytest.mark.hub

# workspace -> (jupyterWorkspace fields, the rule named in the refusal, the field named)
HOSTILE: dict[str, tuple[dict[str, Any], str, str]] = {
    "wildcard": ({"tolerations": [{"operator": "Exists"}]}, "allow_wildcard_tolerations",
                 "tolerations[0]"),
    "master": ({"nodeSelector": {"kubernetes.io/hostname": "master-0"}},
               "allowed_node_selector_keys", "nodeSelector['kubernetes.io/hostname']"),
    "control-plane": ({"tolerations": [{"key": "node-role.kubernetes.io/control-plane",
                                        "operator": "Exists", "effect": "NoSchedule"}]},
                      "allowed_toleration_keys", "tolerations[0]"),
    "huge": ({"resources": {"limits": {"memory": "4Ti"}}}, "max_resources",
             "resources.limits.memory"),
    "fpga": ({"resources": {"limits": {"example.com/fpga": "1"}}}, "max_resources",
             "resources.limits.example.com/fpga"),
    "etc": ({"additionalStorage": [{"mountPath": "/etc", "persistentVolumeClaim": "x",
                                    "storageClassName": "std"}]},
            "refused_mount_path_prefixes", "additionalStorage[0].mountPath"),
    "over-home": ({"additionalStorage": [{"mountPath": "/home/jovyan/", "persistentVolumeClaim":
                                          "x", "storageClassName": "std"}]},
                  "refused_mount_paths", "additionalStorage[0].mountPath"),
}  # fmt: skip


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def hostile_hub(hub_factory: StartHub, api: ApiClient, **config: Any) -> RunningHub:
    await workspace(api, "fine", jupyter={"image": WS_IMAGE})
    await bind(api, "b-fine", "fine", "alice")
    for name, (fields, _, _) in HOSTILE.items():
        await workspace(api, name, jupyter={"image": WS_IMAGE, **fields})
        await bind(api, f"b-{name}", name, "alice")
    hub = await start_hub(hub_factory, **config)
    await hub.create_user("alice")
    wait_for_spawns(hub)
    return hub


@pytest.mark.usefixtures("crds")
async def test_a_workspace_that_breaks_the_policy_is_neither_offered_nor_started(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    hub = await hostile_hub(hub_factory, kube_client)
    log = Lines()
    hub.app.log.addHandler(log)
    spawner = hub.user("alice").spawner
    assert [p["slug"] for p in await spawner._workspace_profiles()] == ["fine"]
    for name, (_, rule, field) in HOSTILE.items():
        got, body = await post_start(hub, "alice", {"profile": name})
        assert got == 403, (name, body)
        assert f"({rule})" in body and field in body, (name, body)
        assert any(name in line and field in line and rule in line for line in log.lines), name
    assert await pods(kube_client) == [] and await pvcs(kube_client) == []


@pytest.mark.usefixtures("crds")
async def test_a_newline_in_a_mount_path_makes_the_workspace_malformed(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    bad = {"mountPath": "/mnt/x\n/etc", "persistentVolumeClaim": "x"}
    await workspace(kube_client, "nl", jupyter={"image": WS_IMAGE, "additionalStorage": [bad]})
    await bind(kube_client, "b-nl", "nl", "alice")
    hub = await start_hub(hub_factory)
    await hub.create_user("alice")
    wait_for_spawns(hub)
    assert await hub.user("alice").spawner._workspace_profiles() == []
    got, body = await post_start(hub, "alice", {"profile": "nl"})
    assert got == 403 and "malformed" in body, body
    assert await pods(kube_client) == []


@pytest.mark.usefixtures("crds")
async def test_the_admin_decides_what_is_allowed(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    hub = await hostile_hub(
        hub_factory,
        kube_client,
        allow_wildcard_tolerations=True,
        allowed_node_selector_keys=["kubernetes.io/hostname"],
        max_resources={"cpu": "4", "memory": "8Ti", "example.com/fpga": "1"},
    )
    offered = {p["slug"] for p in await hub.user("alice").spawner._workspace_profiles()}
    assert offered == {"fine", "wildcard", "master", "huge", "fpga"}
