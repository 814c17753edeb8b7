"""Subcommands of the device application: ``hotspot hal selftest``, ``hotspot demo``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from firmware import config as config_mod
from firmware import selftest
from firmware.wiring import Devices
from hal.supervisor.protocol import Supervisor


def register(areas: Any) -> None:
    hal = areas.add_parser("hal", help="probe the hardware")
    hal_sub = hal.add_subparsers(dest="command", required=True, metavar="COMMAND")
    st = hal_sub.add_parser(
        "selftest", help="probe every configured device and print what it found"
    )
    _config_options(st)
    st.add_argument("--json", action="store_true", help="print one JSON object")
    st.add_argument(
        "--wait", type=float, default=3.0, help="seconds to wait for network registration"
    )
    st.set_defaults(handler=cmd_selftest)
    health = hal_sub.add_parser(
        "health", help="the verdict an update's health check asks for (devices, broker)"
    )
    _config_options(health)
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
    _config_options(cap)
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
    _config_options(fcap)
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
        "run",
        help="run the handheld service: hardware, outbox, uplink, telemetry, officer interface",
        description=(
            "Run the handheld application as a service (systemd Type=notify, watchdog): the "
            "hardware, the outbox and uplink, the link supervisor, telemetry and the officer "
            "interface on 127.0.0.1. The configuration must name every part; --emulated runs "
            "on emulated hardware as a training device."
        ),
    )
    _config_options(serve)
    serve.add_argument(
        "--data", type=Path, help="data folder (outbox, shift journal); default [device] data_dir"
    )
    serve.set_defaults(handler=cmd_device_run)

    sup_update = device_sub.add_parser(
        "supervisor-update",
        help="send a firmware image to the supervisor microcontroller (resumes a cut transfer)",
    )
    _config_options(sup_update)
    sup_update.add_argument(
        "image", type=Path, help="supervisor-X.Y.Z.img (python -m supervisor.build)"
    )
    sup_update.set_defaults(handler=cmd_supervisor_update)
    sup_clear = device_sub.add_parser(
        "supervisor-clear-tamper",
        help="an administrator clears the supervisor's tamper latch after inspecting the device",
    )
    _config_options(sup_clear)
    sup_clear.set_defaults(handler=cmd_supervisor_clear)

    from firmware.enrol_cli import add_commands

    add_commands(device_sub, _config_options)

    officer = device_sub.add_parser("officer", help="officers who may sign in on this device")
    officer_sub = officer.add_subparsers(dest="action", required=True, metavar="ACTION")
    oadd = officer_sub.add_parser(
        "add", help="add an officer (or change a PIN) in the configuration's [officers]"
    )
    oadd.add_argument("--config", required=True, type=Path, help="device configuration (TOML)")
    oadd.add_argument("officer", help="the officer id (letters, digits, '.', '_', '-')")
    oadd.add_argument(
        "--pin-stdin", action="store_true", help="read the PIN from standard input, not a prompt"
    )
    oadd.set_defaults(handler=cmd_officer_add)
    ohash = officer_sub.add_parser(
        "hash", help="print the PIN hash for an [officers] line (for fleet configuration tools)"
    )
    ohash.add_argument(
        "--pin-stdin", action="store_true", help="read the PIN from standard input, not a prompt"
    )
    ohash.set_defaults(handler=cmd_officer_hash)


def _config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", help="device configuration (TOML), e.g. /etc/hotspot/device.toml"
    )
    parser.add_argument(
        "--emulated",
        action="store_true",
        help="training: emulate every part the configuration does not name (all of them "
        "without --config); the interface and every record say so",
    )


def load_config(args: argparse.Namespace) -> config_mod.DeviceConfig:
    """The configuration the command line names; never an emulator by default."""
    if args.config is None and not args.emulated:
        from hal.errors import ConfigurationError

        raise ConfigurationError(
            "no device configuration: give --config FILE (on a handheld "
            "/etc/hotspot/device.toml), or --emulated to run on emulated hardware for training"
        )
    if args.config is None:
        return config_mod.load(None)
    return config_mod.load(args.config, emulated=args.emulated)


def cmd_selftest(args: argparse.Namespace) -> int:
    cfg = load_config(args)
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
    cfg = load_config(args)

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

    cfg = load_config(args)

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

    if args.config is None:
        from hal.errors import ConfigurationError

        raise ConfigurationError(
            "no device configuration: give --config FILE (on a handheld "
            "/etc/hotspot/device.toml); it names the broker, the certificates, the central "
            "keys and the officers (add --emulated to emulate the hardware it does not name)"
        )
    cfg = load_config(args)
    cfg.require_service()
    return service.main(cfg, args.data)


def _supervisor_of(devices: Devices) -> Supervisor:
    supervisor = devices.supervisor
    if supervisor is None:
        raise _user_error(
            f"{devices.config.source} has no [supervisor] section: this handheld has no "
            "supervisor microcontroller configured"
        )
    supervisor.open()
    return supervisor


def cmd_supervisor_update(args: argparse.Namespace) -> int:
    import sys

    try:
        image = args.image.read_bytes()
    except OSError as exc:
        raise _user_error(f"cannot read {args.image}: {exc.strerror}") from None
    if image[:4] != b"HSUP":
        raise _user_error(
            f"{args.image} is not a supervisor image (build one: python -m supervisor.build)"
        )

    def progress(done: int, total: int) -> None:
        if done == total or done % 1024 < 32:
            print(f"\r  sending {done:>7,}/{total:,} bytes", end="", file=sys.stderr, flush=True)

    with Devices(load_config(args)) as devices:
        supervisor = _supervisor_of(devices)
        before = supervisor.open().firmware
        after = supervisor.update(image, progress)
    print(file=sys.stderr)
    print(f"supervisor firmware {before} -> {after}")
    return 0


def cmd_supervisor_clear(args: argparse.Namespace) -> int:
    with Devices(load_config(args)) as devices:
        supervisor = _supervisor_of(devices)
        state = supervisor.tamper()
        if not state.latched:
            print("the tamper latch is not set: nothing to clear")
            return 0
        supervisor.clear_tamper()
    print(
        f"tamper latch cleared (the case had been opened {state.count} time(s)); restart the "
        "service: the outbox starts empty, its old key was wiped"
    )
    return 0


def _read_pin(args: argparse.Namespace) -> str:
    import getpass
    import sys

    from firmware.officer.pin import PinError, check_pin

    if args.pin_stdin:
        pin = sys.stdin.readline().strip()
    else:
        pin = getpass.getpass("PIN: ")
        if getpass.getpass("PIN again: ") != pin:
            raise _user_error("the two PINs differ: nothing was changed")
    try:
        check_pin(pin)
    except PinError as exc:
        raise _user_error(f"{exc}: nothing was changed") from None
    return pin


def _user_error(message: str) -> Exception:
    """A refusal the command line prints as one line (the firmware cannot import the shell's
    UserError: it is a configuration error, the officers being part of the configuration)."""
    from hal.errors import ConfigurationError

    return ConfigurationError(message)


def cmd_officer_add(args: argparse.Namespace) -> int:
    from firmware.officer.officers import add_officer

    if not config_mod.OFFICER_ID.match(args.officer):
        raise _user_error(
            f"{args.officer!r} is not an officer id: use 1-64 letters, digits, '.', '_' or '-'"
        )
    if not args.config.is_file():
        raise _user_error(f"{args.config} does not exist: write the device configuration first")
    from firmware.officer.pin import hash_pin

    changed = add_officer(args.config, args.officer, hash_pin(_read_pin(args)))
    print(f"{'changed the PIN of' if changed else 'added'} officer {args.officer} in {args.config}")
    return 0


def cmd_officer_hash(args: argparse.Namespace) -> int:
    from firmware.officer.pin import hash_pin

    print(hash_pin(_read_pin(args)))
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    from firmware import health

    broker = None
    if args.broker:
        host, _, port = args.broker.rpartition(":")
        broker = (host, int(port))
    cfg = load_config(args)
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
