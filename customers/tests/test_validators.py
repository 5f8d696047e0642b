import pytest

from customers import validators
from customers.tests.factories import make_vin
from dms.exceptions import ApplicationError


class TestVin:
    def test_normalises_case_and_spaces(self):
        vin = make_vin(7)
        assert validators.normalize_vin(" " + vin.lower()[:8] + " " + vin.lower()[8:]) == vin

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("", "Enter the VIN."),
            ("LSVAB2000000", "A VIN has 17 characters; this one has 12."),
            ("LSVAB20000000000012", "A VIN has 17 characters; this one has 19."),
            ("LSVAB2I00000000O1", "A VIN never contains the letters I, O or Q (found: I, O)."),
            ("LSVQB200000000001", "never contains the letters I, O or Q (found: Q)"),
            ("LSVAB20000-000001", "only the letters A–Z and the digits 0–9"),
        ],
    )
    def test_rejects_with_a_clear_message(self, value, message):
        with pytest.raises(ApplicationError) as err:
            validators.normalize_vin(value)
        assert message in err.value.message
        assert err.value.fields["vin"] == [err.value.message]

    def test_check_digit(self):
        # The classic worked example from the North American / ISO 3779 standard.
        assert validators.vin_check_digit_ok("1M8GDM9AXKP042788")
        assert not validators.vin_check_digit_ok("1M8GDM9A1KP042788")
        assert validators.vin_check_digit_ok(make_vin(12345))

    def test_with_check_digit_repairs_position_9(self):
        assert validators.vin_with_check_digit("1M8GDM9A0KP042788") == "1M8GDM9AXKP042788"


class TestPlate:
    @pytest.mark.parametrize(
        ("value", "stored"),
        [
            ("沪a 12345", "沪A12345"),
            ("京A·D1234", "京AD1234"),
            ("粤B.12345", "粤B12345"),
            ("沪ad12345", "沪AD12345"),  # new-energy small car (green plate, 8 characters)
            ("粤B 12345F", "粤B12345F"),  # new-energy large vehicle
            ("苏E1234学", "苏E1234学"),
            ("沪Ｑ５０３２Ｅ", "沪Q5032E"),  # typed in full width: stored as ordinary characters
            ("", ""),
        ],
    )
    def test_accepts_chinese_formats(self, value, stored):
        assert validators.normalize_plate(value) == stored

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("沪A1234", "A plate has 7 characters (8 for a green new-energy plate)"),
            ("AB123456", "A plate starts with the province character"),
            ("沪AO1234", "no I or O"),
            ("沪AX12345", "A new-energy plate is the province, a letter, then D or F"),
        ],
    )
    def test_rejects_with_a_clear_message(self, value, message):
        with pytest.raises(ApplicationError) as err:
            validators.normalize_plate(value)
        assert message in err.value.message
        assert "plate" in err.value.fields


class TestPhone:
    @pytest.mark.parametrize(
        "value", ["138 1234 5678", "13812345678", "+86 138-1234-5678", "(+86)13812345678"]
    )
    def test_mobile_any_format_to_e164(self, value):
        assert validators.normalize_phone(value) == "+8613812345678"

    def test_landline_with_area_code(self):
        assert validators.normalize_phone("021-6888 6666") == "+862168886666"

    def test_foreign_number_with_country_code(self):
        assert validators.normalize_phone("+44 20 7946 0018") == "+442079460018"

    @pytest.mark.parametrize("value", ["12345", "abc", "1381234567"])
    def test_rejects_invalid(self, value):
        with pytest.raises(ApplicationError) as err:
            validators.normalize_phone(value)
        assert "is not a valid phone number" in err.value.message

    def test_empty_asks_for_one(self):
        with pytest.raises(ApplicationError, match="Enter a phone number"):
            validators.normalize_phone("  ")

    def test_format_for_reading(self):
        assert validators.format_phone("+8613812345678") == "138 1234 5678"
