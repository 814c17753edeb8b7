"""Build and check the supervisor's firmware on the host.

``python -m supervisor.build [--out DIR] [--check] [--stubs DIR]``

* stages the files that go onto the board in ``DIR/board``: ``main.py`` as
  source (MicroPython runs it at boot), the other modules compiled to ``.mpy``
  by ``mpy-cross`` for the RP2040's Cortex-M0+ (which also catches syntax that
  MicroPython lacks), and ``regmap`` taken from ``hal/supervisor/regmap.py`` so
  the register map exists once;
* writes ``DIR/supervisor-X.Y.Z.img``, the image that ``hotspot device
  supervisor-update`` sends to a board in the field;
* with ``--check``, type-checks the board's sources with mypy against the
  MicroPython stubs (``micropython-rp2-stubs``, installed into ``--stubs``, never
  into the host environment, where they would shadow CPython's ``time``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from supervisor import image, logic

HERE = Path(__file__).resolve().parent
SOURCES = ("main.py", "board.py", "logic.py", "image.py")
REGMAP = HERE.parent / "hal" / "supervisor" / "regmap.py"
MYPY_CONFIG = """[mypy]
strict = True
custom_typeshed_dir = {stubs}
mypy_path = {stubs}
no_site_packages = True
cache_dir = {cache}
[mypy-machine,rp2.*,_mpy_shed.*,vfs]
ignore_errors = True
[mypy-logic]
warn_unused_ignores = False
"""


class BuildError(Exception):
    """The firmware does not build or check; the message carries the tool's output."""


def stage_sources(out: Path) -> list[Path]:
    """The board's source files, regmap included, in ``out``.

    The register map is also staged as ``hal/supervisor/regmap.py``, where the logic looks
    first on the host, so that the type check sees the same typed module either way.
    """
    out.mkdir(parents=True, exist_ok=True)
    staged = []
    for name in SOURCES:
        staged.append(Path(shutil.copyfile(HERE / name, out / name)))
    staged.append(Path(shutil.copyfile(REGMAP, out / "regmap.py")))
    package = out / "hal" / "supervisor"
    package.mkdir(parents=True, exist_ok=True)
    for folder in (out / "hal", package):
        (folder / "__init__.py").write_text("")
    shutil.copyfile(REGMAP, package / "regmap.py")
    return staged


def compile_board(sources: list[Path], out: Path) -> dict[str, bytes]:
    """What goes onto the board: main.py as source, every other module as .mpy."""
    mpy_cross = shutil.which("mpy-cross") or str(Path(sys.executable).parent / "mpy-cross")
    files: dict[str, bytes] = {}
    out.mkdir(parents=True, exist_ok=True)
    for source in sources:
        done = subprocess.run(
            [mpy_cross, "-march=armv6m", "-o", str(out / f"{source.stem}.mpy"), str(source)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise BuildError(f"mpy-cross refused {source.name}: {done.stderr.strip()}")
        if source.name == "main.py":
            (out / "main.mpy").unlink()
            shutil.copyfile(source, out / "main.py")
            files["main.py"] = source.read_bytes()
        else:
            files[f"{source.stem}.mpy"] = (out / f"{source.stem}.mpy").read_bytes()
    return files


def check(sources: list[Path], stubs: Path) -> None:
    if not (stubs / "machine.pyi").exists():
        raise BuildError(
            f"no MicroPython stubs in {stubs}: pip install --target {stubs} "
            "'micropython-rp2-stubs==1.29.*' ('./dev test' does)"
        )
    with tempfile.TemporaryDirectory(prefix="hotspot-mpy-") as tmp:
        config = Path(tmp) / "mypy.ini"
        config.write_text(MYPY_CONFIG.format(stubs=stubs, cache=Path(tmp) / "cache"))
        done = subprocess.run(
            [sys.executable, "-m", "mypy", "--config-file", str(config), *map(str, sources)],
            capture_output=True,
            text=True,
            check=False,
            cwd=sources[0].parent,
        )
    if done.returncode != 0:
        raise BuildError(f"mypy with the MicroPython stubs:\n{done.stdout}{done.stderr}")


def build(out: Path, stubs: Path | None = None) -> Path:
    """Stage, compile (and check): the image's path."""
    out = out.resolve()
    sources = stage_sources(out / "src")
    if stubs is not None:
        check(sources, stubs)
    files = compile_board(sources, out / "board")
    version = logic.FIRMWARE_VERSION
    target = out / f"supervisor-{'.'.join(map(str, version))}.img"
    target.write_bytes(image.pack(files, version))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m supervisor.build")
    parser.add_argument("--out", type=Path, default=Path("build/supervisor"))
    parser.add_argument("--check", action="store_true", help="type-check with the stubs")
    parser.add_argument("--stubs", type=Path, default=Path(".typings-mpy"))
    args = parser.parse_args(argv)
    try:
        target = build(args.out, args.stubs.resolve() if args.check else None)
    except BuildError as exc:
        print(f"supervisor build: {exc}", file=sys.stderr)
        return 1
    print(f"board files: {args.out / 'board'} (copy with mpremote); update image: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
