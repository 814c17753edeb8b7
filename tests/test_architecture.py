"""The dependency rules of DEVELOPERS.md, checked on the import graph.

- ``hal`` imports nothing of ours;
- ``firmware`` imports ``hal`` but concrete drivers and emulators only in ``firmware.wiring``;
- ``central`` never imports ``firmware``; both share only ``wire``, which imports nothing of ours;
- nothing below the rig imports ``hil``;
- the officer interface (``firmware.ui``) calls into the application, never the reverse;
- the operations console (``central.console``) calls into central, never the reverse;
- the supervisor's MicroPython firmware shares only the register map with the main board.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = {
    "hal",
    "firmware",
    "hil",
    "central",
    "ota",
    "models",
    "bench",
    "hotspot",
    "wire",
    "supervisor",
}
HAL_INTERFACES = {
    "hal.errors",
    "hal.resources",
    "hal.serialport",
    "hal.i2c",
    "hal.fingerprint",
    "hal.fingerprint.protocol",
    "hal.camera.protocol",
    "hal.modem.protocol",
    "hal.power.protocol",
    "hal.secure.protocol",
    "hal.supervisor.protocol",
    "hal.phantoms.fingerprint",
    "hal.phantoms.face",
}


def imports(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[module] = {n for n in names if n.split(".")[0] in OURS}
    return found


def test_hal_imports_nothing_of_ours_outside_hal() -> None:
    for module, names in imports("hal").items():
        assert all(n.split(".")[0] == "hal" for n in names), (module, names)


def test_firmware_uses_hal_interfaces_except_in_wiring() -> None:
    for module, names in imports("firmware").items():
        allowed = {"hal", "firmware", "wire", "models"}
        if module == "firmware.wiring":
            allowed.add("supervisor")  # the supervisor's emulator, for "emulated" buses
        outside = {n for n in names if n.split(".")[0] not in allowed}
        assert not outside, (module, outside)
        if module == "firmware.wiring":
            continue
        concrete = {n for n in names if n.startswith("hal.") and n not in HAL_INTERFACES}
        assert not concrete, (module, concrete)


def test_models_import_nothing_of_ours() -> None:
    # The model loader ships in the update bundle beside the firmware; it must not
    # pull in anything but numpy and the TFLite runtime.
    # The build scripts (models/build/) stay out of bundles and may use the phantoms.
    ours = {"hal", "firmware", "wire", "central", "ota", "hil", "bench", "hotspot"}
    for module, names in imports("models").items():
        if module.startswith("models.build."):
            continue
        assert not {n for n in names if n.split(".")[0] in ours}, module


def test_wire_is_self_contained() -> None:
    for module, names in imports("wire").items():
        assert all(n.split(".")[0] == "wire" for n in names), (module, names)


def test_central_never_imports_firmware() -> None:
    for module, names in imports("central").items():
        assert not any(n.split(".")[0] == "firmware" for n in names), module


def test_only_the_rig_and_the_shell_know_hil() -> None:
    for package in ("hal", "firmware", "central", "ota", "models"):
        for module, names in imports(package).items():
            assert not any(n.split(".")[0] == "hil" for n in names), module


def test_the_officer_interface_calls_into_the_application_never_the_reverse() -> None:
    # The web layer (firmware.ui) serves the application (firmware.officer and below);
    # only the service, which assembles the two, may import it.
    for module, names in imports("firmware").items():
        if module.startswith("firmware.ui") or module == "firmware.service":
            continue
        assert not any(n.startswith("firmware.ui") for n in names), module


def test_the_console_calls_into_central_never_the_reverse() -> None:
    # The operations console (central.console) serves central's store; only the command
    # line, which starts it, may import it.
    for module, names in imports("central").items():
        if module.startswith("central.console") or module in ("central.cli", "central.admin_cli"):
            continue
        assert not any(n.startswith("central.console") for n in names), module


def test_the_supervisor_firmware_shares_only_the_register_map() -> None:
    # What runs on the microcontroller imports nothing of ours but the register map (flashed
    # beside it as regmap.py); the host tools beside it (build, emulator) may use hal.
    on_board = {"supervisor.logic", "supervisor.board", "supervisor.main", "supervisor.image"}
    for module, names in imports("supervisor").items():
        ours = {n for n in names if n.split(".")[0] in OURS}
        if module in on_board:
            assert ours <= {"hal.supervisor", "supervisor"}, (module, ours)
        else:
            assert {n.split(".")[0] for n in ours} <= {"hal", "supervisor"}, (module, ours)
