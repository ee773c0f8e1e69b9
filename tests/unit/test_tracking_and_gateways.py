"""Carrier detection and tracking links; the Bogus gateway's card-number outcomes."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from orderdeck.domain.fulfillment import TrackingInfo
from orderdeck.gateways.bogus import BogusGateway
from orderdeck.tracking import carrier_name, complete_tracking, detect_carrier, tracking_url

UPS_NUMBER = "1Z999AA10123456784"
POSTNL_NUMBER = "3SABCD1234567"


# ---- carrier detection ------------------------------------------------------------------------------
def test_ups_number_is_detected_as_ups() -> None:
    assert detect_carrier(UPS_NUMBER) == "UPS"


def test_ups_number_with_spaces_and_lower_case_is_detected_as_ups() -> None:
    assert detect_carrier("1z 999 aa1 01 2345 6784") == "UPS"


def test_postnl_number_is_detected_as_postnl() -> None:
    assert detect_carrier(POSTNL_NUMBER) == "PostNL"


@pytest.mark.parametrize("number", ["12345", "1Z123", "3S12", "ABCDEFGHIJ", ""])
def test_unrecognised_number_has_no_carrier(number: str) -> None:
    assert detect_carrier(number) is None


def test_carrier_names_are_matched_case_insensitively() -> None:
    assert carrier_name("ups") == "UPS"
    assert carrier_name(" postnl ") == "PostNL"
    assert carrier_name("dhl") == "DHL Express"


def test_unknown_carrier_name_is_kept_as_given() -> None:
    assert carrier_name("Bike Courier Utrecht") == "Bike Courier Utrecht"


# ---- tracking URLs -------------------------------------------------------------------------------------
def test_ups_tracking_url_carries_the_number() -> None:
    url = tracking_url("UPS", UPS_NUMBER)
    assert url is not None and url.startswith("https://www.ups.com/")
    assert UPS_NUMBER in url


def test_postnl_tracking_url_carries_the_number() -> None:
    url = tracking_url("PostNL", POSTNL_NUMBER)
    assert url is not None and url.startswith("https://jouw.postnl.nl/")
    assert POSTNL_NUMBER in url


def test_unknown_carrier_has_no_tracking_url() -> None:
    assert tracking_url("Bike Courier Utrecht", "123") is None
    assert tracking_url(None, "123") is None


def test_tracking_url_escapes_the_number() -> None:
    url = tracking_url("DPD", "05 / 123&x")
    assert url is not None and "&x" not in url and " " not in url


def test_completing_tracking_detects_carrier_and_url_from_the_number() -> None:
    info = complete_tracking(TrackingInfo(numbers=(UPS_NUMBER,)))
    assert info.company == "UPS"
    assert info.urls == (tracking_url("UPS", UPS_NUMBER),)


def test_completing_tracking_keeps_a_url_the_merchant_gave() -> None:
    own = "https://example.com/track/abc"
    info = complete_tracking(TrackingInfo(company="UPS", numbers=(UPS_NUMBER,), urls=(own,)))
    assert info.urls == (own,)


def test_completing_tracking_trusts_the_named_carrier_over_the_number_shape() -> None:
    info = complete_tracking(TrackingInfo(company="postnl", numbers=(POSTNL_NUMBER, "3SXYZ987654321")))
    assert info.company == "PostNL"
    assert len(info.urls) == 2 and all(u.startswith("https://jouw.postnl.nl/") for u in info.urls)


def test_completing_tracking_for_an_unknown_carrier_adds_no_url() -> None:
    info = complete_tracking(TrackingInfo(company="Bike Courier", numbers=("42",)))
    assert info.company == "Bike Courier"
    assert info.urls == ()


def test_completing_tracking_drops_blank_numbers() -> None:
    info = complete_tracking(TrackingInfo(numbers=("  ", UPS_NUMBER + " ")))
    assert info.numbers == (UPS_NUMBER,)


# ---- Bogus gateway -------------------------------------------------------------------------------------
@pytest.fixture
def bogus() -> BogusGateway:
    return BogusGateway()


def test_bogus_card_1_succeeds(bogus: BogusGateway) -> None:
    outcome = bogus.sale(D("20.00"), "EUR", "1")
    assert outcome.status == "success"
    assert outcome.authorization


def test_bogus_card_2_is_declined(bogus: BogusGateway) -> None:
    outcome = bogus.authorize(D("20.00"), "EUR", "2")
    assert outcome.status == "failure"
    assert outcome.error_code == "card_declined"
    assert outcome.authorization is None


def test_bogus_card_3_fails_with_a_processing_error(bogus: BogusGateway) -> None:
    outcome = bogus.sale(D("20.00"), "EUR", "3")
    assert outcome.status == "error"
    assert outcome.error_code == "processing_error"


def test_bogus_without_a_card_number_succeeds(bogus: BogusGateway) -> None:
    assert bogus.sale(D("5.00"), "EUR", None).status == "success"


def test_bogus_unknown_card_number_is_refused_with_a_hint(bogus: BogusGateway) -> None:
    outcome = bogus.sale(D("5.00"), "EUR", "9")
    assert outcome.status == "failure"
    assert outcome.message and "1" in outcome.message and "2" in outcome.message


@pytest.mark.parametrize("card", ["1", "2", "3", "4242 4242 4242 4242", "4000000000000002"])
def test_bogus_outcome_is_deterministic(bogus: BogusGateway, card: str) -> None:
    first = bogus.authorize(D("12.34"), "EUR", card)
    again = BogusGateway().authorize(D("12.34"), "EUR", card)
    assert first == again


def test_bogus_authorization_key_depends_on_amount(bogus: BogusGateway) -> None:
    assert bogus.authorize(D("1.00"), "EUR", "1").authorization != bogus.authorize(D("2.00"), "EUR", "1").authorization


def test_bogus_real_test_cards_behave_like_their_networks(bogus: BogusGateway) -> None:
    visa = bogus.sale(D("5.00"), "EUR", "4242 4242 4242 4242")
    assert visa.status == "success" and visa.credit_card_company == "Visa"
    assert bogus.sale(D("5.00"), "EUR", "4000 0000 0000 0002").status == "failure"


def test_bogus_masks_the_card_number(bogus: BogusGateway) -> None:
    outcome = bogus.sale(D("5.00"), "EUR", "4242424242424242")
    assert outcome.credit_card_number is not None
    assert outcome.credit_card_number.endswith("4242")
    assert "424242424242" not in outcome.credit_card_number


def test_bogus_capture_void_and_refund_succeed(bogus: BogusGateway) -> None:
    key = bogus.authorize(D("5.00"), "EUR", "1").authorization
    assert bogus.capture(key, D("5.00"), "EUR").status == "success"
    assert bogus.void(key).status == "success"
    assert bogus.refund(key, D("5.00"), "EUR").status == "success"
