"""``hotspot device run``: the handheld application as one systemd service (``Type=notify``).

It brings the hardware up, then the outbox and the uplink, the link
supervisor, the status monitor (which also sends the telemetry) and the
officer interface on 127.0.0.1, and says READY to systemd only when they all
run (so ``systemctl start`` and the update guard see a real start). A device
that does not answer is reported; the service refuses to start only without
the parts no check can be made without (the secure element that seals every
record, and the fingerprint sensor) and otherwise runs degraded, telling the
officer what is missing (no camera: fingerprints only; no modem: checks queue).

The watchdog is petted only while every worker is alive and going round: a
hung uplink, link supervisor or status loop, or a capture stuck beyond its
bound, stops the petting and systemd restarts the service, which the update
guard counts as a failed start of a release on trial. The protocol is a
datagram to ``$NOTIFY_SOCKET`` (sd_notify(3)), spoken here directly so that
the service needs no libsystemd binding.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shlex
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from firmware import selftest
from firmware.app import AppConfig, Handheld
from firmware.config import DeviceConfig
from firmware.link import LinkSupervisor
from firmware.officer.accounts import Accounts
from firmware.officer.desk import Desk
from firmware.officer.events import EventHub
from firmware.officer.journal import Journal
from firmware.officer.status import StatusMonitor
from firmware.officer.workflow import CheckWorkflow
from firmware.supervision import SupervisorWatch
from firmware.ui.app import create_app
from firmware.ui.server import InterfaceServer
from firmware.uplink import UplinkConfig
from firmware.wiring import Devices
from hal.errors import HalError
from hal.supervisor.protocol import Supervisor, TamperState
from wire.answer import Answer

log = logging.getLogger(__name__)

ESSENTIAL = ("secure_element", "fingerprint")
"""Without these no check can be made: the service does not start."""
CAPTURE_BOUND_S = 60.0
"""A capture running this much longer than the sensor's own timeout is hung."""


class ServiceError(Exception):
    """The service cannot run; the message says what to fix."""


def sd_notify(message: str) -> bool:
    """Send ``message`` to systemd; False when not run by systemd (no ``$NOTIFY_SOCKET``)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(message.encode())
    return True


def return_freed_memory() -> bool:
    """Have glibc give large freed blocks back to the system at once.

    glibc raises its mmap threshold each time a large block is freed, after which the
    interpreters' working buffers come from the heap and stay resident when a capture
    chain is let go (the service kept 360 MB where 160 MB were in use). A fixed threshold
    of 1 MiB keeps every large buffer mmapped, so letting a chain go returns its memory.
    False where the C library is not glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_mmap_threshold = -3
    return bool(libc.mallopt(m_mmap_threshold, 1 << 20))


def watchdog_interval_s(default: float = 10.0) -> float:
    """Half the watchdog period systemd set (``$WATCHDOG_USEC``), as sd_watchdog_enabled advises."""
    usec = os.environ.get("WATCHDOG_USEC")
    return int(usec) / 2e6 if usec and usec.isdigit() else default


class Service:
    def __init__(
        self,
        config: DeviceConfig,
        data_dir: Path | None = None,
        *,
        say: bool = True,
        stop: threading.Event | None = None,
    ) -> None:
        config.require_service()
        self.config = config
        self.data_dir = data_dir or config.path(config.device.data_dir)
        self._say = say
        self.stop_requested = stop or threading.Event()
        self.power_down: str | None = None
        """Why the device must power off once the service has stopped (None: it stays on)."""
        self.sealed: TamperState | None = None
        """Set when the case was opened: the outbox stays sealed until an administrator clears
        the supervisor's latch; the interface says so and takes no check."""
        self.supervision: SupervisorWatch | None = None
        self._desk: Desk | None = None
        self.faults: list[str] = []
        self.devices: Devices | None = None
        self.handheld: Handheld | None = None
        self.link: LinkSupervisor | None = None
        self.status: StatusMonitor | None = None
        self.workflow: CheckWorkflow | None = None
        self.server: InterfaceServer | None = None
        self._withheld: str | None = None

    def _print(self, text: str) -> None:
        if self._say:
            print(text, flush=True)

    def start(self) -> Service:
        cfg = self.config
        assert cfg.uplink is not None and cfg.central is not None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.devices = devices = Devices(cfg)
        report = selftest.run(devices, registration_wait_s=3.0)
        for device in report.devices:
            if not device.ok:
                self.faults.append(device.name)
                self._print(f"device {device.name} does not answer: {device.error}")
        essential = [name for name in ESSENTIAL if name in self.faults]
        if essential:
            raise ServiceError(f"cannot take checks without: {', '.join(essential)}")
        supervisor = None if "supervisor" in self.faults else devices.supervisor
        if supervisor is not None:
            tamper = supervisor.tamper()
            if tamper.latched:
                self.sealed = tamper
                self._print(
                    "the case was opened (tamper latched): the outbox stays sealed until an "
                    "administrator runs 'hotspot device supervisor-clear-tamper'"
                )
                return self._start_sealed(supervisor)
        uplink = UplinkConfig(
            device_id=cfg.device.id,
            host=cfg.uplink.host,
            port=cfg.uplink.port,
            ca=cfg.path(cfg.uplink.ca),
            cert=cfg.path(cfg.uplink.cert),
            key=cfg.path(cfg.uplink.key),
            central_answers_public=cfg.path(cfg.central.answers_public),
            window=cfg.uplink.window,
            resend_after_s=cfg.uplink.resend_after_s,
        )
        modem = None if "modem" in self.faults else devices.modem
        gauge = None if "fuel_gauge" in self.faults else devices.fuel_gauge
        self.handheld = handheld = Handheld(
            AppConfig(
                device_id=cfg.device.id,
                operator_id="",
                data_dir=self.data_dir,
                central_records_public=cfg.path(cfg.central.records_public),
                uplink=uplink,
                identity_slot=cfg.secure_element.identity_slot,
                training=cfg.training,
                operation_id=cfg.operation.id or None,
                finger_threads=cfg.fingerprint.threads,
            ),
            devices.secure_element,
            self._on_answer,
            modem,
            self._on_sent,
        )
        self.hub = hub = EventHub()
        journal = Journal(handheld.outbox, handheld.uplink.read_answer)
        self.status = status = StatusMonitor(
            hub,
            journal,
            modem,
            gauge,
            cfg.training,
            telemetry=lambda: handheld.send_telemetry(gauge),
            telemetry_s=cfg.telemetry.period_s,
        )
        self.workflow = workflow = CheckWorkflow(
            hub,
            handheld,
            lambda: devices.fingerprint,
            lambda: devices.camera,
            finger_timeout_s=cfg.fingerprint.capture_timeout_s,
            finger_threads=cfg.fingerprint.threads,
            token_image=cfg.camera.token_image,
            marker=Path(cfg.device.capture_marker),
            on_queued=status.kick,
        )
        accounts = Accounts(journal, cfg.officers, cfg.interface, lambda: cfg.operation.id)
        if supervisor is not None:
            self.supervision = self._watch(supervisor)
        watch = self.supervision
        self._desk = Desk(
            hub,
            journal,
            accounts,
            workflow,
            status,
            cfg.operation,
            cfg.training,
            on_hit=(lambda: watch.alert("hit", 3)) if watch is not None else lambda: None,
        )
        app, interface = create_app(self._desk, cfg.interface, cfg.interface.port)
        self.server = InterfaceServer(app, cfg.interface.port, interface.close_streams)
        if modem is not None:
            self.link = LinkSupervisor(modem, cfg.modem.apn, poll_s=5.0).start()
        handheld.start()
        status.start()
        self.server.start()
        if self.supervision is not None:
            self.supervision.start()
        mode = "TRAINING (emulated hardware)" if cfg.training else "live"
        self._print(f"officer interface: {self.server.url} ({mode})")
        return self

    def _watch(self, supervisor: Supervisor) -> SupervisorWatch:
        cfg = self.config.supervisor
        assert cfg is not None

        def tampered() -> None:
            Handheld.wipe(self.data_dir)
            self._print("the case was opened: the outbox key is wiped; the service restarts sealed")
            self.stop_requested.set()

        def shut_down(reason: str) -> None:
            self._print(f"shutting down: {reason}")
            self.power_down = reason
            self.stop_requested.set()

        return SupervisorWatch(
            supervisor,
            healthy=self._healthy,
            on_tamper=tampered,
            on_shutdown=shut_down,
            heartbeat_timeout_s=cfg.heartbeat_timeout_s,
            shutdown_grace_s=cfg.shutdown_grace_s,
        )

    def _start_sealed(self, supervisor: Supervisor) -> Service:
        """Only the interface, saying why, and the supervisor's heartbeat: no check."""
        from firmware.ui.app import create_sealed_app

        self.supervision = self._watch(supervisor)
        app = create_sealed_app(self.config.interface, self.config.interface.port)
        self.server = InterfaceServer(app, self.config.interface.port)
        self.server.start()
        self.supervision.start()
        self._print(f"officer interface: {self.server.url} (sealed: tamper)")
        return self

    def finish(self) -> None:
        """After :meth:`stop`: let the supervisor cut the power, and power the board off."""
        if self.power_down is None or self.supervision is None or self.config.supervisor is None:
            return
        try:
            self.supervision.power_off()
        except HalError as exc:
            log.warning("the supervisor did not take the power-off: %s", exc)
        command = self.config.supervisor.poweroff_command
        if command:
            subprocess.run(shlex.split(command), check=False)

    @property
    def desk(self) -> Desk:
        assert self._desk is not None, "start() first"
        return self._desk

    def _on_answer(self, answer: Answer) -> None:
        if self._desk is not None:
            self._desk.on_answer(answer)

    def _on_sent(self, record_id: bytes) -> None:
        if self._desk is not None:
            self._desk.changed(record_id)

    def _healthy(self) -> bool:
        """Whether to pet the supervisor's watchdog; says why not, once per reason, since
        withholding the heartbeat makes the supervisor restart the handheld a minute later."""
        reason = self.hung()
        if reason is not None and reason != self._withheld:
            self._print(f"withholding the watchdog's heartbeat: {reason}")
        self._withheld = reason
        return reason is None

    def hung(self) -> str | None:
        """Why the watchdog must not be petted now, or None when every worker is healthy."""
        now = time.monotonic()
        if self.supervision is not None and now - self.supervision.beat > 3 * (
            self.supervision.period_s + 10
        ):
            return "the supervisor link is stuck"
        if self.handheld is not None:
            uplink = self.handheld.uplink
            if not uplink.alive or now - uplink.beat > 30:
                return "the uplink stopped"
        if self.link is not None and now - self.link.beat > self.link.poll_s + 60:
            return "the link supervisor is stuck"
        if self.status is not None and now - self.status.beat > 60:
            return "the status monitor is stuck"
        if self.server is not None and not self.server.alive:
            return "the officer interface stopped"
        if self.workflow is not None:
            since = self.workflow.busy_since
            bound = self.config.fingerprint.capture_timeout_s + CAPTURE_BOUND_S
            if since is not None and now - since > bound:
                return "a capture is stuck"
        return None

    def summary(self) -> str:
        status = self.status.status if self.status is not None else None
        parts = []
        if self.sealed is not None:
            parts.append("SEALED: the case was opened, an administrator must clear it")
        if self.faults:
            parts.append("not answering: " + ", ".join(self.faults))
        if status is not None:
            parts.append(f"link {'up' if status.link_up else 'down'}")
            if status.battery_percent is not None:
                parts.append(f"battery {status.battery_percent:.0f}%")
            parts.append(f"{status.backlog} queued")
        return ", ".join(parts)

    def stop(self) -> None:
        if self.supervision is not None:
            self.supervision.stop()
        if self.server is not None:
            self.server.stop()
        if self.workflow is not None:
            self.workflow.abandon()
            self.workflow.wait(15)
        if self.status is not None:
            self.status.stop()
        if self.link is not None:
            self.link.stop()
        if self.handheld is not None:
            self.handheld.stop()
        if self.devices is not None:
            self.devices.close()


def run(config: DeviceConfig, data_dir: Path | None, stop: threading.Event) -> int:
    return_freed_memory()
    try:
        service = Service(config, data_dir, stop=stop)
        service.start()
    except (ServiceError, HalError, OSError) as exc:
        message = str(exc) if not isinstance(exc, OSError) else f"{exc.strerror}: {exc.filename}"
        print(f"hotspot device run: {message}", flush=True)
        sd_notify(f"STATUS=failing: {message}")
        return 1
    try:
        sd_notify(f"READY=1\nSTATUS={service.summary() or 'running'}")
        print(f"ready: {service.summary()}", flush=True)
        period = watchdog_interval_s()
        said: str | None = None
        while not stop.wait(period):
            reason = service.hung()
            if reason is None:
                sd_notify(f"WATCHDOG=1\nSTATUS={service.summary()}")
            elif reason != said:
                log.error("watchdog not petted: %s", reason)
                sd_notify(f"STATUS=hung: {reason}")
            said = reason
        sd_notify("STOPPING=1")
    finally:
        service.stop()
    service.finish()
    return 0


def main(config: DeviceConfig, data_dir: Path | None) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_a: stop.set())
    signal.signal(signal.SIGINT, lambda *_a: stop.set())
    return run(config, data_dir, stop)
