"""Subcommands of the device application: ``hotspot hal selftest``, ``hotspot demo``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from firmware import config as config_mod
from firmware import selftest
from firmware.wiring import Devices


def register(areas: Any) -> None:
    hal = areas.add_parser("hal", help="probe the hardware")
    hal_sub = hal.add_subparsers(dest="command", required=True, metavar="COMMAND")
    st = hal_sub.add_parser(
        "selftest", help="probe every configured device and print what it found"
    )
    st.add_argument("--config", help="device configuration (TOML); default: the emulated rig")
    st.add_argument("--json", action="store_true", help="print one JSON object")
    st.add_argument(
        "--wait", type=float, default=3.0, help="seconds to wait for network registration"
    )
    st.set_defaults(handler=cmd_selftest)
    health = hal_sub.add_parser(
        "health", help="the verdict an update's health check asks for (devices, broker)"
    )
    health.add_argument("--config", help="device configuration (TOML); default: the emulated rig")
    health.add_argument("--broker", help="HOST:PORT that must answer when the link is up")
    health.add_argument("--json", action="store_true", help="print one JSON object")
    health.add_argument("--wait", type=float, default=3.0, help="seconds to wait for the network")
    health.set_defaults(handler=cmd_health)

    face = areas.add_parser("face", help="capture a face with the on-device chain")
    face_sub = face.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cap = face_sub.add_parser(
        "capture",
        help="capture from the camera, print the quality, the guidance and the embedding size",
    )
    cap.add_argument("--config", help="device configuration (TOML); default: the emulated rig")
    cap.add_argument("--frames", type=int, default=15, help="preview frames to try (default 15)")
    cap.add_argument(
        "--token",
        action="store_true",
        help="also make the ICAO token image (default: [camera] token_image of the config)",
    )
    cap.add_argument("--json", action="store_true", help="print one JSON object")
    cap.set_defaults(handler=cmd_face_capture)

    finger = areas.add_parser("finger", help="capture a fingerprint with the on-device chain")
    finger_sub = finger.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fcap = finger_sub.add_parser(
        "capture",
        help="capture from the sensor, print the quality, the guidance and the template size",
    )
    fcap.add_argument("--config", help="device configuration (TOML); default: the emulated rig")
    fcap.add_argument(
        "--position", type=int, default=2, help="ISO finger position (default 2, right index)"
    )
    fcap.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for a finger")
    fcap.add_argument("--template", type=Path, help="also write the ISO/IEC 19794-2 record here")
    fcap.add_argument("--json", action="store_true", help="print one JSON object")
    fcap.set_defaults(handler=cmd_finger_capture)

    device = areas.add_parser("device", help="the firmware as a service")
    device_sub = device.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = device_sub.add_parser(
        "run", help="run the firmware service (systemd Type=notify, watchdog)"
    )
    serve.add_argument("--config", help="device configuration (TOML); default: the emulated rig")
    serve.add_argument("--data", type=Path, help="data directory (outbox, state)")
    serve.set_defaults(handler=cmd_device_run)


def cmd_selftest(args: argparse.Namespace) -> int:
    cfg = config_mod.load(args.config)
    with Devices(cfg) as devices:
        report = selftest.run(devices, registration_wait_s=args.wait)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print_report(report)
    return 0 if report.ok else 1


def cmd_face_capture(args: argparse.Namespace) -> int:
    import sys

    from firmware import capture

    if args.frames < 1:
        print("--frames must be at least 1", file=sys.stderr)
        return 2
    cfg = config_mod.load(args.config)

    def live(index: int, guidance: tuple[str, ...]) -> None:
        if not args.json:
            hint = guidance[0] if guidance else "good"
            print(f"\r  frame {index + 1:>3}/{args.frames}: {hint:<70}", end="", flush=True)

    with Devices(cfg) as devices:
        token = args.token or cfg.camera.token_image
        result = capture.capture_face(devices.camera, args.frames, token, live)
    if args.json:
        print(json.dumps(result.summary()))
        return 0 if result.face else 1
    print()
    print(f"Face capture: {result.frames} frames at {result.frames_per_second:.1f} frames/s,")
    print(f"  a face in {result.faces} of them")
    if result.face is None:
        print(f"  no usable face: {result.guidance[0]}")
        return 1
    print(f"  quality      {result.quality}/100")
    if result.guidance:
        for line in result.guidance:
            print(f"  guidance     {line}")
    else:
        print("  guidance     none: the shot is good")
    print(f"  embedding    {len(result.face.embedding)} bytes ({result.face.model_version})")
    if result.face.token_image:
        print(f"  token image  {len(result.face.token_image):,} bytes JPEG (ISO/IEC 19794-5 token)")
    return 0


def cmd_finger_capture(args: argparse.Namespace) -> int:
    import sys

    from firmware import capture
    from firmware.biometrics.fingerprint.errors import FingerprintError
    from hal.errors import HalError

    cfg = config_mod.load(args.config)

    def progress(done: int, total: int) -> None:
        if not args.json and (done == total or done % 16 == 0):
            print(f"\r  receiving rows {done:>4}/{total}", end="", flush=True)

    if not args.json:
        print("Place the finger on the sensor.", flush=True)
    try:
        with Devices(cfg) as devices:
            result = capture.capture_finger(devices.fingerprint, args.timeout, progress)
    except (FingerprintError, HalError) as exc:
        print(f"\nhotspot finger capture: {exc}", file=sys.stderr)
        return 1
    record = result.result.record(args.position).encode()
    if args.template:
        args.template.write_bytes(record)
    if args.json:
        print(json.dumps(result.summary()))
        return 0 if result.result.quality.acceptable else 1
    quality = result.result.quality
    print()
    print(
        f"Fingerprint: {result.image.width}x{result.image.height} at {result.image.ppi} ppi, "
        f"received in {result.seconds_transfer:.1f} s, "
        f"analysed {1000 * result.seconds_after_last_row:.0f} ms after the last row"
    )
    print(f"  quality      {quality.score}/100")
    if quality.guidance:
        for line in quality.guidance:
            print(f"  guidance     {line}")
    else:
        print("  guidance     none: the print is good")
    print(f"  minutiae     {len(result.result.minutiae)} (LEADER, {result.result.model} model)")
    print(
        f"  template     {len(record)} bytes, ISO/IEC 19794-2:2005, finger position {args.position}"
    )
    if args.template:
        print(f"  written to   {args.template}")
    return 0 if quality.acceptable else 1


def cmd_device_run(args: argparse.Namespace) -> int:
    from firmware import service

    config = args.config if args.config and Path(args.config).exists() else None
    if args.config and config is None:
        print(f"{args.config} not found: running with the embedded defaults", flush=True)
    return service.main(config, args.data)


def cmd_health(args: argparse.Namespace) -> int:
    from firmware import health

    broker = None
    if args.broker:
        host, _, port = args.broker.rpartition(":")
        broker = (host, int(port))
    cfg = config_mod.load(args.config)
    with Devices(cfg) as devices:
        verdict = health.run(devices, broker, registration_wait_s=args.wait)
    if args.json:
        print(json.dumps(verdict))
    else:
        for name, check in verdict["checks"].items():
            mark = "OK  " if check["ok"] else "FAIL"
            detail = check.get("error") or check.get("skipped") or ""
            print(f"  [{mark}] {name} {detail}")
        print("healthy" if verdict["ok"] else "NOT healthy")
    return 0 if verdict["ok"] else 1


def print_report(report: selftest.SelfTestReport) -> None:
    print(f"Self-test of {report.config}")
    for device in report.devices:
        mark = "OK  " if device.ok else "FAIL"
        print(f"  [{mark}] {device.name}")
        if device.error:
            print(f"         {device.error}")
        for key, value in device.facts.items():
            if key == "public_key_pem":
                continue
            print(f"         {key:<20} {value}")
    print("All devices answered." if report.ok else "Some devices failed: see the messages above.")
