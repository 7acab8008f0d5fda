"""The `lscsde-spawner` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

RUNTIMES = ("stub", "process")  # as LocalCluster takes them (importing it here costs a second)


def _local_cluster(args: argparse.Namespace) -> int:
    from .localcluster import LocalCluster

    async def run() -> None:
        cluster = LocalCluster(
            port=args.port,
            host=args.host,
            data_dir=args.data_dir,
            kubeconfig=args.kubeconfig,
            runtime=args.runtime,
            allowed_commands=tuple(args.allow_command or ["jupyterhub-singleuser"]),
        )
        await cluster.start_here()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"Embedded Kubernetes API serving at {cluster.url}", flush=True)
        print(f"kubeconfig: {cluster.kubeconfig}", flush=True)
        print(f"  export KUBECONFIG={cluster.kubeconfig}", flush=True)
        await stop.wait()
        print("Stopping the embedded cluster", flush=True)
        await cluster.stop_here()

    asyncio.run(run())
    return 0


def _demo(args: argparse.Namespace) -> int:
    started = time.monotonic()  # "Ready in" counts the imports below: a second or two
    from .demo import DemoOptions, main

    options = DemoOptions(
        port=args.port,
        data_dir=Path(args.data_dir),
        runtime=args.runtime,
        verbose=args.verbose,
        started=started,
    )
    return main(options)


def _crds(args: argparse.Namespace) -> int:
    from .crds import crds_yaml

    sys.stdout.write(crds_yaml())
    sys.stdout.flush()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lscsde-spawner", description="Tools for the lscsde-spawner JupyterHub spawner."
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    sub = parser.add_subparsers(dest="command", required=True)

    lc = sub.add_parser(
        "local-cluster",
        help="run the embedded Kubernetes API and simulated kubelet in the foreground",
        description="Serve an embedded Kubernetes API on loopback until SIGINT/SIGTERM.",
    )
    lc.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    lc.add_argument("--host", default="127.0.0.1", help="address to bind (loopback only)")
    lc.add_argument(
        "--data-dir", default=None, help="keep the cluster's state here across restarts"
    )
    lc.add_argument(
        "--kubeconfig",
        default=None,
        help="where to write the kubeconfig (default: DATA_DIR/kubeconfig or a temporary file)",
    )
    lc.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="stub",
        help="what runs pods: 'stub' answers HTTP on their ports, 'process' runs their "
        "commands as local processes (default: stub)",
    )
    lc.add_argument(
        "--allow-command",
        action="append",
        metavar="NAME",
        help="a command the process runtime may run, looked up on PATH; repeat for more "
        "(default: jupyterhub-singleuser)",
    )
    lc.set_defaults(func=_local_cluster)

    demo = sub.add_parser(
        "demo",
        help="run the demo: embedded cluster, sample workspaces and JupyterHub",
        description=(
            "Start the embedded cluster with the process runtime, apply the CRDs and the sample "
            "workspaces, and run JupyterHub with the WorkspaceSpawner until Ctrl-C. Log in as "
            "alice, bob, carol or dave with the password 'demo'."
        ),
    )
    demo.add_argument("--port", type=int, default=8000, help="JupyterHub's port (default: 8000)")
    demo.add_argument(
        "--data-dir",
        default=".demo",
        help="the cluster's state, the users' files and the hub's database (default: .demo)",
    )
    demo.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="process",
        help="'process' runs JupyterLab for real; 'stub' only pretends (default: process)",
    )
    demo.add_argument(
        "--verbose", action="store_true", help="show JupyterHub's and the cluster's log here"
    )
    demo.set_defaults(func=_demo)

    crds = sub.add_parser(
        "crds",
        help="print the CustomResourceDefinitions of the workspace kinds",
        description=(
            "Print the CustomResourceDefinitions of the five xlscsde.nhs.uk/v1 kinds as one "
            "multi-document YAML stream, e.g. `lscsde-spawner crds | kubectl apply -f -`."
        ),
    )
    crds.set_defaults(func=_crds)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
