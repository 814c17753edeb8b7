"""``hotspot ota``: build and publish releases, install them on a device, follow the fleet.

Publishing side: ``build``, ``init-repo``, ``publish``, ``rotate-key``,
``timestamp``, ``serve``. Device side (each takes ``--root``, ``/`` on a
handheld): ``install-root``, ``update``, ``boot``, ``confirm``, ``slots``,
``agent``. Fleet: ``rollout``, ``status``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ota.errors import OtaError


def register(areas: Any) -> None:
    ota = areas.add_parser("ota", help="over-the-air updates: bundles, repository, slots, rollout")
    sub = ota.add_subparsers(dest="action", required=True, metavar="ACTION")

    build = sub.add_parser("build", help="build a reproducible bundle of the device application")
    build.add_argument("--version", required=True, help="the release, MAJOR.MINOR.PATCH")
    build.add_argument(
        "--min-previous", help="oldest installed version it may replace (default: itself)"
    )
    build.add_argument(
        "--hardware", action="append", default=[], help="compatible board id (repeatable)"
    )
    build.add_argument("--migration", action="append", default=[], help="declared migration step")
    build.add_argument("--source", type=Path, help="repository root (default: this checkout)")
    build.add_argument("--out", type=Path, default=Path("dist"), help="output directory")
    build.set_defaults(handler=cmd_build)

    def repo_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--repo", type=Path, required=True, help="repository directory")
        p.add_argument("--keys", type=Path, required=True, help="signing keys directory")

    init = sub.add_parser("init-repo", help="create a TUF update repository and its keys")
    repo_args(init)
    init.add_argument("--root-keys", type=int, default=3)
    init.add_argument("--root-threshold", type=int, default=2)
    init.set_defaults(handler=cmd_init_repo)

    publish = sub.add_parser("publish", help="add a bundle to the repository and re-sign")
    publish.add_argument("bundle", type=Path)
    repo_args(publish)
    publish.set_defaults(handler=cmd_publish)

    rotate = sub.add_parser("rotate-key", help="replace a role's keys (a new root says so)")
    rotate.add_argument("role", choices=("root", "targets", "snapshot", "timestamp"))
    repo_args(rotate)
    rotate.set_defaults(handler=cmd_rotate)

    stamp = sub.add_parser("timestamp", help="re-sign the timestamp (daily, from the online key)")
    repo_args(stamp)
    stamp.set_defaults(handler=cmd_timestamp)

    serve = sub.add_parser("serve", help="serve a repository over HTTP (with byte ranges)")
    serve.add_argument("--repo", type=Path, required=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(handler=cmd_serve)

    iroot = sub.add_parser(
        "install-root", help="lay out slots, state and systemd units under DIR, factory slot in"
    )
    iroot.add_argument("dir", type=Path)
    iroot.add_argument("--bundle", type=Path, required=True, help="the factory release bundle")
    iroot.add_argument("--trusted-root", type=Path, required=True, help="1.root.json to trust")
    iroot.add_argument("--repository", default="", help="base URL of the update repository")
    iroot.add_argument("--hardware", default="hotspot-h1")
    iroot.add_argument(
        "--health-arg", action="append", default=[], help="argument for 'hal health'"
    )
    iroot.add_argument(
        "--device-config",
        help="the device configuration the update settings and the agent read (default: "
        "DIR/etc/hotspot/device.toml when it exists)",
    )
    iroot.add_argument(
        "--interface-port",
        type=int,
        default=8080,
        help="the officer interface's port ([interface] port), opened by the kiosk unit",
    )
    iroot.set_defaults(handler=cmd_install_root)

    def root_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--root", type=Path, default=Path("/"), help="install root (default /)")

    update = sub.add_parser("update", help="install a release into the inactive slot (trial)")
    update.add_argument("version")
    root_arg(update)
    update.set_defaults(handler=cmd_update)

    boot = sub.add_parser("boot", help="guard: choose the slot to start (ExecStartPre)")
    root_arg(boot)
    boot.set_defaults(handler=cmd_boot)

    confirm = sub.add_parser("confirm", help="guard: health-check a trial, commit or roll back")
    root_arg(confirm)
    confirm.add_argument("--restart-unit", help="systemd unit to restart after a rollback")
    confirm.add_argument(
        "--require-active",
        metavar="UNIT",
        help="systemd unit that must be active for the release to pass (the firmware service)",
    )
    confirm.set_defaults(handler=cmd_confirm)

    show = sub.add_parser("slots", help="show this device's slots and the last update")
    root_arg(show)
    show.set_defaults(handler=cmd_slots)

    from ota import fleet_cli

    fleet_cli.register(sub, root_arg)


def _fail(exc: Exception) -> int:
    from hotspot.cli import UserError

    raise UserError(str(exc)) from None


def cmd_build(args: argparse.Namespace) -> int:
    from ota import bundle

    source = args.source or Path(bundle.__file__).resolve().parents[1]
    try:
        contents = bundle.collect(source)
        manifest, data = bundle.build(
            contents,
            args.version,
            args.min_previous or args.version,
            tuple(args.hardware) or ("hotspot-h1",),
            tuple(args.migration),
        )
    except OtaError as exc:
        return _fail(exc)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"hotspot-{manifest.version}.bundle"
    path.write_bytes(data)
    print(f"{path}: {len(data):,} bytes, {len(manifest.files)} files, version {manifest.version}")
    return 0


def cmd_init_repo(args: argparse.Namespace) -> int:
    from ota.repository import UpdateRepository

    try:
        repo = UpdateRepository.create(
            args.repo, args.keys, root_keys=args.root_keys, root_threshold=args.root_threshold
        )
    except OtaError as exc:
        return _fail(exc)
    print(f"repository in {args.repo}, keys in {args.keys} (keep the root keys offline)")
    print(f"ship {repo.metadata_dir / '1.root.json'} in the device image as its trusted root")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from ota.repository import UpdateRepository

    try:
        done = UpdateRepository(args.repo, args.keys).publish(args.bundle.read_bytes())
    except OSError as exc:
        return _fail(OtaError(f"cannot read {args.bundle}: {exc.strerror}"))
    except OtaError as exc:
        return _fail(exc)
    print(
        f"published {done.version}: bundle {done.bundle_bytes:,} bytes, "
        f"{done.blobs_added} new files ({done.blob_bytes_added:,} bytes)"
    )
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    from ota.repository import UpdateRepository

    try:
        keyids = UpdateRepository(args.repo, args.keys).rotate_key(args.role)
    except OtaError as exc:
        return _fail(exc)
    print(f"{args.role} now signed by {', '.join(k[:12] for k in keyids)}; the old keys are void")
    return 0


def cmd_timestamp(args: argparse.Namespace) -> int:
    from ota.repository import UpdateRepository

    try:
        version = UpdateRepository(args.repo, args.keys).refresh_timestamp()
    except OtaError as exc:
        return _fail(exc)
    print(f"timestamp version {version}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ota.serve import serving

    with serving(args.repo, host=args.host, port=args.port) as url:
        print(f"serving {args.repo} at {url} (Ctrl-C stops)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


def cmd_install_root(args: argparse.Namespace) -> int:
    from ota.layout import Layout
    from ota.rootfs import install_root
    from ota.settings import OtaSettings

    device_config = args.device_config or ""
    default = Layout(args.dir).config / "device.toml"
    if not device_config and default.is_file():
        device_config = str(default)
    if device_config and not Path(device_config).is_file():
        return _fail(OtaError(f"--device-config {device_config}: no such file"))
    try:
        version = install_root(
            args.dir,
            args.bundle.read_bytes(),
            args.trusted_root.read_bytes(),
            OtaSettings(
                args.repository, args.hardware, list(args.health_arg), device_config=device_config
            ),
            interface_port=args.interface_port,
        )
    except (OtaError, FileExistsError) as exc:
        return _fail(exc)
    except OSError as exc:
        return _fail(OtaError(f"cannot read {exc.filename}: {exc.strerror}"))
    print(f"{args.dir}: slot a holds {version}; units in {args.dir / 'etc/systemd/system'}")
    if device_config:
        print(f"update settings and the agent's broker from {device_config}")
    else:
        print(f"no device configuration at {default}: the update settings are ota.toml's alone")
    return 0


def _device(root: Path) -> tuple[Any, Any, Any]:
    from ota import settings
    from ota.layout import Layout

    layout = Layout(root)
    cfg = settings.load(layout)
    return layout, cfg, device_floor(layout, cfg)


def device_floor(layout: Any, cfg: Any) -> Any:
    """The configured anti-rollback floor; the secure element stays open until exit."""
    from ota.antirollback import FileFloor, SecureElementFloor

    if cfg.floor != "secure-element":
        return FileFloor(layout.floor_file)
    import atexit
    import contextlib

    from firmware import config as config_mod
    from firmware.wiring import Devices

    if not cfg.device_config:
        raise OtaError(
            f'{layout.config / "ota.toml"}: floor = "secure-element" needs device_config, the '
            "device configuration that names the secure element"
        )
    stack = contextlib.ExitStack()
    devices = stack.enter_context(Devices(config_mod.load(cfg.device_config)))
    atexit.register(stack.close)
    return SecureElementFloor(layout.floor_file, devices.secure_element)


def cmd_update(args: argparse.Namespace) -> int:
    from ota.client import UpdateClient
    from ota.install import Installer

    layout, cfg, floor = _device(args.root)
    if not cfg.repository:
        return _fail(OtaError(f"no repository in {layout.config / 'ota.toml'}"))
    shown = {"step": ""}

    def progress(step: str, done: int, total: int) -> None:
        if step != shown["step"]:
            shown["step"] = step
            print(f"  {step} ...", flush=True)
        if step == "download" and sys.stdout.isatty():
            print(f"\r  download {done:,}/{total:,} bytes", end="", flush=True)

    client = UpdateClient(layout.tuf, cfg.repository, layout.trusted_root.read_bytes())
    try:
        done = Installer(layout, client, floor, cfg.hardware, progress).install(args.version)
    except OtaError as exc:
        return _fail(exc)
    print(
        f"release {done.version} in slot {done.slot} (on trial): {done.bytes_downloaded:,} "
        f"bytes downloaded via {done.via}, {done.files_reused} files reused; restart to try it"
    )
    return 0


def cmd_boot(args: argparse.Namespace) -> int:
    from ota import boot

    layout, _cfg, floor = _device(args.root)
    try:
        slot = boot.boot(layout, floor)
    except OtaError as exc:
        return _fail(exc)
    print(f"starting slot {slot}")
    return 0


def cmd_confirm(args: argparse.Namespace) -> int:
    from ota import boot, health

    layout, cfg, floor = _device(args.root)
    try:

        def judge(slot: Path) -> health.HealthReport:
            if args.require_active:
                service = health.unit_active(args.require_active)
                if not service.ok:
                    return service
            return health.check_slot(slot, cfg.health_args, cfg.health_deadline_s)

        verdict = boot.confirm(layout, floor, judge)
    except OtaError as exc:
        return _fail(exc)
    if verdict.outcome == "nothing":
        print(f"no release on trial; running {verdict.version}")
        return 0
    if verdict.outcome == "installed":
        print(f"release {verdict.version} is healthy: committed")
        return 0
    print(f"release {verdict.version} rolled back: {verdict.reason}")
    if args.restart_unit:
        subprocess.run(["systemctl", "restart", args.restart_unit], check=False)
    return 3


def cmd_slots(args: argparse.Namespace) -> int:
    from ota import slots
    from ota.state import SlotState

    layout, _cfg, floor = _device(args.root)
    try:
        state = SlotState.load(layout.state_file)
        body = {
            "current": slots.active(layout),
            "good": {"slot": state.good, "version": state.good_version},
            "trial": (
                {"slot": state.trial, "version": state.trial_version, "starts": state.boots}
                if state.trial
                else None
            ),
            "floor": floor.version(),
            "last": state.last,
        }
    except OtaError as exc:
        return _fail(exc)
    print(json.dumps(body, indent=1))
    return 0
