"""`runc exec` for the process runtime: start one command inside a running container.

Run as `python -I podexec.py SPEC_FD STATUS_FD` (by path, standard library only, like
podinit.py: it must stay single-threaded to enter a user namespace). The runtime writes the spec
(JSON) to SPEC_FD and learns from STATUS_FD whether the command started:

- with "nsPid", it enters the user and mount namespaces of that process (the container's
  podinit), so the command sees the container's mounts, read-only ones read-only, and runs as
  the container's user;
- otherwise, when we are root and "switch" is set, it becomes runAsUser/runAsGroup with the
  pod's supplementary groups, as podinit does for the container;
- with "tty", its stdin is a terminal in a new session: it becomes the controlling terminal;
- it changes to the container's working directory and execs the command with the container's
  environment. STATUS_FD is closed by that exec; a failure before it is written there instead,
  in runc's words (`exec: "x": permission denied`), and podexec exits 127.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import sys
import termios
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000

_libc = ctypes.CDLL(None, use_errno=True)


def enter(pid: int, kind: str, nstype: int) -> None:
    """setns(2) into the namespace `kind` ("user", "mnt") of process `pid`."""
    fd = os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, nstype) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {kind} of {pid}: {os.strerror(err)}")
    finally:
        os.close(fd)


def prepare(spec: dict[str, Any]) -> None:
    """Everything before the exec: namespaces or user, terminal, directory."""
    ns_pid = spec.get("nsPid")
    if ns_pid:
        # The user namespace first: in it we hold the capabilities that entering its mount
        # namespace needs.
        enter(int(ns_pid), "user", CLONE_NEWUSER)
        enter(int(ns_pid), "mnt", CLONE_NEWNS)
    elif spec.get("switch") and os.geteuid() == 0:
        os.setgroups([int(g) for g in spec.get("groups") or []])
        if spec.get("gid") is not None:
            os.setgid(int(spec["gid"]))
        if spec.get("uid") is not None:
            os.setuid(int(spec["uid"]))
    if spec.get("tty"):
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    os.chdir(spec["cwd"])


def reason(e: OSError, path: str) -> str:
    """runc's words for an exec that failed."""
    if e.errno == errno.ENOENT:
        return f'exec: "{path}": stat {path}: no such file or directory'
    if e.errno == errno.EACCES:
        return f'exec: "{path}": permission denied'
    return f'exec: "{path}": {e.strerror or e}'


def main(argv: list[str]) -> int:
    spec_fd, status_fd = int(argv[1]), int(argv[2])
    os.set_inheritable(status_fd, False)  # closed by a successful exec: that is the signal
    with os.fdopen(spec_fd, "rb") as f:
        spec = json.loads(f.read())
    path: str = spec.get("path") or spec["argv"][0]  # argv[0] stays as the client gave it
    try:
        prepare(spec)
    except OSError as e:
        os.write(status_fd, f"podexec: cannot enter the container: {e}".encode())
        return 127
    try:
        os.execve(path, spec["argv"], spec["env"])
    except OSError as e:
        os.write(status_fd, reason(e, path).encode())
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv))
