"""The order document: the aggregate as JSON, with msgspec (fast and typed both ways).

What is written must read back: `encode_order` decodes what it made before it is stored and
refuses (InvalidInput, a 422) a document that would not load, so a bad value never reaches the
table. `decode_order` reads documents stored before that check: one holding `null` where the
aggregate has a default (the known way a document went bad: `PUT /orders/{id}.json` with
`"buyer_accepts_marketing": null`) is read with the default and logged; the next save of that
order, or `orderdeck repair-orders`, stores it repaired. A document that still does not load
raises `BadDocument`, which lists and exports catch to skip that one order.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

import msgspec
import orjson

from ..domain.errors import InvalidInput
from ..domain.order import Order

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder(Order)


class BadDocument(ValueError):
    """A stored order document that does not load, even with known bad values set to defaults."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def encode_order(order: Order) -> str:
    events, order.events = order.events, []  # pending events are not facts; never stored
    try:
        encoded = _encoder.encode(order)
    finally:
        order.events = events
    try:
        _decoder.decode(encoded)
    except msgspec.ValidationError as exc:
        # A command put a value into the aggregate that its type does not allow (say null for a
        # yes/no field). Stored, it would break every page, list and export of the order.
        field, _, problem = _where(str(exc))
        raise InvalidInput(f"{problem}; nothing was changed", field=field or "base") from None
    return encoded.decode()


def _where(message: str) -> tuple[str, str, str]:
    """msgspec's "Expected `bool`, got `null` - at `$.buyer_accepts_marketing`" as
    (field path, the whole message, the problem in words)."""
    problem, _, at = message.partition(" - at `$")
    path = at.rstrip("`").lstrip(".")
    words = problem.replace("Expected `bool`, got `null`", "must be true or false, not null").replace(
        "got `null`", "not null"
    )
    return path, message, (f"{path} {words}" if path else words)


def with_overlay(document: str | bytes, overlay: str) -> str:
    """The document, as text, with the fields a set-based change laid over it (`orders.overlay`) set."""
    fields = orjson.loads(document)
    fields.update(orjson.loads(overlay))
    return orjson.dumps(fields).decode()


def decode_order(document: str | bytes, overlay: str | None = None) -> Order:
    """The order a stored document holds, with the fields of its overlay (if any) laid over it."""
    if overlay is not None:
        document = with_overlay(document, overlay)
    try:
        return _decoder.decode(document)
    except msgspec.ValidationError as exc:
        repaired = repair_document(document)
        if repaired is None:
            raise BadDocument(f"the stored order document does not load: {exc}") from None
        log.error(
            "order %s: its stored document does not load (%s); read with defaults for the bad values. "
            "Run `orderdeck repair-orders` to store it repaired.",
            repaired.id,
            exc,
        )
        return repaired
    except msgspec.DecodeError as exc:
        raise BadDocument(f"the stored order document is not valid JSON: {exc}") from None


def repair_document(document: str | bytes) -> Order | None:
    """The order with every `null` the aggregate does not allow replaced by the field's
    default, or None if it still does not load."""
    try:
        raw = orjson.loads(document)
    except orjson.JSONDecodeError:
        return None
    _drop_bad_nulls(raw, _order_type_info())
    try:
        return _decoder.decode(orjson.dumps(raw))
    except msgspec.ValidationError:
        return None


def _drop_bad_nulls(value: Any, kind: Any) -> None:
    """Remove keys whose value is null where the field takes no null but has a default, in this
    struct and every struct inside it."""
    inspect = msgspec.inspect
    if isinstance(kind, inspect.StructType) and isinstance(value, dict):
        for field in kind.fields:
            if field.encode_name not in value:
                continue
            item = value[field.encode_name]
            if item is None and not _takes_none(field.type) and not field.required:
                del value[field.encode_name]
            else:
                _drop_bad_nulls(item, field.type)
    elif isinstance(kind, inspect.UnionType):
        for option in kind.types:
            _drop_bad_nulls(value, option)
    elif isinstance(kind, inspect.ListType | inspect.VarTupleType | inspect.SetType | inspect.FrozenSetType):
        if isinstance(value, list):
            for item in value:
                _drop_bad_nulls(item, kind.item_type)
    elif isinstance(kind, inspect.DictType) and isinstance(value, dict):
        for item in value.values():
            _drop_bad_nulls(item, kind.value_type)


def _takes_none(kind: Any) -> bool:
    inspect = msgspec.inspect
    if isinstance(kind, inspect.NoneType | inspect.AnyType):
        return True
    return isinstance(kind, inspect.UnionType) and any(_takes_none(t) for t in kind.types)


@cache
def _order_type_info() -> Any:
    return msgspec.inspect.type_info(Order)
