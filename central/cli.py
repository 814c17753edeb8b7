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
from wire import face as face_wire


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

    wl = sub.add_parser("watchlist", help="manage the watchlist")
    wl_sub = wl.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = wl_sub.add_parser("add", help="add an entry (or replace one, --replace)")
    add.add_argument("--dir", required=True, type=Path, help="fleet directory")
    add.add_argument("reference")
    add.add_argument("--notice", required=True, help="notice type, e.g. red-notice")
    add.add_argument(
        "--finger",
        action="append",
        default=[],
        metavar="POSITION:FILE",
        help="an ISO/IEC 19794-2 template file for a finger position (1-10)",
    )
    add.add_argument("--face", type=Path, help="an int8 face embedding file (128 bytes)")
    add.add_argument(
        "--face-model",
        default=face_wire.VERSION,
        help=f"the model that made the embedding (default {face_wire.VERSION}, what devices send)",
    )
    add.add_argument(
        "--replace", action="store_true", help="replace the entry if the reference is listed"
    )
    add.set_defaults(handler=cmd_watchlist_add)
    ls = wl_sub.add_parser("list", help="list entries (references and notice types only)")
    ls.add_argument("--dir", required=True, type=Path, help="fleet directory")
    ls.set_defaults(handler=cmd_watchlist_list)
    rm = wl_sub.add_parser("remove", help="remove an entry")
    rm.add_argument("--dir", required=True, type=Path, help="fleet directory")
    rm.add_argument("reference")
    rm.set_defaults(handler=cmd_watchlist_remove)

    dev = sub.add_parser("devices", help="register or revoke devices")
    dev_sub = dev.add_subparsers(dest="action", required=True, metavar="ACTION")
    dadd = dev_sub.add_parser("add", help="register a device's identity key")
    dadd.add_argument("--dir", required=True, type=Path, help="fleet directory")
    dadd.add_argument("device_id")
    dadd.add_argument(
        "--public-key", required=True, help="the secure element's public key, 128 hex digits"
    )
    dadd.set_defaults(handler=cmd_devices_add)
    drev = dev_sub.add_parser("revoke", help="refuse a device's records from now on")
    drev.add_argument("--dir", required=True, type=Path, help="fleet directory")
    drev.add_argument("device_id")
    drev.set_defaults(handler=cmd_devices_revoke)
    dls = dev_sub.add_parser("list", help="list registered devices")
    dls.add_argument("--dir", required=True, type=Path, help="fleet directory")
    dls.set_defaults(handler=cmd_devices_list)

    con = sub.add_parser("console", help="the operations console, a web application over TLS")
    con.add_argument("--dir", required=True, type=Path, help="fleet directory")
    con.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    con.add_argument("--port", type=int, default=8443, help="the TLS port to listen on")
    con.add_argument(
        "--name",
        action="append",
        default=[],
        help="a host name or address browsers reach the console by (repeat; goes into its "
        "certificate beside localhost and 127.0.0.1)",
    )
    con.set_defaults(handler=cmd_console)

    acc = sub.add_parser("account", help="the console's accounts")
    acc_sub = acc.add_subparsers(dest="action", required=True, metavar="ACTION")
    aadd = acc_sub.add_parser("add", help="make an account (or set its role and password)")
    aadd.add_argument("--dir", required=True, type=Path, help="fleet directory")
    aadd.add_argument("name", help="the account name")
    aadd.add_argument(
        "--role",
        required=True,
        choices=("viewer", "examiner", "supervisor", "administrator"),
        help="what the account may do (each role includes the ones before it)",
    )
    aadd.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of asking",
    )
    aadd.add_argument("--replace", action="store_true", help="change an existing account")
    aadd.set_defaults(handler=cmd_account_add)
    als = acc_sub.add_parser("list", help="list the accounts and their roles")
    als.add_argument("--dir", required=True, type=Path, help="fleet directory")
    als.set_defaults(handler=cmd_account_list)

    ver = sub.add_parser("verify", help="the examiners' queue of possible matches")
    ver_sub = ver.add_subparsers(dest="action", required=True, metavar="ACTION")
    vls = ver_sub.add_parser("list", help="possible matches (pending by default)")
    vls.add_argument("--dir", required=True, type=Path, help="fleet directory")
    vls.add_argument(
        "--state", default="pending", choices=("pending", "confirmed", "rejected", "all")
    )
    vls.set_defaults(handler=cmd_verify_list)
    for action, text in (
        ("confirm", "confirm a possible match: the handheld gets a final HIT"),
        ("reject", "reject a possible match: the handheld gets a final NO HIT"),
    ):
        decide = ver_sub.add_parser(action, help=text)
        decide.add_argument("--dir", required=True, type=Path, help="fleet directory")
        decide.add_argument("record", help="the record id (at least its first 8 hex digits)")
        decide.add_argument("--examiner", required=True, help="who decides (kept in the audit)")
        decide.add_argument("--note", default="", help="why (kept in the audit)")
        decide.set_defaults(handler=cmd_verify_decide)


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
    from central.gateway import GatewayKeys, Processor
    from central.matching import WatchlistMatcher
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


def cmd_watchlist_add(args: argparse.Namespace) -> int:
    from central.watchlist import WatchlistEntry, WatchlistError

    fingers = []
    for spec in args.finger:
        position, _, path = spec.partition(":")
        if not position.isdigit() or not 1 <= int(position) <= 10 or not path:
            raise _user_error(f"--finger {spec!r}: use POSITION:FILE with a position 1-10")
        fingers.append((int(position), _read(Path(path))))
    face = _read(args.face) if args.face else None
    entry = WatchlistEntry(args.reference, args.notice, tuple(fingers), face, args.face_model)
    store = _store(FleetLayout(args.dir))
    try:
        store.watchlist.add(entry, replace=args.replace)
    except WatchlistError as exc:
        raise _user_error(str(exc)) from None
    verb = "replaced" if args.replace else "added"
    print(f"{verb} {args.reference} ({args.notice}): {len(fingers)} finger(s), face: {bool(face)}")
    return 0


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _user_error(f"cannot read {path}: {exc.strerror}") from None


def cmd_watchlist_list(args: argparse.Namespace) -> int:
    store = _store(FleetLayout(args.dir))
    count = 0
    for entry in store.watchlist.entries():
        positions = ",".join(str(p) for p, _ in entry.fingers) or "-"
        face = "yes" if entry.face else "no"
        print(f"{entry.reference:<24} {entry.notice:<16} fingers {positions:<10} face {face}")
        count += 1
    print(f"{count} entries")
    return 0


def cmd_watchlist_remove(args: argparse.Namespace) -> int:
    if not _store(FleetLayout(args.dir)).watchlist.remove(args.reference):
        raise _user_error(f"no watchlist entry {args.reference!r}")
    print(f"removed {args.reference}")
    return 0


def cmd_devices_add(args: argparse.Namespace) -> int:
    store = _store(FleetLayout(args.dir))
    try:
        key = bytes.fromhex(args.public_key)
        store.registry.add(args.device_id, key)
    except ValueError as exc:
        raise _user_error(f"cannot register {args.device_id}: {exc}") from exc
    print(f"registered {args.device_id}")
    return 0


def cmd_devices_revoke(args: argparse.Namespace) -> int:
    layout = FleetLayout(args.dir)
    if not _store(layout).registry.revoke(args.device_id):
        raise _user_error(f"{args.device_id} is not registered or already revoked")
    certificates = FleetCA(layout.ca_dir).revoke(args.device_id)
    print(f"revoked {args.device_id}: its records are refused from now on")
    print(
        f"{certificates} certificate(s) added to {FleetCA(layout.ca_dir).crl_path}; reload the "
        "broker (systemctl reload mosquitto, or kill -HUP its pid) to refuse its connections"
    )
    return 0


def cmd_devices_list(args: argparse.Namespace) -> int:
    for device in _store(FleetLayout(args.dir)).registry.all():
        print(f"{device.device_id:<24} {'revoked' if device.revoked else 'active'}")
    return 0


def cmd_verify_list(args: argparse.Namespace) -> int:
    store = _store(FleetLayout(args.dir))
    state = None if args.state == "all" else args.state
    items = store.verification.items(state)
    for item in items:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(item.created_ms / 1000))
        decided = f"  {item.state} by {item.decided_by}" if item.decided_by else ""
        training = "  TRAINING" if item.training else ""
        print(
            f"{item.record_hex[:16]}  {when}Z  {item.device_id:<14} {item.reference:<20} "
            f"{'+'.join(item.modalities):<17} FMR {item.fmr or 0:.1e}{decided}{training}"
        )
    counts = store.verification.counts()
    print(", ".join(f"{n} {state}" for state, n in counts.items()))
    return 0


def cmd_verify_decide(args: argparse.Namespace) -> int:
    from central.verification import VerificationError

    store = _store(FleetLayout(args.dir))
    try:
        item = store.verification.find(args.record)
        store.verification.decide(
            item.record_id, args.action == "confirm", args.examiner, args.note
        )
    except VerificationError as exc:
        raise _user_error(str(exc)) from None
    outcome = "HIT" if args.action == "confirm" else "NO HIT"
    print(
        f"{args.action}ed {item.record_hex[:16]} ({item.reference}) as {args.examiner}: a gateway "
        f"sends {item.device_id} the final answer, {outcome}"
    )
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    try:
        from central.console.app import create_app
        from central.console.server import ConsoleError, ConsoleServer
    except ImportError as exc:
        raise _user_error(
            f"the console needs {exc.name}: pip install 'hotspot[central]' (./dev installs it)"
        ) from None

    layout = FleetLayout(args.dir)
    store = _store(layout)
    cert = layout.console_tls / "console.pem"
    wanted = tuple(args.name)
    if not cert.exists() or _names_changed(cert, wanted):
        FleetCA(layout.ca_dir).issue("console", layout.console_tls, server=True, names=wanted)
    server = ConsoleServer(
        create_app(store), args.host, args.port, cert, layout.console_tls / "console.key"
    )
    try:
        server.start()
    except ConsoleError as exc:
        raise _user_error(str(exc)) from None
    print(f"console at {server.url} (certificate from the fleet CA {layout.ca_dir / 'ca.pem'})")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


def _names_changed(cert: Path, wanted: tuple[str, ...]) -> bool:
    from cryptography import x509

    issued = x509.load_pem_x509_certificate(cert.read_bytes())
    names = issued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    have = {str(getattr(n, "value", "")) for n in names}
    return not set(wanted) <= have


def cmd_account_add(args: argparse.Namespace) -> int:
    import getpass

    from central.console.accounts import AccountError, Accounts

    store = _store(FleetLayout(args.dir))
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise _user_error("the two passwords differ; nothing was changed")
    try:
        Accounts(store.db).add(args.name, args.role, password, replace=args.replace)
    except AccountError as exc:
        raise _user_error(str(exc)) from None
    store.ledger.audit("console account set", detail=f"{args.name} as {args.role}", actor="cli")
    print(f"account {args.name}: {args.role}")
    return 0


def cmd_account_list(args: argparse.Namespace) -> int:
    from central.console.accounts import Accounts

    for name, role in Accounts(_store(FleetLayout(args.dir)).db).names():
        print(f"{name:<24} {role}")
    return 0
