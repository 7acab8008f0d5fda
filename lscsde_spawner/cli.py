"""The `lscsde-spawner` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .service import commands as workspaces


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

    crds = sub.add_parser(
        "crds",
        help="print the CustomResourceDefinitions of the workspace kinds",
        description=(
            "Print the CustomResourceDefinitions of the five xlscsde.nhs.uk/v1 kinds as one "
            "multi-document YAML stream, e.g. `lscsde-spawner crds | kubectl apply -f -`."
        ),
    )
    crds.set_defaults(func=_crds)
    workspaces.add_parser(sub)
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
