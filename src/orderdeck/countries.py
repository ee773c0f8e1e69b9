"""Countries by their ISO 3166-1 alpha-2 code, named from Babel's CLDR data."""

from __future__ import annotations

import re
from functools import cache

from babel import Locale, UnknownLocaleError

# CLDR's codes that are no country: unknown region, outlying Oceania, the EU, the eurozone, the
# UN and its pseudo-locales.
NOT_COUNTRIES = frozenset({"ZZ", "QO", "EU", "EZ", "UN", "XA", "XB"})


@cache
def _names(locale: str) -> dict[str, str]:
    return {
        code: str(name)
        for code, name in Locale.parse(locale).territories.items()
        if re.fullmatch(r"[A-Z]{2}", code) and code not in NOT_COUNTRIES
    }


def is_country(code: str) -> bool:
    return code in _names("en")


def country_name(code: str | None, locale: str = "en") -> str | None:
    """The country's name (English unless another locale is asked for); None without a code,
    the code itself for one CLDR does not know."""
    if not code:
        return None
    try:
        names = _names(locale)
    except (ValueError, UnknownLocaleError):
        names = _names("en")
    return names.get(code.upper(), code)
