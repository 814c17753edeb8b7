"""``hotspot hil``: start emulators so any tool (or the firmware) can talk to them."""

from __future__ import annotations

import argparse
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any

DEVICES = ("fingerprint", "modem", "fuel-gauge", "secure-element", "supervisor", "rig")


def register(areas: Any) -> None:
    hil = areas.add_parser("hil", help="hardware-in-the-loop rig and emulators")
    sub = hil.add_subparsers(dest="command", required=True, metavar="COMMAND")
    emulate = sub.add_parser(
        "emulate",
        help="start one emulator and print where it listens",
        description=(
            "Start an emulator and print where it listens: a pseudo-terminal for the "
            "fingerprint module and the modem, a Unix socket (I2C bus) for the fuel gauge, "
            "the secure element and the supervisor (whose alerts are printed), or all of them "
            "with 'rig' (which also writes a device "
            "configuration). The camera is emulated inside the firmware process "
            '(camera.index = "emulated"). Runs until interrupted.'
        ),
    )
    emulate.add_argument("device", choices=DEVICES)
    emulate.add_argument("--dialect", default="quectel", choices=("quectel", "simcom"))
    emulate.add_argument("--scenario", default="default", help="modem scenario")
    emulate.add_argument("--baudrate", type=int, default=57600, help="fingerprint module baud rate")
    emulate.add_argument("--model", default="R503", help="fingerprint module model (R503, AS608)")
    emulate.add_argument("--realtime", action="store_true", help="pace the image like a real UART")
    emulate.add_argument(
        "--workdir", help="where sockets and state go (default: a temporary folder)"
    )
    emulate.add_argument(
        "--duration", type=float, default=None, help="stop after this many seconds"
    )
    emulate.set_defaults(handler=cmd_emulate)

    knobs = sub.add_parser("faults", help="list the rig's fault knobs")
    knobs.set_defaults(handler=cmd_faults)

    soak = sub.add_parser(
        "soak",
        help="run tests many times (default: the system tests) and count each test's failures",
        description=(
            "Run a pytest selection --runs times from the repository, beside --load busy "
            "processes, and print each test that failed with its failure count. Exit 1 when "
            "any test failed."
        ),
    )
    soak.add_argument("--runs", type=int, default=20, help="how many runs (default 20)")
    soak.add_argument(
        "--load", type=int, default=0, help="busy processes beside the tests (default 0)"
    )
    soak.add_argument(
        "--out",
        type=Path,
        default=Path("soak-failures"),
        help="where each failed run's pytest output and JUnit XML are kept "
        "(default: soak-failures, created only when a run fails)",
    )
    soak.add_argument(
        "selection",
        nargs="*",
        default=["tests/system"],
        help="pytest arguments (default: tests/system)",
    )
    soak.set_defaults(handler=cmd_soak)


def register_demo(areas: Any) -> None:
    demo = areas.add_parser(
        "demo", help="the whole system on this machine: central, broker, an emulated handheld"
    )
    demo.add_argument("--fast", action="store_true", help="do not pace the sensor like a real UART")
    demo.add_argument(
        "--update",
        action="store_true",
        help="then a fleet update: TUF repository, rollout, A/B switch, automatic rollback",
    )
    demo.add_argument(
        "--exit",
        action="store_true",
        help="end after the scripted patrol instead of keeping the handheld up for a browser",
    )
    demo.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    import sys

    from hil import demo

    def stay() -> None:
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()

    keep = None if args.exit or args.update else stay
    status = demo.run(sys.stdout, realtime=not args.fast, stay=keep)
    if args.update and status == 0:
        from hil import update_demo

        print(file=sys.stdout)
        status = update_demo.main(sys.stdout)
    return status


def cmd_soak(args: argparse.Namespace) -> int:
    import sys

    from hil import soak

    if args.runs < 1 or args.load < 0:
        print("hotspot hil soak: --runs must be at least 1 and --load at least 0", file=sys.stderr)
        return 2
    tally = soak.soak(args.selection, args.runs, args.load, sys.stdout, keep=args.out)
    soak.print_tally(tally, sys.stdout)
    if tally.failed_runs:
        runs = ", ".join(str(run) for run in tally.failed_runs)
        print(f"The output of failed run(s) {runs} is kept in {args.out}/", file=sys.stdout)
    return 1 if tally.failed else 0


def cmd_faults(_args: argparse.Namespace) -> int:
    from hil.rig import KNOBS

    for name, knob in sorted(KNOBS.items()):
        print(f"{name:<36} {knob.description}")
    return 0


def cmd_emulate(args: argparse.Namespace) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    tmp = None
    if args.workdir:
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="hotspot-emu-")
        workdir = Path(tmp.name)
    stoppers = _start(args, workdir)
    print("Press Ctrl-C to stop.", flush=True)
    try:
        stop.wait(args.duration)
    finally:
        for stopper in stoppers:
            stopper()
        if tmp is not None:
            tmp.cleanup()
    return 0


def _start(args: argparse.Namespace, workdir: Path) -> list[Any]:
    if args.device == "fingerprint":
        from hal.emulators.r30x import R30xEmulator

        emu = R30xEmulator(model=args.model, baudrate=args.baudrate, realtime=args.realtime).start()
        print(f"fingerprint {args.model} emulator at {args.baudrate} baud: {emu.path}", flush=True)
        return [emu.stop]
    if args.device == "modem":
        from hal.emulators.modem import ModemEmulator

        modem = ModemEmulator(dialect=args.dialect, scenario=args.scenario).start()
        print(f"modem {args.dialect} emulator ({args.scenario}): {modem.path}", flush=True)
        return [modem.stop]
    if args.device in ("fuel-gauge", "secure-element", "supervisor"):
        import sys

        from hal.emulators.atecc608 import provisioned
        from hal.emulators.i2cbus import EmulatedI2CBus, I2CBusServer
        from hal.emulators.max17048 import Max17048Emulator
        from supervisor.emulator import SupervisorEmulator

        bus = EmulatedI2CBus()
        stoppers = []
        if args.device == "fuel-gauge":
            bus.attach(0x36, Max17048Emulator())
            where = "MAX17048 at 0x36"
        elif args.device == "secure-element":
            bus.attach(0x60, provisioned(0, state_file=workdir / "atecc608.json"))
            where = "ATECC608 at 0x60"
        else:
            supervisor = SupervisorEmulator(out=sys.stdout).start()
            bus.attach(supervisor.address, supervisor)
            stoppers.append(supervisor.stop)
            version = ".".join(map(str, supervisor.logic.firmware_version))
            where = f"RP2040 supervisor {version} at 0x{supervisor.address:02X}"
        server = I2CBusServer(bus, str(workdir / "i2c.sock")).start()
        print(f"{args.device} emulator ({where}) on I2C bus unix:{server.path}", flush=True)
        return [server.stop, *stoppers]
    from hil.rig import Rig

    rig = Rig(workdir, modem_dialect=args.dialect, modem_scenario=args.scenario).start()
    print(f"fingerprint: {rig.fingerprint.path}", flush=True)
    print(f"modem:       {rig.modem.path}", flush=True)
    print(f"i2c bus:     unix:{rig.i2c_server.path}", flush=True)
    print(f"config:      {rig.config_path}", flush=True)
    return [rig.stop]
