"""Adding an officer to the device configuration's ``[officers]`` table, comments kept.

The file is a person's: it is edited as text, one line added or replaced, and
the result is parsed again before it replaces the old file (atomically, with
the old file's permissions), so a mistake never leaves a broken configuration.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from hal.errors import ConfigurationError

_HEADER = re.compile(r"^\s*\[officers\]\s*(#.*)?$")
_ANY_HEADER = re.compile(r"^\s*\[")


def add_officer(path: Path, officer: str, pin_hash: str) -> bool:
    """Set ``officer``'s PIN hash in ``path``; True when the officer was already there."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    entry = f'"{officer}" = "{pin_hash}"'
    start = next((i for i, line in enumerate(lines) if _HEADER.match(line)), None)
    replaced = False
    if start is None:
        if lines and lines[-1].strip():
            lines.append("")
        lines += ["[officers]", entry]
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if _ANY_HEADER.match(lines[i])), len(lines)
        )
        key = re.compile(rf"^\s*\"?{re.escape(officer)}\"?\s*=")
        for i in range(start + 1, end):
            if key.match(lines[i]):
                lines[i] = entry
                replaced = True
                break
        else:
            lines.insert(start + 1, entry)
    new = "\n".join(lines) + "\n"
    try:
        tomllib.loads(new)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: the edited file would not be valid TOML: {exc}") from exc
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, path.stat().st_mode & 0o777)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(new)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
    return replaced
