"""The first process of a container in the process runtime: sets up mounts, runs the command.

Run as `python podinit.py --spec-fd N` (the spec, JSON, read from that pipe; `podinit.py
SPEC.json` and `podinit.py -`, stdin, also work) by path: it imports only the standard library,
so it starts fast and stays single-threaded, which unshare(2) with CLONE_NEWUSER requires. It
plays the parts of runc and tini:

- isolation "namespace": private user and mount namespaces in which each volume is bind-mounted
  at its mountPath inside the container's root directory, read-only mounts remounted read-only,
  so the kernel refuses writes even from the container's root; we appear as runAsUser. Each
  volume also appears at its own absolute path (`/opt/app`, `/etc/app/config.py`), as in a real
  container, over what the host has there; a missing directory on the way is made in a private
  copy of its parent (`shadow`), never on the host;
- isolation "links": each mountPath is a symbolic link to its volume directory; read-only is not
  enforced (the platform allows no mount namespace);
- without namespaces, when we are root, it starts the command as the pod's runAsUser/runAsGroup
  (with fsGroup as a supplementary group);
- it forwards termination signals to the command, adopts orphaned descendants (a child
  subreaper, as tini is), kills whatever is left when the command exits, and exits with the
  command's code (128 + signal when it was killed): the container's exit code.

Linux only: unshare(2), mount(2) and prctl(2) through ctypes, descendants read from /proc.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
# statvfs f_flag bits, and the mount flags a read-only remount must keep: in a user namespace
# the kernel refuses a remount that would drop a locked flag of the source mount.
_KEEP_FLAGS = {
    getattr(os, st, 0): ms
    for st, ms in (
        ("ST_NOSUID", MS_NOSUID),
        ("ST_NODEV", MS_NODEV),
        ("ST_NOEXEC", MS_NOEXEC),
        ("ST_NOATIME", MS_NOATIME),
        ("ST_NODIRATIME", MS_NODIRATIME),
        ("ST_RELATIME", MS_RELATIME),
    )
}
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1)

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, flags: int) -> None:
    src = source.encode() if source is not None else None
    _check(_libc.mount(src, target.encode(), None, flags, None), f"mount {target}")


def enter_namespace(uid: int, gid: int) -> None:
    """Private user and mount namespaces in which we are uid:gid.

    A user namespace even for root: the container's user (runAsUser) is then us under another
    number, so it can use everything we can, the Python environment under /root included.
    """
    outer_uid, outer_gid = os.geteuid(), os.getegid()
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare(CLONE_NEWUSER|CLONE_NEWNS)")
    # The new namespace grants every capability until exec, whatever the mapping says.
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {outer_uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {outer_gid} 1")
    # Nothing mounted here may propagate back to the host.
    _mount(None, "/", MS_REC | MS_PRIVATE)


def bind(source: str, target: str, read_only: bool) -> None:
    _mount(source, target, MS_BIND | MS_REC)
    if read_only:
        kept = os.statvfs(target).f_flag
        flags = MS_BIND | MS_REMOUNT | MS_RDONLY
        flags |= sum(ms for st, ms in _KEEP_FLAGS.items() if st and kept & st)
        _mount(None, target, flags)


# The kernel's own file systems: no volume covers them, or anything above them.
_KERNEL_PATHS = (Path("/proc"), Path("/sys"), Path("/dev"))


def _within(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def shadow(directory: Path, scratch: Path) -> None:
    """Replace `directory`, in our mount namespace only, by a writable copy of its top level:
    a tmpfs holding a bind mount of each entry (and each symbolic link as it is), so that new
    entries can be made in it without touching the host."""
    scratch.mkdir(parents=True, exist_ok=True)
    src = str(scratch).encode()
    mode = os.stat(directory).st_mode & 0o7777
    _check(_libc.mount(b"tmpfs", src, b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=755"), "tmpfs")
    os.chmod(scratch, mode)
    for entry in os.scandir(directory):
        copy = scratch / entry.name
        try:
            if entry.is_symlink():
                copy.symlink_to(os.readlink(entry.path))
            elif entry.is_dir(follow_symlinks=False):
                copy.mkdir()
                _mount(entry.path, str(copy), MS_BIND | MS_REC)
            else:
                copy.touch()
                _mount(entry.path, str(copy), MS_BIND)
        except OSError:
            continue  # an entry we may not see (or that vanished) is not there for us either
    _mount(str(scratch), str(directory), MS_MOVE)


def expose(source: Path, target: Path, read_only: bool, scratch: Path, ours: set[Path]) -> None:
    """Bind `source` (the volume as the container's root holds it) at its absolute `target`.
    `ours` are the directories whose entries live in our tmpfs shadows (not the host's)."""
    if target == Path("/") or any(_within(target, k) or _within(k, target) for k in _KERNEL_PATHS):
        raise OSError(f"{target}: a volume may not cover it here")
    if not target.exists():
        existing = next(p for p in target.parents if p.exists())
        if existing not in ours:
            shadow(existing, scratch / f"{os.getpid()}-{len(ours)}")
            ours.add(existing)
        for missing in reversed(target.parents):
            if not missing.exists():
                missing.mkdir()
                ours.add(missing)
        make_mount_point(target, source)
    elif target.is_dir() != source.is_dir():
        raise OSError(f"{target}: a volume of another type (file or directory) is there")
    bind(str(source), str(target), read_only)


def expose_at_paths(spec: dict[str, Any]) -> None:
    """Each volume at its own absolute path too (namespace isolation): the outermost ones, whose
    binds carry those mounted inside them. Best effort: a volume that cannot be there (over
    /proc, say) stays only under the container's root, and the log says so."""
    root = Path(spec["root"])
    targets = sorted({Path(os.path.normpath("/" + m["target"])) for m in spec["mounts"]},
                     key=lambda t: len(t.parts))  # fmt: skip
    read_only = {Path(os.path.normpath("/" + m["target"])): m["readOnly"] for m in spec["mounts"]}
    ours: set[Path] = set()
    for target in targets:
        if any(o != target and _within(target, o) for o in targets):
            continue  # it came with the volume it is in
        inside = root / str(target).lstrip("/")
        try:
            expose(inside, target, read_only[target], root.parent / "shadows", ours)
        except (OSError, StopIteration) as e:
            print(f"podinit: volume at {target} is only at {inside}: {e}", file=sys.stderr)


def make_mount_point(target: Path, source: Path) -> None:
    """Create what a mount lands on: a directory, or an empty file for a file (subPath)."""
    if source.is_dir():
        target.mkdir(parents=True, exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch(exist_ok=True)


def set_up_mounts(spec: dict[str, Any]) -> None:
    root = Path(spec["root"])
    # Parents first, so a mount inside another mount lands on top of it.
    for m in sorted(spec["mounts"], key=lambda m: m["target"].count("/")):
        target = root / m["target"].lstrip("/")
        source = Path(m["source"])
        if spec["isolation"] == "namespace":
            make_mount_point(target, source)
            bind(str(source), str(target), m["readOnly"])
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink() or target.exists():
                if target.is_dir() and not target.is_symlink():
                    target.rmdir()  # an empty mount point left by an earlier run
                else:
                    target.unlink()
            target.symlink_to(source, target_is_directory=source.is_dir())


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Have the kernel send us `sig` when the thread that started us exits (PR_SET_PDEATHSIG)."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")


def descendants(pid: int) -> list[int]:
    """Every live descendant of pid, read from /proc (children before their parents)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # exited meanwhile
        # The command name may hold spaces and parentheses: fields follow the last ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found[::-1]


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def run(spec: dict[str, Any]) -> int:
    if spec["isolation"] == "namespace":
        enter_namespace(spec["uid"], spec["gid"])
    set_up_mounts(spec)
    if spec["isolation"] == "namespace":
        expose_at_paths(spec)
    _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER)")
    # If the cluster's process dies without stopping us (kill -9), stop as if the pod were
    # deleted. Set after the namespace change, which clears it; then check we were not late.
    parent = spec.get("parentPid")
    die_with_parent()
    if parent is not None and os.getppid() != parent:
        return 143
    switch = os.geteuid() == 0 and not spec["userNamespace"]
    started: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, _frame: object) -> None:
        for child in started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signum)

    # Before the command starts, so a stop that comes early still reaches it.
    for sig in FORWARDED:
        signal.signal(sig, forward)
    child = subprocess.Popen(
        spec["argv"],
        env=spec["env"],
        cwd=spec["cwd"],
        user=spec["uid"] if switch and spec["uid"] is not None else None,
        group=spec["gid"] if switch and spec["gid"] is not None else None,
        extra_groups=spec["groups"] if switch and spec["groups"] else None,
        # The container's stdin (`stdin: true`) is ours, for attach; otherwise it has none.
        stdin=None if spec.get("stdin") else subprocess.DEVNULL,
        close_fds=True,
    )
    started.append(child)
    # Reap everything (orphans are ours, as subreaper) until the command itself exits.
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 0
        except InterruptedError:  # pragma: no cover - PEP 475 retries os.wait
            continue
        if pid == child.pid:
            break
    # The container ends with its command: what is left dies, as in a pod's PID namespace.
    for _ in range(3):
        left = descendants(os.getpid())
        if not left:
            break
        kill_all(left)
        time.sleep(0.05)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def probe() -> int:
    """Exit 0 when this platform allows the "namespace" isolation (a read-only bind mount)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp, "src"), Path(tmp, "dst")
        src.mkdir()
        dst.mkdir()
        try:
            enter_namespace(os.geteuid(), os.getegid())
            bind(str(src), str(dst), read_only=True)
            try:
                (dst / "x").write_text("x")
                return 1  # mounted but writable: not enforced
            except OSError:
                return 0
            finally:
                _libc.umount2(str(dst).encode(), MNT_DETACH)
        except OSError as e:
            print(f"no mount namespace: {e}", file=sys.stderr)
            return 1


def main(argv: list[str]) -> int:
    if argv[1:] == ["--probe"]:
        return probe()
    # The spec comes through a pipe: it holds the container's environment, secrets included.
    if argv[1:2] == ["--spec-fd"]:
        with os.fdopen(int(argv[2]), "rb") as f:
            spec = json.loads(f.read())
    else:
        spec = json.loads(sys.stdin.read() if argv[1] == "-" else Path(argv[1]).read_text())
    try:
        return run(spec)
    except OSError as e:
        # What runc reports when a container cannot start; the kubelet shows it as StartError.
        print(f"podinit: cannot start the container: {e}", file=sys.stderr, flush=True)
        return 128


if __name__ == "__main__":
    sys.exit(main(sys.argv))
