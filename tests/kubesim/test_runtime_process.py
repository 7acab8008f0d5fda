"""The process runtime: pods whose containers run as local processes, over the real REST API."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
import pytest_asyncio
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import kube_config

from kubesim import LocalCluster
from kubesim.runtimes.podinit import descendants
from kubesim.runtimes.process import ProcessRuntime
from kubesim.testing import client_configuration

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the process runtime needs Linux")

T = TypeVar("T")
NS = "default"
PYTHON = os.path.basename(sys.executable)
# A tiny server: listens where $SERVICE_URL says (0.0.0.0 there becomes the pod IP), answers
# with what it sees of its environment and files, and prints a line for the logs.
SERVER = textwrap.dedent(
    """
    import http.server, json, os, sys, urllib.parse
    url = urllib.parse.urlsplit(os.environ["SERVICE_URL"])
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"env": dict(os.environ), "cwd": os.getcwd(), "uid": os.getuid(),
                               "argv": sys.argv}).encode()
            self.send_response(200); self.end_headers(); self.wfile.write(body)
        def log_message(self, *a): pass
    print("serving on", url.hostname, url.port, flush=True)
    http.server.HTTPServer((url.hostname, url.port), H).serve_forever()
    """
)


async def until(check: Callable[[], Awaitable[T | None]], within: float = 15.0) -> T:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {within}s; last value {value!r}")
        await asyncio.sleep(0.05)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    commands = (PYTHON, "sh")
    with LocalCluster(
        data_dir=tmp_path / "cluster", runtime="process", allowed_commands=commands
    ) as c:
        yield c


@pytest_asyncio.fixture
async def core(cluster: LocalCluster) -> AsyncIterator[client.CoreV1Api]:
    async with ApiClient(client_configuration(cluster)) as api:
        yield client.CoreV1Api(api)


def runtime_of(cluster: LocalCluster) -> ProcessRuntime:
    assert cluster.kubelet is not None and isinstance(cluster.kubelet.runtime, ProcessRuntime)
    return cluster.kubelet.runtime


def alive(pid: int) -> bool:
    """Whether pid runs (a zombie waiting for its parent to reap it does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def pod_body(name: str, command: list[str], **extra: Any) -> Any:
    """A pod body as a plain dict (Any: the client sends dicts as they are, but its stubs ask for
    a V1Pod)."""
    container: dict[str, Any] = {
        "name": "main",
        "image": "quay.io/jupyter/base-notebook:latest",
        "command": command,
        "ports": [{"containerPort": 8888, "name": "notebook-port"}],
        **extra.pop("container", {}),
    }
    return {"metadata": {"name": name}, "spec": {"containers": [container], **extra}}


async def phase(core: client.CoreV1Api, name: str, wanted: str) -> client.V1Pod:
    async def check() -> client.V1Pod | None:
        pod = await core.read_namespaced_pod(name, NS)
        return pod if pod.status.phase == wanted else None

    return await until(check)


async def get_json(url: str, within: float = 15.0) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        try:
            async with aiohttp.ClientSession() as s, s.get(url) as r:
                return dict(await r.json(content_type=None))
        except aiohttp.ClientConnectionError:
            return None

    return await until(check, within)


async def claim(core: client.CoreV1Api, name: str) -> None:
    body: Any = {  # a plain dict: the client sends it as it is, whatever its stubs ask for
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    await core.create_namespaced_persistent_volume_claim(NS, body)


async def test_runs_the_command_with_the_pods_env_on_the_pod_ip(
    cluster: LocalCluster, core: client.CoreV1Api
) -> None:
    env = [
        {"name": "SERVICE_URL", "value": "http://0.0.0.0:8888/user/alice/"},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "GREETING", "value": "hello $(POD_NAME)"},
    ]
    body = pod_body("server", [PYTHON, "-c", SERVER, "--ip=0.0.0.0"], container={"env": env})
    await core.create_namespaced_pod(NS, body)
    pod = await phase(core, "server", "Running")
    ip = pod.status.pod_ip
    seen = await get_json(f"http://{ip}:8888/")
    assert seen["env"]["SERVICE_URL"] == f"http://{ip}:8888/user/alice/"
    assert seen["env"]["GREETING"] == "hello server"
    assert seen["argv"][-1] == f"--ip={ip}"
    # The hub's environment does not leak into the container.
    assert "KUBECONFIG" not in seen["env"] and "PYTEST_CURRENT_TEST" not in seen["env"]
    root = runtime_of(cluster).state_dir / "pods" / NS / f"server-{pod.metadata.uid}" / "main"
    assert seen["cwd"] == str(root / "root" / "home" / "jovyan")
    assert seen["env"]["HOME"] == seen["cwd"]
    # Nothing else listens there: 0.0.0.0 would have taken the port on every pod IP.
    logs = await core.read_namespaced_pod_log("server", NS)
    assert f"serving on {ip} 8888" in logs


async def test_volumes_appear_at_their_mount_paths_and_read_only_is_enforced(
    cluster: LocalCluster, core: client.CoreV1Api
) -> None:
    await claim(core, "workspace-one")
    await claim(core, "datasource-two")
    script = textwrap.dedent(
        """
        import os
        with open("/home/jovyan/one/shared.txt".lstrip("/"), "w") as f:
            f.write("from the pod")
        try:
            open("data/two/new.txt", "w").write("x")
            print("data write: allowed", flush=True)
        except OSError as e:
            print("data write:", e.strerror, flush=True)
        print("data read:", open("data/two/given.txt").read(), flush=True)
        """
    )
    volumes = [
        {"name": "ws", "persistentVolumeClaim": {"claimName": "workspace-one"}},
        {"name": "ds", "persistentVolumeClaim": {"claimName": "datasource-two", "readOnly": True}},
    ]
    mounts = [
        {"name": "ws", "mountPath": "/home/jovyan/one"},
        {"name": "ds", "mountPath": "/data/two", "readOnly": True},
    ]
    pvc = await core.read_namespaced_persistent_volume_claim("datasource-two", NS)
    data_dir = runtime_of(cluster).claims_dir / pvc.spec.volume_name
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "given.txt").write_text("approved data")
    body = pod_body(
        "writer",
        [PYTHON, "-c", script],
        container={"volumeMounts": mounts, "workingDir": "/"},
        volumes=volumes,
        restartPolicy="Never",
    )
    await core.create_namespaced_pod(NS, body)
    await phase(core, "writer", "Succeeded")
    ws = await core.read_namespaced_persistent_volume_claim("workspace-one", NS)
    shared = runtime_of(cluster).claims_dir / ws.spec.volume_name / "shared.txt"
    assert shared.read_text() == "from the pod"
    logs = await core.read_namespaced_pod_log("writer", NS)
    assert "data read: approved data" in logs
    if runtime_of(cluster).isolation != "namespace":
        pytest.skip("no mount namespace on this platform: read-only is not enforced")
    assert "data write: Read-only file system" in logs
    assert not (data_dir / "new.txt").exists()


async def test_exit_code_shows_in_the_pod_status(core: client.CoreV1Api) -> None:
    body = pod_body(
        "fails", [PYTHON, "-c", "print('bye'); raise SystemExit(3)"], restartPolicy="Never"
    )
    await core.create_namespaced_pod(NS, body)
    pod = await phase(core, "fails", "Failed")
    term = pod.status.container_statuses[0].state.terminated
    assert (term.exit_code, term.reason) == (3, "Error")
    assert "bye" in await core.read_namespaced_pod_log("fails", NS)


async def test_deleting_the_pod_stops_the_process_and_its_children(
    cluster: LocalCluster, core: client.CoreV1Api
) -> None:
    # The child starts its own session and ignores SIGTERM, as a stubborn kernel might.
    script = textwrap.dedent(
        """
        import signal, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"],
            start_new_session=True)
        print("child", child.pid, flush=True)
        time.sleep(600)
        """
    )
    await core.create_namespaced_pod(NS, pod_body("parent", [PYTHON, "-c", script]))
    await phase(core, "parent", "Running")

    async def child_pid() -> int | None:
        logs = await core.read_namespaced_pod_log("parent", NS)
        words = logs.split()
        return int(words[1]) if len(words) > 1 and words[0] == "child" else None

    pid = await until(child_pid)
    runtime = runtime_of(cluster)
    process = next(iter(runtime._pods.values())).containers["main"].process
    assert process is not None
    podinit_pid = process.pid
    assert pid in descendants(podinit_pid)
    await core.delete_namespaced_pod("parent", NS, grace_period_seconds=1)

    async def gone() -> bool:
        try:
            await core.read_namespaced_pod("parent", NS)
            return False
        except client.ApiException as e:
            return e.status == 404

    await until(gone)
    assert not alive(pid) and not alive(podinit_pid)


async def test_runs_as_run_as_user_with_fs_group(
    cluster: LocalCluster, core: client.CoreV1Api
) -> None:
    if runtime_of(cluster).isolation != "namespace":
        pytest.skip("no user namespace: the runtime could only switch user as root")
    await claim(core, "home")
    script = "import os; print('ids', os.getuid(), os.getgid(), flush=True); open('x/f', 'w')"
    body = pod_body(
        "user",
        [PYTHON, "-c", script],
        container={"volumeMounts": [{"name": "h", "mountPath": "/home/jovyan/x"}]},
        volumes=[{"name": "h", "persistentVolumeClaim": {"claimName": "home"}}],
        securityContext={"runAsUser": 1000, "runAsGroup": 100, "fsGroup": 100},
        restartPolicy="Never",
    )
    await core.create_namespaced_pod(NS, body)
    await phase(core, "user", "Succeeded")
    assert "ids 1000 100" in await core.read_namespaced_pod_log("user", NS)


async def test_commands_outside_the_allow_list_do_not_run(core: client.CoreV1Api) -> None:
    await core.create_namespaced_pod(
        NS, pod_body("bad", ["bash", "-c", "touch /tmp/pwned"], restartPolicy="Never")
    )

    async def refused() -> client.V1ContainerStatus | None:
        pod = await core.read_namespaced_pod("bad", NS)
        statuses = pod.status.container_statuses or []
        term = statuses[0].state.terminated if statuses else None
        return statuses[0] if term is not None else None

    status = await until(refused)
    term = status.state.terminated
    assert (term.exit_code, term.reason) == (128, "StartError")
    assert "not a command the process runtime runs" in term.message
    events = await core.list_namespaced_event(NS, field_selector="involvedObject.name=bad")
    assert any(e.reason == "Failed" and "allowed" in e.message for e in events.items)


async def test_a_missing_secret_is_a_config_error(core: client.CoreV1Api) -> None:
    env = [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}]
    await core.create_namespaced_pod(
        NS, pod_body("cfg", [PYTHON, "-c", "pass"], container={"env": env})
    )

    async def waiting() -> client.V1ContainerStateWaiting | None:
        pod = await core.read_namespaced_pod("cfg", NS)
        statuses = pod.status.container_statuses or []
        return (
            statuses[0].state.waiting
            if statuses
            and statuses[0].state.waiting
            and statuses[0].state.waiting.reason != "ContainerCreating"
            else None
        )

    state = await until(waiting)
    assert state.reason == "CreateContainerConfigError"
    assert 'secret "nope" not found' in state.message


async def test_without_namespaces_mounts_are_links(tmp_path: Path) -> None:
    data = tmp_path / "cluster"
    with LocalCluster(
        data_dir=data, runtime="process", allowed_commands=(PYTHON,), isolation="links"
    ) as cluster:
        async with ApiClient(client_configuration(cluster)) as api:
            core = client.CoreV1Api(api)
            await claim(core, "ws")
            script = "import os; open('ws/f.txt', 'w').write('linked'); print(os.readlink('ws'))"
            body = pod_body(
                "linked",
                [PYTHON, "-c", script],
                container={"volumeMounts": [{"name": "v", "mountPath": "/home/jovyan/ws"}]},
                volumes=[{"name": "v", "persistentVolumeClaim": {"claimName": "ws"}}],
                restartPolicy="Never",
            )
            await core.create_namespaced_pod(NS, body)
            await phase(core, "linked", "Succeeded")
            pvc = await core.read_namespaced_persistent_volume_claim("ws", NS)
            volume = runtime_of(cluster).claims_dir / pvc.spec.volume_name
            assert (volume / "f.txt").read_text() == "linked"
            assert str(volume) in await core.read_namespaced_pod_log("linked", NS)


async def test_pods_stop_when_the_cluster_process_is_killed(tmp_path: Path) -> None:
    """kill -9 of the cluster's process leaves no server running (podinit's parent-death signal)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kubesim.cli", "--runtime", "process",
        "--allow-command", PYTHON, "--data-dir", str(tmp_path / "c"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        url = line.decode().rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://"), line
        # As any client of the command: its kubeconfig (HTTPS, the admin's token).
        config = client.Configuration()
        kubeconfig = str(tmp_path / "c" / "kubeconfig")
        await kube_config.load_kube_config(config_file=kubeconfig, client_configuration=config)
        async with ApiClient(config) as api:
            core = client.CoreV1Api(api)
            script = "import os, time; print('pid', os.getpid(), flush=True); time.sleep(600)"
            await core.create_namespaced_pod(NS, pod_body("orphan", [PYTHON, "-c", script]))

            async def pid() -> int | None:
                try:
                    words = (await core.read_namespaced_pod_log("orphan", NS)).split()
                except client.ApiException:  # 400 until the container has started
                    return None
                return int(words[1]) if len(words) > 1 else None

            server = await until(pid)
        assert alive(server)
        proc.kill()
        await proc.wait()

        async def dead() -> bool:
            return not alive(server)

        await until(dead, 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
