"""The README's demo, as a new user runs it (without the UART pacing)."""

from __future__ import annotations

import subprocess
import sys


def test_demo_tells_the_story_end_to_end() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hotspot", "demo", "--fast", "--exit"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    assert text.count("queued (no coverage)") == 3
    assert "link up: HOTSPOT NET" in text
    assert "*** HIT *** WL-2026-0042 (red-notice)" in text
    assert "HIT acknowledged by officer-1" in text
    assert "[supervisor] HIT alert: red light, buzzer, vibration, 3 time(s)" in text
    assert "officer interface: http://127.0.0.1:" in text
    assert text.count("no-hit") == 3
    assert "4 checks answered, 1 HIT raised, 0 left in the outbox" in text
    assert "Traceback" not in out.stderr
