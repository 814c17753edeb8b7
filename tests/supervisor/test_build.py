"""The supervisor firmware builds for the RP2040 (mpy-cross) and type-checks against the
MicroPython stubs, which catch what CPython would accept and the board would not."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor import build, image, logic

STUBS = Path(__file__).resolve().parents[2] / ".typings-mpy"


def _stubs() -> Path:
    if not (STUBS / "machine.pyi").exists():
        pytest.fail(f"the MicroPython stubs are not in {STUBS}: './dev test' installs them")
    return STUBS


def test_the_image_holds_every_module_compiled_for_the_board(tmp_path: Path) -> None:
    target = build.build(tmp_path / "out", _stubs())
    version, files = image.read(target.read_bytes())
    assert version == logic.FIRMWARE_VERSION
    assert set(files) == {"main.py", "board.mpy", "logic.mpy", "image.mpy", "regmap.mpy"}
    assert all(data[:1] == b"M" for name, data in files.items() if name.endswith(".mpy"))
    assert files["main.py"] == (build.HERE / "main.py").read_bytes()


def test_the_stubs_catch_what_micropython_lacks(tmp_path: Path) -> None:
    sources = build.stage_sources(tmp_path / "src")
    board = tmp_path / "src" / "board.py"
    board.write_text(board.read_text() + "\n\ndef wrong() -> None:\n    time.sleep_ms('500')\n")
    with pytest.raises(build.BuildError, match="sleep_ms"):
        build.check(sources, _stubs())


def test_mpy_cross_refuses_syntax_micropython_lacks(tmp_path: Path) -> None:
    sources = build.stage_sources(tmp_path / "src")
    logic_py = tmp_path / "src" / "logic.py"
    logic_py.write_text(logic_py.read_text() + "\n\ntype Alias = int\n")  # PEP 695
    with pytest.raises(build.BuildError, match=r"mpy-cross refused logic\.py"):
        build.compile_board(sources, tmp_path / "board")
