"""kubectl exec and attach against kubesim (the real kubectl 1.32 binary).

kubectl speaks v5.channel.k8s.io over a WebSocket first and falls back to SPDY when the upgrade
is refused; kubesim serves the WebSocket and refuses SPDY for exec with a message that says so,
which is what a user allowed only `create pods/exec` meets. (`kubectl port-forward`:
test_kubectl_portforward.py.)
"""

from __future__ import annotations

import asyncio
import copy
import sys
import time
from collections.abc import Iterator

import pytest

from kubesim import LocalCluster
from tests.support.kube import account_token
from tests.support.kubectl import KUBECTL, Kubectl
from tests.support.streams import NS, container, pod, running_pod

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine"),
    pytest.mark.skipif(sys.platform != "linux", reason="the process runtime needs Linux"),
]
LOOP = "i=0; while true; do i=$((i+1)); echo line $i; echo oops $i >&2; sleep 0.2; done"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    data = tmp_path_factory.mktemp("kubectl-exec")
    with LocalCluster(runtime="process", allowed_commands=("sh", "cat"), data_dir=data) as c:
        asyncio.run(running_pod(c, pod("box", container("c", "sh", "-c", LOOP))))
        yield c


@pytest.fixture(scope="module")
def kubectl(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(cluster, tmp_path_factory.mktemp("kubectl-exec-home"))


def test_exec_streams_and_exit_codes(kubectl: Kubectl) -> None:
    done = kubectl.run("exec", "box", "--", "sh", "-c", "echo to-out; echo to-err >&2")
    assert (done.returncode, done.stdout, done.stderr) == (0, "to-out\n", "to-err\n")
    done = kubectl.run("exec", "box", "--", "sh", "-c", "exit 3")
    assert done.returncode == 3  # kubectl exits with the command's code
    assert done.stderr == "command terminated with exit code 3\n"


def test_exec_with_stdin(kubectl: Kubectl) -> None:
    done = kubectl.run("exec", "-i", "box", "--", "cat", stdin="through stdin\nand more\n")
    assert (done.returncode, done.stdout) == (0, "through stdin\nand more\n")


def test_exec_errors(kubectl: Kubectl) -> None:
    done = kubectl.run("exec", "box", "--", "nosuch")
    assert done.returncode == 1
    assert done.stderr.startswith(
        "error: Internal error occurred: Internal error occurred: error executing command in "
        "container: failed to exec in container: failed to start exec"
    )
    assert 'exec: "nosuch": not a command the process runtime runs' in done.stderr
    done = kubectl.run("exec", "box", "-c", "x", "--", "true")
    assert done.stderr == "Error from server (BadRequest): container x is not valid for pod box\n"
    done = kubectl.run("exec", "ghost", "--", "true")
    assert done.stderr == 'Error from server (NotFound): pods "ghost" not found\n'


def test_attach_shows_what_comes_next(kubectl: Kubectl) -> None:
    proc = kubectl.popen("attach", "box")
    time.sleep(1.5)
    proc.terminate()
    out, err = proc.communicate(timeout=10)
    lines = out.splitlines()
    assert lines and all(line.startswith("line ") for line in lines)
    assert int(lines[0].split()[1]) > 1  # not the container's history: what came after
    assert "oops" in err  # stderr on its own stream


async def token_for(cluster: LocalCluster, name: str, verbs: list[str]) -> str:
    """A ServiceAccount that may get pods and do `verbs` on pods/exec; its token."""
    rules = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": verbs},
    ]
    return await account_token(cluster, name, rules, NS)


def test_exec_as_users_with_get_or_create(cluster: LocalCluster, kubectl: Kubectl) -> None:
    getter = asyncio.run(token_for(cluster, "getter", ["get"]))
    done = kubectl.run("--token", getter, "exec", "box", "--", "sh", "-c", "echo allowed")
    assert (done.returncode, done.stdout) == (0, "allowed\n")
    # Only `create`: the WebSocket (a GET) is refused, and kubectl falls back to SPDY (a POST,
    # which `create` allows): remotecommand v4 over a plain SPDY upgrade.
    creator = asyncio.run(token_for(cluster, "creator", ["create"]))
    done = kubectl.run("--token", creator, "exec", "box", "--", "sh", "-c",
                       "echo to-out; echo to-err >&2")  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "to-out\n", "to-err\n")
    done = kubectl.run("--token", creator, "exec", "-i", "box", "--", "cat", stdin="in\n" * 3)
    assert (done.returncode, done.stdout) == (0, "in\n" * 3)
    done = kubectl.run("--token", creator, "exec", "box", "--", "sh", "-c", "exit 3")
    assert (done.returncode, done.stderr) == (3, "command terminated with exit code 3\n")
    done = kubectl.run("--token", creator, "exec", "box", "--", "nope")
    assert done.returncode == 1
    assert done.stderr.startswith("error: Internal error occurred: error executing command in ")
    spdy_only = copy.copy(kubectl)  # kubectl 1.32's switch back to SPDY for exec and attach
    spdy_only.env = {**kubectl.env, "KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"}
    proc = spdy_only.popen("attach", "box")
    time.sleep(1)
    proc.terminate()
    out, err = proc.communicate(timeout=10)
    assert out.startswith("line ") and "oops" in err
    done = kubectl.run("--token", creator, "exec", "box", "-c", "x", "--", "true")
    assert done.returncode == 1
    assert done.stderr == "Error from server (BadRequest): container x is not valid for pod box\n"
