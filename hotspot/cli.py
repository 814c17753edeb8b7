"""``hotspot``: dispatches to each area's subcommands.

Each area registers its own subcommands (``firmware.cli``, ``hil.cli``), so
this module only assembles them; an error any area raises for the user is a
``HalError`` or ``UserError`` and is printed as one line, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
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


AREAS = (
    ("firmware.cli", ("register",)),
    ("ota.cli", ("register",)),
    ("central.cli", ("register",)),
    ("hil.cli", ("register", "register_demo")),
    ("bench.cli", ("register",)),
)
"""Each area's command-line module and its registration functions. The handheld's
update bundle carries only the device packages, so an area that is not installed
is left out of the command line instead of breaking it."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hotspot",
        description="HOTSPOT handheld: firmware, hardware abstraction and test rig.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=os.environ.get("HOTSPOT_LOG_FORMAT", "text"),
        help="log lines as text, or one JSON object a line for a log pipeline "
        "(default: $HOTSPOT_LOG_FORMAT or text)",
    )
    areas = parser.add_subparsers(dest="area", required=True, metavar="AREA")
    for module_name, registrars in AREAS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name.split(".")[0]:
                raise  # a missing dependency inside an installed area is a real error
            continue
        for registrar in registrars:
            getattr(module, registrar)(areas)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from hotspot.logs import configure

    configure(args.verbose, args.log_format)
    try:
        return int(args.handler(args))
    except (HalError, UserError) as exc:
        print(f"hotspot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
