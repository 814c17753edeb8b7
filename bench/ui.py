"""``hotspot bench ui``: the officer interface, measured in a real browser on the emulated rig.

The real device service (``hotspot device run``) runs on the emulated rig against a loopback
Mosquitto and gateway; Debian's Chromium, driven by Playwright, works checks in it as an
officer would. Measured:

* ``guidance_ms`` — from the sensor's last row to the guidance painted on screen;
* ``queued_ms`` — from the tap on Send (no coverage) to "queued" on screen;
* ``hit_paint_ms`` — from the answer's arrival at the device to the HIT screen painted;
* ``preview_fps`` — camera preview frames drawn per second in the browser;
* ``page_kb`` — bytes transferred for the first load of the page (HTML, CSS, script);
* ``service_rss_mb`` — the device service's peak resident memory over the run (VmHWM),
  beside ``service_rss_now_mb``, what it holds at the end.

The device stamps the moment the last row arrived and the moment the answer arrived on the
events it sends; the page stamps what it painted (``data-*`` attributes, in a frame callback):
both clocks are this machine's, so the differences are the latencies an officer sees.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from central.watchlist import WatchlistEntry
from firmware.biometrics.fingerprint.pipeline import FingerprintAnalyzer
from hal.phantoms import fingerprint as fp
from hil.demo import PIN, RIGHT_INDEX, Cast, _finger
from hil.handheld import HandheldProcess
from hil.officer import Officer
from hil.rig import Rig
from hil.system import System

CHROMIUM = "/usr/bin/chromium"
TARGETS = {
    "guidance_ms": (300, "at most"),
    "queued_ms": (None, ""),
    "hit_paint_ms": (100, "at most"),
    "preview_fps": (10, "at least"),
    "page_kb": (300, "at most"),
    "service_rss_mb": (400, "at most"),
}


class BenchError(Exception):
    """The benchmark cannot run here; the message says what is missing."""


def run(rounds: int = 5, progress: TextIO | None = None) -> dict[str, Any]:
    if not Path(CHROMIUM).exists():
        raise BenchError("Debian's chromium is not installed: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    def say(text: str) -> None:
        if progress is not None:
            print(text, file=progress, flush=True)

    with tempfile.TemporaryDirectory(prefix="hotspot-bench-ui-") as tmp:
        root = Path(tmp)
        system = System.start(root / "fleet")
        wanted = fp.impression(_finger("C"), 0, difficulty=0.1)
        template = FingerprintAnalyzer().analyse(wanted).record(RIGHT_INDEX).encode()
        system.watchlist.add(WatchlistEntry("WL-BENCH", "red-notice", ((RIGHT_INDEX, template),)))
        rig = Rig(root / "rig").start()
        cast = Cast().warm()
        rig.fingerprint.set_image_source(cast.image)
        handheld = HandheldProcess(
            rig, system, "hh-bench-ui", root / "hh", officers={"officer-1": PIN, "bench": "1111"}
        )
        try:
            handheld.enrol().start()
            say(f"device service up at {handheld.url}")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM,
                    args=["--disable-background-networking", "--disable-component-update"],
                )
                try:
                    return _measure(browser, handheld, rig, cast, rounds, say)
                finally:
                    browser.close()
        finally:
            handheld.stop()
            rig.stop()
            system.stop()


def _measure(
    browser: Any, handheld: HandheldProcess, rig: Rig, cast: Cast, rounds: int, say: Any
) -> dict[str, Any]:
    # bypass_csp lets the benchmark read the page's stamps (Playwright evaluates its probes as
    # strings); what is measured does not change with it.
    context = browser.new_context(
        viewport={"width": 800, "height": 480}, locale="en-GB", bypass_csp=True
    )
    page = context.new_page()
    page.goto(handheld.url)
    page.wait_for_load_state("load")
    # First load: the page and every asset it pulled in before `load`, by the browser's own
    # resource timing (Playwright's request events can still be on their way at `load`; the
    # event stream never finishes, so it is not among them).
    page_kb = float(
        page.evaluate(
            "() => { const n = performance.getEntriesByType('navigation')[0];"
            " const r = performance.getEntriesByType('resource');"
            " return ((n ? n.encodedBodySize : 0)"
            " + r.reduce((sum, e) => sum + e.encodedBodySize, 0)) / 1024; }"
        )
    )
    # A second, scripted session sees the same events with the device's time stamps.
    observer = Officer(handheld.url)
    observer.sign_in("bench", "1111")
    page.locator("#officer").fill("officer-1")
    page.locator("#pin").fill(PIN)
    page.locator("#sign-in-form button[type=submit]").click()
    page.locator("#new-check").wait_for()

    guidance, queued, hits, frames, seconds = [], [], [], 0, 0.0
    for number in range(1, rounds + 1):
        cast.person = "C" if number == rounds else "A"
        rig.set_fault("modem.registration_loss", number < rounds)  # offline, then a live HIT
        page.locator("#new-check").click()
        page.locator("#choose-start").click()
        for _ in range(2):
            page.locator("#finger-capture").click()
            done = observer.wait_for("finger.done", timeout_s=60)
            page.wait_for_function(
                "document.getElementById('finger-guidance').dataset.shownMs !== undefined"
            )
            shown = int(page.locator("#finger-guidance").get_attribute("data-shown-ms") or 0)
            guidance.append(shown - int(done["last_row_ms"]))
            page.evaluate("delete document.getElementById('finger-guidance').dataset.shownMs")
            page.locator("#finger-accept").click()
        page.evaluate(
            "(() => { const c = document.getElementById('face-canvas');"
            " c.dataset.frames = '0'; delete c.dataset.firstMs; delete c.dataset.lastMs; })()"
        )
        page.locator("#face-start").click()
        page.locator("#face-next").wait_for(timeout=60_000)
        canvas = page.locator("#face-canvas")
        drawn = int(canvas.get_attribute("data-frames") or 0)
        first, last = (int(canvas.get_attribute(a) or 0) for a in ("data-first-ms", "data-last-ms"))
        if drawn > 1 and last > first:
            frames += drawn - 1
            seconds += (last - first) / 1000
        page.locator("#face-next").click()
        page.locator("#case-ref").fill(f"BENCH-{number}")
        started = time.monotonic()
        page.locator("#review-form button[type=submit]").click()
        page.wait_for_function(
            "['queued', 'sent'].includes(document.getElementById('result-state').dataset.state)"
        )
        if number < rounds:
            queued.append((time.monotonic() - started) * 1000)
            page.locator("#result-done").click()
        say(f"check {number}/{rounds} done")
    hit = page.locator("#hit")
    hit.wait_for(state="visible", timeout=60_000)
    page.wait_for_function("document.getElementById('hit').dataset.paintedMs !== undefined")
    hits.append(
        int(hit.get_attribute("data-painted-ms") or 0)
        - int(hit.get_attribute("data-received-ms") or 0)
    )
    page.locator("#hit-ack").click()
    observer.close()
    context.close()
    return {
        "guidance_ms": round(statistics.median(guidance)),
        "guidance_ms_max": max(guidance),
        "queued_ms": round(statistics.median(queued)) if queued else None,
        "hit_paint_ms": hits[0],
        "preview_fps": round(frames / seconds, 1) if seconds else 0.0,
        "page_kb": round(page_kb, 1),
        "service_rss_mb": round(_rss_mb(handheld), 1),
        "service_rss_now_mb": round(_rss_mb(handheld, "VmRSS"), 1),
        "checks": rounds,
        "fingers": len(guidance),
    }


def _rss_mb(handheld: HandheldProcess, field: str = "VmHWM") -> float:
    """The service's peak resident memory (VmHWM), or another /proc status field."""
    assert handheld.process is not None
    for line in Path(f"/proc/{handheld.process.pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def report(result: dict[str, Any]) -> str:
    lines = [f"officer interface, {result['checks']} checks ({result['fingers']} fingers):"]
    labels = {
        "guidance_ms": "last row -> guidance on screen (median)",
        "queued_ms": "Send -> 'queued' on screen (median)",
        "hit_paint_ms": "answer at the device -> HIT painted",
        "preview_fps": "camera preview in the browser",
        "page_kb": "first load of the page",
        "service_rss_mb": "device service resident memory, peak",
    }
    units = {"_ms": "ms", "_fps": "fps", "_kb": "KB", "_mb": "MB"}
    for key, label in labels.items():
        value = result[key]
        unit = next(u for suffix, u in units.items() if key.endswith(suffix))
        limit, how = TARGETS[key]
        target = f"(target {how} {limit} {unit})" if limit is not None else ""
        met = ""
        if limit is not None and value is not None:
            ok = value <= limit if how == "at most" else value >= limit
            met = "  met" if ok else "  NOT met"
        lines.append(f"  {label:<42} {value!s:>8} {unit:<4} {target}{met}")
    return "\n".join(lines)
