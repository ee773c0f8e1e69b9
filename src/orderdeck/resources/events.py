"""Timeline entries as Shopify events: their arguments as JSON values and their sentences in
the merchant's words.

The domain records facts with ids ("location 2") and arguments as a dict of JSON values; an
event's `arguments` is Shopify's list of values and its `message`/`description` name a
location the way staff know it ("Berlin store"), as the admin's timeline does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_LOCATION_ID = re.compile(r"\b([Ll])ocation (\d+)\b")


def argument_values(arguments: Mapping[str, Any]) -> list[Any]:
    """The arguments in the order they were recorded, each a JSON value as stored: a string, a
    number, true/false, null, a list or an object; never a Python rendering of one."""
    return [_json_value(value) for value in arguments.values()]


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    return str(value)  # a Decimal or a date: Shopify sends these as strings


def with_location_names(sentence: str, locations: Mapping[int, str]) -> str:
    """'Fulfillment moved from location 1 to location 2.' → '… from Amsterdam to Berlin store.'
    An id the shop no longer knows stays as it was."""

    def name(match: re.Match[str]) -> str:
        return locations.get(int(match.group(2)), match.group(0))

    return _LOCATION_ID.sub(name, sentence)
