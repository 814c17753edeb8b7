"""Joining a fleet from the handheld: the enrolment request, and installing central's bundle.

The TLS key is made here and never leaves the device. The ATECC608 could hold
it, but the MQTT client's TLS (OpenSSL under Python's ``ssl``) can only use a
key it can read, so it is a P-256 key in a file only the service's user may
read (mode 0600, in a folder of mode 0700). The identity key does stay in the
secure element: it signs the request's binding (:mod:`wire.enrolment`).

Running ``enrol`` again makes the same request from the same key: nothing is
re-keyed unless asked. ``--rotate`` makes a *next* key beside the current one;
the current key and certificate keep working until a bundle with a certificate
for the next key is installed, which then becomes the current one.

Installing a bundle writes its public files into ``fleet/`` beside the
configuration and sets the configuration's ``[uplink]``, ``[central]`` and
``[update]`` sections (other keys of those sections and every other section,
comments included, are kept); the new file is checked before it replaces the
old one, atomically.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from firmware import config as config_mod
from hal.errors import ConfigurationError
from hal.secure.protocol import SecureElement
from wire.enrolment import EnrolmentRequest, ProvisioningBundle, binding_digest

FLEET_DIR = "fleet"
SECTION = re.compile(r"^\s*\[([A-Za-z0-9_.-]+)\]\s*(#.*)?$")


class EnrolmentFailed(ConfigurationError):
    """Enrolment cannot go on; the message says what to do."""


@dataclass(frozen=True)
class KeyPaths:
    current: Path
    next: Path

    @classmethod
    def of(cls, cfg: config_mod.DeviceConfig) -> KeyPaths:
        """The TLS key the configuration names, or ``tls/device.key`` beside it."""
        if cfg.uplink is not None and cfg.uplink.key:
            current = cfg.path(cfg.uplink.key)
        else:
            current = cfg.path("tls/device.key")
        return cls(current, current.with_name(current.stem + ".next.key"))


def make_request(
    cfg: config_mod.DeviceConfig, se: SecureElement, *, rotate: bool = False
) -> tuple[EnrolmentRequest, Path]:
    """The request (and the key file it is for), making the key if there is none yet."""
    device_id = cfg.device.id
    if not device_id:
        raise EnrolmentFailed(
            f"{cfg.source}: [device] id is not set; give this handheld its fleet name first"
        )
    keys = KeyPaths.of(cfg)
    path = keys.next if rotate else keys.current
    key = _load_or_make(path)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id)]))
        .sign(key, hashes.SHA256())
    )
    slot = cfg.secure_element.identity_slot
    identity = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), b"\x04" + se.public_key(slot)
    )
    identity_der = identity.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = binding_digest(device_id, csr.public_bytes(serialization.Encoding.DER), identity_der)
    request = EnrolmentRequest(
        device_id,
        csr.public_bytes(serialization.Encoding.PEM),
        identity.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        se.sign_digest(slot, digest),
    )
    return request, path


def _load_or_make(path: Path) -> ec.EllipticCurvePrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise EnrolmentFailed(f"{path} is not a P-256 key: move it away and enrol again")
        return key
    key = ec.generate_private_key(ec.SECP256R1())
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return key


def install_bundle(config_path: Path, bundle: ProvisioningBundle) -> list[str]:
    """Install ``bundle`` for the device configured in ``config_path``; what was done."""
    cfg = config_mod.load(config_path)
    if bundle.device_id != cfg.device.id:
        raise EnrolmentFailed(
            f"this bundle is for {bundle.device_id!r}, and this handheld is {cfg.device.id!r}"
        )
    keys = KeyPaths.of(cfg)
    certificate = x509.load_pem_x509_certificate(bundle.files["device.pem"])
    done = []
    key_path = _key_for(certificate, keys)
    if key_path == keys.next:
        os.replace(keys.next, keys.current)  # the rotated key is now the one in use
        done.append(f"the new TLS key is now in use ({keys.current})")
    folder = config_path.parent / FLEET_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in bundle.files.items():
        _write(folder / name, data)
    text = config_path.read_text(encoding="utf-8")
    sections: dict[str, dict[str, object]] = {
        "uplink": {
            "host": bundle.broker_host,
            "port": bundle.broker_port,
            "ca": f"{FLEET_DIR}/ca.pem",
            "cert": f"{FLEET_DIR}/device.pem",
            "key": os.path.relpath(keys.current, config_path.parent),
        },
        "central": {
            "records_public": f"{FLEET_DIR}/central-records.pub",
            "answers_public": f"{FLEET_DIR}/central-answers.pub",
        },
        "update": {"repository": bundle.update_repository, "group": bundle.update_group},
    }
    new_text = merge_sections(text, sections)
    config_mod.parse(new_text, str(config_path))  # refuse to write a file the service rejects
    _write(config_path, new_text.encode())
    done.append(f"{len(bundle.files)} file(s) in {folder}; [uplink], [central] and [update] set")
    return done


def _key_for(certificate: x509.Certificate, keys: KeyPaths) -> Path:
    wanted = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for path in (keys.current, keys.next):
        if path.exists() and _public_der(path) == wanted:
            return path
    raise EnrolmentFailed(
        "the bundle's certificate is for a TLS key this handheld does not have: it was made "
        "for another request; run 'hotspot device enrol' and enrol that request"
    )


def _public_der(path: Path) -> bytes:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def merge_sections(text: str, updates: dict[str, dict[str, object]]) -> str:
    """``text`` with each section of ``updates`` replaced by its old keys overridden by the
    new ones (at the end of the file); every other line, comments included, is kept."""
    data = tomllib.loads(text)
    kept: list[str] = []
    skipping = False
    for line in text.splitlines():
        header = SECTION.match(line)
        if header:
            skipping = header.group(1) in updates
        if not skipping:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    out = "\n".join(kept) + "\n"
    for name, values in updates.items():
        merged = {**dict(data.get(name, {})), **values}
        out += f"\n[{name}]  # set by 'hotspot device install-bundle'\n"
        out += "".join(f"{key} = {_toml(value)}\n" for key, value in merged.items())
    return out


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise EnrolmentFailed(f"cannot keep the value {value!r} in the configuration")


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
