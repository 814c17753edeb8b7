"""``hotspot ota``: build update bundles (the rest of issue 4 adds publish, install, status)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(areas: Any) -> None:
    ota = areas.add_parser("ota", help="over-the-air update bundles")
    sub = ota.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = sub.add_parser("build", help="build a reproducible bundle of the device application")
    build.add_argument("--version", required=True, help="the release, MAJOR.MINOR.PATCH")
    build.add_argument(
        "--min-previous", help="oldest installed version it may replace (default: itself)"
    )
    build.add_argument(
        "--hardware", action="append", default=[], help="compatible board id (repeatable)"
    )
    build.add_argument("--migration", action="append", default=[], help="declared migration step")
    build.add_argument("--source", type=Path, help="repository root (default: this checkout)")
    build.add_argument("--out", type=Path, default=Path("dist"), help="output directory")
    build.set_defaults(handler=cmd_build)


def cmd_build(args: argparse.Namespace) -> int:
    from hotspot.cli import UserError
    from ota import bundle
    from ota.errors import OtaError

    source = args.source or Path(bundle.__file__).resolve().parents[1]
    try:
        contents = bundle.collect(source)
        manifest, data = bundle.build(
            contents,
            args.version,
            args.min_previous or args.version,
            tuple(args.hardware) or ("hotspot-h1",),
            tuple(args.migration),
        )
    except OtaError as exc:
        raise UserError(str(exc)) from None
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"hotspot-{manifest.version}.bundle"
    path.write_bytes(data)
    print(f"{path}: {len(data):,} bytes, {len(manifest.files)} files, version {manifest.version}")
    return 0
