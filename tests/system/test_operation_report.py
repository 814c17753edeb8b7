"""An operation's report from a scripted operation over the real system: the figures match
what was done, training checks stay out, and the exports carry them."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import cbor2

from central import charts, report
from central.watchlist import WatchlistEntry
from firmware.biometrics.fingerprint.pipeline import FingerprintAnalyzer
from hal.phantoms import fingerprint as fp
from hil.system import System
from hotspot.cli import main
from wire import topics
from wire.record import Finger

NewDevice = Callable[..., Any]


@functools.lru_cache(maxsize=16)
def template(person: int, impression: int, position: int) -> bytes:
    image = fp.impression(fp.identity(person, seed=77), impression, difficulty=0.2)
    return FingerprintAnalyzer().analyse(image).record(position=position).encode()


def fingers(person: int, impression: int) -> tuple[Finger, ...]:
    return (
        Finger(7, 60, template(2 * person, impression, 7)),
        Finger(2, 60, template(2 * person + 1, impression, 2)),
    )


def test_the_report_counts_a_scripted_operation(system: System, new_device: NewDevice) -> None:
    wanted = fingers(300, 0)
    system.watchlist.add(
        WatchlistEntry("WL-OP-1", "blue-notice", tuple((f.position, f.template) for f in wanted))
    )
    system.processor.matcher.refresh()
    first, second = new_device(operation_id="OP-SCRIPT"), new_device(operation_id="OP-SCRIPT")
    other = new_device(operation_id="OP-ELSEWHERE")
    for device in (first, second, other):
        device.app.start()
        device.app.uplink.link_changed(True)
    first.app.check(fingers(300, 2))  # the wanted person, twice, on two devices
    second.app.check(fingers(300, 3))
    for stranger in (301, 302, 303, 304):
        first.app.check(fingers(stranger, 1))
    other.app.check(fingers(305, 1))
    assert first.wait_answers(5, 60) and second.wait_answers(1, 60) and other.wait_answers(1, 60)

    built = report.build(system.store.db, "OP-SCRIPT")
    assert built.checks == 6 and built.training_checks == 0
    assert built.outcomes["hit"] == 2
    assert built.hits_by_notice == {"blue-notice": 2}
    assert built.hits_by_modality == {"fingerprint": 2}
    assert sum(r.checks for r in built.rows) == 6 and len(built.rows) == 2  # two devices, a day
    assert built.median_s is not None and built.p95_s is not None and built.median_s >= 0
    assert ("OP-SCRIPT", 6) in report.operations(system.store.db)
    csv = built.to_csv().splitlines()
    assert csv[0].startswith("operation,device,day,checks,hits")
    assert csv[-1].startswith("OP-SCRIPT,all,all,6,2")
    assert charts.report_pdf(built).startswith(b"%PDF")
    assert report.build(system.store.db, "OP-ELSEWHERE").checks == 1
    out = system.root / "op.csv"
    fleet = str(system.root)
    assert main(["central", "report", "--dir", fleet, "--operation", "OP-SCRIPT",
                 "--csv", str(out)]) == 0  # fmt: skip
    assert out.read_bytes() == built.to_csv().encode()
    assert main(["central", "report", "--dir", fleet, "--operation", "OP-NONE"]) == 2


def test_update_reports_do_not_erase_the_devices_telemetry(
    system: System, new_device: NewDevice
) -> None:
    device = new_device()
    device.app.start()
    device.app.uplink.link_changed(True)
    assert device.app.uplink.connected.wait(10)
    assert device.app.send_telemetry()
    device_id = device.app.config.device_id
    deadline = time.monotonic() + 10
    while system.ledger.telemetry(device_id, "app") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    app_report = system.ledger.telemetry(device_id, "app")
    assert app_report is not None and "backlog_age_s" in cbor2.loads(app_report)
    # The update agent reports on its own sub-topic (as the device: same certificate).
    update = {"v": 1, "at": 1, "ota": {"rollout": "r1", "version": "1.1.0", "state": "downloading",
                                       "running": "1.0.0", "group": "pilot"}}  # fmt: skip
    device.app.uplink._client.publish(
        topics.telemetry(device_id, "update"), cbor2.dumps(update), qos=1
    ).wait_for_publish(5)
    while system.ledger.telemetry(device_id, "update") is None and time.monotonic() < deadline + 10:
        time.sleep(0.05)
    assert cbor2.loads(system.ledger.telemetry(device_id, "update") or b"\xa0")["ota"]
    assert system.ledger.telemetry(device_id, "app") == app_report  # still there
