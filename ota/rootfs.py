"""``hotspot ota install-root DIR``: the device's slot layout and systemd units under DIR.

On a handheld DIR is ``/`` (run once when the image is built); the tests and
the demo use a temporary directory, so that they exercise the same layout,
guard script and state files the field does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ota.install import install_factory
from ota.layout import Layout
from ota.settings import OtaSettings

GUARD = """#!/bin/sh
# The update guard, run from the GOOD slot's code: a release on trial never
# judges itself. Written by 'hotspot ota install-root'.
good=$(sed -n 's/^ *"good": "\\([ab]\\)".*/\\1/p' '{state}')
[ -n "$good" ] || {{ echo "hotspot-guard: cannot read {state}" >&2; exit 1; }}
PYTHONPATH='{slots}'/"$good"/app exec '{python}' -m hotspot ota "$@" --root '{root}'
"""

FIRMWARE_UNIT = """[Unit]
Description=HOTSPOT handheld firmware (slot {opt}/current)
After=network-online.target
Wants=network-online.target
# A crash loop must reach the guard's boot count, not systemd's start limit.
StartLimitIntervalSec=0

[Service]
Type=notify
NotifyAccess=main
WatchdogSec=30
Restart=always
RestartSec=5
Environment=PYTHONPATH={opt}/current/app
WorkingDirectory={var}
ExecStartPre={opt}/bin/hotspot-guard boot
ExecStart={python} -m hotspot device run --config {etc}/device.toml --data {var}/data
TimeoutStartSec=120

[Install]
WantedBy=multi-user.target
"""

CONFIRM_UNIT = """[Unit]
Description=HOTSPOT update health check (commit or roll back a release on trial)
After=hotspot-firmware.service
Requires=hotspot-firmware.service

[Service]
Type=oneshot
ExecStart={opt}/bin/hotspot-guard confirm \
    --require-active hotspot-firmware.service --restart-unit hotspot-firmware.service

[Install]
WantedBy=multi-user.target
"""

AGENT_UNIT = """[Unit]
Description=HOTSPOT update agent (follows the fleet rollout over MQTT)
After=network-online.target

[Service]
ExecStart={opt}/bin/hotspot-guard agent
Restart=always
RestartSec=30

[Install]
WantedBy=multi-user.target
"""

KIOSK_UNIT = """[Unit]
Description=HOTSPOT officer interface: Chromium in kiosk mode under the cage Wayland compositor
# The page is served by the device service on 127.0.0.1 only; cage runs one full-screen
# client on the first virtual terminal, as the unprivileged user hotspot-kiosk (create it
# with: useradd --system --groups video,render,input hotspot-kiosk).
After=hotspot-firmware.service systemd-user-sessions.service
Wants=hotspot-firmware.service
Conflicts=getty@tty1.service
After=getty@tty1.service

[Service]
User=hotspot-kiosk
PAMName=login
TTYPath=/dev/tty1
UtmpIdentifier=tty1
UtmpMode=user
StandardInput=tty-fail
StandardOutput=journal
RuntimeDirectory=hotspot-kiosk
RuntimeDirectoryMode=0700
Environment=XDG_SESSION_TYPE=wayland
# Incognito with its profile on tmpfs: nothing of a check (no print, no photo) is ever
# written to the card by the browser; no network beyond the device is asked for.
ExecStart=/usr/bin/cage -d -s -- {chromium} --kiosk --app={url} \
    --ozone-platform=wayland --incognito --user-data-dir=/run/hotspot-kiosk/profile \
    --no-first-run --noerrdialogs --disable-session-crashed-bubble --disable-translate \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-features=Translate,MediaRouter --autoplay-policy=no-user-gesture-required \
    --overscroll-history-navigation=0 --disable-pinch
Restart=always
RestartSec=2

[Install]
WantedBy=graphical.target
"""

CENTRAL_UNIT = """[Unit]
Description=HOTSPOT central gateway (one instance per core: hotspot-central@1, @2 ...)
After=network-online.target mosquitto.service

[Service]
Type=simple
Environment=OPENBLAS_NUM_THREADS=1
Environment=HOTSPOT_LOG_FORMAT=json
ExecStart={python} -m hotspot central run --dir /var/lib/hotspot-central \
    --instance %i --metrics 127.0.0.1:910%i
Restart=always
RestartSec=5
WatchdogSec=0

[Install]
WantedBy=multi-user.target
"""

UNITS = {
    "hotspot-firmware.service": FIRMWARE_UNIT,
    "hotspot-kiosk.service": KIOSK_UNIT,
    "hotspot-ota-confirm.service": CONFIRM_UNIT,
    "hotspot-ota-agent.service": AGENT_UNIT,
    "hotspot-central@.service": CENTRAL_UNIT,
}


def install_root(
    root: Path,
    bundle: bytes,
    trusted_root: bytes,
    settings: OtaSettings,
    python: str = sys.executable,
    interface_port: int = 8080,
    chromium: str = "/usr/bin/chromium",
) -> str:
    """Lay out ``root``, install ``bundle`` as the factory slot; returns its version.

    ``interface_port`` is the device configuration's ``[interface] port``: the kiosk opens
    the officer interface there.
    """
    layout = Layout(root)
    if layout.state_file.exists():
        raise FileExistsError(f"{root} already holds an installation ({layout.state_file})")
    for directory in (layout.slots, layout.data, layout.keys, layout.ota, layout.units):
        directory.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.keys, 0o700)
    os.chmod(layout.data, 0o700)
    layout.trusted_root.parent.mkdir(parents=True, exist_ok=True)
    layout.trusted_root.write_bytes(trusted_root)
    layout.config.mkdir(parents=True, exist_ok=True)
    (layout.config / "ota.toml").write_text(settings.dump())
    names = {
        "opt": layout.opt,
        "var": layout.var,
        "etc": layout.config,
        "python": python,
        "state": layout.state_file,
        "slots": layout.slots,
        "root": root,
        "url": f"http://127.0.0.1:{interface_port}/",
        "chromium": chromium,
    }
    guard = layout.opt / "bin" / "hotspot-guard"
    guard.parent.mkdir(parents=True, exist_ok=True)
    guard.write_text(GUARD.format(**names))
    guard.chmod(0o755)
    for name, text in UNITS.items():
        (layout.units / name).write_text(text.format(**names))
    return install_factory(layout, bundle)
