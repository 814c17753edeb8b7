"""``N_``: marks an officer-facing message for translation where it is defined.

The capture chains return their guidance as these English texts (the gettext
message ids); the officer interface translates them into the officer's
language where it shows them (``firmware.ui.i18n``). ``pybabel extract``
finds every marked text, so no message an officer can see escapes the
catalogues (``tests/ui/test_catalogues.py`` checks it).
"""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    return message
