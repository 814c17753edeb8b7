"""The interface's catalogues: every text the officer can see is in the template, and every
language has every text, with its placeholders intact and the right number of plural forms."""

from __future__ import annotations

import string
from importlib import resources
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from firmware.config import LANGUAGES
from firmware.ui.i18n import catalogue_path, language

FIRMWARE = Path(str(resources.files("firmware")))
TEMPLATE = FIRMWARE / "ui" / "locales" / "messages.pot"
TRANSLATED = [code for code in LANGUAGES if code != "en"]


def _names(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def _extracted() -> set[str | tuple[str, ...]]:
    keywords = dict(DEFAULT_KEYWORDS, N_=None)
    method_map = [("**.py", "python"), ("ui/templates/**.html", "jinja2")]
    found: set[str | tuple[str, ...]] = set()
    for _, _, message, _, _ in extract_from_dir(
        str(FIRMWARE), method_map, keywords=keywords, strip_comment_tags=True
    ):
        found.add(message if isinstance(message, str) else tuple(message))
    return found


def test_the_template_holds_every_text_the_officer_can_see() -> None:
    with TEMPLATE.open("rb") as handle:
        template = {m.id if isinstance(m.id, str) else tuple(m.id) for m in read_po(handle) if m.id}
    extracted = _extracted()
    assert extracted - template == set(), (
        "texts missing from messages.pot: run pybabel extract (see babel.cfg)"
    )
    assert template - extracted == set(), "texts in messages.pot that no code shows any more"


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_language_has_every_text_with_its_placeholders(code: str) -> None:
    with TEMPLATE.open("rb") as handle:
        template = {m.id: m for m in read_po(handle) if m.id}
    with catalogue_path(code).open("rb") as handle:
        catalogue = read_po(handle, locale=code)
    problems = []
    for msgid, entry in template.items():
        message = catalogue.get(msgid if isinstance(msgid, str) else msgid[0])
        if message is None or message.fuzzy:
            problems.append(f"missing or fuzzy: {msgid!r}")
            continue
        if isinstance(msgid, str):
            if not message.string:
                problems.append(f"untranslated: {msgid!r}")
            elif _names(message.string) != _names(msgid):
                problems.append(f"placeholders differ: {msgid!r} -> {message.string!r}")
            continue
        forms = list(message.string)
        if len(forms) != catalogue.num_plurals or not all(forms):
            problems.append(f"{len(forms)} plural forms for {catalogue.num_plurals}: {msgid!r}")
            continue
        allowed = _names(msgid[0]) | _names(msgid[1])
        if any(not _names(form) <= allowed for form in forms) or _names(forms[-1]) != allowed:
            problems.append(f"placeholders differ in the plural forms of {msgid[1]!r}")
        del entry
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_catalogue_compiles_and_speaks_its_language(code: str) -> None:
    lang = language(code)
    assert lang.tag == code.replace("_", "-")
    assert lang.rtl == (code == "ar")
    text = lang.gettext("New check")
    assert text and (code == "en") == (text == "New check")
    # plural forms work for the counts an officer sees
    for count in (0, 1, 2, 5, 11, 21, 101):
        assert lang.ngettext("{count} check waiting", "{count} checks waiting", count)
