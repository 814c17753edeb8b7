"""One exception hierarchy for everything an update can refuse (as python-tuf has one).

Every message says what was wrong and, where the officer or the operator can act,
what to do; nothing is installed when one is raised.
"""

from __future__ import annotations


class OtaError(Exception):
    """An update was refused or failed; the running version stays."""


class BundleError(OtaError):
    """A bundle is malformed, inconsistent or unsafe to unpack."""


class RepositoryError(OtaError):
    """The publishing side cannot do what was asked (missing keys, duplicate release)."""


class TrustError(OtaError):
    """Update metadata or a file failed verification against the trusted root.

    Rollback, freeze, mix-and-match, a wrong or missing signature, tampered bytes:
    an attack or a broken mirror. Nothing was installed.
    """


class DownloadError(OtaError):
    """The link failed during a download; what arrived is kept and the next try resumes."""


class NotApplicable(OtaError):
    """The release is genuine but not for this device (hardware, version, migrations)."""


class RollbackRefused(NotApplicable):
    """The release is older than the newest one this device has installed."""


class InstallError(OtaError):
    """The device could not write the new slot (disk full, permissions)."""
