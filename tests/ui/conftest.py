"""The officer interface in a real browser: Debian's Chromium driven by Playwright, against the
real device service on the emulated rig, a real Mosquitto and a real gateway.

Playwright cannot download a browser here; it drives ``/usr/bin/chromium`` (``./dev`` installs
Debian's ``chromium``). Screenshots go to ``test-artifacts/ui/`` for a person to look at.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_fixtures import OFFICERS, WANTED_REF, Bench

from central.watchlist import WatchlistEntry
from firmware.biometrics.fingerprint.pipeline import FingerprintAnalyzer
from hal.phantoms import fingerprint as fp
from hil.demo import RIGHT_INDEX, Cast, _finger
from hil.handheld import HandheldProcess
from hil.rig import Rig
from hil.system import System


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.fail("mosquitto is not installed: './dev test' installs it")
    root = tmp_path_factory.mktemp("ui")
    system = System.start(root / "fleet")
    wanted = fp.impression(_finger("C"), 0, difficulty=0.1)
    template = FingerprintAnalyzer().analyse(wanted).record(RIGHT_INDEX).encode()
    system.watchlist.add(WatchlistEntry(WANTED_REF, "red-notice", ((RIGHT_INDEX, template),)))
    rig = Rig(root / "rig").start()
    cast = Cast().warm()
    cast.person = "A"
    rig.fingerprint.set_image_source(cast.image)
    handheld = HandheldProcess(rig, system, "hh-ui-01", root / "handheld", officers=OFFICERS)
    handheld.enrol().start()
    try:
        yield Bench(system, rig, handheld, cast)
    finally:
        handheld.stop()
        rig.stop()
        system.stop()


@pytest.fixture
def page(browser: Any, bench: Bench) -> Iterator[Any]:
    """A fresh browser context (no cookies) on the device's interface, 800x480 landscape."""
    bench.rig.clear_faults()
    bench.cast.person = "A"
    context = browser.new_context(viewport={"width": 800, "height": 480}, locale="en-GB")
    context.set_default_timeout(30_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(bench.handheld.url)
    yield tab
    context.close()
    bench.rig.clear_faults()
    assert not errors, errors


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed interface test carries the device service's last output and whether it was
    still running: a browser's "Failed to fetch" alone does not say which side failed."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    bench = getattr(item, "funcargs", {}).get("bench")
    if report.when == "call" and report.failed and isinstance(bench, Bench):
        process = bench.handheld.process
        state = "running" if process is not None and process.poll() is None else "not running"
        lines = "\n".join(bench.handheld.output[-60:])
        report.sections.append((f"device service ({state}), last output", lines))
