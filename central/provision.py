"""Fleet provisioning: the fleet CA, certificates, the central keys and the broker's config.

Everything is P-256. The fleet CA signs a server certificate for the broker,
a client certificate for each central instance and for each device; the
certificate's common name is the MQTT user name (``use_identity_as_username``)
and the ACL confines each device to ``hotspot/v1/<its id>/...``. The central
service has two more keys: one that devices encrypt records to, one that signs
answers. Private keys are written readable by their owner only.

On the handheld the *record-signing* identity stays in the secure element; the
TLS client key is a separate file because Python's ssl module cannot use the
chip without an OpenSSL engine (a known limit, see the note in ARCHITECTURE.md).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from wire import topics

CENTRAL_USER = "central"


@dataclass(frozen=True)
class Credentials:
    """Paths of one party's TLS material."""

    ca: Path
    cert: Path
    key: Path


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HOTSPOT fleet"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


class FleetCA:
    """The certificate authority of one fleet, kept in a directory."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.cert_path = self.dir / "ca.pem"
        self.key_path = self.dir / "ca.key"
        self.crl_path = self.dir / "crl.pem"
        """The revocation list the broker checks client certificates against."""
        self._issued_path = self.dir / "issued.txt"
        self._revoked_path = self.dir / "revoked.txt"

    @classmethod
    def create(cls, directory: str | Path, name: str = "HOTSPOT fleet CA") -> FleetCA:
        ca = cls(directory)
        ca.dir.mkdir(parents=True, exist_ok=True)
        if ca.cert_path.exists():
            return ca
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        _write_private(ca.key_path, key)
        ca.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        ca.write_crl()
        return ca

    def _lines(self, path: Path) -> list[tuple[int, str]]:
        if not path.exists():
            return []
        pairs = (line.split(" ", 1) for line in path.read_text().splitlines() if line.strip())
        return [(int(serial, 16), name) for serial, name in pairs]

    def revoke(self, common_name: str) -> int:
        """Revoke every certificate issued to ``common_name``; rewrite the CRL.

        Returns how many certificates were newly revoked. The broker applies the
        list to new connections once it reloads (``kill -HUP``, or
        ``systemctl reload mosquitto``).
        """
        done = {serial for serial, _ in self._lines(self._revoked_path)}
        fresh = [
            (s, n) for s, n in self._lines(self._issued_path) if n == common_name and s not in done
        ]
        with self._revoked_path.open("a") as out:
            for serial, name in fresh:
                out.write(f"{serial:x} {name}\n")
        self.write_crl()
        return len(fresh)

    def write_crl(self, valid_days: int = 30) -> Path:
        """Sign the current revocation list (renew it before ``valid_days`` pass)."""
        key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the fleet CA key is not a P-256 key")
        cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(cert.subject)
            .last_update(now - dt.timedelta(minutes=5))
            .next_update(now + dt.timedelta(days=valid_days))
        )
        for serial, _ in self._lines(self._revoked_path):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(now - dt.timedelta(minutes=1))
                .build()
            )
        crl = builder.sign(key, hashes.SHA256())
        tmp = self.crl_path.with_suffix(".tmp")
        tmp.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        tmp.replace(self.crl_path)
        return self.crl_path

    def issue(
        self,
        common_name: str,
        out_dir: str | Path,
        *,
        server: bool = False,
        days: int = 825,
        names: tuple[str, ...] = (),
    ) -> Credentials:
        """A key and certificate for ``common_name`` (a device id, 'central' or 'broker'); a
        server's certificate names localhost, 127.0.0.1 and ``names`` (host names or
        addresses) as its subject alternative names."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._sign(common_name, key.public_key(), server=server, days=days, names=names)
        creds = Credentials(
            ca=self.cert_path, cert=out / f"{common_name}.pem", key=out / f"{common_name}.key"
        )
        _write_private(creds.key, key)
        creds.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return creds

    def issue_csr(self, csr: x509.CertificateSigningRequest, days: int = 397) -> x509.Certificate:
        """A client certificate for a key that stays with its owner (a device's request:
        its common name and public key, nothing else of it)."""
        names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if len(names) != 1:
            raise ValueError("the request must name exactly one common name")
        public = csr.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise ValueError("the request's key must be a P-256 key")
        return self._sign(str(names[0].value), public, server=False, days=days, names=())

    def _sign(
        self,
        common_name: str,
        public: ec.EllipticCurvePublicKey,
        *,
        server: bool,
        days: int,
        names: tuple[str, ...],
    ) -> x509.Certificate:
        ca_key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        ca_cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            raise ValueError("the fleet CA key is not a P-256 key")
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(ca_cert.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_san(n) for n in ("localhost", "127.0.0.1", *names)]),
                critical=False,
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        with self._issued_path.open("a") as issued:
            issued.write(f"{cert.serial_number:x} {common_name}\n")
        return cert


def central_keys(directory: str | Path) -> tuple[Path, Path]:
    """(record decryption key, answer signing key) of the central service, made once."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = (out / "records.key", out / "answers.key")
    for path in paths:
        if not path.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            _write_private(path, key)
            public = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            path.with_suffix(".pub").write_bytes(public)
    return paths


ACL = f"""# Written by 'hotspot provision'. User names are certificate CNs.
# Every device: its own subtree only.
pattern write {topics.PREFIX}/%u/records
pattern write {topics.PREFIX}/%u/telemetry/+
pattern read {topics.PREFIX}/%u/results
# Release announcements (signed by the central service) are public to the fleet.
pattern read {topics.PREFIX}/ota/+/release

# The central gateway instances.
user {CENTRAL_USER}
topic read {topics.PREFIX}/+/records
topic read {topics.PREFIX}/+/telemetry/+
topic write {topics.PREFIX}/+/results
topic write {topics.PREFIX}/ota/+/release
"""


def broker_config(
    directory: str | Path,
    ca: FleetCA,
    port: int,
    *,
    bind: str = "127.0.0.1",
    run_as: str | None = None,
    names: tuple[str, ...] = (),
) -> Path:
    """Write mosquitto.conf (TLS, client certificates required, the ACL, persistence).

    ``bind``: the address to listen on (0.0.0.0 for every interface); ``names``: the host
    names and addresses devices reach the broker by, for its certificate (kept when it
    already names them, so that running provision again re-keys nothing). ``run_as``: the
    user mosquitto keeps when started as root (by default it drops to ``mosquitto``, which
    cannot read a private test directory).
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    existing = Credentials(ca.cert_path, out / "broker.pem", out / "broker.key")
    if existing.cert.exists() and existing.key.exists() and not names_missing(existing.cert, names):
        creds = existing
    else:
        creds = ca.issue("broker", out, server=True, names=names)
    if not ca.crl_path.exists():
        ca.write_crl()
    (out / "acl").write_text(ACL)
    (out / "data").mkdir(exist_ok=True)
    conf = out / "mosquitto.conf"
    conf.write_text(
        f"""# Written by 'hotspot provision'.
{f"user {run_as}" if run_as else ""}
per_listener_settings false
allow_anonymous false
persistence true
persistence_location {out / "data"}/
autosave_interval 1
max_inflight_messages 20
max_queued_messages 100000
# Forward each message at once: with Nagle's algorithm an answer waits ~40 ms.
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
log_type notice
acl_file {out / "acl"}

listener {port} {bind}
protocol mqtt
cafile {creds.ca}
certfile {creds.cert}
keyfile {creds.key}
require_certificate true
use_identity_as_username true
tls_version tlsv1.2
crlfile {ca.crl_path}
"""
    )
    return conf


def names_missing(cert: Path, names: tuple[str, ...]) -> list[str]:
    """The ``names`` that the certificate at ``cert`` does not carry as alternative names."""
    issued = x509.load_pem_x509_certificate(cert.read_bytes())
    try:
        sans = issued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return list(names)
    have = {str(n.value) for n in sans}
    return [n for n in names if str(_san(n).value) not in have]


def _san(name: str) -> x509.GeneralName:
    """An address as an IP entry, anything else as a DNS name."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


@dataclass(frozen=True)
class FleetLayout:
    """Where a fleet's files live under one directory (``hotspot provision --dir``)."""

    root: Path

    @property
    def ca_dir(self) -> Path:
        return self.root / "ca"

    @property
    def broker_dir(self) -> Path:
        return self.root / "broker"

    @property
    def keys_dir(self) -> Path:
        return self.root / "central" / "keys"

    @property
    def central_tls(self) -> Path:
        return self.root / "central" / "tls"

    @property
    def database_file(self) -> Path:
        """Names the central database (``provision --database``); absent: embedded SQLite."""
        return self.root / "central" / "database.url"

    @property
    def database_url(self) -> str:
        """The central database: the URL provisioned, or SQLite in the fleet directory."""
        if self.database_file.exists():
            return self.database_file.read_text().strip()
        return f"sqlite:{self.root / 'central' / 'central.db'}"

    @property
    def console_tls(self) -> Path:
        return self.root / "central" / "console"

    @property
    def records_public(self) -> Path:
        return self.keys_dir / "records.pub"

    @property
    def answers_public(self) -> Path:
        return self.keys_dir / "answers.pub"

    @property
    def broker_port_file(self) -> Path:
        return self.broker_dir / "port"

    def device_dir(self, device_id: str) -> Path:
        return self.root / "devices" / topics.check_device_id(device_id)
