"""The order document: the aggregate as JSON, with msgspec (fast and typed both ways)."""

from __future__ import annotations

import msgspec

from ..domain.order import Order

_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder(Order)


def encode_order(order: Order) -> str:
    events, order.events = order.events, []  # pending events are not facts; never stored
    try:
        return _encoder.encode(order).decode()
    finally:
        order.events = events


def decode_order(document: str | bytes) -> Order:
    return _decoder.decode(document)
