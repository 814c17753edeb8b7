"""``hotspot provision`` and ``hotspot central``: set up a fleet, run and administer the gateway."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from central.provision import FleetCA, FleetLayout, broker_config, central_keys


def register(areas: Any) -> None:
    prov = areas.add_parser(
        "provision",
        help="create a fleet: CA, central keys, broker config with ACL, device certificates",
    )
    prov.add_argument("--dir", required=True, type=Path, help="fleet directory")
    prov.add_argument("--port", type=int, default=8883, help="broker TLS port")
    prov.add_argument("--device", action="append", default=[], help="issue a device certificate")
    prov.set_defaults(handler=cmd_provision)

    central = areas.add_parser("central", help="the central gateway")
    sub = central.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run a gateway instance (several may run side by side)")
    run.add_argument("--dir", required=True, type=Path)
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, help="broker port (default: the provisioned one)")
    run.add_argument("--instance", default="1")
    run.set_defaults(handler=cmd_run)

    wl = sub.add_parser("watchlist", help="manage the watchlist")
    wl_sub = wl.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = wl_sub.add_parser("add", help="add or replace an entry")
    add.add_argument("--dir", required=True, type=Path)
    add.add_argument("reference")
    add.add_argument("--notice", required=True, help="notice type, e.g. red-notice")
    add.add_argument(
        "--finger",
        action="append",
        default=[],
        metavar="POSITION:FILE",
        help="an ISO/IEC 19794-2 template file for a finger position (1-10)",
    )
    add.add_argument("--face", type=Path, help="an int8 face embedding file")
    add.set_defaults(handler=cmd_watchlist_add)
    ls = wl_sub.add_parser("list", help="list entries (references and notice types only)")
    ls.add_argument("--dir", required=True, type=Path)
    ls.set_defaults(handler=cmd_watchlist_list)
    rm = wl_sub.add_parser("remove", help="remove an entry")
    rm.add_argument("--dir", required=True, type=Path)
    rm.add_argument("reference")
    rm.set_defaults(handler=cmd_watchlist_remove)

    dev = sub.add_parser("devices", help="register or revoke devices")
    dev_sub = dev.add_subparsers(dest="action", required=True, metavar="ACTION")
    dadd = dev_sub.add_parser("add", help="register a device's identity key")
    dadd.add_argument("--dir", required=True, type=Path)
    dadd.add_argument("device_id")
    dadd.add_argument(
        "--public-key", required=True, help="the secure element's public key, 128 hex digits"
    )
    dadd.set_defaults(handler=cmd_devices_add)
    drev = dev_sub.add_parser("revoke", help="refuse a device's records from now on")
    drev.add_argument("--dir", required=True, type=Path)
    drev.add_argument("device_id")
    drev.set_defaults(handler=cmd_devices_revoke)
    dls = dev_sub.add_parser("list", help="list registered devices")
    dls.add_argument("--dir", required=True, type=Path)
    dls.set_defaults(handler=cmd_devices_list)


def _user_error(message: str) -> Exception:
    from hotspot.cli import UserError

    return UserError(message)


def cmd_provision(args: argparse.Namespace) -> int:
    layout = FleetLayout(args.dir)
    ca = FleetCA.create(layout.ca_dir)
    records, answers = central_keys(layout.keys_dir)
    ca.issue("central", layout.central_tls)
    conf = broker_config(layout.broker_dir, ca, args.port)
    layout.broker_port_file.write_text(str(args.port))
    print(f"fleet CA:          {ca.cert_path}")
    print(f"central keys:      {records} (records), {answers} (answers)")
    print(f"broker config:     {conf}  (mosquitto -c {conf})")
    for device_id in args.device:
        creds = ca.issue(device_id, layout.device_dir(device_id) / "tls")
        print(f"device {device_id}: {creds.cert}")
    return 0


def _processor(layout: FleetLayout) -> Any:
    from central.gateway import GatewayKeys, Processor
    from central.ledger import Ledger
    from central.matching import WatchlistMatcher
    from central.registry import DeviceRegistry
    from central.watchlist import SQLiteWatchlist

    if not layout.keys_dir.exists():
        raise _user_error(
            f"{layout.root} is not a provisioned fleet: run 'hotspot provision' first"
        )
    keys = GatewayKeys.load(layout.keys_dir / "records.key", layout.keys_dir / "answers.key")
    return Processor(
        keys,
        DeviceRegistry(layout.registry_db),
        Ledger(layout.ledger_db),
        WatchlistMatcher(SQLiteWatchlist(layout.watchlist_db)),
    )


def cmd_run(args: argparse.Namespace) -> int:
    from central.gateway import Gateway
    from central.provision import Credentials

    layout = FleetLayout(args.dir)
    processor = _processor(layout)
    port = args.port or int(layout.broker_port_file.read_text())
    creds = Credentials(
        layout.ca_dir / "ca.pem",
        layout.central_tls / "central.pem",
        layout.central_tls / "central.key",
    )
    # Index the watchlist before taking records, so the first answer is not minutes late.
    started = time.monotonic()
    people = processor.matcher.refresh()
    print(f"watchlist indexed: {people:,} people in {time.monotonic() - started:.1f} s", flush=True)
    gateway = Gateway(processor, creds, args.host, port, args.instance).start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if gateway.connected.wait(15):
        print(f"central gateway {args.instance} connected to {args.host}:{port}", flush=True)
    else:
        print(f"waiting for the broker at {args.host}:{port}...", file=sys.stderr, flush=True)
    stop.wait()
    gateway.stop()
    return 0


def cmd_watchlist_add(args: argparse.Namespace) -> int:
    from central.watchlist import SQLiteWatchlist, WatchlistEntry
    from wire.iso19794_2 import MinutiaeRecord, TemplateError

    fingers = []
    for spec in args.finger:
        position, _, path = spec.partition(":")
        if not position.isdigit() or not 1 <= int(position) <= 10 or not path:
            raise _user_error(f"--finger {spec!r}: use POSITION:FILE with a position 1-10")
        data = Path(path).read_bytes()
        try:
            MinutiaeRecord.decode(data)
        except TemplateError as exc:
            raise _user_error(f"{path} is not an ISO/IEC 19794-2 record: {exc}") from exc
        fingers.append((int(position), data))
    face = args.face.read_bytes() if args.face else None
    if not fingers and face is None:
        raise _user_error("an entry needs at least one --finger or a --face")
    SQLiteWatchlist(FleetLayout(args.dir).watchlist_db).add(
        WatchlistEntry(args.reference, args.notice, tuple(fingers), face)
    )
    print(f"added {args.reference} ({args.notice}): {len(fingers)} finger(s), face: {bool(face)}")
    return 0


def cmd_watchlist_list(args: argparse.Namespace) -> int:
    from central.watchlist import SQLiteWatchlist

    store = SQLiteWatchlist(FleetLayout(args.dir).watchlist_db)
    for entry in store.entries():
        positions = ",".join(str(p) for p, _ in entry.fingers) or "-"
        face = "yes" if entry.face else "no"
        print(f"{entry.reference:<24} {entry.notice:<16} fingers {positions:<10} face {face}")
    print(f"{len(store)} entries")
    return 0


def cmd_watchlist_remove(args: argparse.Namespace) -> int:
    from central.watchlist import SQLiteWatchlist

    if not SQLiteWatchlist(FleetLayout(args.dir).watchlist_db).remove(args.reference):
        raise _user_error(f"no watchlist entry {args.reference!r}")
    print(f"removed {args.reference}")
    return 0


def cmd_devices_add(args: argparse.Namespace) -> int:
    from central.registry import DeviceRegistry

    try:
        key = bytes.fromhex(args.public_key)
        DeviceRegistry(FleetLayout(args.dir).registry_db).add(args.device_id, key)
    except ValueError as exc:
        raise _user_error(f"cannot register {args.device_id}: {exc}") from exc
    print(f"registered {args.device_id}")
    return 0


def cmd_devices_revoke(args: argparse.Namespace) -> int:
    from central.registry import DeviceRegistry

    layout = FleetLayout(args.dir)
    if not DeviceRegistry(layout.registry_db).revoke(args.device_id):
        raise _user_error(f"{args.device_id} is not registered or already revoked")
    certificates = FleetCA(layout.ca_dir).revoke(args.device_id)
    print(f"revoked {args.device_id}: its records are refused from now on")
    print(
        f"{certificates} certificate(s) added to {FleetCA(layout.ca_dir).crl_path}; reload the "
        "broker (systemctl reload mosquitto, or kill -HUP its pid) to refuse its connections"
    )
    return 0


def cmd_devices_list(args: argparse.Namespace) -> int:
    from central.registry import DeviceRegistry

    for device in DeviceRegistry(FleetLayout(args.dir).registry_db).all():
        print(f"{device.device_id:<24} {'revoked' if device.revoked else 'active'}")
    return 0
