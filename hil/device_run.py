"""Run one emulated handheld as its own process, for crash tests and the uplink benchmark.

``python -m hil.device_run --dir DIR --device ID [--drain] [--checks N]``

It captures from the emulated sensor, builds, seals and queues checks in a
loop (printing ``Q <record id>`` once a check is durably queued) while the
uplink flushes, until killed — or, with ``--drain``, takes no new checks and
exits when the outbox is empty. The secure element is the emulated ATECC608
with its state in the device directory, so its identity survives restarts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from central.provision import FleetLayout
from firmware import capture
from firmware.app import AppConfig, Handheld
from firmware.uplink import UplinkConfig
from hal.emulators.atecc608 import provisioned
from hal.emulators.i2cbus import EmulatedI2CBus
from hal.emulators.r30x import R30xEmulator
from hal.fingerprint.r30x import R30xSensor
from hal.i2c import I2CTransport
from hal.phantoms import fingerprint as fp
from hal.secure.atecc608 import Atecc608
from hal.serialport import open_serial


def secure_element(state: Path | None = None) -> Atecc608:
    """The ATECC608 driver on an emulated, factory-provisioned chip that answers instantly.

    With ``state`` the chip keeps its keys and counters in that file across restarts.
    """
    chip = provisioned(0, state_file=state)
    chip.time_scale = 0.0
    bus = EmulatedI2CBus()
    bus.attach(0x60, chip)
    return Atecc608(I2CTransport(bus))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hil.device_run")
    parser.add_argument("--dir", type=Path, required=True, help="fleet directory")
    parser.add_argument("--device", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--drain", action="store_true")
    parser.add_argument("--checks", type=int, default=0, help="stop after N checks (0: forever)")
    args = parser.parse_args(argv)
    layout = FleetLayout(args.dir)
    device_dir = layout.device_dir(args.device)
    tls = device_dir / "tls"
    config = AppConfig(
        device_id=args.device,
        operator_id="officer-1",
        data_dir=device_dir / "data",
        central_records_public=layout.records_public,
        uplink=UplinkConfig(
            device_id=args.device,
            host="127.0.0.1",
            port=args.port,
            ca=layout.ca_dir / "ca.pem",
            cert=tls / f"{args.device}.pem",
            key=tls / f"{args.device}.key",
            central_answers_public=layout.answers_public,
            resend_after_s=2.0,
            backoff_min_s=0.2,
            backoff_max_s=1.0,
        ),
    )
    answers: list[bytes] = []
    app = Handheld(
        config, secure_element(device_dir / "atecc608.json"), lambda a: answers.append(a.record_id)
    )
    app.start()
    app.uplink.link_changed(True)
    if args.drain:
        deadline = time.monotonic() + 120
        while len(app.outbox) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = len(app.outbox)
        app.stop()
        print(f"DRAINED {left}", flush=True)
        return 0 if left == 0 else 1
    source = fp.PhantomFingerSource(fingers=3, seed=4)
    emulator = R30xEmulator(image_source=source.next_image).start()
    port = open_serial(emulator.path, 57600, 0.05)
    sensor = R30xSensor(port)
    sensor.open()
    done = 0
    while args.checks == 0 or done < args.checks:
        result = capture.capture_finger(sensor, 5.0).result
        record_id = app.check(app.templates([(2, result)]))
        print(f"Q {record_id.hex()}", flush=True)
        done += 1
    app.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
