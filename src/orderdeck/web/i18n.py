"""The pages' words in each language: gettext catalogs (web/locales/<locale>.po, made and kept
with Babel), compiled in memory when first needed."""

from __future__ import annotations

import io
from functools import cache
from importlib import resources

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = (("en", "English"), ("nl", "Nederlands"), ("de", "Deutsch"), ("fi", "Suomi"))


@cache
def translations(locale: str) -> NullTranslations:
    if locale == "en":
        return NullTranslations()
    source = resources.files("orderdeck.web") / "locales" / f"{locale}.po"
    catalog = read_po(io.StringIO(source.read_text(encoding="utf-8")), locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)
