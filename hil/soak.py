"""``hotspot hil soak``: run a test selection many times and count each test's failures.

A test that fails once in thirty runs fails CI about once a week; it cannot be
seen in a single run, and a retry hides it. This runs the selection (by
default the system tests) ``--runs`` times from the repository, optionally
beside CPU hogs that make the machine as loaded as a busy CI host, reads each
run's JUnit XML, and prints every test that failed at least once with its
count and the first line of its first failure. The exit status is 1 when any
test failed, so it can gate a merge.

A failure that shows once in twenty runs may not show again for a day, so the
whole pytest output and JUnit XML of every failed run are kept (in ``--out``),
not just the first line: the traceback and the captured logs are often all
there is to find the cause with.
"""

from __future__ import annotations

import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO


@dataclass
class Tally:
    runs: int = 0
    failed_runs: list[int] = field(default_factory=list)
    passed: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    first_failure: dict[str, str] = field(default_factory=dict)

    def add(self, junit_xml: Path) -> int:
        """Count one run's results; return how many of its tests failed."""
        self.runs += 1
        failed = 0
        for case in ET.parse(junit_xml).getroot().iter("testcase"):
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            problem = case.find("failure")
            if problem is None:
                problem = case.find("error")
            if problem is None:
                if case.find("skipped") is None:
                    self.passed[name] += 1
                continue
            self.failed[name] += 1
            failed += 1
            message = (problem.get("message") or problem.text or "").strip().splitlines()
            self.first_failure.setdefault(name, message[0][:160] if message else "")
        return failed


def _hog(stop_at: float) -> None:
    while time.monotonic() < stop_at:
        pass


def soak(
    selection: list[str],
    runs: int,
    load: int,
    out: TextIO,
    workdir: Path | None = None,
    keep: Path | None = None,
) -> Tally:
    """Run ``pytest SELECTION`` ``runs`` times beside ``load`` busy processes.

    The output and JUnit XML of each run that failed go to ``keep`` (created when
    the first run fails) as ``run-N.log`` and ``run-N.xml``."""
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="hotspot-soak-", dir=workdir) as tmp:
        for run in range(1, runs + 1):
            hogs = [
                multiprocessing.Process(target=_hog, args=(time.monotonic() + 3600,), daemon=True)
                for _ in range(load)
            ]
            for hog in hogs:
                hog.start()
            report = Path(tmp) / f"run-{run}.xml"
            started = time.monotonic()
            try:
                result = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pytest",
                        "-q",
                        "-p",
                        "no:cacheprovider",
                        f"--junitxml={report}",
                        *selection,
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
            finally:
                for hog in hogs:
                    hog.terminate()
                    hog.join()
            if not report.exists():
                tail = (result.stdout + result.stderr)[-800:]
                raise RuntimeError(f"pytest wrote no report (exit {result.returncode}): {tail}")
            if tally.add(report) or result.returncode != 0:
                tally.failed_runs.append(run)
                if keep is not None:
                    keep.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(report, keep / f"run-{run}.xml")
                    (keep / f"run-{run}.log").write_text(result.stdout + result.stderr)
            failures = sum(tally.failed.values())
            print(
                f"run {run}/{runs}: exit {result.returncode} in {time.monotonic() - started:.0f} s"
                f" ({failures} failure(s) so far)",
                file=out,
                flush=True,
            )
    return tally


def print_tally(tally: Tally, out: TextIO) -> None:
    tests = set(tally.passed) | set(tally.failed)
    print(
        f"\n{len(tests)} tests, {tally.runs} runs: "
        f"{len(tally.failed)} test(s) failed at least once",
        file=out,
    )
    for name, count in tally.failed.most_common():
        print(f"  {count:>3}/{tally.runs}  {name}", file=out)
        print(f"         {tally.first_failure.get(name, '')}", file=out)
