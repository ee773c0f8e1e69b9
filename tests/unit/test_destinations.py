"""Which addresses Orderdeck connects to for its users (destinations.py)."""

from __future__ import annotations

import ipaddress

import pytest

from orderdeck.destinations import Destinations, RefusedDestination, is_public, literal_address
from orderdeck.settings import Settings


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::",  # 6to4 around 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 around 10.0.0.1
    ],
)
def test_loopback_private_link_local_and_what_wraps_them_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"])
def test_internet_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("spelling", ["127.0.0.1", "2130706433", "0x7f.1", "0177.0.0.1", "0x7f000001", "127.1"])
def test_every_spelling_of_loopback_is_read_as_loopback(spelling: str) -> None:
    assert literal_address(spelling) == ipaddress.ip_address("127.0.0.1")


def test_names_are_not_addresses() -> None:
    assert literal_address("hooks.example.com") is None


def test_refusal_names_the_setting_that_allows_the_operators_own_receivers() -> None:
    message = Destinations().refusal("0x7f.1")
    assert message is not None and "0x7f.1 is not a public address" in message
    assert "ORDERDECK_ALLOW_PRIVATE_ADDRESSES" in message
    assert Destinations().refusal("localhost") is not None
    assert Destinations().refusal("hooks.example.com") is None  # checked on connecting


def test_the_allow_list_takes_addresses_networks_and_names() -> None:
    allowed = Destinations.parse(" 127.0.0.1, 10.0.0.0/8 ,hooks.internal,[::1]")
    assert allowed.refusal("127.0.0.1") is None and allowed.refusal("2130706433") is None
    assert allowed.refusal("10.20.30.40") is None and allowed.refusal("::1") is None
    assert allowed.refusal("192.168.1.1") is not None and allowed.refusal("127.0.0.2") is not None
    assert allowed.check("hooks.internal", ["192.168.7.7"]) == ["192.168.7.7"]
    assert allowed.check("HOOKS.internal.", ["192.168.7.7"]) == ["192.168.7.7"]


def test_only_the_addresses_that_may_be_used_are_tried() -> None:
    assert Destinations().check("hooks.example.com", ["127.0.0.1", "8.8.8.8", "::1"]) == ["8.8.8.8"]
    assert Destinations.parse("127.0.0.1").check("localhost", ["::1", "127.0.0.1"]) == ["127.0.0.1"]
    with pytest.raises(RefusedDestination, match=r"hooks\.example\.com is not a public address"):
        Destinations().check("hooks.example.com", ["127.0.0.1", "10.0.0.1"])


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "http://10.0.0.1", "hooks example", "-bad.example"])
def test_a_mistyped_allow_list_entry_is_refused_by_name(entry: str) -> None:
    with pytest.raises(ValueError, match="ORDERDECK_ALLOW_PRIVATE_ADDRESSES"):
        Destinations.parse(entry)


def test_the_allow_list_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERDECK_ALLOW_PRIVATE_ADDRESSES", "127.0.0.1,10.0.0.0/8")
    assert Settings.from_env().allow_private_addresses == "127.0.0.1,10.0.0.0/8"
    monkeypatch.setenv("ORDERDECK_ALLOW_PRIVATE_ADDRESSES", "10.0.0.0/99")
    with pytest.raises(ValueError, match=r"10\.0\.0\.0/99"):
        Settings.from_env()
