"""Attack: two hub users whose names some rule would merge must never share a grant.

JupyterHub's default normalisation only lowercases, so each pair below is two hub users. A
binding to one of them must grant nothing to the other, through the form and through a forged
REST start; what reached the cluster proves it (no pod, no PVC for the attacker)."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from tests.support.hub import NAMESPACE, RunningHub, StartHub
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

NFC = unicodedata.normalize("NFC", "zoë")
NFD = unicodedata.normalize("NFD", "zoë")
# (victim, attacker): the victim holds the grant.
PAIRS = [
    ("strasse", "straße"),
    ("sam", "\u017fam"),  # long s
    ("fiona", "\ufb01ona"),  # the fi ligature
    ("\u03b1\u03c3", "\u03b1\u03c2"),  # medial and final sigma
    (NFC, NFD),
]


async def profiles_of(hub: RunningHub, user: str) -> list[str]:
    spawner = hub.user(user).spawner
    return [p["slug"] for p in await spawner._workspace_profiles()]


async def start_status(hub: RunningHub, user: str, ws: str) -> tuple[int, str]:
    return await post_start(hub, quote(user), {"profile": ws})


async def grant_each_victim(api: ApiClient) -> None:
    for i, (victim, _) in enumerate(PAIRS):
        await workspace(api, f"victim-{i}")
        await bind(api, f"b-{i}", f"victim-{i}", victim)


@pytest.mark.usefixtures("crds")
async def test_names_the_hub_keeps_apart_never_share_a_grant(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    await grant_each_victim(kube_client)
    hub = await start_hub(hub_factory)
    users = [u for pair in PAIRS for u in pair]
    await hub.api("POST", "users", body={"usernames": users}, expect=(201,))
    assert len({hub.user(u).name for u in users}) == len(users)  # the hub keeps all apart
    wait_for_spawns(hub)
    for i, (victim, attacker) in enumerate(PAIRS):
        assert await profiles_of(hub, victim) == [f"victim-{i}"]
        assert await profiles_of(hub, attacker) == []
        got, body = await start_status(hub, attacker, f"victim-{i}")
        assert got == 403, (attacker, body)
        assert "not granted" in body
    assert await pods(kube_client) == [] and await pvcs(kube_client) == []

    # The victim's own start works and mounts the victim's workspace storage.
    got, body = await start_status(hub, PAIRS[0][0], "victim-0")
    assert got in (201, 202), body
    await hub.wait_ready(PAIRS[0][0])
    pod = await client.CoreV1Api(kube_client).read_namespaced_pod("jupyter-strasse", NAMESPACE)
    claims = [v.persistent_volume_claim.claim_name for v in pod.spec.volumes
              if v.persistent_volume_claim]  # fmt: skip
    assert claims == ["workspace-victim-0"]


@pytest.mark.usefixtures("crds")
async def test_nfc_and_nfd_stay_apart_with_exact_matching(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    await workspace(kube_client, "zoes")
    await bind(kube_client, "b", "zoes", NFC)
    hub = await start_hub(hub_factory, case_sensitive_usernames=True)
    await hub.api("POST", "users", body={"usernames": [NFC, NFD]}, expect=(201,))
    wait_for_spawns(hub)
    assert await profiles_of(hub, NFC) == ["zoes"]
    assert await profiles_of(hub, NFD) == []
    got, body = await start_status(hub, NFD, "zoes")
    assert got == 403, body
    assert await pods(kube_client) == []


@pytest.mark.usefixtures("crds")
async def test_the_authenticators_own_normalisation_is_respected(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    # A binding written to an alias, which the hub's username_map maps onto bob: bob's grant.
    await workspace(kube_client, "ws1")
    await bind(kube_client, "b-alias", "ws1", "Robert.Smith@Example.org")
    await bind(kube_client, "b-mixed", "ws1", "Carol")
    hub = await start_hub(hub_factory)
    hub.app.authenticator.username_map = {"robert.smith@example.org": "bob"}
    await hub.api("POST", "users", body={"usernames": ["bob", "carol", "mallory"]}, expect=(201,))
    assert await profiles_of(hub, "bob") == ["ws1"]
    assert await profiles_of(hub, "carol") == ["ws1"]  # JupyterHub lowercases "Carol"
    assert await profiles_of(hub, "mallory") == []


@pytest.mark.usefixtures("crds")
async def test_exact_matching_does_not_lowercase(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    await workspace(kube_client, "ws1")
    await bind(kube_client, "b-mixed", "ws1", "Carol")
    hub = await start_hub(hub_factory, case_sensitive_usernames=True)
    await hub.create_user("carol")
    assert await profiles_of(hub, "carol") == []
