"""Fixtures of the update tests (defined in ota_fixtures, which the tests import by name)."""

from ota_fixtures import app_contents, fleet

__all__ = ["app_contents", "fleet"]
