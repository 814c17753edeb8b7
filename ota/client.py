"""The device side of the update repository: python-tuf's ngclient, plus resumable downloads.

ngclient does the trust: it walks the root chain from the root the device
trusts (shipped in the image, then cached), refuses metadata that is older
than what it has seen (rollback), expired (freeze), inconsistent with the
snapshot (mix-and-match), signed by the wrong keys or too few of them, or
longer than its bound (endless data). What it does not do is resume: a bundle
over a link that drops every few minutes must not start over each time. So
targets are fetched here with HTTP ranges into a ``.part`` file, never past
the length the signed metadata declares, and the finished file is checked
against the signed length and hash before anyone reads it.

Every failure is one of :mod:`ota.errors`, with what happened and what to do.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import urllib3
from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import TargetFile
from tuf.ngclient import Updater, UpdaterConfig

from ota.errors import DownloadError, TrustError
from ota.faults import checkpoint

Progress = Callable[[int, int], None]
"""(bytes so far, bytes in all) of the current download."""

CHUNK = 64 * 1024


def _explain(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, tuf_errors.BadVersionNumberError):
        return (
            f"the repository offered older metadata than this device already trusts ({text}): "
            "a rollback attack or a stale mirror; nothing was installed"
        )
    if isinstance(exc, tuf_errors.ExpiredMetadataError):
        return (
            f"update metadata has expired ({text}): a frozen mirror, or this device's clock "
            "is wrong (sync the time, then retry); nothing was installed"
        )
    if isinstance(exc, tuf_errors.UnsignedMetadataError):
        return (
            f"update metadata is not signed by enough of the keys the trusted root names "
            f"({text}): nothing was installed"
        )
    if isinstance(exc, tuf_errors.LengthOrHashMismatchError):
        return (
            f"downloaded metadata does not match what the signed metadata says ({text}): "
            "tampered or mixed-up files; nothing was installed"
        )
    if isinstance(exc, tuf_errors.DownloadLengthMismatchError):
        return (
            f"the server sent more than the signed metadata allows ({text}): "
            "an endless-data attack or a broken mirror; nothing was installed"
        )
    return text


class UpdateClient:
    """Verified access to one update repository (``BASE/metadata/``, ``BASE/targets/``)."""

    def __init__(
        self,
        state_dir: Path,
        base_url: str,
        trusted_root: bytes,
        *,
        timeout_s: float = 30.0,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.metadata_dir = self.state_dir / "metadata"
        self.partial_dir = self.state_dir / "partial"
        self.metadata_dir.mkdir(parents=True, exist_ok=True)
        self.partial_dir.mkdir(parents=True, exist_ok=True)
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._trusted_root = trusted_root
        self._timeout = urllib3.Timeout(connect=timeout_s, read=timeout_s)
        self._http = urllib3.PoolManager(retries=False)
        self._updater: Updater | None = None

    def refresh(self) -> None:
        """Fetch and verify the top-level metadata; :class:`TrustError` if anything is off."""
        cached = (self.metadata_dir / "root.json").exists()
        try:
            updater = Updater(
                str(self.metadata_dir),
                self.base_url + "metadata/",
                target_base_url=self.base_url + "targets/",
                config=UpdaterConfig(),
                # After the first run the cached root is the anchor: it may have
                # rotated past the one in the image, and must not go back to it.
                bootstrap=None if cached else self._trusted_root,
            )
            updater.refresh()
        except tuf_errors.RepositoryError as exc:
            raise TrustError(_explain(exc)) from None
        except tuf_errors.DownloadLengthMismatchError as exc:
            raise TrustError(_explain(exc)) from None
        except (tuf_errors.DownloadError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise DownloadError(
                f"cannot reach the update repository at {self.base_url} ({_explain(exc)}): "
                "the device retries when the link is back"
            ) from None
        self._updater = updater

    def target(self, name: str) -> TargetFile:
        """The signed description (length, hashes) of ``name``; refresh() first."""
        if self._updater is None:
            self.refresh()
        assert self._updater is not None
        try:
            info = self._updater.get_targetinfo(name)
        except tuf_errors.RepositoryError as exc:
            raise TrustError(_explain(exc)) from None
        except (tuf_errors.DownloadError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise DownloadError(f"cannot fetch targets metadata ({_explain(exc)})") from None
        if info is None:
            raise TrustError(f"{name} is not in the signed targets of {self.base_url}")
        return info

    def download(
        self,
        name: str,
        destination: Path,
        progress: Progress | None = None,
        step: str | None = None,
    ) -> TargetFile:
        """Fetch ``name`` into ``destination``, resuming a previous partial download.

        ``step`` names the update step this download is, for the rig's power cuts
        (:func:`ota.faults.checkpoint` after each chunk): the release's files are
        "download"; the manifest that comes before them is not.

        Returns the verified target description. On a link failure the part
        stays for the next try (:class:`DownloadError`); bytes that do not match
        the signed hash are thrown away (:class:`TrustError`).
        """
        info = self.target(name)
        digest = info.hashes["sha256"]
        part = self.partial_dir / f"{digest}.part"
        self._fetch(self._url(info), part, info.length, progress, step)
        try:
            with open(part, "rb") as handle:
                info.verify_length_and_hashes(handle)
        except tuf_errors.LengthOrHashMismatchError as exc:
            part.unlink(missing_ok=True)
            raise TrustError(
                f"{name} does not match its signed hash ({exc}): tampered or corrupted on the "
                "way; the bytes were discarded and nothing was installed"
            ) from None
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, destination)
        return info

    def _url(self, info: TargetFile) -> str:
        directory, slash, base = info.path.rpartition("/")
        hashed = f"{directory}{slash}{info.hashes['sha256']}.{base}"
        return self.base_url + "targets/" + urllib.parse.quote(hashed)

    def _fetch(
        self, url: str, part: Path, length: int, progress: Progress | None, step: str | None
    ) -> None:
        have = part.stat().st_size if part.exists() else 0
        if have > length:
            part.unlink()
            have = 0
        if have == length:
            return
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            response = self._http.request(
                "GET",
                url,
                headers=headers,
                preload_content=False,
                timeout=self._timeout,
                # A cut link must keep the bytes that did arrive (the next try
                # resumes after them) instead of failing the whole read.
                enforce_content_length=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise DownloadError(
                f"cannot reach {url} ({exc}): {have} of {length} bytes kept, the next try resumes"
            ) from None
        try:
            if response.status == 200:
                have = 0  # the server ignored the range: start over
            elif response.status != 206:
                raise DownloadError(
                    f"{url} answered HTTP {response.status}: check the repository address"
                )
            with open(part, "r+b" if have else "wb") as handle:
                handle.seek(have)
                handle.truncate()
                try:
                    for chunk in response.stream(CHUNK):
                        if have + len(chunk) > length:
                            handle.close()
                            part.unlink(missing_ok=True)
                            raise TrustError(
                                f"{url} sent more than the {length} bytes its signed metadata "
                                "declares: an endless-data attack or a broken mirror; download "
                                "stopped and discarded"
                            )
                        handle.write(chunk)
                        have += len(chunk)
                        if progress is not None:
                            progress(have, length)
                        if step is not None:
                            checkpoint(step)
                except (urllib3.exceptions.HTTPError, OSError) as exc:
                    raise DownloadError(
                        f"the link dropped during {url} ({exc}): {have} of {length} bytes kept, "
                        "the next try resumes"
                    ) from None
                finally:
                    if not handle.closed:
                        handle.flush()
                        os.fsync(handle.fileno())
        finally:
            response.release_conn()
        if have < length:
            raise DownloadError(
                f"{url} ended after {have} of {length} bytes: kept, the next try resumes"
            )
