"""The check in progress: fingers chosen, each captured and accepted, a face, then submit.

Captures run on one worker thread at a time (the sensor and the camera serve
one capture each), publishing what the screen shows as it happens:

* ``finger.rows`` — bands of the print as the sensor sends them (PNG), so the
  officer sees the finger arrive; ``finger.done`` — the quality 0-100, the
  finger's mask (per-block quality as a small PNG), the failing measures and
  the guidance (message ids), whether it is acceptable; ``finger.error`` — a
  timeout, a sensor fault.
* ``face.frame`` — each preview frame (a small JPEG), the face's box and the
  live guidance; the window keeps the best frame by itself and finishes on its
  own (``face.done``) once a good frame has been held, or when time is up.
* ``check.submitted`` — sent or queued, at once.

The images live in memory only while the check is open: submitting or
abandoning the check drops them, and only templates and the embedding leave.

One capture chain is resident at a time. The interpreters' working memory is
most of the service's footprint (LEADER about 140 MB under XNNPACK, the face
models about 100 MB), so the fingerprint chain is loaded in the background when
a check begins and let go when its last finger is accepted, when the face
chain is loaded in its place; the face chain goes when the check is sent or
abandoned. Each loads in 50-150 ms, while the officer places the finger or
raises the camera.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import models
from firmware.app import Handheld
from firmware.biometrics.face.pipeline import CaptureWindow, FaceAnalyzer
from firmware.biometrics.fingerprint.errors import FingerprintError
from firmware.biometrics.fingerprint.pipeline import FingerprintAnalyzer, FingerResult
from firmware.capture import capture_finger, capturing, face_record
from firmware.officer import screen
from firmware.officer.events import EventHub
from firmware.officer.journal import CheckDetails
from hal.camera.protocol import Camera
from hal.errors import (
    HalError,
)
from hal.fingerprint.protocol import FingerprintSensor
from wire.record import Face

log = logging.getLogger(__name__)

Final = tuple[str, dict[str, Any]]
"""A capture's last event (name, data): published once the capture no longer counts as running."""

INDEX_FINGERS = (2, 7)
"""Right and left index (ISO/IEC 19794-2 finger positions): the default choice."""
BAND_ROWS = 16
FACE_GOOD = 70
"""A face frame of at least this quality, with no failing measure, ends the window early."""
FACE_HOLD_FRAMES = 5
FACE_MAX_S = 8.0
FACE_GIVE_UP_S = 15.0


class Busy(Exception):
    """A capture is already running."""


class NotReady(Exception):
    """The check cannot be submitted yet; ``code`` says why (a message id key)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class OpenCheck:
    officer: str
    shift: int
    fingers: tuple[int, ...]
    captures: dict[int, FingerResult] = field(default_factory=dict)
    accepted: set[int] = field(default_factory=set)
    face: Face | None = None
    face_quality: int = 0


class CheckWorkflow:
    def __init__(
        self,
        hub: EventHub,
        handheld: Handheld,
        sensor: Callable[[], FingerprintSensor],
        camera: Callable[[], Camera],
        *,
        finger_timeout_s: float = 10.0,
        finger_threads: int = 1,
        token_image: bool = False,
        marker: Path | None = None,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self._hub, self._handheld = hub, handheld
        self._sensor, self._camera = sensor, camera
        self._finger_timeout_s = finger_timeout_s
        self._finger_threads = finger_threads
        self._token_image = token_image
        self._marker = marker
        self._on_queued = on_queued
        self._lock = threading.Lock()
        self._check: OpenCheck | None = None
        self._worker: threading.Thread | None = None
        self._running = False
        """A capture is running. Cleared *before* its last event is published, so that an
        officer (or the rig) who reacts to "done" at once is never told it is still running."""
        self._stop_face = threading.Event()
        self.busy_since: float | None = None
        """monotonic() when the running capture started (the watchdog bounds it)."""
        self._fingerprints: FingerprintAnalyzer | None = None
        self._faces: FaceAnalyzer | None = None

    # -- the open check ---------------------------------------------------------------------

    def begin(self, officer: str, shift: int, fingers: tuple[int, ...] = INDEX_FINGERS) -> None:
        if (
            not fingers
            or len(set(fingers)) != len(fingers)
            or not all(1 <= f <= 10 for f in fingers)
        ):
            raise ValueError("choose one to ten different fingers (positions 1-10)")
        with self._lock:
            if self._running:
                raise Busy()
            self._check = OpenCheck(officer, shift, tuple(fingers))
        self._resident("fingerprint")
        self._hub.publish("check.begun", fingers=list(fingers))

    def abandon(self) -> None:
        self._stop_face.set()
        with self._lock:
            self._check = None
        self._resident(None)
        self._hub.publish("check.abandoned")

    def state(self) -> dict[str, object] | None:
        with self._lock:
            check = self._check
            if check is None:
                return None
            return {
                "fingers": list(check.fingers),
                "accepted": sorted(check.accepted),
                "captured": {str(p): r.quality.score for p, r in sorted(check.captures.items())},
                "face": check.face is not None,
                "face_quality": check.face_quality,
                "busy": self._running,
            }

    # -- fingers ----------------------------------------------------------------------------

    def capture_finger(self, position: int) -> None:
        check = self._open()
        if position not in check.fingers:
            raise ValueError(f"finger {position} was not chosen for this check")
        check.accepted.discard(position)
        self._start(lambda: self._finger(check, position))

    def accept_finger(self, position: int) -> None:
        check = self._open()
        if position not in check.captures:
            raise NotReady("not_captured")
        check.accepted.add(position)
        if check.accepted >= set(check.fingers):
            self._resident("face")
        self._hub.publish("finger.accepted", position=position)

    def _finger(self, check: OpenCheck, position: int) -> Final:
        self._hub.publish("finger.start", position=position)
        band: list[npt.NDArray[np.uint8]] = []
        first = 0
        height = 0

        def on_row(index: int, row: npt.NDArray[np.uint8]) -> None:
            nonlocal first
            if not band:
                first = index
            band.append(row)
            if len(band) == BAND_ROWS:
                self._publish_band(position, first, height, band)
                band.clear()

        def progress(_done: int, total: int) -> None:
            nonlocal height
            height = total

        if self._fingerprints is None:
            self._fingerprints = FingerprintAnalyzer(threads=self._finger_threads)
        try:
            sensor = self._sensor()
            capture = capture_finger(
                sensor,
                self._finger_timeout_s,
                marker=self._marker,
                analyzer=self._fingerprints,
                on_row=on_row,
                progress=progress,
            )
        except (HalError, FingerprintError) as exc:
            log.info("finger capture failed: %s", type(exc).__name__)
            return "finger.error", {"position": position, "code": screen.error_code(exc)}
        last_row_ms = int((time.time() - capture.seconds_after_last_row) * 1000)
        if band:
            self._publish_band(position, first, height, band)
        result = capture.result
        with self._lock:
            if self._check is check:
                check.captures[position] = result
        quality = result.quality
        return "finger.done", {
            "position": position,
            "width": capture.image.width,
            "height": capture.image.height,
            "quality": quality.score,
            "acceptable": quality.acceptable,
            "failing": list(quality.failing),
            "guidance": list(quality.guidance),
            "minutiae": len(result.minutiae),
            "mask": screen.png(screen.mask_rgba(quality.blocks)),
            "analysis_ms": round(1000 * capture.seconds_after_last_row),
            "last_row_ms": last_row_ms,
        }

    def _publish_band(
        self, position: int, first: int, height: int, rows: list[npt.NDArray[np.uint8]]
    ) -> None:
        pixels = np.stack(rows)
        self._hub.publish(
            "finger.rows",
            position=position,
            y=first,
            width=int(pixels.shape[1]),
            height=height,
            png=screen.grey_png(pixels),
        )

    # -- face -------------------------------------------------------------------------------

    def capture_face(self) -> None:
        check = self._open()
        self._stop_face.clear()
        self._start(lambda: self._face(check))

    def finish_face(self) -> None:
        """Keep the best frame so far and stop the camera."""
        self._stop_face.set()

    def _face(self, check: OpenCheck) -> Final:
        if self._faces is None:
            self._faces = FaceAnalyzer()
        window = CaptureWindow(self._faces)
        self._hub.publish("face.start")
        try:
            camera = self._camera()
            camera.open()
            try:
                with capturing(self._marker):
                    self._preview(camera, window)
            finally:
                camera.close()  # the camera is off between captures (power, privacy)
        except HalError as exc:
            log.info("face capture failed: %s", type(exc).__name__)
            return "face.error", {"code": "camera"}
        best = window.best
        if best is None:
            return "face.error", {"code": "no_face"}
        face = face_record(best, self._faces.version, self._token_image)
        with self._lock:
            if self._check is check:
                check.face, check.face_quality = face, best.quality.score
        return "face.done", {
            "quality": best.quality.score,
            "failing": list(best.quality.failing),
            "guidance": list(best.guidance),
        }

    def _preview(self, camera: Camera, window: CaptureWindow) -> None:
        """Frames to the screen with the live guidance until a good frame is held."""
        held = 0
        started = time.monotonic()
        while not self._stop_face.is_set():
            frame = camera.capture().pixels
            guidance = window.feed(frame)
            last = window.last
            height, width = frame.shape[:2]
            self._hub.publish(
                "face.frame",
                jpeg=screen.jpeg(frame),
                width=width,
                height=height,
                box=[round(v) for v in last.detection.box] if last else None,
                quality=last.quality.score if last else 0,
                guidance=list(guidance),
            )
            good = last is not None and last.quality.score >= FACE_GOOD and not last.quality.failing
            held = held + 1 if good else 0
            elapsed = time.monotonic() - started
            if held >= FACE_HOLD_FRAMES or (window.best and elapsed > FACE_MAX_S):
                return
            if window.best is None and elapsed > FACE_GIVE_UP_S:
                return

    def drop_face(self) -> None:
        check = self._open()
        with self._lock:
            check.face, check.face_quality = None, 0

    # -- submit -----------------------------------------------------------------------------

    def submit(self, case_reference: str | None, training: bool) -> tuple[bytes, bool]:
        """Seal and queue the check: (record id, sent at once?). NotReady, OutboxFull."""
        check = self._open()
        with self._lock:
            if self._running:
                raise Busy()
            missing = [p for p in check.fingers if p not in check.accepted]
            if missing:
                raise NotReady("fingers_missing")
            fingers = self._handheld.templates([(p, check.captures[p]) for p in check.fingers])
            details = CheckDetails(
                check.officer, case_reference, check.fingers, check.face is not None, training
            )
            record_id = self._handheld.check(
                fingers,
                check.face,
                officer=check.officer,
                case_reference=case_reference,
                journal=(check.shift, details.encode()),
            )
            self._check = None  # the images and captures go with it
        self._resident(None)
        sent = self._handheld.uplink.connected.is_set()
        self._on_queued()
        self._hub.publish(
            "check.submitted", record_id=record_id.hex(), state="sent" if sent else "queued"
        )
        return record_id, sent

    # -- memory -----------------------------------------------------------------------------

    def _resident(self, chain: str | None) -> None:
        """Keep ``chain`` ("fingerprint", "face" or None) loaded and let the other go."""
        if chain != "face":
            self._faces = None
            models.release("face/")
        if chain != "fingerprint":
            models.release("fingerprint/")
        if chain is None:
            return

        def preload() -> None:
            try:
                if chain == "fingerprint":
                    if self._fingerprints is None:
                        self._fingerprints = FingerprintAnalyzer(threads=self._finger_threads)
                    self._fingerprints.preload()
                elif self._faces is None:
                    self._faces = FaceAnalyzer()
            except Exception:  # the capture will load it, and say so if it cannot
                log.exception("preloading the %s chain failed", chain)

        threading.Thread(target=preload, name=f"preload-{chain}", daemon=True).start()

    # -- internals --------------------------------------------------------------------------

    def _open(self) -> OpenCheck:
        with self._lock:
            if self._check is None:
                raise NotReady("no_check")
            return self._check

    def _start(self, work: Callable[[], Final]) -> None:
        with self._lock:
            if self._running:
                raise Busy()
            self._running = True

            def run() -> None:
                self.busy_since = time.monotonic()
                final: Final = "capture.error", {"code": "internal"}
                try:
                    final = work()
                except Exception:
                    log.exception("capture failed")
                finally:
                    with self._lock:
                        self._running = False
                    self.busy_since = None
                self._hub.publish(final[0], **final[1])

            self._worker = threading.Thread(target=run, name="capture", daemon=True)
            try:
                self._worker.start()
            except RuntimeError:
                self._running = False
                raise

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the running capture (tests, shutdown)."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
