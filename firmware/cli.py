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
