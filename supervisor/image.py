"""The supervisor's firmware image: a few files in one checked container.

Layout: ``b"HSUP"``, format (u8), firmware major, minor, patch (u8 each), the
number of files (u8), then per file its name's length (u8), the name, the
data's length (u32, little-endian) and the data. The update path checks the
whole image's CRC-32 before :func:`install` runs.

:func:`install` never leaves a mix of two releases: it writes every file as
``NAME.new``, then a journal naming them, then renames them over the old
ones; :func:`resume` (called first thing at every start) finishes the renames
of an install that a power cut interrupted. Runs on MicroPython and CPython.
"""

import os

MAGIC = b"HSUP"
FORMAT = 1
JOURNAL = "install.todo"


class ImageError(Exception):
    """Not a supervisor image, or a damaged one."""


def pack(files: dict, version: tuple) -> bytes:  # type: ignore[type-arg]
    out = bytearray(MAGIC)
    out += bytes((FORMAT, version[0], version[1], version[2], len(files)))
    for name in sorted(files):
        data = files[name]
        encoded = name.encode()
        out += bytes((len(encoded),)) + encoded
        out += len(data).to_bytes(4, "little") + data
    return bytes(out)


def read(data: bytes) -> tuple:  # type: ignore[type-arg]
    """(firmware version, {name: data}) of an image; ImageError when it is not one."""
    if len(data) < 9 or data[:4] != MAGIC or data[4] != FORMAT:
        raise ImageError("not a supervisor image (HSUP, format 1)")
    version = (data[5], data[6], data[7])
    files = {}
    at = 9
    for _ in range(data[8]):
        if at >= len(data):
            raise ImageError("the image is truncated")
        size = data[at]
        name = bytes(data[at + 1 : at + 1 + size]).decode()
        at += 1 + size
        length = int.from_bytes(data[at : at + 4], "little")
        at += 4
        if "/" in name or not name or at + length > len(data):
            raise ImageError("the image is damaged")
        files[name] = bytes(data[at : at + length])
        at += length
    if at != len(data):
        raise ImageError("the image has trailing bytes")
    return version, files


def install(path: str) -> None:
    with open(path, "rb") as handle:
        _version, files = read(handle.read())
    for name, data in files.items():
        with open(name + ".new", "wb") as handle:
            handle.write(data)
    with open(JOURNAL, "w") as handle:
        handle.write("\n".join(files))
    resume()


def resume() -> None:
    """Finish an interrupted install: rename what is still ``.new``, then drop the journal."""
    try:
        with open(JOURNAL) as handle:
            names = [line for line in handle.read().split("\n") if line]
    except OSError:
        return
    for name in names:
        try:  # noqa: SIM105 - MicroPython has no contextlib
            os.rename(name + ".new", name)
        except OSError:
            pass  # renamed before the cut
    os.remove(JOURNAL)
