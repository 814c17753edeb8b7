"""One exception hierarchy for everything an update can refuse (as python-tuf has one).

Every message says what was wrong and, where the officer or the operator can act,
what to do; nothing is installed when one is raised.
"""

from __future__ import annotations


class OtaError(Exception):
    """An update was refused or failed; the running version stays."""


class BundleError(OtaError):
    """A bundle is malformed, inconsistent or unsafe to unpack."""
