"""``hotspot central`` administration: watchlist, devices, enrolment, verification, console
and accounts, reports. The fleet's commands that run services are in :mod:`central.cli`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from central.cli import _address, _store, _user_error
from central.provision import FleetCA, FleetLayout
from wire import face as face_wire


def register_admin(sub: Any) -> None:
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

    enr = sub.add_parser(
        "enrol", help="enrol a handheld from its request; write its provisioning bundle"
    )
    enr.add_argument("--dir", required=True, type=Path, help="fleet directory")
    enr.add_argument("request", type=Path, help="the request 'hotspot device enrol' wrote")
    enr.add_argument(
        "--broker",
        required=True,
        metavar="HOST:PORT",
        help="where the handheld reaches the broker (a name in the broker's certificate)",
    )
    enr.add_argument("--out", type=Path, help="the bundle (default: DEVICE-ID.bundle.json)")
    enr.add_argument("--group", default="default", help="the rollout group it follows")
    enr.add_argument("--repository", default="", help="the update repository's base URL")
    enr.add_argument("--update-root", type=Path, help="the update repository's 1.root.json")
    enr.add_argument(
        "--renew",
        action="store_true",
        help="issue a new certificate (renewal, or a rotated TLS key); the old one stays valid",
    )
    enr.add_argument(
        "--new-identity",
        action="store_true",
        help="accept another identity key for an enrolled device (a replaced secure element)",
    )
    enr.set_defaults(handler=cmd_enrol)

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

    rep = sub.add_parser("report", help="what an operation checked and found (CSV, PDF)")
    rep.add_argument("--dir", required=True, type=Path, help="fleet directory")
    rep.add_argument("--operation", help="the operation id (without it: list the operations)")
    rep.add_argument("--csv", type=Path, help="also write the per-device, per-day table as CSV")
    rep.add_argument("--pdf", type=Path, help="also write the report with its charts as PDF")
    rep.set_defaults(handler=cmd_report)


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
        create_app(store, layout), args.host, args.port, cert, layout.console_tls / "console.key"
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


def cmd_enrol(args: argparse.Namespace) -> int:
    from central.enrol import EnrolRefused, enrol
    from wire.enrolment import EnrolmentError, EnrolmentRequest

    layout = FleetLayout(args.dir)
    store = _store(layout)
    broker = _address(args.broker, "--broker")
    try:
        request = EnrolmentRequest.decode(_read(args.request))
        done = enrol(
            layout,
            store,
            request,
            broker,
            group=args.group,
            repository=args.repository,
            update_root=args.update_root,
            renew=args.renew,
            new_identity=args.new_identity,
        )
    except (EnrolmentError, EnrolRefused) as exc:
        raise _user_error(f"{args.request}: {exc}") from None
    except ValueError as exc:
        raise _user_error(f"{args.request}: {exc}") from None
    out = args.out or Path(f"{request.device_id}.bundle.json")
    out.write_bytes(done.bundle.encode())
    print(
        f"{request.device_id}: identity key {'registered' if done.registered else 'unchanged'}, "
        f"certificate {'issued' if done.issued else 'unchanged'}"
    )
    print(f"bundle {out}: install it with 'hotspot device install-bundle' on the handheld")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from central import report

    store = _store(FleetLayout(args.dir))
    known = report.operations(store.db)
    if args.operation is None:
        for name, count in known:
            print(f"{name:<32} {count:>8} checks answered")
        print(f"{len(known)} operation(s)")
        return 0
    if args.operation not in {name for name, _ in known}:
        raise _user_error(f"no check belongs to operation {args.operation!r}; see the list "
                          "without --operation")  # fmt: skip
    built = report.build(store.db, args.operation)
    outcomes = ", ".join(f"{o.replace('_', ' ')} {built.outcomes[o]}" for o in report.OUTCOME_ORDER)
    print(f"operation {built.operation}: {built.checks} people checked ({outcomes}); "
          f"{built.training_checks} training check(s) not counted")  # fmt: skip
    for notice, count in sorted(built.hits_by_notice.items()):
        print(f"  HITs, {notice}: {count}")
    if built.median_s is not None:
        print(f"  check to answer: median {built.median_s:.1f} s, 95th percentile "
              f"{built.p95_s:.1f} s")  # fmt: skip
    if args.csv:
        args.csv.write_bytes(built.to_csv().encode())
        print(f"CSV: {args.csv}")
    if args.pdf:
        try:
            from central import charts
        except ImportError:
            raise _user_error("the PDF needs matplotlib: pip install 'hotspot[central]'") from None
        args.pdf.write_bytes(charts.report_pdf(built))
        print(f"PDF: {args.pdf}")
    return 0
