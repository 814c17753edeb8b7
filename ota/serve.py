"""A static HTTP server for an update repository, with byte ranges (``hotspot ota serve``).

Any static server that honours ``Range`` (nginx, Apache, a CDN) serves the
repository in the field; Python's own ``http.server`` does not do ranges, so
resumed downloads would start over. This one does, for the demo, the
benchmark and the tests.
"""

from __future__ import annotations

import http.server
import io
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import BinaryIO

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class RangeRequestHandler(http.server.SimpleHTTPRequestHandler):
    """GET and HEAD with single byte ranges; everything else as ``SimpleHTTPRequestHandler``."""

    def log_message(self, format: str, *args: object) -> None:
        pass  # a repository serves many small files; the access log is noise here

    def send_head(self) -> io.BytesIO | BinaryIO | None:
        match = _RANGE.match(self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if match is None or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) else size - 1
        if start >= size or end < start:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.end_headers()
            return None
        end = min(end, size - 1)
        with open(path, "rb") as handle:
            handle.seek(start)
            body = handle.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return io.BytesIO(body)


@contextmanager
def serving(
    directory: Path,
    handler: type[RangeRequestHandler] = RangeRequestHandler,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[str]:
    """Serve ``directory`` in a thread; yields its base URL (``http://host:port/``)."""
    server = http.server.ThreadingHTTPServer(
        (host, port), partial(handler, directory=os.fspath(directory))
    )
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="ota-serve", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
