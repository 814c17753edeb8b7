"""The interface's languages: gettext catalogues (Babel), negotiation and local formats.

The catalogues are the ``.po`` files under ``firmware/ui/locales`` (the message
template ``messages.pot`` is made with ``pybabel extract -F babel.cfg``); they
are compiled in memory when the service starts, so what ships is what a
translator edits. The language follows the officer's choice, else the
configured default, else the browser's ``Accept-Language`` (with the script:
Serbian without one is Cyrillic, as CLDR's likely subtags say), else English.
Dates, times and numbers are written in the chosen locale's format.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from dataclasses import dataclass
from importlib import resources
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.dates import format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

from firmware.config import LANGUAGES

DOMAIN = "messages"
SOURCE = "en"


@dataclass(frozen=True)
class Language:
    code: str
    """Our code: ``sr_Latn``."""
    tag: str
    """BCP 47 for HTML: ``sr-Latn``."""
    name: str
    """The language's name in itself."""
    rtl: bool
    locale: Locale
    translations: Translations

    def gettext(self, message: str) -> str:
        return str(self.translations.gettext(message))

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return str(self.translations.ngettext(singular, plural, n))

    def time(self, when_ms: int, tz: dt.tzinfo | None = None) -> str:
        moment = dt.datetime.fromtimestamp(when_ms / 1000, tz or _local_zone())
        return str(format_time(moment, "short", locale=self.locale))

    def datetime(self, when_ms: int, tz: dt.tzinfo | None = None) -> str:
        moment = dt.datetime.fromtimestamp(when_ms / 1000, tz or _local_zone())
        return str(format_datetime(moment, "short", locale=self.locale))

    def number(self, value: float) -> str:
        return str(format_decimal(value, locale=self.locale))


def _local_zone() -> dt.tzinfo:
    zone = dt.datetime.now().astimezone().tzinfo
    return zone or dt.UTC


def catalogue_path(code: str) -> Any:
    return resources.files("firmware.ui").joinpath("locales", code, "LC_MESSAGES", "messages.po")


@functools.cache
def language(code: str) -> Language:
    """The language ``code`` (one of :data:`firmware.config.LANGUAGES`), catalogue loaded."""
    if code not in LANGUAGES:
        raise ValueError(f"{code!r} is not one of {LANGUAGES}")
    locale = Locale.parse(code)
    if code == SOURCE:
        translations = Translations()
    else:
        with catalogue_path(code).open("rb") as po:
            catalog = read_po(po, locale=code, domain=DOMAIN)
        compiled = io.BytesIO()
        write_mo(compiled, catalog, use_fuzzy=False)
        compiled.seek(0)
        translations = Translations(compiled, domain=DOMAIN)
    return Language(
        code=code,
        tag=code.replace("_", "-"),
        name=str(locale.get_display_name(locale)),
        rtl=locale.text_direction == "rtl",
        locale=locale,
        translations=translations,
    )


def negotiate(accept_language: str | None, offered: tuple[str, ...] | list[str]) -> str | None:
    """The best of ``offered`` for an ``Accept-Language`` header, or None."""
    if not accept_language:
        return None
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            wanted.append((-quality, position, tag))
    for _, _, tag in sorted(wanted):
        code = _match(tag, offered)
        if code is not None:
            return code
    return None


def _match(tag: str, offered: tuple[str, ...] | list[str]) -> str | None:
    try:
        locale = Locale.parse(tag.replace("_", "-"), sep="-")
    except (ValueError, UnknownLocaleError):
        return None
    script = locale.script
    if script is None:
        likely = get_global("likely_subtags").get(locale.language)
        if likely:
            parts = likely.split("_")
            script = parts[1] if len(parts) > 2 else None
    for code in offered:
        language_part, _, script_part = code.partition("_")
        if language_part == locale.language and (not script_part or script_part == script):
            return code
    return None
