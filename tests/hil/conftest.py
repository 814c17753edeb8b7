"""labgrid-driven rig tests: the same tests run against the emulated rig or the bench.

Run in the separate labgrid environment:
    .venv-hil/bin/python -m pytest tests/hil --lg-env hil/envs/emulated.yaml
    .venv-hil/bin/python -m pytest tests/hil --lg-env hil/envs/bench.yaml   (on the bench)

For the emulated environment the emulators start here, at import time, so
that their paths are in the LG_* variables before labgrid reads the file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

try:
    import labgrid  # noqa: F401
except ImportError:  # the main environment: these tests belong to .venv-hil
    collect_ignore_glob = ["test_*.py"]
else:
    collect_ignore_glob = []

RIG = None
_args = " ".join(sys.argv) + " " + os.environ.get("LG_ENV", "")
if not collect_ignore_glob and "emulated.yaml" in _args:
    from hil.rig import Rig

    RIG = Rig().start()
    os.environ["LG_FP_PTY"] = RIG.fingerprint.path
    os.environ["LG_MODEM_PTY"] = RIG.modem.path
    os.environ["LG_I2C_BUS"] = f"unix:{RIG.i2c_server.path}"


def pytest_unconfigure(config: pytest.Config) -> None:
    if RIG is not None:
        RIG.stop()


@pytest.fixture
def rig() -> Iterator[object]:
    """The emulated rig's fault knobs (only in environments with the 'faults' feature)."""
    if RIG is None:
        pytest.skip("this environment has no emulated rig")
    RIG.clear_faults()
    yield RIG
    RIG.clear_faults()
