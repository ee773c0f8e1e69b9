"""An order's e-mail address and phone number: plausible, and one line without control characters.

Both end up in headers and messages (the e-mail's To:, an SMS's recipient): a line break in one
would be accepted here and then fail every send in the worker, so it is refused where it comes in.
"""

from __future__ import annotations

import re

from .errors import InvalidInput

# What Shopify accepts as an address, roughly: a local part, an @, a domain with a dot; no
# spaces, no control characters and none of the characters that split or quote a header.
_PART = r"[^@\s\x00-\x1f\x7f<>()\[\],;:\"\\]"
_EMAIL = re.compile(rf"{_PART}+@{_PART}+\.(?:(?!\.){_PART})+")
# Digits with the usual separators, an optional leading +, and an optional extension.
_PHONE = re.compile(r"\+?[0-9 ()./-]{3,30}(?: *(?:x|ext\.?|#) *[0-9]{1,6})?", re.IGNORECASE)
MAX_EMAIL = 254  # RFC 5321's longest path


def is_one_line(text: str) -> bool:
    """No control character (a line break above all): such text ends up in an e-mail header or a
    CSV cell, where one would split it."""
    return not any(ord(c) < 32 or ord(c) == 127 for c in text)


def check_email(value: str | None, *, field: str = "email") -> str | None:
    """The address as given (blank means none); refused when it cannot be an address."""
    if value is None or not value.strip():
        return value
    if len(value) > MAX_EMAIL or not _EMAIL.fullmatch(value.strip()):
        raise InvalidInput(
            "is not an e-mail address; send one such as anna@example.com, on one line, without spaces", field=field
        )
    return value


def check_phone(value: str | None, *, field: str = "phone") -> str | None:
    """The number as given (blank means none); refused unless it is digits and separators."""
    if value is None or not value.strip():
        return value
    if not _PHONE.fullmatch(value.strip()) or sum(c.isdigit() for c in value) < 3:
        raise InvalidInput(
            "is not a phone number; use digits, spaces and + ( ) - . / only, such as +31 20 123 4567", field=field
        )
    return value
