"""``hotspot device enrol`` and ``hotspot device install-bundle`` (see :mod:`firmware.enrol`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any


def add_commands(
    device_sub: Any, config_options: Callable[[argparse.ArgumentParser], None]
) -> None:
    enrol = device_sub.add_parser(
        "enrol",
        help="make this handheld's TLS key (kept here) and its enrolment request for central",
    )
    config_options(enrol)
    enrol.add_argument(
        "--out", type=Path, help="where to write the request (default: DEVICE-ID.enrol.json)"
    )
    enrol.add_argument(
        "--rotate",
        action="store_true",
        help="make a new TLS key; the current one works until central's new bundle is installed",
    )
    enrol.set_defaults(handler=cmd_enrol)
    install = device_sub.add_parser(
        "install-bundle",
        help="install central's provisioning bundle: broker, certificates, central keys",
    )
    install.add_argument("--config", required=True, type=Path, help="device configuration (TOML)")
    install.add_argument("bundle", type=Path, help="the bundle 'hotspot central enrol' wrote")
    install.set_defaults(handler=cmd_install_bundle)


def cmd_enrol(args: argparse.Namespace) -> int:
    from firmware.cli import load_config
    from firmware.enrol import make_request
    from firmware.wiring import Devices

    cfg = load_config(args)
    with Devices(cfg) as devices:
        request, key = make_request(cfg, devices.secure_element, rotate=args.rotate)
    out = args.out or Path(f"{request.device_id}.enrol.json")
    out.write_bytes(request.encode())
    print(f"TLS key {key} (stays on this handheld)")
    print(f"enrolment request {out}: take it to central ('hotspot central enrol')")
    return 0


def cmd_install_bundle(args: argparse.Namespace) -> int:
    from firmware.enrol import EnrolmentFailed, install_bundle
    from wire.enrolment import EnrolmentError, ProvisioningBundle

    try:
        bundle = ProvisioningBundle.decode(args.bundle.read_bytes())
    except OSError as exc:
        raise EnrolmentFailed(f"cannot read {args.bundle}: {exc.strerror}") from None
    except EnrolmentError as exc:
        raise EnrolmentFailed(f"{args.bundle}: {exc}") from None
    for line in install_bundle(args.config, bundle):
        print(line)
    for note in bundle.notes:
        print(f"note: {note}")
    print(f"{bundle.device_id} will reach the broker at {bundle.broker_host}:{bundle.broker_port}")
    return 0
