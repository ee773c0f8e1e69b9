"""The demo's customers live at real addresses: each street with its own city, a postcode in that
country's format and that city's range, a province only where the country has them."""

from __future__ import annotations

import random
import re
from decimal import Decimal

from orderdeck.demo import Catalogue, _draft
from orderdeck.domain.order import CustomerSnapshot

# Postcode format per country, and the first digits of each city's postcodes (independent of
# demo.py's table: a street put in another city or country fails here).
FORMATS = {
    "NL": r"\d{4} [A-Z]{2}",
    "DE": r"\d{5}",
    "FI": r"\d{5}",
    "BE": r"\d{4}",
    "AT": r"\d{4}",
    "IT": r"\d{5}",
    "ES": r"\d{5}",
}
CITIES = {
    "Amsterdam": ("NL", "10"),
    "Rotterdam": ("NL", "30"),
    "Berlin": ("DE", "1"),
    "München": ("DE", "8"),
    "Helsinki": ("FI", "00"),
    "Antwerpen": ("BE", "2"),
    "Wien": ("AT", "1"),
    "Milano": ("IT", "201"),
    "Madrid": ("ES", "28"),
}
PROVINCES = {"IT": {("Milano", "MI")}, "ES": {("Madrid", "M")}}


def test_every_demo_address_is_one_that_exists() -> None:
    rng = random.Random(3)
    catalogue = Catalogue([1], [(n, f"Item {n}", f"SKU-{n}", Decimal("5.00")) for n in range(1, 6)])
    customer = CustomerSnapshot(1, "anna@example.com", None, "Anna", "de Vries")
    seen: dict[str, set[str]] = {}
    for _ in range(400):
        address = _draft(rng, catalogue, customer, "web").shipping_address
        assert address is not None
        country, prefix = CITIES[address.city]
        assert address.country_code == country, address
        assert re.fullmatch(FORMATS[country], address.zip or ""), address
        assert (address.zip or "").startswith(prefix), address
        expected = PROVINCES.get(country)
        if expected:
            assert (address.province, address.province_code) in expected, address
        else:
            assert address.province is None and address.province_code is None, address
        street = re.sub(r"\s*\d+$", "", address.address1 or "")
        seen.setdefault(street, set()).add(address.city or "")
    assert all(len(cities) == 1 for cities in seen.values()), seen  # a street belongs to one city
    assert len({c for cities in seen.values() for c in cities}) >= 6  # and they are spread about
