"""``lscsde-spawner workspaces ...``: the workspaces service from a terminal.

    lscsde-spawner workspaces list [--all]
    lscsde-spawner workspaces members WORKSPACE
    lscsde-spawner workspaces add WORKSPACE USERNAME --expires YYYY-MM-DD [--level L] [--comments T]
    lscsde-spawner workspaces change WORKSPACE USERNAME [--expires D] [--level L] [--comments T]
    lscsde-spawner workspaces remove WORKSPACE USERNAME
    lscsde-spawner workspaces sessions WORKSPACE
    lscsde-spawner workspaces stop WORKSPACE USERNAME [SERVER]
    lscsde-spawner workspaces events WORKSPACE [--type T] [--since D] [--user U] [--limit N]

Each calls the service's REST API through the hub's proxy (``--hub-url``, default
``$JUPYTERHUB_URL`` or http://127.0.0.1:8000) with a hub API token (``--token``, default
``$JUPYTERHUB_API_TOKEN``). Output is a table, or the API's JSON with ``--json``. Exit status 0
on success, 1 when the service refuses (its message on stderr), 2 when it cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from .client import ClientError, WorkspacesClient

LEVELS = ("viewer", "member", "admin")


def _cell(value: Any) -> str:
    """One table cell: a control character (an escape sequence in a comment or a name) is
    never written to the terminal."""
    if value is None:
        return "-"
    if isinstance(value, list):
        value = ", ".join(_cell(v) for v in value) or "-"
    text = str(value)
    return "".join("?" if unicodedata.category(c)[0] == "C" else c for c in text)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"


def _workspaces(data: Any) -> str:
    rows = [
        [
            w["name"], w["displayName"], w["accessLevel"], w["expires"], w["daysLeft"],
            w["via"] or "user",
            [s["server"] or "(default)" for s in w["servers"]],
        ]
        for w in data["workspaces"]
    ]  # fmt: skip
    rows += [[w["name"], w["displayName"], "(hub admin)", w["expires"], None, None, None]
             for w in data.get("otherWorkspaces", [])]  # fmt: skip
    return table(rows, ["WORKSPACE", "NAME", "ACCESS", "EXPIRES", "DAYS", "VIA", "SERVERS"])


def _members(data: Any) -> str:
    def who(m: dict[str, Any]) -> str:
        claims = [f"{c['name']} {c['operator']} {c['value']}" for c in m.get("claims", [])]
        return " & ".join(filter(None, [m.get("username"), *claims])) or "-"

    rows = [
        [who(m), m["accessLevel"], m["expires"], m["state"], m.get("comments"), m["binding"]]
        for m in data["members"]
    ]
    return table(rows, ["USER", "ACCESS", "EXPIRES", "STATE", "COMMENTS", "BINDING"])


def _sessions(data: Any) -> str:
    rows = [
        [s["user"], s["server"] or "(default)", "yes" if s["ready"] else "starting",
         s["started"], s["lastActivity"]]
        for s in data["sessions"]
    ]  # fmt: skip
    return table(rows, ["USER", "SERVER", "READY", "STARTED", "LAST ACTIVITY"])


def _events(data: Any) -> str:
    rows = [[e["time"], e["type"], e["user"], e["by"], e["note"]] for e in data["items"]]
    more = f"({data['total']} in all; next page: --offset {data['next']})\n" if data["next"] else ""
    return table(rows, ["TIME", "TYPE", "USER", "BY", "NOTE"]) + more


def _member_change(data: Any) -> str:
    rows = data.get("members", [data])
    return _members({"members": rows})


def _body(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    keys = {"expires": "expires", "level": "accessLevel", "comments": "comments"}
    return {keys[n]: getattr(args, n) for n in names if getattr(args, n) is not None}


Run = Callable[[WorkspacesClient, argparse.Namespace], tuple[Any, Callable[[Any], str]]]

RUNS: dict[str, Run] = {
    "list": lambda c, a: (c.workspaces(a.all), _workspaces),
    "members": lambda c, a: (c.members(a.workspace), _members),
    "add": lambda c, a: (
        c.add(a.workspace, {"username": a.username, **_body(a, "expires", "level", "comments")}),
        _member_change,
    ),
    "change": lambda c, a: (
        c.change(a.workspace, a.username, _body(a, "expires", "level", "comments")),
        _member_change,
    ),
    "remove": lambda c, a: (
        c.remove(a.workspace, a.username),
        lambda d: f"removed {_cell(d['username'])} ({_cell(d['removed'])})\n",
    ),
    "sessions": lambda c, a: (c.sessions(a.workspace), _sessions),
    "stop": lambda c, a: (
        c.stop(a.workspace, a.username, a.server),
        lambda d: f"stopping server {_cell(d['server'] or '(default)')} of {_cell(d['user'])}\n",
    ),
    "events": lambda c, a: (
        c.events(
            a.workspace, type=a.type, since=a.since, user=a.user, limit=a.limit, offset=a.offset
        ),
        _events,
    ),
}


def add_parser(sub: Any) -> None:
    """The ``workspaces`` command and its subcommands, on the main command's subparsers."""
    ws = sub.add_parser(
        "workspaces",
        help="manage workspaces through the workspaces service (members, sessions, events)",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
    )
    hub_url = os.environ.get("JUPYTERHUB_URL", "http://127.0.0.1:8000")
    ws.add_argument(
        "--hub-url", default=hub_url, help="the hub's public URL (default: $JUPYTERHUB_URL)"
    )
    ws.add_argument(
        "--token",
        default=os.environ.get("JUPYTERHUB_API_TOKEN", ""),
        help="a hub API token (default: $JUPYTERHUB_API_TOKEN)",
    )
    ws.add_argument("--service", default="workspaces", help="the service's name")
    ws.add_argument("--json", action="store_true", help="print the API's JSON, not a table")
    cmds = ws.add_subparsers(dest="action", required=True)
    cmds.add_parser("list", help="my workspaces").add_argument(
        "--all", action="store_true", help="a hub admin: every workspace"
    )
    for name, what in (("members", "its members"), ("sessions", "its running servers")):
        cmds.add_parser(name, help=what).add_argument("workspace")
    for name in ("add", "change"):
        p = cmds.add_parser(name, help=f"{name} a member")
        p.add_argument("workspace")
        p.add_argument("username")
        p.add_argument("--expires", required=name == "add", help="last day, YYYY-MM-DD")
        p.add_argument("--level", choices=LEVELS, help="access level (default: member)")
        p.add_argument("--comments")
    p = cmds.add_parser("remove", help="remove a member (their servers stop)")
    p.add_argument("workspace")
    p.add_argument("username")
    p = cmds.add_parser("stop", help="stop a server in the workspace")
    p.add_argument("workspace")
    p.add_argument("username")
    p.add_argument("server", nargs="?", default="", help="a named server (default: the default)")
    p = cmds.add_parser("events", help="the audit trail, newest first")
    p.add_argument("workspace")
    p.add_argument("--type", help="server, member, or reasons, comma-separated")
    p.add_argument("--since", help="a date or an RFC 3339 time")
    p.add_argument("--user", help="whom it concerns or who did it")
    p.add_argument("--limit", type=int)
    p.add_argument("--offset", type=int)
    ws.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    if not args.token:
        err.write("lscsde-spawner workspaces: no token: set JUPYTERHUB_API_TOKEN or --token\n")
        return 2
    client = WorkspacesClient(args.hub_url, args.token, service=args.service)
    try:
        data, show = RUNS[args.action](client, args)
    except ClientError as exc:
        err.write(f"lscsde-spawner workspaces {args.action}: {_cell(exc.message)}")
        err.write(f" ({exc.status})\n" if exc.status else "\n")
        return 1 if exc.status else 2
    out.write(json.dumps(data, indent=2) + "\n" if args.json else show(data))
    out.flush()
    return 0


__all__ = ["add_parser", "run", "table"]
