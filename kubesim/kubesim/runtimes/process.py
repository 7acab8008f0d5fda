"""A container runtime that runs each container's command as a local process.

Used by the demo, so that a real `jupyterhub-singleuser` serves JupyterLab for each pod:

- the command (`command` + `args`, `$(VAR)` expanded) runs with the pod's environment, where the
  any-address `0.0.0.0` is rewritten into the pod's IP, so each server listens on its own IP;
- each container has a root directory, `STATE/pods/NS/POD-UID/CONTAINER/root`; its
  `workingDir` (default `home`, /home/jovyan) and each volume mountPath are paths inside it, and
  `HOME` is `root/home/jovyan`;
- a PersistentVolumeClaim is the directory `STATE/volumes/<volumeName>` (`pvc-<uid>`), kept when
  the claim is deleted (as with reclaimPolicy Retain);
- `podinit.py` is each container's first process: it bind-mounts the volumes in a private mount
  namespace where the platform allows it (read-only mounts are then enforced by the kernel), or
  links them otherwise; it runs the command as runAsUser/runAsGroup/fsGroup when we are root;
- only allow-listed commands run (default `jupyterhub-singleuser`): the embedded API has no
  authentication, and a pod must not become a way to run any program on the host;
- deleting the pod sends SIGTERM, then after the grace period SIGKILL to the process and every
  descendant (podinit is a child subreaper, so none escapes by daemonising).

Output goes to `kubectl logs` and to attached clients (attach.py); an exit is reported to the
kubelet with its exit code. `exec` starts an allow-listed command inside a running container
(exec.py, podexec.py), with the container's environment, working directory, user and mounts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubesim.runtimes import exec as execs
from kubesim.runtimes import podinit
from kubesim.runtimes.attach import ContainerAttach, LineSplitter, OutputFanout
from kubesim.runtimes.base import (
    Container,
    ContainerResult,
    ExecStartError,
    Pod,
    RuntimeBase,
    StreamedProcess,
    exec_start_error,
)
from kubesim.runtimes.container_spec import (
    ContainerConfigError,
    Lookup,
    VolumeDirs,
    container_argv,
    container_env,
    container_mounts,
)
from kubesim.runtimes.images import default_process, image_user

log = logging.getLogger(__name__)

PODINIT = Path(podinit.__file__)
DEFAULT_COMMANDS = ("jupyterhub-singleuser",)
ISOLATIONS = ("auto", "namespace", "links")
PASSED_THROUGH = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")  # of the host's environment


@functools.cache
def namespace_isolation_works() -> bool:
    """Whether this platform gives us a private mount namespace with read-only bind mounts."""
    if sys.platform != "linux":
        return False
    probe = subprocess.run(
        [sys.executable, "-I", str(PODINIT), "--probe"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return probe.returncode == 0


@dataclass(kw_only=True)
class _Container(Container):
    process: asyncio.subprocess.Process | None = None
    watcher: asyncio.Task[None] | None = None  # reads its output until it exits
    target: execs.ExecTarget | None = None  # how to exec into it, once started
    stdin_once: bool = False
    fanout: OutputFanout = field(default_factory=OutputFanout)  # its attached clients
    sessions: set[execs.ProcessSession] = field(default_factory=set)  # execs running in it


@dataclass(frozen=True)
class _Identity:
    uid: int | None
    gid: int | None
    groups: list[int]


class ProcessRuntime(RuntimeBase[_Container]):
    """Runs allow-listed container commands as local processes bound to their pod IPs."""

    def __init__(
        self,
        state_dir: str | os.PathLike[str] | None,
        lookup: Lookup,
        *,
        allowed_commands: Iterable[str] = DEFAULT_COMMANDS,
        isolation: str = "auto",
        home: str = "/home/jovyan",
        node_name: str = "local-node",
    ) -> None:
        super().__init__()
        if isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of {', '.join(ISOLATIONS)}")
        self._tmp = None if state_dir else tempfile.TemporaryDirectory(prefix="lscsde-pods-")
        self.state_dir = Path(self._tmp.name if self._tmp else state_dir or "").resolve()
        self.lookup = lookup
        self.allowed_commands = tuple(allowed_commands)
        self.home = home
        self.node_name = node_name
        if isolation == "auto":
            isolation = "namespace" if namespace_isolation_works() else "links"
            if isolation == "links":
                log.warning(
                    "process runtime: no mount namespace here; volumes are linked and read-only "
                    "mounts are not enforced"
                )
        self.isolation = isolation
        bin_dir = os.path.dirname(sys.executable)  # the environment the hub itself runs in
        self.path = os.pathsep.join([bin_dir, os.environ.get("PATH", os.defpath)])

    @property
    def claims_dir(self) -> Path:
        return self.state_dir / "volumes"

    def _directory(self, sp: Pod[_Container]) -> Path:
        """The pod's own files: its containers' root directories (volumes live elsewhere)."""
        return self.state_dir / "pods" / sp.namespace / f"{sp.name}-{sp.uid}"

    # -- starting ------------------------------------------------------------------------------

    async def start_pod(self, pod: dict[str, Any], pod_ip: str) -> dict[str, ContainerResult]:
        sp = await self._new_pod(pod)
        spec = pod.get("spec") or {}
        results: dict[str, ContainerResult] = {}
        for c in spec.get("initContainers") or []:
            result = await self._run(sp, pod, c, pod_ip)
            container = sp.containers[c["name"]]
            if result.state == "running" and container.watcher is not None:
                await asyncio.shield(container.watcher)
                code = container.process.returncode if container.process else 1
                result = ContainerResult.terminated(code or 0, result.container_id)
            results[c["name"]] = result
            if result.state != "terminated" or result.exit_code != 0:
                return results  # the containers wait for the init containers
        for c in spec.get("containers") or []:
            results[c["name"]] = await self._run(sp, pod, c, pod_ip)
        return results

    async def _run(
        self, sp: Pod[_Container], pod: dict[str, Any], c: dict[str, Any], pod_ip: str
    ) -> ContainerResult:
        container = sp.add(_Container(name=c["name"]))
        container.container_id = f"process://{secrets.token_hex(32)}"
        try:
            init_spec = self._init_spec(sp, pod, c, pod_ip)
        except ContainerConfigError as e:
            container.log.close()
            return ContainerResult.waiting("CreateContainerConfigError", str(e))
        except _StartError as e:
            container.log.write(str(e))
            container.log.close()
            return ContainerResult.terminated(128, container.container_id, "StartError", str(e))
        # Through a pipe, not a file: the environment holds the server's API token. Not on
        # stdin, which is the container's own (`stdin: true`, for attach).
        spec_r, spec_w = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-I",  # isolated: the script's directory holds modules that shadow the stdlib's
                str(PODINIT),
                "--spec-fd",
                str(spec_r),
                pass_fds=(spec_r,),
                stdin=asyncio.subprocess.PIPE if c.get("stdin") else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # out of the hub's terminal: Ctrl-C is the kubelet's
                cwd=init_spec["root"],
                env={"PATH": self.path},
            )
        finally:
            os.close(spec_r)
        try:
            await asyncio.to_thread(execs.write_all, spec_w, json.dumps(init_spec).encode())
        finally:
            os.close(spec_w)
        container.process = process
        container.stdin_once = bool(c.get("stdinOnce"))
        container.target = execs.ExecTarget(
            env=init_spec["env"],
            cwd=init_spec["cwd"],
            path=self.path,
            ns_pid=process.pid if init_spec["userNamespace"] else None,
            uid=init_spec["uid"],
            gid=init_spec["gid"],
            groups=init_spec["groups"],
            switch=os.geteuid() == 0 and not init_spec["userNamespace"],
        )
        container.watcher = asyncio.create_task(self._watch(sp, container, process))
        if init_spec["readyPort"]:
            await _listening(pod_ip, init_spec["readyPort"], container.watcher)
        return ContainerResult.running(container.container_id)

    def _init_spec(
        self, sp: Pod[_Container], pod: dict[str, Any], c: dict[str, Any], pod_ip: str
    ) -> dict[str, Any]:
        env = container_env(pod, c, pod_ip, self.node_name, self.lookup)
        argv = container_argv(c, env, pod_ip)
        standin = default_process(str(c.get("image") or ""), pod_ip) if not argv else None
        if not argv:  # the image's own default process, played by a stand-in if known
            if standin is None:
                raise _StartError(
                    "the process runtime needs an explicit command or args: the image's "
                    "entrypoint is not known here"
                )
            argv = standin.argv
        else:
            argv[0] = self._executable(argv[0])
        who = self._identity(pod, c)
        directory = self._directory(sp)
        root = directory / c["name"] / "root"
        dirs = VolumeDirs(self.claims_dir, directory)
        mounts = container_mounts(pod, c, dirs, self.lookup)
        home = root / self.home.lstrip("/")
        cwd = root / str(c.get("workingDir") or self.home).lstrip("/")
        tmp = root / "tmp"
        for d in (root, home, cwd, tmp):
            d.mkdir(parents=True, exist_ok=True)
        tmp.chmod(0o1777)
        # In a user namespace the container's user is us, seen as runAsUser; otherwise root
        # switches to runAsUser, who needs its directories, and fsGroup on writable volumes.
        # A stand-in runs as we do, without namespaces: it may need a port below 1024.
        isolation = "links" if standin else self.isolation
        user_namespace = isolation == "namespace"
        if not user_namespace and os.geteuid() == 0:
            if who.uid is not None:
                for d in {home, cwd}:
                    os.chown(d, who.uid, who.gid if who.gid is not None else -1)
            fs_group = ((pod.get("spec") or {}).get("securityContext") or {}).get("fsGroup")
            for m in mounts:
                if fs_group is not None and not m.read_only and m.source.is_dir():
                    _apply_fs_group(m.source, int(fs_group))
        full_env = {
            **{k: os.environ[k] for k in PASSED_THROUGH if k in os.environ},
            "HOME": str(home),
            "TMPDIR": str(tmp),
            **env,
            "PATH": self.path,  # the host's programs are the image's here
        }
        return {
            "isolation": isolation,
            "userNamespace": user_namespace,
            "root": str(root),
            "mounts": [m.as_json() for m in mounts],
            "argv": argv,
            "env": full_env,
            "cwd": str(cwd),
            "uid": who.uid if who.uid is not None else 0,
            "gid": who.gid if who.gid is not None else 0,
            "groups": who.groups,
            "parentPid": os.getpid(),
            "stdin": bool(c.get("stdin")),
            "readyPort": standin.port if standin else None,  # for us, not podinit
        }

    def _executable(self, command: str) -> str:
        name = os.path.basename(command)
        if name not in self.allowed_commands:
            allowed = ", ".join(self.allowed_commands) or "none"
            raise _StartError(
                f'exec: "{command}": not a command the process runtime runs (allowed: {allowed})'
            )
        found = shutil.which(name, path=self.path)
        if found is None:
            raise _StartError(f'exec: "{command}": executable file not found in $PATH')
        if "/" in command and os.path.realpath(command) != os.path.realpath(found):
            raise _StartError(f'exec: "{command}": not the allowed {name} ({found})')
        return found

    def _identity(self, pod: dict[str, Any], c: dict[str, Any]) -> _Identity:
        pod_sc = (pod.get("spec") or {}).get("securityContext") or {}
        sc = c.get("securityContext") or {}
        uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
        gid = sc.get("runAsGroup", pod_sc.get("runAsGroup"))
        if uid is None and self.isolation == "namespace":
            # The image's USER, where known (in a user namespace it is only how we are seen;
            # without one, root keeps running as itself, which the volumes' owners expect).
            uid, image_gid = image_user(str(c.get("image") or "")) or (None, None)
            gid = image_gid if gid is None else gid
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        if non_root and not uid:
            raise ContainerConfigError(
                "container has runAsNonRoot and image will run as root (set runAsUser)"
            )
        groups = [int(g) for g in pod_sc.get("supplementalGroups") or []]
        if pod_sc.get("fsGroup") is not None:
            groups.insert(0, int(pod_sc["fsGroup"]))
        return _Identity(
            int(uid) if uid is not None else None, int(gid) if gid is not None else None, groups
        )

    async def _watch(
        self, sp: Pod[_Container], container: _Container, process: asyncio.subprocess.Process
    ) -> None:
        assert process.stdout is not None and process.stderr is not None

        async def read(fd: int, stream: asyncio.StreamReader) -> None:
            lines = LineSplitter(container.log)
            try:
                while data := await stream.read(execs.CHUNK):
                    lines.feed(data)
                    container.fanout.publish(fd, data)
            finally:
                lines.flush()

        try:
            await asyncio.gather(read(1, process.stdout), read(2, process.stderr))
        finally:
            code = await process.wait()
            container.log.close()
            container.fanout.close()
        self._report_exit(sp, container.name, execs.exit_code(code))  # podinit killed: 128+n

    # -- streams -------------------------------------------------------------------------------

    def _running(self, pod: dict[str, Any], name: str) -> _Container:
        sp = self._pods.get(pod["metadata"].get("uid", ""))
        c = sp.containers.get(name) if sp else None
        if c is None or c.process is None or c.process.returncode is not None or not c.target:
            raise ExecStartError(f'failed to exec in container: container "{name}" is not running')
        return c

    async def exec(
        self,
        pod: dict[str, Any],
        container: str,
        command: list[str],
        *,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        tty: bool,
    ) -> StreamedProcess:
        c = self._running(pod, container)
        assert c.target is not None
        exec_id = secrets.token_hex(32)
        try:
            path = self._executable(command[0] if command else "")
        except _StartError as e:
            raise exec_start_error(exec_id, str(e)) from None
        session = await execs.start(
            c.target, path, command, exec_id,
            stdin=stdin, stdout=stdout, stderr=stderr, tty=tty,
        )  # fmt: skip
        c.sessions.add(session)
        exited = asyncio.ensure_future(session.process.wait())
        exited.add_done_callback(lambda _: c.sessions.discard(session))
        return session

    async def attach(
        self, pod: dict[str, Any], container: str, *, stdin: bool, stdout: bool, stderr: bool
    ) -> StreamedProcess:
        c = self._running(pod, container)
        assert c.process is not None
        writer = c.process.stdin if stdin else None
        return ContainerAttach(
            c.fanout, writer, stdout=stdout, stderr=stderr, stdin_once=c.stdin_once
        )

    # -- stopping ------------------------------------------------------------------------------

    async def _removed(self, sp: Pod[_Container]) -> None:
        # The container's own files go with it; volumes live elsewhere, and links are not
        # followed (mounts exist only inside the container's namespace).
        await asyncio.to_thread(shutil.rmtree, self._directory(sp), True)

    async def _halt(self, container: _Container, grace: float) -> None:
        # Its execs die with it, as they would with the container's PID namespace.
        await asyncio.gather(*(session.kill() for session in list(container.sessions)))
        process = container.process
        if process is None or process.returncode is not None:
            return
        if grace > 0:
            _signal(process.pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), grace)
        if process.returncode is None:
            # Children first: podinit, while alive, would otherwise reap and replace nothing.
            podinit.kill_all([*podinit.descendants(process.pid), process.pid])
        await process.wait()
        if container.watcher is not None:
            await asyncio.gather(container.watcher, return_exceptions=True)

    async def close(self) -> None:
        await super().close()
        if self._tmp is not None:
            self._tmp.cleanup()


async def _listening(ip: str, port: int, watcher: asyncio.Task[None], within: float = 10) -> None:
    """Wait until something listens on ip:port, the process has exited, or `within` passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not watcher.done() and loop.time() < deadline:
        try:
            _, writer = await asyncio.open_connection(ip, port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        return


class _StartError(Exception):
    """The command cannot be started: runc's StartError (exit code 128)."""


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _apply_fs_group(path: Path, gid: int) -> None:
    """The kubelet's fsGroup: group-owned, group-writable, setgid directories.

    Skipped when the volume's root already matches (fsGroupChangePolicy OnRootMismatch).
    """
    st = path.stat()
    if st.st_gid == gid and st.st_mode & 0o2070 == 0o2070:
        return
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [*dirnames, *filenames]:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.chown(p, -1, gid)
                mode = os.stat(p).st_mode
                os.chmod(p, mode | (0o2070 if os.path.isdir(p) else 0o060))
    os.chown(path, -1, gid)
    path.chmod(path.stat().st_mode | 0o2070)


__all__ = ["DEFAULT_COMMANDS", "ProcessRuntime", "namespace_isolation_works"]
