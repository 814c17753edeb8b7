"""``hotspot``: dispatches to each area's subcommands.

Each area registers its own subcommands (``firmware.cli``, ``hil.cli``), so
this module only assembles them; an error any area raises for the user is a
``HalError`` or ``UserError`` and is printed as one line, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

# One core per process unless told otherwise (an explicit setting wins). Gateways scale by
# running more instances, and on the device the application owns the cores: a BLAS thread
# pool per process only fights the others (two gateway instances with their default pools
# drained a backlog almost three times slower than with one thread each). This must run
# before numpy is first imported, which is why it sits in the entry point.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

from hal.errors import HalError  # noqa: E402


class UserError(Exception):
    """An error the user can act on; its message says what to do."""


def build_parser() -> argparse.ArgumentParser:
    from bench import cli as bench_cli
    from central import cli as central_cli
    from firmware import cli as firmware_cli
    from hil import cli as hil_cli

    parser = argparse.ArgumentParser(
        prog="hotspot",
        description="HOTSPOT handheld: firmware, hardware abstraction and test rig.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    areas = parser.add_subparsers(dest="area", required=True, metavar="AREA")
    firmware_cli.register(areas)
    central_cli.register(areas)
    hil_cli.register(areas)
    hil_cli.register_demo(areas)
    bench_cli.register(areas)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args))
    except (HalError, UserError) as exc:
        print(f"hotspot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
