"""Enrolling a handheld at central: check its request, issue its certificate, register its
identity key, and make the provisioning bundle it installs.

Re-running is safe and changes nothing silently:

* the same request again gives the same bundle (the certificate already issued for
  that key is reused);
* a request for a new TLS key of an enrolled device (``hotspot device enrol
  --rotate``) needs ``renew``: a new certificate is issued and the old one stays
  valid until it expires, so the device keeps working until it installs the new one;
  ``renew`` with the same key issues a fresh certificate (renewal before expiry);
* a request with another identity key for an enrolled device id (a replaced secure
  element, or someone else) is refused unless ``new_identity`` is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from central.provision import FleetCA, FleetLayout
from central.store import Store
from wire.enrolment import EnrolmentRequest, ProvisioningBundle


class EnrolRefused(Exception):
    """The request is valid but would change an enrolment without being asked to."""


@dataclass(frozen=True)
class Enrolled:
    bundle: ProvisioningBundle
    issued: bool
    """A new certificate was issued (False: the one issued before was reused)."""
    registered: bool
    """The identity key was registered now (False: it already was)."""


def enrol(
    layout: FleetLayout,
    store: Store,
    request: EnrolmentRequest,
    broker: tuple[str, int],
    *,
    group: str = "default",
    repository: str = "",
    update_root: Path | None = None,
    renew: bool = False,
    new_identity: bool = False,
    days: int = 397,
    update_root_json: bytes | None = None,
    actor: str = "cli",
) -> Enrolled:
    csr = request.verify()
    device_id = request.device_id
    identity = request.identity_raw()
    registered = _registered_key(store, device_id)
    if registered is not None and registered != identity and not new_identity:
        raise EnrolRefused(
            f"{device_id} is enrolled with another identity key: if its secure element was "
            "replaced, enrol again with --new-identity (the audit records it)"
        )
    ca = FleetCA(layout.ca_dir)
    tls_dir = layout.device_dir(device_id) / "tls"
    cert_path = tls_dir / f"{device_id}.pem"
    existing = _certificate(cert_path)
    same_key = existing is not None and _spki(existing.public_key()) == _spki(csr.public_key())
    if existing is not None and not same_key and not renew:
        raise EnrolRefused(
            f"{device_id} already has a certificate for another TLS key: to move it to the "
            "new key (after 'hotspot device enrol --rotate'), enrol with --renew"
        )
    issued = existing is None or renew
    if issued:
        certificate = ca.issue_csr(csr, days=days)
        tls_dir.mkdir(parents=True, exist_ok=True)
        cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    added = registered != identity
    if added:
        store.registry.add(device_id, identity)
    store.ledger.audit(
        "device enrolled",
        device_id=device_id,
        detail=", ".join(
            part
            for part in (
                "identity registered" if added else "identity unchanged",
                "certificate issued" if issued else "certificate reused",
                "NEW IDENTITY KEY" if added and registered is not None else "",
            )
            if part
        ),
        actor=actor,
    )
    files = {
        "ca.pem": ca.cert_path.read_bytes(),
        "device.pem": cert_path.read_bytes(),
        "central-records.pub": layout.records_public.read_bytes(),
        "central-answers.pub": layout.answers_public.read_bytes(),
    }
    notes = []
    if update_root is not None:
        files["update-root.json"] = update_root.read_bytes()
    elif update_root_json is not None:
        files["update-root.json"] = update_root_json
    elif not repository:
        notes.append("no update repository yet: [update] repository is empty")
    bundle = ProvisioningBundle(device_id, broker[0], broker[1], files, repository, group, notes)
    return Enrolled(bundle, issued, added)


def _registered_key(store: Store, device_id: str) -> bytes | None:
    for device in store.registry.all():
        if device.device_id == device_id:
            return device.public_key
    return None


def _certificate(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _spki(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
