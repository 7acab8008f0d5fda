"""The `kubesim` command: serve an embedded Kubernetes API on loopback until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

RUNTIMES = ("stub", "process")  # as LocalCluster takes them (importing it here costs a second)


def serve(args: argparse.Namespace) -> int:
    from kubesim.cluster import LocalCluster

    async def run() -> None:
        cluster = LocalCluster(
            port=args.port,
            host=args.host,
            data_dir=args.data_dir,
            kubeconfig=args.kubeconfig,
            runtime=args.runtime,
            allowed_commands=tuple(args.allow_command or ["jupyterhub-singleuser"]),
            auth=not args.no_auth,
            secure_port=args.secure_port,
        )
        await cluster.start_here()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"Embedded Kubernetes API serving at {cluster.url}", flush=True)
        if cluster.secure_url:
            print(f"  and over HTTPS at {cluster.secure_url} (the kubeconfig's)", flush=True)
        print(f"kubeconfig: {cluster.kubeconfig}", flush=True)
        print(f"  export KUBECONFIG={cluster.kubeconfig}", flush=True)
        await stop.wait()
        print("Stopping the embedded cluster", flush=True)
        await cluster.stop_here()

    asyncio.run(run())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubesim",
        description="Serve an embedded Kubernetes API and a simulated node on loopback until "
        "SIGINT/SIGTERM.",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback only)")
    parser.add_argument("--secure-port", type=int, default=0, help="HTTPS port (0: any free port)")
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="serve without authentication or authorization: no token needed, everything "
        "allowed (default: bearer tokens and RBAC, the admin's token in the kubeconfig)",
    )
    parser.add_argument(
        "--data-dir", default=None, help="keep the cluster's state here across restarts"
    )
    parser.add_argument(
        "--kubeconfig",
        default=None,
        help="where to write the kubeconfig (default: DATA_DIR/kubeconfig or a temporary file)",
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="stub",
        help="what runs pods: 'stub' answers HTTP on their ports, 'process' runs their "
        "commands as local processes (default: stub)",
    )
    parser.add_argument(
        "--allow-command",
        action="append",
        metavar="NAME",
        help="a command the process runtime may run (a container's or an exec's first "
        "argument), looked up on PATH; repeat for more (default: jupyterhub-singleuser)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
