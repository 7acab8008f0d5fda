"""Claim-based bindings (issue 11) end to end: a real hub, configurable-http-proxy and the
embedded cluster.

Groups and memberships are managed through the hub's REST API, as an admin or a service would;
auth_state comes from a real login through /hub/login; bindings are created and patched through
the Kubernetes API. The tests check what the hub answers (the form, a start's status and
message) and what reached the cluster (the pod and its workspace label, or no pod; events)."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from jupyterhub import crypto
from jupyterhub.tests.mocking import MockPAMAuthenticator
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from traitlets.config import Config

from lscsde_spawner.spawner import WorkspaceSpawner
from tests.support.factories import FUTURE, binding, claim, day
from tests.support.hub import NAMESPACE, SERVICE_NAME, SERVICE_SCOPES, RunningHub, StartHub, login
from tests.support.objects import (
    bind,
    create,
    events_about,
    patch,
    pods,
    post_start,
    stop_and_wait,
    wait_for_spawns,
    workspace,
)

pytestmark = pytest.mark.hub

WSB = "analyticsworkspacebindings"
WS_LABEL = "xlscsde.nhs.uk/workspace"
STOP_WITHIN = 10.0
CARDIAC = "cardiac-team"
VIA_CARDIAC = '<p class="lscsde-ws-via">Granted via group cardiac-team</p>'


# -- set-up -------------------------------------------------------------------------------


async def claim_bind(
    api: ApiClient,
    name: str,
    ws: str,
    claims: list[dict[str, str]],
    *,
    username: str | None = None,
    expires: str = FUTURE,
) -> None:
    """A binding of `ws` to every user for whom all `claims` hold (and `username`, if given),
    created through the Kubernetes API: the API server admits it."""
    await create(api, binding(name, ws, username, claims=claims, expires=expires))


def with_group_admin(extra: Config | None = None) -> Config:
    """Hub config letting the test's service manage groups (POST/DELETE /hub/api/groups...)."""
    c = Config()
    c.JupyterHub.load_roles = [
        {
            "name": SERVICE_NAME,
            "scopes": [*SERVICE_SCOPES, "admin:groups"],
            "services": [SERVICE_NAME],
        }
    ]
    if extra is not None:
        c.merge(extra)
    return c


async def claims_hub(
    hub_factory: StartHub, extra: Config | None = None, **spawner_config: Any
) -> RunningHub:
    """A hub spawning WorkspaceSpawner (with `spawner_config`) whose service manages groups."""
    return await hub_factory(
        spawner_class=WorkspaceSpawner,
        spawner_config=spawner_config,
        extra_config=with_group_admin(extra),
    )


async def users(hub: RunningHub, *names: str) -> None:
    await hub.api("POST", "users", body={"usernames": list(names)}, expect=(201,))


async def group(hub: RunningHub, name: str, *members: str) -> None:
    """Create group `name` and add `members`, through the REST API."""
    await hub.api("POST", f"groups/{name}", expect=(201,))
    if members:
        await hub.api("POST", f"groups/{name}/users", body={"users": list(members)})


# -- starts and what reached the cluster ---------------------------------------------------


async def starts(hub: RunningHub, api: ApiClient, user: str, ws: str) -> None:
    """A start of `ws` for `user` through the REST API succeeds: the pod runs with the
    workspace's label."""
    got, body = await post_start(hub, user, {"profile": ws})
    assert got in (201, 202), f"start of {ws} for {user}: {got} {body}"
    await hub.wait_ready(user)
    pod = await client.CoreV1Api(api).read_namespaced_pod(f"jupyter-{user}", NAMESPACE)
    assert pod.metadata.labels[WS_LABEL] == ws


async def refused(hub: RunningHub, api: ApiClient, user: str, ws: str, text: str) -> str:
    """A start of `ws` for `user` is refused with 403 naming `text`; no pod for `user`."""
    wait_for_spawns(hub)  # the refusal is the POST's own status
    got, body = await post_start(hub, user, {"profile": ws})
    assert got == 403, f"start of {ws} for {user}: {got} {body}"
    assert text in body, body
    assert f"jupyter-{user}" not in await pods(api)
    assert await hub.server_model(user) is None
    return body


# -- the spawn form ------------------------------------------------------------------------


async def spawn_page(hub: RunningHub, user: str) -> str:
    """The spawn page as `user` sees it after logging in through /hub/login."""
    session = await login(hub, user)
    try:
        async with session.get(hub.url("hub/spawn")) as r:
            page = await r.text()
            assert r.status == 200, page[:500]
            return page
    finally:
        await session.close()


def cards(page: str) -> dict[str, str]:
    """The form's workspace cards by workspace name (the radio button's value)."""
    found = {}
    for chunk in page.split('<div class="lscsde-ws-card')[1:]:
        slug = re.search(r'name="profile" id="[^"]+" value="([^"]+)"', chunk)
        assert slug, chunk[:300]
        found[slug.group(1)] = chunk.split("</fieldset>")[0]
    return found


# -- 1. JupyterHub groups ------------------------------------------------------------------


@pytest.mark.usefixtures("crds")
async def test_a_group_grants_its_members_on_the_form_and_at_start(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    await workspace(kube_client, "ws1")
    await workspace(kube_client, "mine")
    await claim_bind(kube_client, "cardiac-ws1", "ws1", [claim("groups", "EQUALS", CARDIAC)])
    await bind(kube_client, "alice-mine", "mine", "alice")
    hub = await claims_hub(hub_factory)
    await users(hub, "alice", "bob")
    await group(hub, CARDIAC, "alice")
    await group(hub, "oncology", "bob")

    page = await spawn_page(hub, "alice")
    offered = cards(page)
    assert set(offered) == {"ws1", "mine"}
    assert VIA_CARDIAC in offered["ws1"]
    assert "lscsde-ws-via" not in offered["mine"]  # hers by username: no "via"
    assert "ws1" not in cards(await spawn_page(hub, "bob"))

    await refused(hub, kube_client, "bob", "ws1", "not granted")
    await starts(hub, kube_client, "alice", "ws1")
    assert await pods(kube_client) == ["jupyter-alice"]


# -- 2. every operator ---------------------------------------------------------------------

GROUPS = {
    "alice": [CARDIAC],
    "bob": ["oncology", "contractors"],
    "carol": [CARDIAC, "locums"],
    "erin": ["Cardiac-Team"],  # comparisons are case-sensitive
}

# case: (claims, allow_negative_only_claims, the user it holds for or None, users refused)
OPERATOR_CASES: dict[str, tuple[list[dict[str, str]], bool, str | None, list[str]]] = {
    "equals": ([claim("groups", "EQUALS", CARDIAC)], False, "alice", ["bob", "erin"]),
    "in-with-spaces": (
        [claim("groups", "IN", "  oncology ,cardiac-team ,  ")], False, "bob", ["dave"]),
    "not-equals-allowed": (
        [claim("groups", "NOT EQUALS", "contractors")], True, "alice", ["bob"]),
    "not-in-allowed": (
        [claim("groups", "NOT IN", " contractors , locums ")], True, "alice", ["bob", "carol"]),
    # The claims hold for alice, but a binding of only negative claims grants nobody by default.
    "not-equals-negative-only-default": (
        [claim("groups", "NOT EQUALS", "contractors")], False, None, ["alice", "bob"]),
    "not-in-negative-only-default": (
        [claim("groups", "NOT IN", "contractors, locums")], False, None, ["alice"]),
    # Beside a positive claim, negative claims need no setting.
    "not-in-beside-a-positive-claim": (
        [claim("groups", "IN", CARDIAC), claim("groups", "NOT IN", "contractors, locums")],
        False, "alice", ["carol", "bob"]),
    "not-equals-beside-a-positive-claim": (
        [claim("groups", "EQUALS", CARDIAC), claim("groups", "NOT EQUALS", "locums")],
        False, "alice", ["carol"]),
}  # fmt: skip


@pytest.mark.parametrize("case", OPERATOR_CASES)
@pytest.mark.usefixtures("crds")
async def test_each_operator_through_the_hub(
    hub_factory: StartHub, kube_client: ApiClient, case: str
) -> None:
    claims, allow_negative, holder, others = OPERATOR_CASES[case]
    await workspace(kube_client, "ws1")
    await claim_bind(kube_client, "b1", "ws1", claims)
    hub = await claims_hub(hub_factory, allow_negative_only_claims=allow_negative)
    await users(hub, "alice", "bob", "carol", "dave", "erin")  # dave: in no group
    for name in sorted({g for gs in GROUPS.values() for g in gs}):
        await group(hub, name, *[u for u, gs in GROUPS.items() if name in gs])

    for user in others:
        await refused(hub, kube_client, user, "ws1", "not granted")
    if holder is not None:
        await starts(hub, kube_client, holder, "ws1")
        assert await pods(kube_client) == [f"jupyter-{holder}"]
    else:
        assert await pods(kube_client) == []


# -- 3. auth_state claims ------------------------------------------------------------------

USERINFO: dict[str, dict[str, Any]] = {
    "alice": {"department": "cardiology", "roles": ["analyst", "reviewer"], "level": 3},
    "bob": {"department": "oncology", "roles": ["analyst"], "level": 2},
}


class ClaimsAuthenticator(MockPAMAuthenticator):  # type: ignore[misc]  # jupyterhub is untyped
    """MockHub's authenticator (password = username), returning an identity provider's
    userinfo in auth_state["oauth_user"], as OAuthenticator does."""

    async def authenticate(self, handler: Any, data: Any) -> dict[str, Any] | None:
        user = await super().authenticate(handler, data)
        if user is None:
            return None
        name = user["name"] if isinstance(user, dict) else user
        return {"name": name, "auth_state": {"oauth_user": USERINFO.get(name, {})}}


@pytest.fixture
def crypt_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A JUPYTERHUB_CRYPT_KEY for auth_state, and a CryptKeeper that reads it (a singleton:
    one made earlier in this process would have no keys)."""
    key = secrets.token_hex(32)
    monkeypatch.setenv("JUPYTERHUB_CRYPT_KEY", key)
    crypto.CryptKeeper.clear_instance()
    yield key
    crypto.CryptKeeper.clear_instance()


def auth_state_config() -> Config:
    c = Config()
    c.JupyterHub.authenticator_class = ClaimsAuthenticator
    c.Authenticator.enable_auth_state = True
    return c


@pytest.mark.usefixtures("crds")
async def test_auth_state_claims_grant_after_a_login(
    crypt_key: str, hub_factory: StartHub, kube_client: ApiClient
) -> None:
    bindings = {
        "ws-dept": [claim("department", "EQUALS", "cardiology")],
        "ws-roles": [claim("roles", "IN", "admin, reviewer")],  # a list-valued claim
        "ws-level": [claim("level", "EQUALS", "3")],  # the str() of an int
        "ws-not-onc": [claim("department", "NOT EQUALS", "oncology")],
        "ws-site": [claim("site", "EQUALS", "x")],  # absent claim
        "ws-no-site": [claim("site", "NOT EQUALS", "x")],  # absent claim, negative
    }
    for ws, claims in bindings.items():
        await workspace(kube_client, ws)
        await claim_bind(kube_client, f"b-{ws}", ws, claims)
    hub = await claims_hub(hub_factory, auth_state_config(), allow_negative_only_claims=True)

    # Logging in through /hub/login stores the userinfo (encrypted) as auth_state.
    offered = cards(await spawn_page(hub, "alice"))
    assert set(offered) == {"ws-dept", "ws-roles", "ws-level", "ws-not-onc"}
    state = await hub.user("alice").get_auth_state()
    assert state == {"oauth_user": USERINFO["alice"]}
    assert "Granted via department = cardiology" in offered["ws-dept"]
    assert "Granted via roles = reviewer" in offered["ws-roles"]
    assert "Granted via level = 3" in offered["ws-level"]
    assert cards(await spawn_page(hub, "bob")) == {}

    await refused(hub, kube_client, "alice", "ws-site", "not granted")
    await refused(hub, kube_client, "alice", "ws-no-site", "not granted")
    await refused(hub, kube_client, "bob", "ws-dept", "not granted")
    await refused(hub, kube_client, "bob", "ws-level", "not granted")
    await starts(hub, kube_client, "alice", "ws-roles")
    await stop_and_wait(hub, kube_client, "alice")
    await starts(hub, kube_client, "alice", "ws-level")
    assert await pods(kube_client) == ["jupyter-alice"]


# -- 4. a malformed operator ---------------------------------------------------------------


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def spawner_log() -> Iterator[list[str]]:
    """Warnings logged by lscsde_spawner's loggers, through a handler of its own: once the hub
    has configured logging (traitlets' dictConfig), caplog no longer sees these records."""
    handler = Records()
    logger = logging.getLogger("lscsde_spawner")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


@pytest.mark.usefixtures("crds")
async def test_an_unknown_operator_grants_nothing_and_is_reported(
    hub_factory: StartHub, kube_client: ApiClient, spawner_log: list[str]
) -> None:
    for ws in ("ws1", "ws2", "ws3"):
        await workspace(kube_client, ws)
    # The CRD's operator pattern is unanchored: the API server admits NOT_EQUALS.
    await claim_bind(
        kube_client,
        "b-claims",
        "ws1",
        [claim("groups", "EQUALS", CARDIAC), claim("groups", "NOT_EQUALS", "x")],
    )
    await claim_bind(
        kube_client, "b-named", "ws2", [claim("groups", "NOT_EQUALS", "x")], username="bob"
    )
    # Read as NOT EQUALS this would grant everyone (negative-only grants are allowed here).
    await claim_bind(kube_client, "b-neg", "ws3", [claim("groups", "NOT_EQUALS", "x")])
    hub = await claims_hub(hub_factory, allow_negative_only_claims=True)
    await users(hub, "alice", "bob", "carol")
    await group(hub, CARDIAC, "alice")

    # Claim-only: reported to a user its well-formed positive claims hold for.
    body = await refused(hub, kube_client, "alice", "ws1", "malformed")
    assert "NOT_EQUALS" in body
    await refused(hub, kube_client, "bob", "ws2", "malformed")  # named by username
    # Not reported to anyone else: they are simply not granted.
    body = await refused(hub, kube_client, "carol", "ws1", "not granted")
    assert "malformed" not in body
    await refused(hub, kube_client, "alice", "ws3", "not granted")
    assert cards(await spawn_page(hub, "alice")) == {}
    assert await pods(kube_client) == []
    logged = [m for m in spawner_log if "malformed" in m]
    for name in ("b-claims", "b-named", "b-neg"):
        assert any(name in m and "grants nothing" in m for m in logged), (name, logged)


# -- 5. username and claims ----------------------------------------------------------------


@pytest.mark.usefixtures("crds")
async def test_username_and_claims_must_both_hold(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    await workspace(kube_client, "ws1")
    await claim_bind(kube_client, "b1", "ws1", [claim("groups", "EQUALS", CARDIAC)],
                     username="alice")  # fmt: skip
    hub = await claims_hub(hub_factory)
    await users(hub, "alice", "bob")
    await group(hub, CARDIAC, "bob")

    await refused(hub, kube_client, "alice", "ws1", "not granted")  # named, not in the group
    await refused(hub, kube_client, "bob", "ws1", "not granted")  # in the group, not named
    await hub.api("POST", f"groups/{CARDIAC}/users", body={"users": ["alice"]})
    offered = cards(await spawn_page(hub, "alice"))
    assert set(offered) == {"ws1"} and "lscsde-ws-via" not in offered["ws1"]
    await starts(hub, kube_client, "alice", "ws1")
    assert await pods(kube_client) == ["jupyter-alice"]


# -- 6. expiry -----------------------------------------------------------------------------


@pytest.mark.usefixtures("crds")
async def test_claim_bindings_expire_and_the_latest_expiry_wins(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    for ws in ("old", "claim-later", "user-later"):
        await workspace(kube_client, ws)
    group_claim = [claim("groups", "EQUALS", CARDIAC)]
    await claim_bind(kube_client, "b-old", "old", group_claim, expires=day(-1))
    await bind(kube_client, "u-claim-later", "claim-later", "alice", expires=day(10))
    await claim_bind(kube_client, "c-claim-later", "claim-later", group_claim, expires=day(40))
    await bind(kube_client, "u-user-later", "user-later", "alice", expires=day(50))
    await claim_bind(kube_client, "c-user-later", "user-later", group_claim, expires=day(20))
    hub = await claims_hub(hub_factory)
    await users(hub, "alice", "bob")
    await group(hub, CARDIAC, "alice")

    await refused(hub, kube_client, "alice", "old", "expired")
    await refused(hub, kube_client, "bob", "old", "not granted")  # not his: not his news
    offered = cards(await spawn_page(hub, "alice"))
    assert set(offered) == {"claim-later", "user-later"}
    assert f'<time datetime="{day(40)}">' in offered["claim-later"]
    assert f'<time datetime="{day(50)}">' in offered["user-later"]
    assert await pods(kube_client) == []


# -- 7. revocation -------------------------------------------------------------------------


async def stopped_within(
    hub: RunningHub, api: ApiClient, user: str, seconds: float = STOP_WITHIN
) -> float:
    """Seconds until `user`'s pod is gone and the hub no longer lists the server."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if f"jupyter-{user}" not in await pods(api) and await hub.server_model(user) is None:
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise AssertionError(f"{user}'s server still runs {seconds}s after the claim stopped holding")


async def revoked(api: ApiClient, ws: str) -> list[dict[str, Any]]:
    return [e for e in await events_about(api, ws) if e["reason"] == "AccessRevoked"]


async def remove_from_group(hub: RunningHub, api: ApiClient) -> None:
    await hub.api("DELETE", f"groups/{CARDIAC}/users", body={"users": ["alice"]})


async def delete_group(hub: RunningHub, api: ApiClient) -> None:
    await hub.api("DELETE", f"groups/{CARDIAC}", expect=(204,))


async def patch_claims(hub: RunningHub, api: ApiClient) -> None:
    claims = [claim("groups", "EQUALS", "oncology")]
    await patch(api, WSB, "cardiac-ws1", {"spec": {"claims": claims}})


REVOCATIONS = {
    "removed-from-group": remove_from_group,
    "group-deleted": delete_group,
    "binding-claims-patched": patch_claims,
}


@pytest.mark.parametrize("how", REVOCATIONS)
@pytest.mark.usefixtures("crds")
async def test_a_server_granted_by_a_claim_stops_when_the_claim_stops_holding(
    hub_factory: StartHub, kube_client: ApiClient, how: str
) -> None:
    await workspace(kube_client, "ws1")
    await claim_bind(kube_client, "cardiac-ws1", "ws1", [claim("groups", "EQUALS", CARDIAC)])
    await bind(kube_client, "carol-ws1", "ws1", "carol")
    hub = await claims_hub(hub_factory)
    await users(hub, "alice", "carol")
    await group(hub, CARDIAC, "alice")
    await starts(hub, kube_client, "alice", "ws1")
    await starts(hub, kube_client, "carol", "ws1")  # by username, not in the group
    assert await revoked(kube_client, "ws1") == []

    await REVOCATIONS[how](hub, kube_client)
    await stopped_within(hub, kube_client, "alice")
    for _ in range(50):
        events = await revoked(kube_client, "ws1")
        if events:
            break
        await asyncio.sleep(0.1)
    [event] = events
    assert event["type"] == "Warning"
    assert "alice" in event["note"] and "no longer granted" in event["note"], event

    await asyncio.sleep(1)  # sweeps are debounced by 0.2 s: carol's grant holds through them
    assert (await hub.server_model("carol") or {}).get("ready")
    assert await pods(kube_client) == ["jupyter-carol"]
    assert len(await revoked(kube_client, "ws1")) == 1
    page = await spawn_page(hub, "alice")
    assert "lscsde-revoked" in page and "no longer granted" in page


@pytest.mark.usefixtures("crds")
async def test_a_login_that_changes_auth_state_claims_stops_the_server(
    crypt_key: str,
    hub_factory: StartHub,
    kube_client: ApiClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await workspace(kube_client, "ws1")
    await claim_bind(kube_client, "b1", "ws1", [claim("department", "EQUALS", "cardiology")])
    hub = await claims_hub(hub_factory, auth_state_config())
    await (await login(hub, "alice")).close()
    await starts(hub, kube_client, "alice", "ws1")

    # The identity provider now says oncology; the next login stores that in auth_state.
    monkeypatch.setitem(USERINFO, "alice", {**USERINFO["alice"], "department": "oncology"})
    await (await login(hub, "alice")).close()
    await stopped_within(hub, kube_client, "alice")
    [event] = await revoked(kube_client, "ws1")
    assert "alice" in event["note"] and "no longer granted" in event["note"], event


# -- 8. claims_hook ------------------------------------------------------------------------


async def clearance_hook(spawner: Any) -> dict[str, Any]:
    """An async hook: alice gets a claim no identity provider sent; mallory's lookup fails."""
    await asyncio.sleep(0)
    name = spawner.user.name
    if name == "mallory":
        raise RuntimeError("the directory is down")
    return {"clearance": "high"} if name == "alice" else {}


@pytest.mark.usefixtures("crds")
async def test_claims_hook_adds_claims_and_a_failing_hook_grants_nothing(
    hub_factory: StartHub, kube_client: ApiClient
) -> None:
    for ws in ("secure", "cardiac", "mallorys"):
        await workspace(kube_client, ws)
    await claim_bind(kube_client, "b-secure", "secure", [claim("clearance", "EQUALS", "high")])
    await claim_bind(kube_client, "b-cardiac", "cardiac", [claim("groups", "EQUALS", CARDIAC)])
    await bind(kube_client, "b-mallory", "mallorys", "mallory")
    hub = await claims_hub(hub_factory, claims_hook=clearance_hook)
    await users(hub, "alice", "bob", "mallory")
    await group(hub, CARDIAC, "mallory")

    await refused(hub, kube_client, "bob", "secure", "not granted")
    await starts(hub, kube_client, "alice", "secure")
    # mallory is in the group, but with no readable claims no claim binding grants to her.
    await refused(hub, kube_client, "mallory", "cardiac", "not granted")
    assert set(cards(await spawn_page(hub, "mallory"))) == {"mallorys"}
    await starts(hub, kube_client, "mallory", "mallorys")  # her username binding still works
    assert await pods(kube_client) == ["jupyter-alice", "jupyter-mallory"]
