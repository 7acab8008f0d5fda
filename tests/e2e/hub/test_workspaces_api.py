"""The workspaces service's REST API through a real hub: who sees what, members added, changed
and removed (bindings and events in the cluster), hostile input, the audit trail, the CLI.

One hub (with its managed service) serves the whole module over the sample in
tests/support/workspaces.py: in ws1, alice is admin, bob member, vic viewer, dave admin through
the group `leads`; root is a hub admin; carol has nothing. Tests that change members use their
own users, so they do not depend on each other's order.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
import subprocess
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from yarl import URL

from kubesim import LocalCluster
from lscsde_spawner import levels
from lscsde_spawner.cli import build_parser
from lscsde_spawner.models import GROUP, VERSION
from lscsde_spawner.service import commands
from lscsde_spawner.service.members import ADDED_BY
from tests.support.factories import FUTURE, day
from tests.support.hub import NAMESPACE, login
from tests.support.objects import events_about
from tests.support.workspaces import ServiceHub, module_api, service

pytestmark = [pytest.mark.hub, pytest.mark.asyncio(loop_scope="module")]
__all__ = ["module_api", "service"]  # the fixtures

WSB = "analyticsworkspacebindings"


async def binding(api: ApiClient, name: str) -> dict[str, Any] | None:
    custom: Any = client.CustomObjectsApi(api)
    try:
        got: dict[str, Any] = await custom.get_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, WSB, name
        )
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return got


def names(data: dict[str, Any]) -> set[str]:
    return {w["name"] for w in data["workspaces"]}


# -- who sees what ------------------------------------------------------------------------------


async def test_everyone_sees_their_own_workspaces_as_the_spawner_decides(
    service: ServiceHub,
) -> None:
    status, alice = await service.call("GET", "workspaces", "alice")
    assert status == 200 and alice["user"] == "alice" and not alice["hubAdmin"]
    ws1 = next(w for w in alice["workspaces"] if w["name"] == "ws1")
    assert ws1["accessLevel"] == "admin" and ws1["manage"] is True
    assert ws1["grantedBy"] == "user" and ws1["via"] is None
    assert ws1["expires"] == FUTURE and ws1["daysLeft"] == 365
    assert ws1["dataSources"] == [{"name": "hes", "displayName": "hes"}]
    assert ws1["servers"] == []
    assert names(alice) == {"ws1", "ws2"}

    levels_of = {}
    for user in ("bob", "vic", "dave"):
        status, data = await service.call("GET", "workspaces", user)
        assert status == 200 and names(data) == {"ws1"}, data
        levels_of[user] = (data["workspaces"][0]["accessLevel"], data["workspaces"][0]["via"])
    assert levels_of == {
        "bob": ("member", None),
        "vic": ("viewer", None),
        "dave": ("admin", "group leads"),
    }
    status, carol = await service.call("GET", "workspaces", "carol")
    assert (status, carol["workspaces"], carol["otherWorkspaces"]) == (200, [], [])
    # Only a hub admin's list may hold the others.
    assert (await service.call("GET", "workspaces?all=1", "carol"))[1]["otherWorkspaces"] == []
    status, root = await service.call("GET", "workspaces?all=1", "root")
    assert root["hubAdmin"] and root["workspaces"] == []
    assert [w["name"] for w in root["otherWorkspaces"]] == ["ws1", "ws2"]


ENDPOINTS = [
    ("GET", "members", None),
    ("POST", "members", {"username": "zed", "expires": day(5)}),
    ("POST", "members", b"{not json"),
    ("PATCH", "members/bob", {"accessLevel": "admin"}),
    ("DELETE", "members/bob", None),
    ("GET", "sessions", None),
    ("DELETE", "sessions/bob", None),
    ("DELETE", "sessions/bob/gpu", None),
    ("GET", "events", None),
    ("GET", "events?type=nonsense", None),
]


async def call(service: ServiceHub, method: str, path: str, user: str, body: Any) -> Any:
    if isinstance(body, bytes):
        return await service.call(method, path, user, data=body)
    return await service.call(method, path, user, body=body)


@pytest.mark.parametrize("ws", ["ws1", "ws2", "nope", "Bad_Name"])
async def test_outside_a_workspace_everything_is_404(service: ServiceHub, ws: str) -> None:
    """carol is in no workspace; bob is not in ws2: neither learns whether it exists."""
    users = ["carol"] if ws != "ws2" else ["carol", "bob", "vic"]
    for user in users:
        for method, tail, body in ENDPOINTS:
            status, answer = await call(service, method, f"workspaces/{ws}/{tail}", user, body)
            assert status == 404, (user, method, tail, answer)
            assert answer["message"] == f"workspace {ws!r} not found", answer
    # The bindings are untouched.
    assert (await service.call("GET", "workspaces/ws1/members", "alice"))[0] == 200


@pytest.mark.parametrize("user", ["bob", "vic"])
async def test_an_ordinary_member_cannot_manage(service: ServiceHub, user: str) -> None:
    for method, tail, body in ENDPOINTS:
        status, answer = await call(service, method, f"workspaces/ws1/{tail}", user, body)
        assert status == 403, (method, tail, answer)
        assert "only its admins may" in answer["message"]
    status, members = await service.call("GET", "workspaces/ws1/members", "alice")
    assert "zed" not in {m["username"] for m in members["members"]}


async def test_without_a_token_or_with_a_bad_one(service: ServiceHub) -> None:
    status, answer = await service.call("GET", "workspaces", None)
    assert status == 401 and "token" in answer["message"]
    bad = {"Authorization": "token not-a-token"}
    assert (await service.call("GET", "workspaces", None, headers=bad))[0] == 401
    # A hub token without access to the service (the test's own service): refused.
    admin = {"Authorization": f"token {service.hub.token}"}
    status, answer = await service.call("GET", "workspaces", None, headers=admin)
    assert status == 403 and "access:services" in answer["message"]
    assert (await service.call("GET", "nothing/here", "alice"))[0] == 404


async def test_group_admins_and_hub_admins_manage(service: ServiceHub) -> None:
    for user in ("dave", "root"):
        status, data = await service.call("GET", "workspaces/ws1/members", user)
        assert status == 200, data
        rows = {m["binding"]: m for m in data["members"]}
        assert rows["alice-ws1"]["accessLevel"] == "admin"
        assert rows["bob-ws1"]["comments"] == "statistician"
        assert rows["leads-ws1"]["claims"] == [
            {"name": "groups", "operator": "EQUALS", "value": "leads"}
        ]
        assert rows["leads-ws1"]["username"] is None
    # root is a hub admin of ws2 as well; dave is nobody there.
    assert (await service.call("GET", "workspaces/ws2/members", "root"))[0] == 200
    assert (await service.call("GET", "workspaces/ws2/members", "dave"))[0] == 404


# -- members ------------------------------------------------------------------------------------


async def test_an_admin_adds_changes_and_removes_a_member(
    service: ServiceHub, module_api: ApiClient
) -> None:
    body = {"username": "Erin", "expires": day(30), "accessLevel": "viewer", "comments": "RA"}
    status, row = await service.call("POST", "workspaces/ws1/members", "alice", body=body)
    assert status == 201, row
    assert (row["username"], row["accessLevel"], row["expires"]) == ("erin", "viewer", day(30))
    name = row["binding"]
    stored = await binding(module_api, name)
    assert stored is not None
    assert stored["spec"] == {"workspace": "ws1", "username": "erin", "expires": day(30),
                              "comments": "RA", "replicas": 0}  # fmt: skip
    assert stored["metadata"]["annotations"][levels.ANNOTATION] == "viewer"
    assert stored["metadata"]["annotations"][ADDED_BY] == "alice"
    # Read your write: the list shows it at once, and erin's own view agrees.
    members = (await service.call("GET", "workspaces/ws1/members", "alice"))[1]["members"]
    assert any(m["binding"] == name for m in members)
    erin = (await service.call("GET", "workspaces", "erin"))[1]
    assert [(w["name"], w["accessLevel"]) for w in erin["workspaces"]] == [("ws1", "viewer")]

    status, changed = await service.call(
        "PATCH", "workspaces/ws1/members/erin", "dave", body={"accessLevel": "member",
                                                              "expires": day(60)})  # fmt: skip
    assert status == 200, changed
    [row] = changed["members"]
    assert (row["accessLevel"], row["expires"], row["changedBy"]) == ("member", day(60), "dave")
    stored = await binding(module_api, name)
    assert stored is not None and stored["spec"]["expires"] == day(60)

    status, gone = await service.call("DELETE", "workspaces/ws1/members/ERIN", "root")
    assert (status, gone) == (200, {"removed": [name], "username": "erin"})
    assert await binding(module_api, name) is None
    assert (await service.call("GET", "workspaces", "erin"))[1]["workspaces"] == []
    assert (await service.call("DELETE", "workspaces/ws1/members/erin", "alice"))[0] == 404

    # The audit trail tells the story, newest first, and the cluster's events say the same.
    status, trail = await service.call(
        "GET", "workspaces/ws1/events?type=member&user=erin", "alice")  # fmt: skip
    assert status == 200
    story = [(e["type"], e["user"], e["by"]) for e in trail["items"]]
    assert story == [("MemberRemoved", "erin", "root"), ("MemberChanged", "erin", "dave"),
                     ("MemberAdded", "erin", "alice")]  # fmt: skip
    assert "access level viewer -> member" in trail["items"][1]["note"]
    reasons = [e["reason"] for e in await events_about(module_api, "ws1")]
    for reason in ("MemberAdded", "MemberChanged", "MemberRemoved"):
        assert reason in reasons


HOSTILE = [
    ({"username": "", "expires": day(5)}, 400, "non-empty"),
    ({"username": "a/b", "expires": day(5)}, 400, "not a valid JupyterHub username"),
    ({"username": "eve\u202e", "expires": day(5)}, 400, "invisible"),
    ({"username": "eve\x1b[2J", "expires": day(5)}, 400, "control"),
    ({"username": "e" * 300, "expires": day(5)}, 400, "longer than 255"),
    ({"username": "eve smith", "expires": day(5)}, 400, "space"),
    ({"username": ["eve"], "expires": day(5)}, 400, "non-empty string"),
    ({"username": "eve", "expires": day(-1)}, 400, "in the past"),
    ({"username": "eve", "expires": day(400)}, 400, "may not outlast its workspace"),
    ({"username": "eve", "expires": "2026-02-30"}, 400, "is not a date"),
    ({"username": "eve", "expires": day(5), "accessLevel": "root"}, 400, "accessLevel"),
    ({"username": "eve", "expires": day(5), "spec": {"workspace": "ws2"}}, 400, "unknown field"),
    ({"username": "bob", "expires": day(5)}, 409, "already has a grant"),
    ({"username": "BOB", "expires": day(5)}, 409, "already has a grant"),
]


@pytest.mark.parametrize(("body", "status", "message"), HOSTILE)
async def test_hostile_member_requests_are_refused_and_change_nothing(
    service: ServiceHub, body: dict[str, Any], status: int, message: str
) -> None:
    before = (await service.call("GET", "workspaces/ws1/members", "alice"))[1]["members"]
    got, answer = await service.call("POST", "workspaces/ws1/members", "alice", body=body)
    assert (got, answer["status"]) == (status, status), answer
    assert message in answer["message"], answer
    after = (await service.call("GET", "workspaces/ws1/members", "alice"))[1]["members"]
    assert after == before


async def test_bodies_that_are_not_small_json_objects(service: ServiceHub) -> None:
    for raw, status in ((b"[]", 400), (b"nope", 400), (b"", 400), (b"\xff", 400),
                        (json.dumps({"comments": "x" * 20_000}).encode(), 413)):  # fmt: skip
        got, answer = await service.call("POST", "workspaces/ws1/members", "alice", data=raw)
        assert (got, answer["status"]) == (status, status), answer
    # Far past the limit, still a 413 (the server reads up to 8 MiB).
    got, _ = await service.call("POST", "workspaces/ws1/members", "alice", data=b"x" * 2_000_000)
    assert got == 413


async def test_changes_are_checked_like_additions(service: ServiceHub) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "nothing to change"),
        ({"expires": day(-2)}, "in the past"),
        ({"expires": day(500)}, "outlast"),
        ({"accessLevel": "god"}, "accessLevel"),
        ({"username": "x"}, "unknown field"),
    ]
    for body, message in cases:
        status, answer = await service.call(
            "PATCH", "workspaces/ws1/members/bob", "alice", body=body
        )
        assert status == 400 and message in answer["message"], (body, answer)
    status, answer = await service.call(
        "PATCH", "workspaces/ws1/members/nobody", "alice", body={"accessLevel": "admin"}
    )
    assert status == 404 and "no binding" in answer["message"]
    # The group binding names no user: there is no member "leads" to change.
    assert (await service.call("DELETE", "workspaces/ws1/members/leads", "alice"))[0] == 404


async def test_two_concurrent_adds_of_one_user_make_one_binding(service: ServiceHub) -> None:
    body = {"username": "twin", "expires": day(10)}
    results = await asyncio.gather(
        *(service.call("POST", "workspaces/ws1/members", "alice", body=body) for _ in range(4))
    )
    assert sorted(status for status, _ in results) == [201, 409, 409, 409]
    members = (await service.call("GET", "workspaces/ws1/members", "alice"))[1]["members"]
    assert [m["username"] for m in members].count("twin") == 1
    assert (await service.call("DELETE", "workspaces/ws1/members/twin", "alice"))[0] == 200


async def test_a_binding_with_an_unknown_level_is_shown_as_malformed(
    service: ServiceHub, module_api: ApiClient
) -> None:
    from tests.support import factories
    from tests.support.objects import create

    await create(module_api, factories.binding(
        "odd-ws1", "ws1", "odd", annotations={levels.ANNOTATION: "owner"}))  # fmt: skip
    for _ in range(50):
        rows = {
            m["binding"]: m
            for m in (await service.call("GET", "workspaces/ws1/members", "alice"))[1]["members"]
        }
        if "odd-ws1" in rows:
            break
        await asyncio.sleep(0.1)
    assert rows["odd-ws1"]["state"] == "malformed" and "owner" in rows["odd-ws1"]["problem"]
    # It grants odd nothing.
    assert (await service.call("GET", "workspaces", "odd"))[1]["workspaces"] == []


# -- the audit trail ----------------------------------------------------------------------------


async def test_the_events_endpoint_filters_and_pages(service: ServiceHub) -> None:
    for user in ("p1", "p2", "p3"):
        body = {"username": user, "expires": day(3)}
        assert (await service.call("POST", "workspaces/ws1/members", "alice", body=body))[0] == 201
    status, page = await service.call("GET", "workspaces/ws1/events?type=MemberAdded&limit=2",
                                      "alice")  # fmt: skip
    assert status == 200 and len(page["items"]) == 2 and page["next"] == 2
    assert [e["user"] for e in page["items"]][:2] == ["p3", "p2"]  # newest first
    rest = (await service.call("GET", "workspaces/ws1/events?type=MemberAdded&limit=2&offset=2",
                               "alice"))[1]  # fmt: skip
    assert rest["items"][0]["user"] == "p1"
    assert (await service.call("GET", f"workspaces/ws1/events?since={day(1)}", "alice"))[1][
        "items"] == []  # fmt: skip
    for bad in ("type=everything", "since=soon", "limit=0", "limit=9999", "offset=-3"):
        status, answer = await service.call("GET", f"workspaces/ws1/events?{bad}", "alice")
        assert status == 400, (bad, answer)


@pytest.mark.kubectl
async def test_kubectl_tells_the_same_story(
    service: ServiceHub, module_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    body = {"username": "kit", "expires": day(3)}
    assert (await service.call("POST", "workspaces/ws1/members", "alice", body=body))[0] == 201
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    cache = str(tmp_path_factory.mktemp("kubectl-cache"))
    done = await asyncio.to_thread(
        subprocess.run,
        [kubectl, "--cache-dir", cache, "--kubeconfig", str(module_cluster.kubeconfig),
         "get", "events", "--field-selector", "involvedObject.name=ws1,reason=MemberAdded",
         "-o", "json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    notes = [e["message"] for e in json.loads(done.stdout)["items"]]
    assert any("alice added kit to workspace ws1 as member" in n for n in notes), notes


# -- the CLI ------------------------------------------------------------------------------------


async def cli(service: ServiceHub, user: str, *argv: str) -> tuple[int, str, str]:
    token = await service.token(user)
    args = build_parser().parse_args(
        ["workspaces", "--hub-url", service.hub.public_url, "--token", token, *argv]
    )
    out, err = io.StringIO(), io.StringIO()
    # In a thread: the CLI blocks, and the hub answers on this event loop.
    code = await asyncio.to_thread(commands.run, args, out, err)
    return code, out.getvalue(), err.getvalue()


async def test_the_cli_lists_adds_removes_and_reads_events(service: ServiceHub) -> None:
    code, out, _ = await cli(service, "alice", "list")
    assert code == 0 and out.split("\n")[0].split() == [
        "WORKSPACE", "NAME", "ACCESS", "EXPIRES", "DAYS", "VIA", "SERVERS"]  # fmt: skip
    assert re.search(r"^ws1\s+Ws1\s+admin\s", out, re.MULTILINE), out
    code, out, _ = await cli(service, "alice", "--json", "list")
    assert code == 0 and {w["name"] for w in json.loads(out)["workspaces"]} == {"ws1", "ws2"}

    comment = "\x1b[31mred\x1b[0m <b>"
    code, out, err = await cli(service, "alice", "add", "ws1", "cli-user", "--expires", day(7),
                               "--level", "viewer", "--comments", comment)  # fmt: skip
    assert code == 1 and "control or invisible" in err  # refused by the service, said so
    code, out, err = await cli(service, "alice", "add", "ws1", "cli-user", "--expires", day(7),
                               "--level", "viewer", "--comments", "<b>")  # fmt: skip
    assert code == 0, err
    assert re.search(r"^cli-user\s+viewer\s+" + day(7), out, re.MULTILINE), out
    code, out, _ = await cli(service, "alice", "members", "ws1")
    assert code == 0 and "cli-user" in out and "statistician" in out
    code, out, _ = await cli(service, "alice", "change", "ws1", "cli-user", "--level", "admin")
    assert code == 0 and re.search(r"^cli-user\s+admin", out, re.MULTILINE), out
    code, out, _ = await cli(service, "alice", "remove", "ws1", "cli-user")
    assert code == 0 and out.startswith("removed cli-user")
    code, out, _ = await cli(service, "alice", "events", "ws1", "--type", "member",
                             "--user", "cli-user")  # fmt: skip
    assert code == 0 and [line.split()[1] for line in out.strip().split("\n")[1:]] == [
        "MemberRemoved", "MemberChanged", "MemberAdded"]  # fmt: skip
    code, out, _ = await cli(service, "alice", "sessions", "ws1")
    assert code == 0 and out.split() == ["USER", "SERVER", "READY", "STARTED", "LAST", "ACTIVITY"]

    code, _, err = await cli(service, "bob", "members", "ws1")
    assert code == 1 and "only its admins" in err and "(403)" in err
    code, _, err = await cli(service, "carol", "remove", "ws1", "bob")
    assert code == 1 and "not found (404)" in err


async def test_the_cli_without_a_token_or_a_hub() -> None:
    args = build_parser().parse_args(["workspaces", "--token", "", "list"])
    err = io.StringIO()
    assert commands.run(args, io.StringIO(), err) == 2 and "JUPYTERHUB_API_TOKEN" in err.getvalue()
    args = build_parser().parse_args(
        ["workspaces", "--hub-url", "http://127.0.0.1:9", "--token", "t", "list"]
    )
    err = io.StringIO()
    assert await asyncio.to_thread(commands.run, args, io.StringIO(), err) == 2
    assert "cannot reach" in err.getvalue()


# -- browsers: XSRF and escaping ----------------------------------------------------------------


async def browser_session(service: ServiceHub, user: str) -> tuple[aiohttp.ClientSession, str]:
    """Logged in to the hub, then through OAuth to the service; returns the index page."""
    session = await login(service.hub, user)
    async with session.get(service.url("")) as r:
        page = await r.text()
        assert r.status == 200 and "My workspaces" in page, page[:300]
    return session, page


async def test_forms_need_the_xsrf_token(service: ServiceHub) -> None:
    session, _ = await browser_session(service, "alice")
    try:
        async with session.get(service.url("w/ws1")) as r:
            page = await r.text()
        token = re.search(r'name="_xsrf" value="([^"]+)"', page)
        assert token, page[:500]
        add = service.url("w/ws1/members")
        form = {"username": "forged", "expires": day(3), "accessLevel": "admin"}
        for xsrf in (None, "forged-token", token.group(1)[:-2] + "xx"):
            data = dict(form, **({"_xsrf": xsrf} if xsrf else {}))
            async with session.post(add, data=data, allow_redirects=False) as r:
                assert r.status == 403, await r.text()
        # Cookie-authenticated API calls need it too (a cross-site fetch has no token).
        async with session.post(service.url("api/workspaces/ws1/members"), json=form) as r:
            assert r.status == 401
        members = (await service.call("GET", "workspaces/ws1/members", "alice"))[1]["members"]
        assert "forged" not in {m["username"] for m in members}
        # With the page's own token, the form works.
        data = dict(form, _xsrf=token.group(1), accessLevel="viewer")
        async with session.post(add, data=data, allow_redirects=False) as r:
            assert r.status == 303, await r.text()
        members = (await service.call("GET", "workspaces/ws1/members", "alice"))[1]["members"]
        assert "forged" in {m["username"] for m in members}
    finally:
        await session.close()


async def test_the_hubs_menu_links_to_the_service(service: ServiceHub) -> None:
    session = await login(service.hub, "carol")
    try:
        async with session.get(service.hub.url("hub/home")) as r:
            home = await r.text()
    finally:
        await session.close()
    assert 'href="/services/workspaces/"' in home, home[:2000]


async def test_pages_escape_what_others_wrote(service: ServiceHub) -> None:
    body = {"username": "xss", "expires": day(3), "comments": "<script>alert('c')</script>"}
    assert (await service.call("POST", "workspaces/ws1/members", "alice", body=body))[0] == 201
    session, index = await browser_session(service, "alice")
    try:
        assert "<script>alert" not in index and "&lt;script&gt;alert(&#39;ws1&#39;)" in index
        async with session.get(service.url("w/ws1")) as r:
            page = await r.text()
            assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert "<script>" not in page and "&lt;script&gt;alert(&#39;c&#39;)" in page
        async with session.get(service.url("w/ws2")) as r:
            assert r.status == 200  # alice is a member there
            assert "Only the workspace's admins" in await r.text()
        async with session.get(service.url("w/not-hers")) as r:
            assert r.status == 404
    finally:
        await session.close()
    session, _ = await browser_session(service, "carol")
    try:
        async with session.get(service.url("w/ws1")) as r:
            assert r.status == 404 and "xss" not in await r.text()
        # Her forms are refused the same way, with a good XSRF token too (the service's cookie).
        xsrf = session.cookie_jar.filter_cookies(URL(service.url("")))["_xsrf"].value
        form = {"_xsrf": xsrf, "username": "carol", "expires": day(3), "accessLevel": "admin"}
        async with session.post(service.url("w/ws1/members"), data=form,
                                allow_redirects=False) as r:  # fmt: skip
            assert r.status == 404, await r.text()
    finally:
        await session.close()


async def test_a_display_name_is_text_too(service: ServiceHub, module_api: ApiClient) -> None:
    from lscsde_spawner import levels
    from tests.support import factories
    from tests.support.objects import create

    title = "<img src=x onerror=alert(2)>Trial"
    await create(module_api, factories.workspace("xss-ws", display=title))
    await create(module_api, factories.binding(
        "xena-xss-ws", "xss-ws", "xena", annotations={levels.ANNOTATION: "admin"}))  # fmt: skip
    session, index = await browser_session(service, "xena")
    try:
        for _ in range(50):
            if "Trial" in index:
                break
            async with session.get(service.url("")) as r:
                index = await r.text()
        async with session.get(service.url("w/xss-ws")) as r:
            page = await r.text()
    finally:
        await session.close()
    for html in (index, page):
        assert "<img" not in html and "&lt;img src=x onerror=alert(2)&gt;Trial" in html
