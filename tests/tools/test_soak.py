"""``hotspot hil soak`` counts each test's failures over repeated runs."""

from __future__ import annotations

import io
from pathlib import Path

from hil.soak import print_tally, soak

FLAKY = """
from pathlib import Path

COUNTER = Path(__file__).with_name("count")


def test_fails_every_other_run():
    runs = int(COUNTER.read_text()) if COUNTER.exists() else 0
    COUNTER.write_text(str(runs + 1))
    assert runs % 2 == 1, "an even run"


def test_always_passes():
    assert COUNTER.exists()
"""


def test_a_test_that_fails_in_some_runs_is_counted(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_flaky.py").write_text(FLAKY)
    out = io.StringIO()
    tally = soak([str(suite)], runs=4, load=1, out=out, keep=tmp_path / "kept")
    assert tally.runs == 4
    assert tally.failed_runs == [1, 3]
    # The failed runs' whole output is kept, traceback included; the passing ones are not.
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == [
        "run-1.log",
        "run-1.xml",
        "run-3.log",
        "run-3.xml",
    ]
    assert "AssertionError: an even run" in (tmp_path / "kept" / "run-3.log").read_text()
    flaky = next(name for name in tally.failed if name.endswith("test_fails_every_other_run"))
    assert tally.failed[flaky] == 2
    assert not any(name.endswith("test_always_passes") for name in tally.failed)
    assert "an even run" in tally.first_failure[flaky]
    print_tally(tally, out)
    assert "2/4" in out.getvalue() and "1 test(s) failed at least once" in out.getvalue()
