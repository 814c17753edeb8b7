"""TUF on the device: every attack in the issue is refused with a clear error."""

from __future__ import annotations

import http.server
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ota_fixtures import Fleet
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, Root

from ota.client import UpdateClient
from ota.errors import DownloadError, TrustError
from ota.repository import UpdateRepository, bundle_target, manifest_target
from ota.serve import RangeRequestHandler, serving


def _client(fleet: Fleet, name: str = "dev") -> UpdateClient:
    return UpdateClient(fleet.tmp / name / "tuf", fleet.url, fleet.repo.trusted_root())


def _md(repo: UpdateRepository, name: str) -> Path:
    return repo.metadata_dir / name


def _latest_targets(repo: UpdateRepository) -> int:
    return max(int(p.name.split(".")[0]) for p in repo.metadata_dir.glob("*.targets.json"))


def _sign_with(md: Metadata, keys: list[Path] | None = None) -> None:
    from cryptography.hazmat.primitives import serialization

    md.signatures.clear()
    for path in keys or []:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        md.sign(CryptoSigner(private), append=True)  # type: ignore[arg-type]


def test_normal_refresh_and_download(fleet: Fleet, tmp_path: Path) -> None:
    client = _client(fleet)
    client.refresh()
    info = client.download(bundle_target("1.1.0"), tmp_path / "b")
    assert (tmp_path / "b").stat().st_size == info.length


def test_metadata_rollback_is_refused(fleet: Fleet) -> None:
    old = _md(fleet.repo, "timestamp.json").read_bytes()
    fleet.repo.refresh_timestamp()
    client = _client(fleet)
    client.refresh()  # the device has now seen the newer timestamp
    _md(fleet.repo, "timestamp.json").write_bytes(old)
    with pytest.raises(TrustError, match="rollback"):
        _client(fleet).refresh()


def test_frozen_mirror_is_refused(fleet: Fleet) -> None:
    md = Metadata.from_file(str(_md(fleet.repo, "timestamp.json")))
    md.signed.version += 1
    md.signed.expires = datetime.now(UTC) - timedelta(hours=1)
    keys = [fleet.repo.keys_dir / f"{k}.pem" for k in _root(fleet).roles["timestamp"].keyids]
    _sign_with(md, keys)
    md.to_file(str(_md(fleet.repo, "timestamp.json")))
    with pytest.raises(TrustError, match="expired"):
        _client(fleet).refresh()


def _root(fleet: Fleet) -> Root:
    return Metadata[Root].from_file(str(_md(fleet.repo, "1.root.json"))).signed


def test_mix_and_match_is_refused(fleet: Fleet) -> None:
    latest = _latest_targets(fleet.repo)
    shutil.copy(
        _md(fleet.repo, f"{latest - 1}.targets.json"), _md(fleet.repo, f"{latest}.targets.json")
    )
    with pytest.raises(TrustError, match=r"older metadata|Expected targets"):
        _client(fleet).refresh()


def test_tampered_bundle_is_refused_and_discarded(fleet: Fleet, tmp_path: Path) -> None:
    (stored,) = (fleet.repo.targets_dir / "releases" / "1.1.0").glob("*.bundle")
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    client = _client(fleet)
    with pytest.raises(TrustError, match="signed hash"):
        client.download(bundle_target("1.1.0"), tmp_path / "b")
    assert not (tmp_path / "b").exists()
    assert not list(client.partial_dir.iterdir())


def test_metadata_signed_by_a_wrong_key_is_refused(fleet: Fleet, tmp_path: Path) -> None:
    latest = _latest_targets(fleet.repo)
    path = _md(fleet.repo, f"{latest}.targets.json")
    md = Metadata.from_file(str(path))
    rogue = tmp_path / "rogue.pem"
    from cryptography.hazmat.primitives import serialization

    rogue.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    _sign_with(md, [rogue])
    md.to_file(str(path))
    with pytest.raises(TrustError, match="not signed by enough"):
        _client(fleet).refresh()


def test_new_root_below_threshold_is_refused(fleet: Fleet) -> None:
    md = Metadata[Root].from_file(str(_md(fleet.repo, "1.root.json")))
    md.signed.version = 2
    one_key = fleet.repo.keys_dir / f"{md.signed.roles['root'].keyids[0]}.pem"
    _sign_with(md, [one_key])  # threshold is 2 of 3
    md.to_file(str(_md(fleet.repo, "2.root.json")))
    with pytest.raises(TrustError, match="not signed by enough"):
        _client(fleet).refresh()


def test_publisher_without_enough_root_keys_cannot_rotate(fleet: Fleet) -> None:
    root = _root(fleet)
    for keyid in root.roles["root"].keyids[:2]:
        (fleet.repo.keys_dir / f"{keyid}.pem").unlink()
    from ota.errors import RepositoryError

    with pytest.raises(RepositoryError, match="offline keys"):
        fleet.repo.rotate_key("targets")


def test_key_rotation_is_followed_and_old_keys_are_void(fleet: Fleet, tmp_path: Path) -> None:
    client = _client(fleet)
    client.refresh()
    old_targets = [fleet.repo.keys_dir / f"{k}.pem" for k in _root(fleet).roles["targets"].keyids]
    fleet.repo.rotate_key("targets")
    fleet.repo.rotate_key("root")
    _client(fleet).refresh()  # walks root 1 -> 2 -> 3
    _client(fleet).download(manifest_target("1.1.0"), tmp_path / "m")
    # Metadata signed with the revoked targets key is refused from now on.
    latest = _latest_targets(fleet.repo)
    path = _md(fleet.repo, f"{latest}.targets.json")
    md = Metadata.from_file(str(path))
    _sign_with(md, old_targets)
    md.to_file(str(path))
    with pytest.raises(TrustError, match="not signed by enough"):
        _client(fleet, "fresh").refresh()


def test_endless_metadata_is_refused(fleet: Fleet) -> None:
    path = _md(fleet.repo, "timestamp.json")
    path.write_bytes(path.read_bytes() + b" " * 100_000)
    with pytest.raises(TrustError, match="more than"):
        _client(fleet).refresh()


def test_endless_target_is_stopped_at_the_signed_length(fleet: Fleet, tmp_path: Path) -> None:
    (stored,) = (fleet.repo.targets_dir / "releases" / "1.1.0").glob("*.bundle")
    stored.write_bytes(stored.read_bytes() + b"\0" * 1_000_000)
    client = _client(fleet)
    with pytest.raises(TrustError, match="more than the"):
        client.download(bundle_target("1.1.0"), tmp_path / "b")
    assert not (tmp_path / "b").exists()


class _Flaky(RangeRequestHandler):
    """Cuts the first response to a bundle after 20 kB; counts what it sends."""

    sent = 0
    cut = True
    ranges: list[str] = []  # noqa: RUF012

    def copyfile(self, source, outputfile) -> None:  # type: ignore[no-untyped-def]
        data = source.read()
        if self.path.endswith(".bundle"):
            type(self).ranges.append(self.headers.get("Range", ""))
            if type(self).cut:
                type(self).cut = False
                data = data[:20_000]
            type(self).sent += len(data)
        outputfile.write(data)
        if self.path.endswith(".bundle") and len(type(self).ranges) == 1:
            self.close_connection = True
            self.connection.shutdown(2)


@pytest.fixture
def flaky(fleet: Fleet) -> Iterator[str]:
    _Flaky.sent, _Flaky.cut, _Flaky.ranges = 0, True, []
    with serving(fleet.repo.directory, _Flaky) as url:
        yield url


def test_download_resumes_after_a_cut(fleet: Fleet, flaky: str, tmp_path: Path) -> None:
    client = UpdateClient(tmp_path / "tuf", flaky, fleet.repo.trusted_root())
    with pytest.raises(DownloadError, match="resumes"):
        client.download(bundle_target("1.1.0"), tmp_path / "b")
    info = client.download(bundle_target("1.1.0"), tmp_path / "b")
    assert (tmp_path / "b").stat().st_size == info.length
    assert _Flaky.ranges == ["", "bytes=20000-"]
    assert _Flaky.sent == info.length  # nothing fetched twice


def test_unreachable_repository_is_a_download_error(tmp_path: Path, fleet: Fleet) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), RangeRequestHandler)
    port = server.server_address[1]
    server.server_close()
    client = UpdateClient(tmp_path / "tuf", f"http://127.0.0.1:{port}/", fleet.repo.trusted_root())
    with pytest.raises(DownloadError, match="retries when the link is back"):
        client.refresh()
