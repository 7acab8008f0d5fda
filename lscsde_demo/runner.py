"""`lscsde-spawner demo`: the embedded cluster, the sample data and a real JupyterHub, together.

The cluster runs in this process; JupyterHub runs as a child process in its own session, so a
Ctrl-C at the terminal reaches only us. We then stop things in order: JupyterHub first (it stops
everyone's server through the cluster, which must still be up), then the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.client.api_client import ApiClient

from kubesim import LocalCluster
from kubesim.runtimes.podinit import die_with_parent
from kubesim.runtimes.process import ProcessRuntime
from lscsde_spawner.access import today_in

from .apply import apply_sample
from .sample import PASSWORD, USERS, WORKSPACES_PORT_ENV, sample
from .seed import seed_datasources

HOST = "127.0.0.1"
PROXY = "configurable-http-proxy"
REPO = Path(__file__).resolve().parents[2]  # a checkout, for an editable install's node_modules
CONFIG_FILE = Path(__file__).with_name("jupyterhub_config.py")  # runs hubconfig.configure
HUB_START_TIMEOUT = 120.0
HUB_STOP_TIMEOUT = 90.0  # the hub stops every running server before it exits
# Closing the terminal (SIGHUP) stops the demo as cleanly as Ctrl-C does.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class DemoError(Exception):
    """A problem the user can fix; shown as one message, without a traceback."""


@dataclass
class DemoOptions:
    port: int = 8000
    data_dir: Path = Path(".demo")
    runtime: str = "process"
    verbose: bool = False
    started: float | None = None  # time.monotonic() when the command started


def say(message: str) -> None:
    print(message, flush=True)


def check_port_free(port: int) -> None:
    with socket.socket() as s:
        # As the proxy will bind it: a port in TIME_WAIT after a previous run is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError as exc:
            raise DemoError(
                f"Port {port} on {HOST} is in use ({exc.strerror}). Stop whatever is using it "
                f"(another demo?), or pick another port: lscsde-spawner demo --port 8010"
            ) from None


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def tool_path() -> str:
    """PATH for the hub and the pods: this Python's scripts and the checkout's npm tools first."""
    dirs = [Path(sys.executable).parent, *(d / "node_modules" / ".bin" for d in (Path.cwd(), REPO))]
    found = [str(d) for d in dirs if d.is_dir()]
    return os.pathsep.join([*dict.fromkeys(found), os.environ.get("PATH", "")])


def hub_command(port: int, hub_port: int, proxy_api_port: int, cluster_url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "jupyterhub",
        "-f",
        str(CONFIG_FILE),
        f"--JupyterHub.bind_url=http://{HOST}:{port}/",
        f"--JupyterHub.hub_port={hub_port}",
        f"--ConfigurableHTTPProxy.api_url=http://{HOST}:{proxy_api_port}",
        f"--KubeSpawner.k8s_api_host={cluster_url}",
    ]


def hub_preexec() -> None:
    """Runs in the hub's process before exec: if we are killed without stopping it (kill -9),
    the kernel sends it SIGTERM, so no hub or proxy is left holding the port."""
    if sys.platform == "linux":
        die_with_parent()


def setup_logging(log_file: Path, verbose: bool) -> None:
    """Our own and the cluster's log lines go to a file; the terminal gets warnings only."""
    handlers: list[logging.Handler] = [logging.FileHandler(log_file, mode="w")]
    console = logging.StreamHandler()
    console.setLevel(logging.INFO if verbose else logging.WARNING)
    handlers.append(console)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(f"    {line}" for line in text[-lines:])


class Demo:
    def __init__(self, options: DemoOptions) -> None:
        self.options = options
        self.data_dir = options.data_dir.resolve()
        self.hub_dir = self.data_dir / "hub"
        self.hub_log = self.hub_dir / "jupyterhub.log"
        self.url = f"http://{HOST}:{options.port}"
        self.stopping = asyncio.Event()
        self.signals = 0
        self.hub: asyncio.subprocess.Process | None = None

    def _on_signal(self, sig: signal.Signals) -> None:
        self.signals += 1
        if self.signals == 1:
            say(f"\n{sig.name}: stopping (once more to stop at once)")
            self.stopping.set()
        elif self.hub is not None and self.hub.returncode is None:
            say(f"{sig.name} again: killing JupyterHub")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.hub.pid, signal.SIGKILL)

    async def run(self) -> int:
        opts = self.options
        started = opts.started if opts.started is not None else time.monotonic()
        check_port_free(opts.port)
        os.environ["PATH"] = tool_path()  # the pods' jupyterhub-singleuser comes from here too
        if shutil.which(PROXY) is None:
            raise DemoError(
                f"{PROXY} is not installed: run `make demo`, or "
                f"`npm install configurable-http-proxy` here"
            )
        self.hub_dir.mkdir(parents=True, exist_ok=True)
        setup_logging(self.data_dir / "demo.log", opts.verbose)
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._on_signal, sig)

        say(
            f"Starting the embedded Kubernetes cluster ({opts.runtime} runtime, state in "
            f"{self.data_dir / 'cluster'})"
        )
        cluster = LocalCluster(data_dir=self.data_dir / "cluster", runtime=opts.runtime)
        await cluster.start_here()
        try:
            say(f"  API at {cluster.url}; kubectl: export KUBECONFIG={cluster.kubeconfig}")
            await self._apply(cluster)
            if self.stopping.is_set():
                return 0
            return await self._run_hub(cluster, started)
        finally:
            say("Stopping the cluster")
            await cluster.stop_here()
            say(f"Stopped. Everyone's files are kept in {self.data_dir}; run again to carry on.")

    async def _apply(self, cluster: LocalCluster) -> None:
        config = Configuration()
        config.host = cluster.url
        config.api_key = {"BearerToken": f"Bearer {cluster.token}"}  # as the cluster's admin
        async with ApiClient(config) as api:
            today = today_in("UTC")  # the spawner's default time zone
            counts = await apply_sample(api, today)
            say(
                f"Applied the CRDs and the sample workspaces: {counts['created']} objects "
                f"created, {counts['updated']} updated"
            )
            runtime = cluster.kubelet.runtime if cluster.kubelet is not None else None
            if isinstance(runtime, ProcessRuntime):
                claims = sample(today).datasource_claims
                await seed_datasources(api, runtime.claims_dir, claims)

    async def _run_hub(self, cluster: LocalCluster, started: float) -> int:
        env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "PYTHONUNBUFFERED": "1",
               WORKSPACES_PORT_ENV: str(free_port())}  # fmt: skip
        env.pop("KUBERNETES_SERVICE_HOST", None)  # never the in-cluster config
        hub_port = free_port()
        command = hub_command(self.options.port, hub_port, free_port(), cluster.url)
        where = "this terminal" if self.options.verbose else str(self.hub_log)
        say(f"Starting JupyterHub at {self.url} (log: {where})")
        log = os.open(self.hub_log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            output = None if self.options.verbose else log
            self.hub = await asyncio.create_subprocess_exec(
                *command,
                cwd=self.hub_dir,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,  # Ctrl-C reaches us; we stop the hub in order
                preexec_fn=hub_preexec,
            )
        finally:
            os.close(log)  # the hub has its own copy
        try:
            if not await self._wait_ready(hub_port):
                return await self._hub_failed() if self.hub.returncode is not None else 0
            users = ", ".join(USERS[:-1]) + f" or {USERS[-1]}"
            say(
                f"Ready in {time.monotonic() - started:.1f} s: open {self.url} and log in as "
                f"{users} (password: {PASSWORD})"
            )
            say("Press Ctrl-C to stop.")
            waiter = asyncio.ensure_future(self.hub.wait())
            stopper = asyncio.ensure_future(self.stopping.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if self.hub.returncode is not None:
                return await self._hub_failed()
            return 0
        finally:
            await self._stop_hub()

    async def _wait_ready(self, hub_port: int) -> bool:
        """True once the hub answers through the proxy; False if it exited or we were told to
        stop first. The hub's own port first: the proxy answers 404 until the hub adds its route.
        """
        assert self.hub is not None
        deadline = time.monotonic() + HUB_START_TIMEOUT
        urls = [f"http://{HOST}:{hub_port}/hub/api", f"{self.url}/hub/api"]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            while urls and time.monotonic() < deadline:
                if self.hub.returncode is not None or self.stopping.is_set():
                    return False
                with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
                    async with http.get(urls[0]) as r:
                        if r.status == 200 and "version" in await r.json():
                            urls.pop(0)
                            continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), 0.2)
        if not urls:
            return True
        raise DemoError(
            f"JupyterHub did not answer at {self.url} within {HUB_START_TIMEOUT:.0f} s; "
            f"see {self.hub_log}"
        )

    async def _hub_failed(self) -> int:
        assert self.hub is not None
        say(f"JupyterHub exited with code {self.hub.returncode}. The end of {self.hub_log}:")
        say(log_tail(self.hub_log))
        return 1

    async def _stop_hub(self) -> None:
        hub = self.hub
        if hub is None or hub.returncode is not None:
            return
        say("Stopping JupyterHub and everyone's servers")
        with contextlib.suppress(ProcessLookupError):
            hub.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(hub.wait(), HUB_STOP_TIMEOUT)
        except TimeoutError:
            say(f"JupyterHub did not stop within {HUB_STOP_TIMEOUT:.0f} s: killing it")
        # The proxy is in the hub's session: take down anything left of it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(hub.pid, signal.SIGKILL)
        await hub.wait()


def main(options: DemoOptions) -> int:
    """Run the demo until Ctrl-C or SIGTERM; 0 after a clean stop, 1 on a problem."""
    try:
        return asyncio.run(Demo(options).run())
    except DemoError as exc:
        print(f"lscsde-spawner demo: {exc}", file=sys.stderr, flush=True)
        return 1


__all__ = ["Demo", "DemoError", "DemoOptions", "main"]
