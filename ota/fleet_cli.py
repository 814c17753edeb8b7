"""``hotspot ota assign | rollout | status`` (central side) and ``hotspot ota agent`` (device)."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ota.errors import OtaError


def register(sub: Any, root_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    assign = sub.add_parser("assign", help="put devices into a rollout group")
    assign.add_argument("--dir", type=Path, required=True, help="fleet directory")
    assign.add_argument("group")
    assign.add_argument("devices", nargs="+")
    assign.set_defaults(handler=cmd_assign)

    rollout = sub.add_parser("rollout", help="roll a published release out in waves")
    rollout.add_argument("--dir", type=Path, required=True, help="fleet directory")
    rollout.add_argument("--release", required=True, help="the version to roll out")
    rollout.add_argument(
        "--wave", action="append", required=True, help="groups of one wave, comma-separated"
    )
    rollout.add_argument("--max-failure", type=float, default=0.2, help="share that halts (0-1)")
    rollout.add_argument("--wave-timeout", type=float, default=3600.0, help="seconds per wave")
    rollout.add_argument("--host", default="127.0.0.1")
    rollout.add_argument("--port", type=int, help="broker port (default: the fleet's)")
    rollout.set_defaults(handler=cmd_rollout)

    status = sub.add_parser("status", help="show rollouts and each device's update state")
    status.add_argument("--dir", type=Path, required=True, help="fleet directory")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_status)

    agent = sub.add_parser("agent", help="device: follow the group's release announcements")
    root_arg(agent)
    agent.add_argument("--config", help="device configuration (for the fuel gauge)")
    agent.set_defaults(handler=cmd_agent)


def _store(fleet: Path) -> Any:
    from ota.rollout import RolloutStore

    fleet.mkdir(parents=True, exist_ok=True)
    return RolloutStore(fleet / "rollout.db")


def cmd_assign(args: argparse.Namespace) -> int:
    from hotspot.cli import UserError

    try:
        _store(args.dir).assign(args.group, args.devices)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(f"{len(args.devices)} device(s) in group {args.group}")
    return 0


def cmd_rollout(args: argparse.Namespace) -> int:
    from central.processor import GatewayKeys
    from central.provision import FleetCA, FleetLayout, central_keys
    from hotspot.cli import UserError
    from ota.rollout import Plan, RolloutController

    layout = FleetLayout(args.dir)
    port = args.port or int(layout.broker_port_file.read_text())
    creds = FleetCA(layout.ca_dir).issue("central", layout.central_tls)
    keys = GatewayKeys.load(*central_keys(layout.keys_dir))
    waves = [[g.strip() for g in wave.split(",") if g.strip()] for wave in args.wave]
    try:
        controller = RolloutController(
            _store(args.dir),
            keys.sign_digest,
            args.host,
            port,
            (str(creds.ca), str(creds.cert), str(creds.key)),
            lambda text: print(text, flush=True),
        )
    except (ConnectionError, OSError) as exc:
        raise UserError(f"cannot reach the broker: {exc}") from None
    try:
        outcome = controller.run(Plan(args.release, waves, args.max_failure, args.wave_timeout))
    finally:
        controller.close()
    return 0 if outcome == "completed" else 3


def cmd_status(args: argparse.Namespace) -> int:
    body = _store(args.dir).status()
    if args.json:
        print(json.dumps(body, indent=1))
        return 0
    for rollout in body["rollouts"]:
        waves = " | ".join(",".join(w) for w in json.loads(rollout["waves"]))
        print(
            f"rollout {rollout['id']}: {rollout['version']} {rollout['state']} at wave "
            f"{rollout['wave'] + 1} [{waves}] {rollout['reason']}"
        )
    print(f"{'device':<16} {'group':<10} {'running':<9} {'target':<9} state")
    for device, info in sorted(body["devices"].items()):
        state = info.get("state", "-")
        if state == "downloading":
            state += f" {info.get('progress', 0):.0%}"
        if info.get("reason"):
            state += f" ({info['reason'][:60]})"
        print(
            f"{device:<16} {info.get('group', '-'):<10} {info.get('running', '-'):<9} "
            f"{info.get('target', '-'):<9} {state}"
        )
    return 0


def cmd_agent(args: argparse.Namespace) -> int:
    from hotspot.cli import UserError
    from ota import settings
    from ota.agent import RolloutAgent
    from ota.client import UpdateClient
    from ota.install import Installer
    from ota.layout import Layout

    layout = Layout(args.root)
    try:
        cfg = settings.load(layout)
    except OtaError as exc:
        raise UserError(str(exc)) from None
    if cfg.mqtt is None:
        raise UserError(f"{settings.path(layout)} has no [mqtt] section: the agent needs one")
    client = UpdateClient(layout.tuf, cfg.repository, layout.trusted_root.read_bytes())
    from ota.cli import device_floor

    installer = Installer(layout, client, device_floor(layout, cfg), cfg.hardware)

    def activate() -> None:
        subprocess.run(["systemctl", "restart", "hotspot-firmware.service"], check=False)
        subprocess.run(["systemctl", "start", "hotspot-ota-confirm.service"], check=False)

    from firmware import config as config_mod
    from hal.errors import HalError

    # The same device configuration the service reads: its fuel gauge and capture marker,
    # never an emulated default.
    device_config = args.config or cfg.device_config
    if not device_config:
        raise UserError(
            "the agent needs the device configuration: --config FILE, or device_config in "
            f"{settings.path(layout)}"
        )
    try:
        device = config_mod.load(device_config)
    except HalError as exc:
        raise UserError(str(exc)) from None
    marker = Path(device.device.capture_marker)

    def conditions() -> str | None:
        if marker.exists():
            return "capture in progress"
        from firmware.wiring import Devices

        try:
            with Devices(device) as devices:
                soc = devices.fuel_gauge.read().soc_percent
        except HalError as exc:
            return f"battery unknown ({exc})"
        if soc < cfg.min_battery_percent:
            return f"battery {soc:.0f}% < {cfg.min_battery_percent:.0f}%"
        return None

    agent = RolloutAgent(layout, cfg.mqtt, installer, activate, conditions).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_a: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    agent.stop()
    return 0
