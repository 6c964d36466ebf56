"""The Unified Social Credit Code check (GB 32100-2015) and division codes (GB/T 2260)."""

from __future__ import annotations

import pytest

from accounts.demo import DEMO_ORGANIZATIONS
from accounts.validators import USCC_ALPHABET, division_error, divisions, uscc_check_character, uscc_error

VALID = ["91350100M000100Y43", "91110000802100433B", "91120000103100784F"]


@pytest.mark.parametrize("code", VALID)
def test_published_codes_are_valid(code: str) -> None:
    assert uscc_error(code) is None


@pytest.mark.parametrize("code", VALID)
def test_every_single_character_change_is_rejected(code: str) -> None:
    for position in range(len(code)):
        for replacement in USCC_ALPHABET:
            if replacement == code[position]:
                continue
            changed = code[:position] + replacement + code[position + 1 :]
            assert uscc_error(changed) is not None, changed


@pytest.mark.parametrize("illegal", ["I", "O", "S", "V", "Z", "a", "-", " ", "中"])
def test_illegal_characters_are_named_in_the_message(illegal: str) -> None:
    code = VALID[0][:9] + illegal + VALID[0][10:]
    message = str(uscc_error(code))
    assert "10" in message and illegal in message


@pytest.mark.parametrize("code", ["", "9135010", VALID[0] + "1"])
def test_wrong_length_is_rejected_with_the_length(code: str) -> None:
    assert str(len(code)) in str(uscc_error(code))


def test_check_character_message_names_the_expected_character() -> None:
    wrong = VALID[1][:17] + ("A" if VALID[1][17] != "A" else "B")
    assert VALID[1][17] in str(uscc_error(wrong))


def test_check_character_zero_case() -> None:
    # c = 31 - (sum mod 31) is 31 when the sum is a multiple of 31; that check character is "0".
    first17 = "00000000000000000"
    assert uscc_check_character(first17) == "0"


def test_division_table_covers_every_province_and_tianjin_districts() -> None:
    table = divisions()
    provinces = {code for code in table if code.endswith("0000")}
    assert len(provinces) == 34
    assert {"120101", "120116", "120119"} <= set(table)
    assert division_error("120116") is None
    assert division_error("129999") is not None
    assert division_error("12011") is not None


def test_demo_codes_are_valid_and_not_real_example_codes() -> None:
    codes = [org["uscc"] for org in DEMO_ORGANIZATIONS if org.get("uscc")]
    assert codes and all(uscc_error(str(code)) is None for code in codes)
    assert not set(codes) & set(VALID)
