"""The `lscsde-demo` command: the embedded cluster, the sample workspaces and JupyterHub."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

RUNTIMES = ("stub", "process")  # as LocalCluster takes them (importing it here costs a second)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lscsde-demo",
        description=(
            "Start the embedded cluster with the process runtime, apply the CRDs and the sample "
            "workspaces, and run JupyterHub with the WorkspaceSpawner until Ctrl-C. Log in as "
            "alice, bob, carol or dave with the password 'demo'."
        ),
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    parser.add_argument("--port", type=int, default=8000, help="JupyterHub's port (default: 8000)")
    parser.add_argument(
        "--data-dir",
        default=".demo",
        help="the cluster's state, the users' files and the hub's database (default: .demo)",
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="process",
        help="'process' runs JupyterLab for real; 'stub' only pretends (default: process)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show JupyterHub's and the cluster's log here"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    started = time.monotonic()  # "Ready in" counts the imports below: a second or two
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from lscsde_demo import DemoOptions
    from lscsde_demo import main as run_demo

    options = DemoOptions(
        port=args.port,
        data_dir=Path(args.data_dir),
        runtime=args.runtime,
        verbose=args.verbose,
        started=started,
    )
    return run_demo(options)


if __name__ == "__main__":
    sys.exit(main())
