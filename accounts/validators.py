"""Identifier rules: the Unified Social Credit Code (GB 32100-2015) and division codes (GB/T 2260)."""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from core.messages import Message
from core.messages import message as _l

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
USCC_LENGTH = 18
ORG_CODE_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
DIVISIONS_FILE = Path(__file__).parent / "data" / "divisions.csv"


def uscc_check_character(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_error(code: str) -> Message | None:
    """Why ``code`` is not a valid Unified Social Credit Code, or None when it is."""
    if len(code) != USCC_LENGTH:
        return _l("A Unified Social Credit Code has 18 characters (this one has %(n)d).", n=len(code))
    for position, ch in enumerate(code, start=1):
        if ch not in USCC_ALPHABET:
            return _l(
                "Character %(position)d (%(char)s) is not allowed in a Unified Social Credit Code "
                "(digits and capital letters except I, O, S, V, Z).",
                position=position,
                char=ch,
            )
    if not code[2:8].isdigit():
        return _l("Characters 3 to 8 of a Unified Social Credit Code are a division code (six digits).")
    expected = uscc_check_character(code[:17])
    if code[17] != expected:
        return _l("The check character of this Unified Social Credit Code is wrong (it should be %(c)s).", c=expected)
    return None


def normalize_uscc(code: str) -> str:
    return code.strip().upper()


@dataclass(frozen=True)
class Division:
    code: str
    name_zh: str
    name_en: str
    parent: str | None


@functools.cache
def divisions() -> dict[str, Division]:
    with DIVISIONS_FILE.open(encoding="utf-8", newline="") as handle:
        return {
            row["code"]: Division(row["code"], row["name_zh"], row["name_en"], row["parent"] or None)
            for row in csv.DictReader(handle)
        }


def division_name(code: str | None, *, chinese: bool) -> str:
    """The division's name in the reader's language ("" for an unknown code)."""
    division = divisions().get(code or "")
    if division is None:
        return ""
    return division.name_zh if chinese else division.name_en


def division_error(code: str) -> Message | None:
    if not (len(code) == 6 and code.isdigit()):
        return _l("A division code has six digits (GB/T 2260).")
    if code not in divisions():
        return _l("%(code)s is not a known administrative division code.", code=code)
    return None


def normalize_code(code: str) -> str:
    """Organization codes are stored in lower case and compared without case: ``BARC`` names ``barc``."""
    return code.strip().lower()


def org_code_error(code: str) -> Message | None:
    if not ORG_CODE_PATTERN.match(code):
        return _l(
            "A short code has 2 to 32 characters: lower-case letters, digits and hyphens, starting with a letter."
        )
    return None
