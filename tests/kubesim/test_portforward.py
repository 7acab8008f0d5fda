"""pods/portforward over WebSockets: the official client's `portforward`, raw streams, refusals.

Each port gets a data and an error channel, each opened by a frame with the port; a port nothing
listens on fails on its error channel in the container runtime's words, and the stream ends once
every port's connection has. The process runtime's servers listen on the pod IP; the stub's
containers answer HTTP on their ports; the nginx image's stand-in serves its welcome page.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import select
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
from kubernetes.stream import portforward
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from kubesim import LocalCluster
from kubesim.testing import client_configuration
from tests.support.streams import (
    NS,
    can_bind_low_ports,
    container,
    exec_path,
    frame,
    pod,
    running_pod,
    stream,
    wait_for,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the process runtime needs Linux")

PYTHON = "python3"
# Echoes whatever it reads, on each port given, on the pod IP (0.0.0.0 becomes it).
ECHO = textwrap.dedent(
    """
    import socket, sys, threading
    def serve(port):
        s = socket.create_server((sys.argv[1], port))
        while True:
            conn, _ = s.accept()
            threading.Thread(target=echo, args=(conn,), daemon=True).start()
    def echo(conn):
        while data := conn.recv(4096):
            conn.sendall(data)
        conn.close()
    for port in sys.argv[2:]:
        threading.Thread(target=serve, args=(int(port),), daemon=True).start()
    threading.Event().wait()
    """
)
# Answers each connection with one line and closes it: the pod ends the connection.
ONCE = (
    "import socket,sys\n"
    "s = socket.create_server((sys.argv[1], 7000))\n"
    "while True:\n"
    "    c, _ = s.accept(); c.sendall(b'bye\\n'); c.close()\n"
)
SANDBOX = r"[0-9a-f]{64}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    data = tmp_path_factory.mktemp("portforward-cluster")
    with LocalCluster(runtime="process", allowed_commands=(PYTHON, "sh"), data_dir=data) as c:

        async def setup() -> None:
            probe = {"tcpSocket": {"port": 1235}, "periodSeconds": 1, "failureThreshold": 30}
            echo = container("echo", PYTHON, "-c", ECHO, "0.0.0.0", "1234", "1235",
                             readinessProbe=probe)  # fmt: skip
            await running_pod(c, pod("echo", echo))
            ready = {"tcpSocket": {"port": 7000}, "periodSeconds": 1}
            once = container("once", PYTHON, "-c", ONCE, "0.0.0.0", readinessProbe=ready)
            await running_pod(c, pod("once", once))

        asyncio.run(setup())
        yield c


def api_of(cluster: LocalCluster) -> kubernetes.client.CoreV1Api:
    config = kubernetes.client.Configuration()
    config.host = cluster.url
    config.api_key = {"authorization": f"Bearer {cluster.token}"}
    return kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(config))


def echo_through(sock: Any, payload: bytes) -> bytes:
    sock.setblocking(True)
    sock.sendall(payload)
    reply = b""
    deadline = time.time() + 10
    while reply != payload and time.time() < deadline:
        ready, _, _ = select.select([sock], [], [], 1)
        if ready:
            data = sock.recv(4096)
            assert data, "the forwarded connection closed"
            reply += data
    return reply


def test_the_official_clients_port_forward(cluster: LocalCluster) -> None:
    api = api_of(cluster)
    pf = portforward(api.connect_get_namespaced_pod_portforward, "echo", NS,
                     ports="1234,1235,1236")  # fmt: skip
    assert pf.connected
    one, two = pf.socket(1234), pf.socket(1235)
    assert echo_through(one, b"to 1234") == b"to 1234"
    assert echo_through(two, b"to 1235") == b"to 1235"
    # Nothing listens on 1236: its connection ends, its error channel says why.
    closed = pf.socket(1236)
    closed.setblocking(True)
    assert closed.recv(1024) == b""
    error = pf.error(1236)
    assert error is not None
    assert re.fullmatch(
        f"error forwarding port 1236 to pod {SANDBOX}, uid : failed to execute portforward in "
        f'network namespace "host": failed to connect to localhost:1236 inside namespace '
        rf'"{SANDBOX}", IPv4: dial tcp4 127\.[0-9.]+:1236: connect: connection refused IPv6 '
        "dial tcp6: address localhost: no suitable address found ",
        error,
    ), error
    assert echo_through(one, b"again") == b"again"
    for sock in (one, two, closed):
        sock.close()
    deadline = time.time() + 5
    while pf.connected and time.time() < deadline:
        time.sleep(0.05)
    assert not pf.connected  # the client closed the stream once every socket was closed
    assert pf.error(1234) is None and pf.error(1235) is None


async def test_the_stream_ends_when_the_pods_side_does(cluster: LocalCluster) -> None:
    got = await stream(cluster, exec_path("once", "portforward"), [("ports", "7000")])
    assert got.status == 101 and got.protocol == "v4.channel.k8s.io"
    port = (7000).to_bytes(2, "little")
    assert got.frames[:2] == [(0, port), (1, port)]  # each channel opens with its port
    assert got.channel(0) == port + b"bye\n"
    assert got.channel(1) == port  # no error
    assert got.close_code == 1000


async def test_base64_port_forward_and_two_ports(cluster: LocalCluster) -> None:
    protocol = "v4.base64.channel.k8s.io"
    got = await stream(
        cluster, exec_path("echo", "portforward"), [("ports", "1234"), ("ports", "1235")],
        protocols=(protocol,), send=[frame(0, b"a", protocol), frame(2, b"b", protocol)],
        until=lambda s: s.channel(0).endswith(b"a") and s.channel(2).endswith(b"b"),
    )  # fmt: skip
    assert got.protocol == protocol
    assert got.channel(0) == (1234).to_bytes(2, "little") + b"a"
    assert got.channel(2) == (1235).to_bytes(2, "little") + b"b"


@pytest.mark.parametrize(
    ("query", "code", "body"),
    [
        ([("ports", "http")], 400,
         'cannot convert to []int32: strconv.ParseUint: parsing "http": invalid syntax'),
        ([("ports", "70000")], 400,
         'cannot convert to []int32: strconv.ParseUint: parsing "70000": value out of range'),
        ([], 400, 'query parameter "port" is required'),  # the kubelet's, in plain text
        ([("ports", "0")], 400, 'port "0" must be > 0'),
    ],
)  # fmt: skip
async def test_refused_ports(
    cluster: LocalCluster, query: list[tuple[str, str]], code: int, body: str
) -> None:
    got = await stream(cluster, exec_path("echo", "portforward"), query)
    assert got.status == code
    if got.body.startswith("{"):
        assert json.loads(got.body)["message"] == body
    else:
        assert got.body == body


async def test_a_pod_that_is_not_running(cluster: LocalCluster) -> None:
    async with ApiClient(client_configuration(cluster)) as api:
        core: Any = client.CoreV1Api(api)
        done = pod("gone", container("c", "sh", "-c", "exit 0"), restartPolicy="Never")
        await core.create_namespaced_pod(NS, done)

        async def succeeded() -> bool:
            return bool((await core.read_namespaced_pod("gone", NS)).status.phase == "Succeeded")

        await wait_for(succeeded)
    got = await stream(cluster, exec_path("gone", "portforward"), [("ports", "80")])
    assert (got.status, got.body) == (500, f'pod not found ("gone_{NS}")')


async def test_stub_containers_answer_through_port_forward(local_cluster: LocalCluster) -> None:
    stub = container("web", "serve", ports=[{"containerPort": 8080}])
    await running_pod(local_cluster, pod("web", stub))
    request = b"GET /via-forward HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    got = await stream(local_cluster, exec_path("web", "portforward"), [("ports", "8080")],
                       send=[frame(0, request)])  # fmt: skip
    reply = got.channel(0)[2:]
    assert reply.startswith(b"HTTP/1.1 200 OK")
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["path"] == "/via-forward"


@pytest.mark.skipif(not can_bind_low_ports(), reason="nginx's port 80 needs root here")
def test_the_nginx_image_serves_its_welcome_page(cluster: LocalCluster) -> None:
    asyncio.run(running_pod(cluster, pod("nginx", {"name": "nginx", "image": "nginx"})))
    api = api_of(cluster)
    pf = portforward(api.connect_get_namespaced_pod_portforward, "nginx", NS, ports="80")
    sock = pf.socket(80)
    connection = http.client.HTTPConnection("nginx.default.kubernetes")
    connection.sock = sock
    connection.request("GET", "/")
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Server", "").startswith("nginx/")
    assert "<h1>Welcome to nginx!</h1>" in response.read().decode()
    sock.close()
