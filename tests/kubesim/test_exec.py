"""pods/exec and pods/attach over WebSockets, end to end through real clients.

The official `kubernetes` client (v5, as kubectl speaks it through the API server's stream
translator), kubernetes_asyncio (v4, straight to the kubelet), and raw WebSockets for the other
subprotocols, the refusals and hostile input. Commands run in the process runtime; the stub
runtime's refusal is checked apart. kubectl is in test_kubectl_exec.py.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
from kubernetes.stream import stream as sync_stream
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.stream import WsApiClient

from kubesim import LocalCluster
from kubesim.testing import client_configuration
from tests.support.kube import account_token
from tests.support.streams import (
    NS,
    alive,
    container,
    exec_path,
    exec_query,
    frame,
    namespaces_work,
    pod,
    running_pod,
    stream,
    wait_for,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the process runtime needs Linux")

ALLOWED = ("sh", "cat", "true", "ls")
V4, V5 = "v4.channel.k8s.io", "v5.channel.k8s.io"
LOOP = "while true; do sleep 1; done"
SUCCESS = {"metadata": {}, "status": "Success"}
EXEC_ID = r"[0-9a-f]{64}"


def exit_status(code: int, message: str) -> dict[str, Any]:
    return {
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def internal(message: str) -> dict[str, Any]:
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: {message}",
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A process-runtime cluster with `sleeper` (env, workingDir, a read-only config map at
    /cfg) and `two` (two containers)."""
    data = tmp_path_factory.mktemp("exec-cluster")
    with LocalCluster(runtime="process", allowed_commands=ALLOWED, data_dir=data) as c:

        async def setup() -> None:
            async with ApiClient(client_configuration(c)) as api:
                core: Any = client.CoreV1Api(api)
                await core.create_namespaced_config_map(
                    NS, {"metadata": {"name": "cfg"}, "data": {"k": "from-config\n"}}
                )
            sleeper = container(
                "c", "sh", "-c", LOOP, env=[{"name": "FOO", "value": "bar"}],
                workingDir="/work/dir",
                volumeMounts=[{"name": "cfg", "mountPath": "/cfg", "readOnly": True}],
            )  # fmt: skip
            volumes = [{"name": "cfg", "configMap": {"name": "cfg"}}]
            await running_pod(c, pod("sleeper", sleeper, volumes=volumes))
            await running_pod(
                c, pod("two", container("a", "sh", "-c", LOOP), container("b", "sh", "-c", LOOP))
            )

        asyncio.run(setup())
        yield c


@pytest.fixture(scope="module")
def sync_api(cluster: LocalCluster) -> kubernetes.client.CoreV1Api:
    config = kubernetes.client.Configuration()
    config.host = cluster.url
    config.api_key = {"authorization": f"Bearer {cluster.token}"}
    return kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(config))


def run_sync(api: kubernetes.client.CoreV1Api, command: list[str], **kw: Any) -> Any:
    options: dict[str, Any] = {"stderr": True, "stdin": False, "stdout": True, "tty": False}
    options.update(kw)
    ws = sync_stream(
        api.connect_get_namespaced_pod_exec, "sleeper", NS, command=command,
        _preload_content=False, **options,
    )  # fmt: skip
    return ws


# -- the official client (v5) ------------------------------------------------------------------


def test_output_exit_codes_and_statuses_v5(sync_api: kubernetes.client.CoreV1Api) -> None:
    ws = run_sync(sync_api, ["sh", "-c", "echo out; echo err >&2; exit 3"])
    ws.run_forever(timeout=10)
    assert ws.subprotocol == V5
    assert ws.read_stdout() == "out\n"
    assert ws.read_stderr() == "err\n"
    error = json.loads(ws.read_channel(3))
    # The API server's stream translator words it (client-go's message, wrapped).
    assert error == exit_status(
        3, "command terminated with non-zero exit code: command terminated with exit code 3"
    )
    for command, code in ((["true"], 0), (["sh", "-c", "exit 7"], 7), (["ls", "/"], 0)):
        ws = run_sync(sync_api, command)
        assert ws.returncode is None
        ws.run_forever(timeout=10)
        assert ws.returncode == code
    ws = run_sync(sync_api, ["true"])
    ws.run_forever(timeout=10)
    assert json.loads(ws.read_channel(3)) == SUCCESS


def test_interactive_stdin_and_the_v5_close_signal(sync_api: kubernetes.client.CoreV1Api) -> None:
    ws = run_sync(sync_api, ["sh"], stdin=True)
    ws.write_stdin("echo one\n")
    assert ws.readline_stdout(timeout=5) == "one"
    ws.write_stdin("echo two >&2\n")
    assert ws.readline_stderr(timeout=5) == "two"
    ws.write_stdin("exit\n")
    ws.run_forever(timeout=5)
    assert not ws.is_open() and ws.returncode == 0
    # cat ends only when its stdin is closed, which v5 signals without closing the socket.
    ws = run_sync(sync_api, ["cat"], stdin=True)
    ws.write_stdin("echo-back\n")
    assert ws.readline_stdout(timeout=5) == "echo-back"
    ws.close_channel(0)
    ws.run_forever(timeout=10)
    assert not ws.is_open() and ws.returncode == 0


def test_environment_working_dir_user_and_mounts(sync_api: kubernetes.client.CoreV1Api) -> None:
    script = "echo $FOO; pwd; cat /cfg/k; touch /cfg/new && echo wrote || echo refused"
    ws = run_sync(sync_api, ["sh", "-c", script])
    ws.run_forever(timeout=10)
    foo, cwd, config, write = ws.read_stdout().splitlines()
    assert foo == "bar"
    assert cwd.endswith("/c/root/work/dir")  # the container's workingDir, in its root
    assert config == "from-config"  # the volume, at its own path as in the container
    if namespaces_work():
        assert write == "refused"  # read-only, enforced by the kernel
        assert "Read-only file system" in ws.read_stderr()


# -- kubernetes_asyncio and raw subprotocols (the kubelet's side) ------------------------------


async def test_kubernetes_asyncio_exec(cluster: LocalCluster) -> None:
    async with WsApiClient(client_configuration(cluster)) as ws_api:
        core: Any = client.CoreV1Api(ws_api)
        out = await core.connect_get_namespaced_pod_exec(
            "sleeper", NS, command=["sh", "-c", "for i in 1 2 3; do echo $i; done"],
            stderr=False, stdin=False, stdout=True, tty=False,
        )  # fmt: skip
        assert out.splitlines() == ["1", "2", "3"]


async def test_v4_statuses_are_containerds(cluster: LocalCluster) -> None:
    got = await stream(cluster, exec_path("sleeper"),
                       exec_query(["sh", "-c", "exit 3"], stdout=True))  # fmt: skip
    assert got.status == 101 and got.protocol == V4
    assert got.frames[0] == (1, b"")  # the empty frame that says the streams are up
    assert json.loads(got.channel(3)) == exit_status(
        3,
        "command terminated with non-zero exit code: error executing command [sh -c exit 3], "
        "exit code 3",
    )
    got = await stream(cluster, exec_path("sleeper"), exec_query(["true"], stdout=True))
    assert json.loads(got.channel(3)) == SUCCESS


@pytest.mark.parametrize(
    ("protocols", "chosen"),
    [
        (("base64.channel.k8s.io",), "base64.channel.k8s.io"),
        (("v4.base64.channel.k8s.io",), "v4.base64.channel.k8s.io"),
        (("channel.k8s.io",), "channel.k8s.io"),
        ((), ""),  # no subprotocol: the unversioned binary one
        (("nope", "channel.k8s.io", V4), "channel.k8s.io"),  # the client's first that fits
    ],
)
async def test_other_subprotocols(
    cluster: LocalCluster, protocols: tuple[str, ...], chosen: str
) -> None:
    script = "read line; echo got $line; exit 2"
    sent = [frame(0, b"hello\n", chosen)]
    got = await stream(cluster, exec_path("sleeper"),
                       exec_query(["sh", "-c", script], stdin=True, stdout=True),
                       protocols=protocols, send=sent)  # fmt: skip
    assert got.status == 101 and got.protocol == chosen
    assert got.channel(1) == b"got hello\n"
    message = "command terminated with non-zero exit code: error executing command " \
              f"[sh -c {script}], exit code 2"  # fmt: skip
    if chosen.startswith("v4"):
        assert json.loads(got.channel(3))["message"] == message
    else:  # before v4 the error channel carries only a failure's text
        assert got.channel(3) == message.encode()
        ok = await stream(cluster, exec_path("sleeper"), exec_query(["true"], stdout=True),
                          protocols=protocols)  # fmt: skip
        assert ok.channel(3) == b""


async def test_an_unknown_subprotocol_is_refused(cluster: LocalCluster) -> None:
    got = await stream(cluster, exec_path("sleeper"), exec_query(["true"], stdout=True),
                       protocols=("v2.channel.k8s.io", "SPDY/3.1+portforward.k8s.io"))  # fmt: skip
    assert (got.status, got.body) == (403, "")  # x/net/websocket: no common subprotocol


async def test_tty_and_resize(cluster: LocalCluster) -> None:
    resize = frame(4, json.dumps({"Width": 100, "Height": 30}).encode())
    got = await stream(
        cluster, exec_path("sleeper"),
        exec_query(["sh", "-c", "read x; stty size"], stdin=True, stdout=True, stderr=True,
                   tty=True),
        send=[resize, frame(0, b"go\n")],
    )  # fmt: skip
    assert b"30 100" in got.channel(1)  # rows, columns
    assert got.channel(2) == b""  # a terminal carries stderr itself
    assert json.loads(got.channel(3)) == SUCCESS


async def test_hostile_frames_change_nothing(cluster: LocalCluster) -> None:
    junk: list[bytes | str] = [
        b"", b"\x09whatever", b"\xffx", frame(4, b"{not json"), frame(4, b'{"Width": -1}'),
        "text on a binary protocol", b"\x05" * 1000,
    ]  # fmt: skip
    got = await stream(cluster, exec_path("sleeper"),
                       exec_query(["sh", "-c", "read line; echo $line"], stdin=True, stdout=True),
                       send=[*junk, frame(0, b"still here\n")])  # fmt: skip
    assert got.channel(1) == b"still here\n"
    assert json.loads(got.channel(3)) == SUCCESS


# -- refusals ----------------------------------------------------------------------------------


def status(message: str, code: int, reason: str, **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Failure", "message": message, "reason": reason}  # fmt: skip
    if details:
        body["details"] = details
    body["code"] = code
    return body


async def test_refusals_before_any_upgrade(cluster: LocalCluster) -> None:
    q = exec_query(["true"], stdout=True)
    got = await stream(cluster, exec_path("nope"), q)
    assert got.status == 404
    assert json.loads(got.body) == status(
        'pods "nope" not found', 404, "NotFound", name="nope", kind="pods"
    )
    got = await stream(cluster, exec_path("sleeper"), [*q, ("container", "x")])
    assert json.loads(got.body) == status(
        "container x is not valid for pod sleeper", 400, "BadRequest"
    )
    got = await stream(cluster, exec_path("two"), q)
    assert json.loads(got.body)["message"] == (
        "a container name must be specified for pod two, choose one of: [a b]"
    )
    # The kubelet's own refusal (v4 goes through to it): plain text.
    got = await stream(cluster, exec_path("sleeper"), exec_query(["true"]))
    assert (got.status, got.body) == (400, "you must specify at least 1 of stdin, stdout, stderr")
    # Through the translator (v5), the same refusal comes after the upgrade, as a status.
    got = await stream(cluster, exec_path("sleeper"), exec_query(["true"]), protocols=(V5,))
    assert json.loads(got.channel(3)) == internal(
        "unable to upgrade connection: you must specify at least 1 of stdin, stdout, stderr"
    )


async def test_what_is_not_a_websocket(cluster: LocalCluster) -> None:
    import aiohttp

    headers = cluster.headers
    target = cluster.url + exec_path("sleeper") + "?command=true&stdout=true"
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(target) as r:
            assert r.status == 400
            assert (await r.json())["message"] == "Upgrade request required"
        spdy = {"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
                "X-Stream-Protocol-Version": "v4.channel.k8s.io"}  # fmt: skip
        async with http.post(target, headers=spdy) as r:  # kubectl's fallback: the kubelet's
            assert r.status == 101 and r.headers["X-Stream-Protocol-Version"] == V4
        spdy["X-Stream-Protocol-Version"] = "v5.channel.k8s.io"  # not over SPDY
        async with http.post(target, headers=spdy) as r:
            assert r.status == 403
            assert await r.text() == (
                "unable to upgrade: unable to negotiate protocol: client supports "
                "[v5.channel.k8s.io], server accepts [v4.channel.k8s.io]\n"
            )
        async with http.put(target) as r:
            assert r.status == 405 and (await r.json())["reason"] == "MethodNotAllowed"


async def test_pods_without_a_running_container(cluster: LocalCluster) -> None:
    async with ApiClient(client_configuration(cluster)) as api:
        core: Any = client.CoreV1Api(api)
        await core.create_namespaced_pod(NS, pod("done", container("c", "true"),
                                                 restartPolicy="Never"))  # fmt: skip

        async def succeeded() -> bool:
            return bool((await core.read_namespaced_pod("done", NS)).status.phase == "Succeeded")

        await wait_for(succeeded)
        # Unschedulable until its claim exists: no node.
        claim = {"name": "v", "persistentVolumeClaim": {"claimName": "missing"}}
        await core.create_namespaced_pod(NS, pod("pending", container("c", "true"),
                                                 volumes=[claim]))  # fmt: skip
        await core.create_namespaced_pod(NS, pod("elsewhere", container("c", "true"),
                                                 nodeName="elsewhere"))  # fmt: skip
    q = exec_query(["true"], stdout=True)
    got = await stream(cluster, exec_path("done"), q)
    assert (got.status, got.body) == (500, 'container not found ("c")')
    got = await stream(cluster, exec_path("done"), q, protocols=(V5,))
    assert json.loads(got.channel(3)) == internal(
        'unable to upgrade connection: container not found ("c")'
    )
    got = await stream(cluster, exec_path("done", "attach"), [("stdout", "true")])
    assert (got.status, got.body) == (500, f"container c not found in pod done_{NS}")
    got = await stream(cluster, exec_path("pending"), q)
    assert json.loads(got.body)["message"] == "pod pending does not have a host assigned"
    got = await stream(cluster, exec_path("elsewhere"), q)
    assert (got.status, json.loads(got.body)["message"]) == (404, 'nodes "elsewhere" not found')


async def test_a_command_that_cannot_start(cluster: LocalCluster) -> None:
    got = await stream(cluster, exec_path("sleeper"), exec_query(["python9"], stdout=True))
    error = json.loads(got.channel(3))
    cause = error["details"]["causes"][0]["message"]
    assert error == internal(cause)
    assert re.fullmatch(
        f"error executing command in container: failed to exec in container: failed to start "
        f'exec "{EXEC_ID}": OCI runtime exec failed: exec failed: unable to start container '
        r'process: exec: "python9": not a command the process runtime runs \(allowed: sh, cat, '
        r"true, ls\): unknown",
        cause,
    ), cause


def test_the_stub_runtime_runs_no_command(local_cluster: LocalCluster) -> None:
    async def setup() -> None:
        await running_pod(local_cluster, pod("stub", container("c", "sleep", "1d")))

    asyncio.run(setup())
    config = kubernetes.client.Configuration()
    config.host = local_cluster.url
    config.api_key = {"authorization": f"Bearer {local_cluster.token}"}
    api = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(config))
    ws = sync_stream(api.connect_get_namespaced_pod_exec, "stub", NS, command=["ls"],
                     stderr=True, stdin=False, stdout=True, tty=False,
                     _preload_content=False)  # fmt: skip
    ws.run_forever(timeout=10)
    error = json.loads(ws.read_channel(3))
    # Through the translator: the kubelet's status message, as an error of its own.
    assert error["reason"] == "InternalError"
    assert error["message"].startswith(
        "Internal error occurred: Internal error occurred: error executing command in "
        "container: failed to exec in container: failed to start exec"
    )
    assert error["message"].endswith('exec: "ls": executable file not found in $PATH: unknown')


# -- the command's life ------------------------------------------------------------------------


async def test_the_command_dies_when_the_client_leaves(cluster: LocalCluster) -> None:
    got = await stream(cluster, exec_path("sleeper"),
                       exec_query(["sh", "-c", "echo $$; exec sleep 300"], stdout=True),
                       until=lambda s: s.channel(1).endswith(b"\n"))  # fmt: skip
    pid = int(got.channel(1))

    async def gone() -> bool:
        return not alive(pid)

    await wait_for(gone, within=5)  # containerd kills an exec whose stream ended


async def test_execs_die_with_their_container(cluster: LocalCluster) -> None:
    await running_pod(cluster, pod("brief", container("c", "sh", "-c", LOOP)))
    pids: list[int] = []

    def started(s: Any) -> bool:
        if s.channel(1).endswith(b"\n") and not pids:
            pids.append(int(s.channel(1)))
            asyncio.get_running_loop().create_task(delete())
        return False

    async def delete() -> None:
        async with ApiClient(client_configuration(cluster)) as api:
            core: Any = client.CoreV1Api(api)
            await core.delete_namespaced_pod("brief", NS, grace_period_seconds=0)

    got = await stream(cluster, exec_path("brief"),
                       exec_query(["sh", "-c", "echo $$; exec sleep 300"], stdout=True),
                       until=started)  # fmt: skip
    assert pids and not alive(pids[0])
    # SIGKILLed with its container: 128 + 9, as kubectl reports "exit code 137" then.
    assert json.loads(got.channel(3))["details"]["causes"][0]["message"] == "137"


# -- attach ------------------------------------------------------------------------------------


async def test_attach_to_a_process_container(cluster: LocalCluster) -> None:
    talker = container("t", "sh", "-c", "while true; do echo out; echo err >&2; sleep 0.2; done")
    echo = container("e", "cat", stdin=True)
    await running_pod(cluster, pod("attached", talker, echo))
    path = exec_path("attached", "attach")
    both = lambda s: b"out" in s.channel(1) and b"err" in s.channel(2)  # noqa: E731
    got = await stream(cluster, path, [("container", "t"), ("stdout", "1"), ("stderr", "1")],
                       until=both)  # fmt: skip
    assert got.status == 101
    got = await stream(cluster, path,
                       [("container", "e"), ("stdin", "true"), ("stdout", "true")],
                       send=[frame(0, b"typed\n")],
                       until=lambda s: s.channel(1) == b"typed\n")  # fmt: skip
    assert got.channel(1) == b"typed\n"  # through the container's own stdin and stdout


async def test_attach_in_the_stub_runtime_follows_the_log(local_cluster: LocalCluster) -> None:
    import aiohttp

    stub = container("web", "serve", ports=[{"containerPort": 8080}])
    ip = await running_pod(local_cluster, pod("web", stub))

    async def hit() -> None:
        await asyncio.sleep(0.5)
        async with aiohttp.ClientSession() as http, http.get(f"http://{ip}:8080/hello"):
            pass

    poke = asyncio.create_task(hit())
    got = await stream(local_cluster, exec_path("web", "attach"), [("stdout", "true")],
                       until=lambda s: b"/hello" in s.channel(1))  # fmt: skip
    await poke
    assert b'"GET /hello HTTP/1.1" 200' in got.channel(1)  # only what came after attaching
    assert b"started" not in got.channel(1)


# -- access control ----------------------------------------------------------------------------


async def grant(cluster: LocalCluster, name: str, verbs: list[str]) -> str:
    """A ServiceAccount allowed only `verbs` on pods/exec; its token."""
    rules = [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": verbs}]
    return await account_token(cluster, name, rules, NS)


async def test_websocket_exec_needs_get_and_spdy_needs_create(cluster: LocalCluster) -> None:
    """As kube-apiserver 1.32 authorizes them: the WebSocket GET as `get pods/exec`, a POST as
    `create` (the `create` check on WebSocket upgrades arrived in 1.35)."""
    import aiohttp

    q = exec_query(["sh", "-c", "echo hi"], stdout=True)
    getter = await grant(cluster, "getter", ["get"])
    got = await stream(cluster, exec_path("sleeper"), q, token=getter, protocols=(V5,))
    assert got.status == 101 and got.channel(1) == b"hi\n"
    creator = await grant(cluster, "creator", ["create"])
    got = await stream(cluster, exec_path("sleeper"), q, token=creator, protocols=(V5,))
    assert got.status == 403
    who = f"system:serviceaccount:{NS}:creator"
    assert json.loads(got.body) == status(
        f'pods "sleeper" is forbidden: User "{who}" cannot get resource "pods/exec" in API '
        f'group "" in the namespace "{NS}"', 403, "Forbidden",
        name="sleeper", kind="pods",
    )  # fmt: skip
    target = cluster.url + exec_path("sleeper") + "?command=true&stdout=true"
    async with aiohttp.ClientSession() as http:
        async with http.post(target, headers={"Authorization": f"Bearer {getter}"}) as r:
            assert r.status == 403
            assert 'cannot create resource "pods/exec"' in (await r.json())["message"]
        async with http.post(target, headers={"Authorization": f"Bearer {creator}"}) as r:
            assert r.status == 400  # allowed; then not an upgrade
            assert (await r.json())["message"] == "Upgrade request required"


def test_discovery_lists_the_connect_subresources(cluster: LocalCluster) -> None:
    config = kubernetes.client.Configuration()
    config.host = cluster.url
    config.api_key = {"authorization": f"Bearer {cluster.token}"}
    api = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(config))
    resources = {r.name: r for r in api.get_api_resources().resources}
    for sub, kind in (("attach", "PodAttachOptions"), ("exec", "PodExecOptions"),
                      ("portforward", "PodPortForwardOptions")):  # fmt: skip
        entry = resources[f"pods/{sub}"]
        assert (entry.kind, sorted(entry.verbs)) == (kind, ["create", "get"])
