"""``hotspot provision`` and ``hotspot central``: set up a fleet, run and administer the gateway."""

from __future__ import annotations

import argparse
import ipaddress
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
    prov.add_argument(
        "--listen",
        default="127.0.0.1",
        metavar="ADDR",
        help="the address the broker listens on (0.0.0.0: every interface; default 127.0.0.1)",
    )
    prov.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="HOST",
        help="a host name or address devices reach the broker by (repeat; goes into the "
        "broker's certificate beside localhost and 127.0.0.1)",
    )
    prov.add_argument("--device", action="append", default=[], help="issue a device certificate")
    prov.add_argument(
        "--database",
        metavar="URL",
        help="the central database: postgresql://USER@HOST:PORT/DB shared by gateways on "
        "several hosts (default: SQLite in the fleet directory)",
    )
    prov.set_defaults(handler=cmd_provision)

    central = areas.add_parser("central", help="the central gateway")
    sub = central.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run a gateway instance (several may run side by side)")
    run.add_argument("--dir", required=True, type=Path, help="fleet directory")
    run.add_argument("--host", default="127.0.0.1", help="the broker's address")
    run.add_argument("--port", type=int, help="broker port (default: the provisioned one)")
    run.add_argument(
        "--instance", default="1", help="this instance's name on its host (1, 2, ... per core)"
    )
    run.add_argument(
        "--telemetry-days",
        type=float,
        default=90.0,
        help="how long the devices' telemetry is kept, in days (default 90)",
    )
    run.add_argument(
        "--metrics",
        metavar="ADDR:PORT",
        help="serve /metrics (Prometheus) and /health on this address, e.g. 127.0.0.1:9101",
    )
    run.set_defaults(handler=cmd_run)

    from central.admin_cli import register_admin

    register_admin(sub)


def _user_error(message: str) -> Exception:
    from hotspot.cli import UserError

    return UserError(message)


def cmd_provision(args: argparse.Namespace) -> int:
    layout = FleetLayout(args.dir)
    ca = FleetCA.create(layout.ca_dir)
    records, answers = central_keys(layout.keys_dir)
    if not 0 < args.port < 65536:
        raise _user_error(f"--port {args.port} is not a TCP port (1-65535)")
    try:
        ipaddress.ip_address(args.listen)
    except ValueError:
        raise _user_error(f"--listen {args.listen!r} is not an address (e.g. 0.0.0.0)") from None
    if not (layout.central_tls / "central.pem").exists():
        ca.issue("central", layout.central_tls)
    conf = broker_config(layout.broker_dir, ca, args.port, bind=args.listen, names=tuple(args.name))
    layout.broker_port_file.write_text(str(args.port))
    if args.database:
        from central.database import Database, DatabaseError

        try:
            Database(args.database).close()  # reachable and migrated before it is written
        except DatabaseError as exc:
            raise _user_error(str(exc)) from None
        layout.database_file.write_text(args.database + "\n")
    store = _store(layout)
    print(f"central database:  {layout.database_url} (schema version {store.db.version()})")
    print(f"fleet CA:          {ca.cert_path}")
    print(f"central keys:      {records} (records), {answers} (answers)")
    print(f"broker config:     {conf}  (mosquitto -c {conf})")
    for device_id in args.device:
        try:
            tls = layout.device_dir(device_id) / "tls"
        except ValueError as exc:
            raise _user_error(f"--device {device_id!r}: {exc}") from None
        if (tls / f"{device_id}.pem").exists():
            print(f"device {device_id}: kept {tls / f'{device_id}.pem'} (nothing is re-keyed)")
            continue
        creds = ca.issue(device_id, tls)
        print(f"device {device_id}: {creds.cert}")
    return 0


def _store(layout: FleetLayout) -> Any:
    """The fleet's central database, opened (and migrated); a UserError says what is wrong."""
    from central.database import DatabaseError
    from central.store import Store

    if not layout.keys_dir.exists():
        raise _user_error(
            f"{layout.root} is not a provisioned fleet: run 'hotspot provision --dir {layout.root}'"
        )
    try:
        return Store.open(layout.database_url)
    except DatabaseError as exc:
        raise _user_error(str(exc)) from None


def _processor(layout: FleetLayout, instance: str) -> Any:
    import socket

    from central.database import Database
    from central.matching import WatchlistMatcher
    from central.processor import GatewayKeys, Processor
    from central.watchlist import Watchlist

    store = _store(layout)
    keys = GatewayKeys.load(layout.keys_dir / "records.key", layout.keys_dir / "answers.key")
    # The matcher reads the watchlist on a connection of its own, beside the records'.
    matcher = WatchlistMatcher(Watchlist(Database(layout.database_url)))
    owner = f"{socket.gethostname()}/{instance}"
    return Processor(keys, store.registry, store.ledger, matcher, store.verification, owner)


def cmd_run(args: argparse.Namespace) -> int:
    from central.gateway import Gateway
    from central.provision import Credentials

    layout = FleetLayout(args.dir)
    processor = _processor(layout, args.instance)
    port = args.port or int(layout.broker_port_file.read_text())
    creds = Credentials(
        layout.ca_dir / "ca.pem",
        layout.central_tls / "central.pem",
        layout.central_tls / "central.key",
    )
    for needed in (creds.ca, creds.cert, creds.key):
        if not needed.exists():
            raise _user_error(f"{needed} is missing: run 'hotspot provision --dir {args.dir}'")
    # Index the watchlist before taking records, so the first answer is not minutes late.
    started = time.monotonic()
    people = processor.matcher.refresh()
    print(f"watchlist indexed: {people:,} people in {time.monotonic() - started:.1f} s", flush=True)
    metrics_address = _address(args.metrics, "--metrics") if args.metrics else None
    metrics = None
    if metrics_address:
        try:
            from central.metrics import Metrics, MetricsServer
        except ImportError:
            raise _user_error(
                "--metrics needs prometheus-client: pip install 'hotspot[central]'"
            ) from None
        metrics = Metrics()
    processor.matcher.start()
    gateway = Gateway(
        processor,
        creds,
        args.host,
        port,
        args.instance,
        telemetry_days=args.telemetry_days,
        metrics=metrics,
    ).start()
    server = None
    if metrics is not None and metrics_address is not None:
        try:
            server = MetricsServer(metrics, *metrics_address, gateway.health).start()
        except OSError as exc:
            gateway.stop()
            raise _user_error(f"cannot serve metrics on {args.metrics}: {exc.strerror}") from None
        print(f"metrics and health at http://{args.metrics}/metrics and /health", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if gateway.connected.wait(15):
        print(f"central gateway {args.instance} connected to {args.host}:{port}", flush=True)
    else:
        print(f"waiting for the broker at {args.host}:{port}...", file=sys.stderr, flush=True)
    stop.wait()
    if server is not None:
        server.stop()
    gateway.stop()
    processor.matcher.stop()
    return 0


def _address(text: str, option: str) -> tuple[str, int]:
    """HOST:PORT, or a one-line error saying what is wrong."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise _user_error(f"{option} {text!r}: give ADDRESS:PORT, e.g. 127.0.0.1:9101")
    return host.strip("[]"), int(port)
