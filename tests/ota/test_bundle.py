"""The update bundle: reproducible, complete, and refused when anything in it is off."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest

from ota import bundle
from ota.errors import BundleError, OtaError

ROOT = Path(__file__).resolve().parents[2]
CONTENTS = {
    "app/firmware/__init__.py": b"__version__ = '1.2.0'\n",
    "app/firmware/app.py": b"print('hello')\n",
    "models/minutiae.tflite": b"\x00TFL3" + bytes(range(64)),
}


def _targz(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for info, data in entries:
            tar.addfile(info, None if data is None else io.BytesIO(data))
    return gzip.compress(raw.getvalue())


def _info(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def test_same_sources_give_the_same_bytes_and_round_trip() -> None:
    manifest, first = bundle.build(CONTENTS, "1.2.0", "1.0.0", ("hotspot-h1",), ("outbox-v2",))
    _, second = bundle.build(
        dict(reversed(list(CONTENTS.items()))), "1.2.0", "1.0.0", ("hotspot-h1",), ("outbox-v2",)
    )
    assert first == second  # reproducible: order, times and owners do not leak in
    opened = bundle.open_bundle(first)
    assert opened.manifest == manifest
    assert opened.contents == CONTENTS
    assert set(manifest.models) == {"models/minutiae.tflite"}
    assert opened.manifest.migrations == ("outbox-v2",)


def test_extract_writes_the_tree(tmp_path: Path) -> None:
    _, data = bundle.build(CONTENTS, "1.2.0", "1.2.0", ("hotspot-h1",))
    bundle.open_bundle(data).extract(tmp_path / "slot")
    assert (tmp_path / "slot/app/firmware/app.py").read_bytes() == CONTENTS["app/firmware/app.py"]
    with pytest.raises(FileExistsError):
        bundle.open_bundle(data).extract(tmp_path / "slot")  # never over a live slot


def test_a_changed_byte_is_caught() -> None:
    manifest, _ = bundle.build(CONTENTS, "1.2.0", "1.2.0", ("hotspot-h1",))
    tampered = [_info("manifest.json", manifest.encode())]
    tampered += [_info(n, d if "app.py" not in n else b"evil()\n") for n, d in CONTENTS.items()]
    with pytest.raises(BundleError, match="does not match its checksum"):
        bundle.open_bundle(_targz(tampered))


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([], "no manifest.json"),
        ([("app/x.py", b"1")], "no manifest.json"),
        ([("manifest.json", b"{not json")], "not JSON"),
        ([("manifest.json", b'{"format": 9}')], "unknown manifest format"),
        ([("manifest.json", b'{"format": 1, "version": "1.0.0"}')], "lacks or mangles"),
    ],
)
def test_malformed_manifests_are_refused(entries: list[tuple[str, bytes]], message: str) -> None:
    with pytest.raises(BundleError, match=message):
        bundle.open_bundle(_targz([_info(n, d) for n, d in entries]))


def test_unlisted_missing_and_escaping_entries_are_refused() -> None:
    manifest, _ = bundle.build(CONTENTS, "1.2.0", "1.2.0", ("hotspot-h1",))
    head = _info("manifest.json", manifest.encode())
    files = [_info(n, d) for n, d in CONTENTS.items()]
    with pytest.raises(BundleError, match="present but not listed"):
        bundle.open_bundle(_targz([head, *files, _info("app/extra.py", b"x")]))
    with pytest.raises(BundleError, match="listed but missing"):
        bundle.open_bundle(_targz([head, *files[:-1]]))
    with pytest.raises(BundleError, match="outside app/ or models/"):
        bundle.open_bundle(_targz([head, *files, _info("app/../../etc/passwd", b"x")]))
    link = tarfile.TarInfo("app/link")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/shadow"
    with pytest.raises(BundleError, match="not a regular file"):
        bundle.open_bundle(_targz([head, (link, None)]))


def test_garbage_and_truncation_are_refused() -> None:
    _, data = bundle.build(CONTENTS, "1.2.0", "1.2.0", ("hotspot-h1",))
    with pytest.raises(BundleError, match="not a gzip bundle"):
        bundle.open_bundle(b"garbage")
    with pytest.raises(OtaError):
        bundle.open_bundle(data[: len(data) // 2])


def test_versions_are_checked() -> None:
    assert bundle.parse_version("1.10.0") > bundle.parse_version("1.9.9")
    with pytest.raises(BundleError, match=r"MAJOR\.MINOR\.PATCH"):
        bundle.parse_version("1.2")
    with pytest.raises(BundleError, match="newer than the version"):
        bundle.build(CONTENTS, "1.0.0", "2.0.0", ("hotspot-h1",))
    with pytest.raises(BundleError, match="hardware id"):
        bundle.build(CONTENTS, "1.0.0", "1.0.0", ())


def test_the_device_application_builds_and_leaves_central_out(tmp_path: Path) -> None:
    contents = bundle.collect(ROOT)
    assert "app/firmware/app.py" in contents and "app/wire/record.py" in contents
    assert not any(n.startswith(("app/central/", "app/hil/", "app/tests/")) for n in contents)
    assert not any("__pycache__" in n for n in contents)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "hotspot",
            "ota",
            "build",
            "--version",
            "0.1.0",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    built = bundle.open_bundle((tmp_path / "hotspot-0.1.0.bundle").read_bytes())
    assert built.manifest.version == "0.1.0" and built.manifest.hardware == ("hotspot-h1",)
    # The bundle's own command line works without the central service and the rig. Run it
    # with -S so this checkout (installed in editable mode) cannot fill in what is missing.
    slot = tmp_path / "slot"
    built.extract(slot)
    libraries = sysconfig.get_paths()["purelib"]
    help_out = subprocess.run(
        [sys.executable, "-S", "-m", "hotspot", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={"PYTHONPATH": f"{slot / 'app'}:{libraries}", "PATH": "/usr/bin:/bin"},
    )
    assert help_out.returncode == 0, help_out.stderr
    assert "ota" in help_out.stdout and "the central gateway" not in help_out.stdout
