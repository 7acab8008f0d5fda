"""`kubectl port-forward` (v1.32: SPDY/3.1 tunnelled in a WebSocket) against kubesim.

kubectl listens on a local port and, per connection, opens an error and a data stream in its
SPDY session; curl and plain sockets go through it to a pod's HTTP and echo servers. A port
nothing listens on gets the kubelet's error on the error stream, and kubectl gives up the whole
forward, as it does against a real cluster. A user with only `create pods/portforward` is
refused the WebSocket (a GET) and gets through on kubectl's fallback, a plain SPDY upgrade (a
POST); one with neither is refused.
"""

from __future__ import annotations

import asyncio
import http.client
import re
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from kubesim import LocalCluster
from tests.support.kube import account_token
from tests.support.kubectl import KUBECTL, Kubectl
from tests.support.streams import NS, container, pod, running_pod

CURL = shutil.which("curl")
pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine"),
    pytest.mark.skipif(sys.platform != "linux", reason="the process runtime needs Linux"),
]
BIG = 300 * 1024  # well over SPDY's initial 64 KiB window
# HTTP on 8080 (/ says hello, /big sends BIG bytes), an echo server on 1234.
SERVERS = textwrap.dedent(
    f"""
    import socket, sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    class Web(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"x" * {BIG} if self.path == "/big" else b"hello from the pod\\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    def echo(conn):
        while data := conn.recv(65536):
            conn.sendall(data)
        conn.close()
    def echoes():
        s = socket.create_server((sys.argv[1], 1234))
        while True:
            threading.Thread(target=echo, args=(s.accept()[0],), daemon=True).start()
    threading.Thread(target=echoes, daemon=True).start()
    ThreadingHTTPServer((sys.argv[1], 8080), Web).serve_forever()
    """
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    data = tmp_path_factory.mktemp("kubectl-portforward")
    with LocalCluster(runtime="process", allowed_commands=("python3",), data_dir=data) as c:
        probe = {"tcpSocket": {"port": 8080}, "periodSeconds": 1, "failureThreshold": 30}
        web = container("web", "python3", "-c", SERVERS, "0.0.0.0", readinessProbe=probe)
        asyncio.run(running_pod(c, pod("web", web)))
        yield c


@pytest.fixture(scope="module")
def kubectl(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(cluster, tmp_path_factory.mktemp("kubectl-portforward-home"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Forward:
    """`kubectl port-forward pod/web LOCAL:REMOTE...` running until the test ends."""

    def __init__(self, kubectl: Kubectl, *remotes: int, args: tuple[str, ...] = ()) -> None:
        self.remotes = remotes
        self.locals = [free_port() for _ in remotes]
        pairs = [f"{local}:{remote}" for local, remote in zip(self.locals, remotes, strict=True)]
        self.proc = kubectl.popen(*args, "port-forward", "--address", "127.0.0.1", "pod/web",
                                  *pairs)  # fmt: skip

    def wait_listening(self) -> None:
        assert self.proc.stdout is not None
        for local, remote in zip(self.locals, self.remotes, strict=True):
            line = self.proc.stdout.readline()  # once each listener is up
            assert line == f"Forwarding from 127.0.0.1:{local} -> {remote}\n"

    def stop(self) -> tuple[str, str]:
        if self.proc.poll() is None:
            self.proc.terminate()
        out, err = self.proc.communicate(timeout=10)
        return out, err


@pytest.fixture
def forward(kubectl: Kubectl) -> Iterator[Forward]:
    f = Forward(kubectl, 8080, 1234, 1)
    f.wait_listening()
    yield f
    f.stop()


def get(port: int, path: str = "/") -> bytes:
    """The body, read by its length: the connection's close comes a second after the pod's
    (containerd's linger), which nothing here waits for."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        assert response.status == 200
        return response.read()
    finally:
        connection.close()


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_curl_through_kubectl_port_forward(forward: Forward) -> None:
    assert CURL is not None
    done = subprocess.run([CURL, "-sS", f"http://127.0.0.1:{forward.locals[0]}/"],
                          capture_output=True, text=True, timeout=20)  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "hello from the pod\n", "")
    # again, on the same session (the next request id)
    done = subprocess.run([CURL, "-sS", f"http://127.0.0.1:{forward.locals[0]}/"],
                          capture_output=True, text=True, timeout=20)  # fmt: skip
    assert done.stdout == "hello from the pod\n"


def test_concurrent_connections_and_big_transfers(forward: Forward) -> None:
    web, echo = forward.locals[0], forward.locals[1]
    with ThreadPoolExecutor(4) as pool:
        pages = [pool.submit(get, web, "/big"), pool.submit(get, web, "/")]
        payload = bytes(range(256)) * (BIG // 256)
        echoed = pool.submit(echo_through, echo, payload)
        big, small = pages[0].result(timeout=20), pages[1].result(timeout=20)
        assert echoed.result(timeout=20) == payload  # > 64 KiB up and back down
    assert big == b"x" * BIG
    assert small == b"hello from the pod\n"


def echo_through(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(payload)
        reply = b""
        while len(reply) < len(payload) and (data := s.recv(65536)):
            reply += data
    return reply


def test_a_closed_port_reports_the_kubelet_error(forward: Forward) -> None:
    assert get(forward.locals[0]) == b"hello from the pod\n"
    with socket.create_connection(("127.0.0.1", forward.locals[2]), timeout=10) as s:
        assert s.recv(1024) == b""  # nothing listens on port 1 in the pod
    # kubectl 1.32 reports the error stream's text and ends the whole forward
    assert forward.proc.wait(timeout=10) == 1  # on its own
    _, err = forward.stop()
    sandbox = "[0-9a-f]{64}"
    assert re.fullmatch(
        r'E[0-9]{4} [0-9:.]+ +[0-9]+ portforward\.go:[0-9]+\] "Unhandled Error" err="an error '
        rf"occurred forwarding {forward.locals[2]} -> 1: error forwarding port 1 to pod "
        rf"{sandbox}, uid : failed to execute portforward in network namespace \\\"host\\\": "
        rf"failed to connect to localhost:1 inside namespace \\\"{sandbox}\\\", IPv4: dial "
        r"tcp4 [0-9.]+:1: connect: connection refused IPv6 dial tcp6: address localhost: no "
        r'suitable address found "\nerror: lost connection to pod\n',
        err,
    ), err


async def token_for(cluster: LocalCluster, name: str, verbs: list[str]) -> str:
    """A ServiceAccount that may get pods and do `verbs` on pods/portforward; its token."""
    rules: list[dict[str, Any]] = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
    if verbs:
        rules.append({"apiGroups": [""], "resources": ["pods/portforward"], "verbs": verbs})
    return await account_token(cluster, name, rules, NS)


def test_rbac(cluster: LocalCluster, kubectl: Kubectl) -> None:
    # `get pods/portforward` is what the WebSocket (a GET) needs
    getter = asyncio.run(token_for(cluster, "pf-getter", ["get"]))
    f = Forward(kubectl, 8080, args=("--token", getter))
    try:
        f.wait_listening()
        assert get(f.locals[0]) == b"hello from the pod\n"
    finally:
        f.stop()
    # Only `create`: the WebSocket (a GET) is refused, and kubectl falls back to a plain SPDY
    # upgrade (a POST), which `create` allows.
    creator = asyncio.run(token_for(cluster, "pf-creator", ["create"]))
    f = Forward(kubectl, 8080, args=("--token", creator))
    try:
        f.wait_listening()
        assert get(f.locals[0]) == b"hello from the pod\n"
        assert get(f.locals[0], "/big") == b"x" * BIG
    finally:
        f.stop()
    # Neither: the WebSocket is refused, then kubectl's SPDY fallback (a POST) too, whose
    # refusal kubectl reports.
    nobody = asyncio.run(token_for(cluster, "pf-nobody", []))
    f = Forward(kubectl, 8080, args=("--token", nobody))
    out, err = f.proc.communicate(timeout=30)
    assert (f.proc.returncode, out) == (1, "")
    assert err == (
        'error: error upgrading connection: pods "web" is forbidden: User '
        '"system:serviceaccount:default:pf-nobody" cannot create resource "pods/portforward" '
        'in API group "" in the namespace "default"\n'
    )
