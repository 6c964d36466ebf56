"""The filing rule set (pure: values and facts in, messages out; no Flask, no database).

Three layers, each used where it applies:
- ``field_errors``: each field well-formed (and, on submission, present where the filing's type needs it): the
  form shows these beside the fields, the API answers them as 422 with the field names, a bulk file by line.
- ``claim_conflicts``: the national rule that a block may not overlap a block another holder has filed, read
  along the chain of allocations (a carrier's holding contains what it hands on, and that is no conflict).
- ``submission_errors`` and ``submission_warnings``: the facts the database found (the registry, the chain, the
  conflicts, the deadline), worded for the filer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from email_validator import EmailNotValidError, validate_email

from accounts.validators import division_error, normalize_uscc, uscc_error
from core.messages import Message
from core.messages import message as _l
from filing.blocks import BadBlock, Block, parse_address, parse_block
from filing.choices import ChoiceList, FilingType

Errors = dict[str, list[Message]]

# What each type needs on submission, beyond the block, its type, the date and a contact.
COMMON_REQUIRED = ("filing_type", "block", "allocated_on", "contact_name", "contact_phone")
REQUIRED_BY_TYPE: dict[FilingType, tuple[str, ...]] = {
    FilingType.HOLDING: ("source_name", "user_name", "usage"),
    FilingType.ALLOCATION: ("user_name", "user_uscc", "user_division", "user_address"),
    FilingType.ASSIGNMENT: (
        "user_name", "user_uscc", "user_nature", "user_industry", "user_division", "user_address", "usage",
    ),
    FilingType.RESERVED: (),
}  # fmt: skip
CHOICE_FIELDS = {"user_nature": ChoiceList.NATURE, "user_industry": ChoiceList.INDUSTRY, "usage": ChoiceList.USAGE}
TEXT_LIMITS = {
    "source_name": 200, "user_name": 200, "user_address": 300, "gateway_address": 300, "contact_name": 100,
    "contact_phone": 40, "contact_email": 254, "remarks": 2000,
}  # fmt: skip
PHONE = re.compile(r"^\+?[0-9][0-9 ()\-]*(?:(?:ext\.?|转|#)\s*[0-9]{1,6})?$")
EARLIEST_DATE = date(1990, 1, 1)


def normalized_name(name: str | None) -> str:
    """Organization names compared as people write them: without spaces, full-width brackets as half-width."""
    text = (name or "").strip().replace("（", "(").replace("）", ")")
    return re.sub(r"\s+", "", text).casefold()


def field_errors(
    values: Mapping[str, Any], choices: Mapping[str, frozenset[str]], *, today: date, complete: bool
) -> Errors:
    """What is wrong with each field. ``complete``: the filing is being submitted, so the fields its type needs
    must be there (a draft may be saved half-written, but what it holds must be well-formed)."""
    errors: Errors = {}

    def add(name: str, message: Message) -> None:
        errors.setdefault(name, []).append(message)

    kind = _filing_type(values.get("filing_type"), add)
    block = _block(values, add)
    if complete:
        for name in (*COMMON_REQUIRED, *(REQUIRED_BY_TYPE[kind] if kind else ())):
            if _blank(values.get(name)) and name not in errors:
                add(name, _l("This field is required for this type of filing."))
    for name, limit in TEXT_LIMITS.items():
        text = values.get(name)
        if isinstance(text, str) and len(text) > limit:
            add(name, _l("At most %(n)d characters.", n=limit))
    uscc = values.get("user_uscc")
    if not _blank(uscc):
        problem = uscc_error(normalize_uscc(uscc))
        if problem is not None:
            add("user_uscc", problem)
    division = values.get("user_division")
    if not _blank(division):
        problem = division_error(str(division).strip())
        if problem is not None:
            add("user_division", problem)
    for name, list_name in CHOICE_FIELDS.items():
        value = values.get(name)
        if not _blank(value) and value not in choices.get(list_name, frozenset()):
            add(name, _l("%(value)s is not one of the listed values.", value=value))
    phone = values.get("contact_phone")
    if not _blank(phone) and not _phone_ok(str(phone)):
        add("contact_phone", _l("Enter a telephone number: digits, with an optional +, spaces or hyphens."))
    email = values.get("contact_email")
    if not _blank(email):
        try:
            validate_email(str(email), check_deliverability=False)
        except EmailNotValidError:
            add("contact_email", _l("Enter an e-mail address such as name@example.com."))
    used_on = values.get("allocated_on")
    if isinstance(used_on, date):
        if used_on > today:
            add("allocated_on", _l("The date of allocation or use cannot be in the future."))
        elif used_on < EARLIEST_DATE:
            add("allocated_on", _l("The date of allocation or use is too early."))
    gateway = values.get("gateway_ip")
    if not _blank(gateway):
        try:
            family, _ = parse_address(str(gateway))
        except BadBlock:
            add("gateway_ip", _l("Enter one IP address."))
        else:
            if block is not None and family != block.family:
                add("gateway_ip", _l("The gateway's address family differs from the block's."))
    return errors


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _phone_ok(text: str) -> bool:
    digits = sum(ch.isdigit() for ch in text)
    return bool(PHONE.match(text.strip())) and 7 <= digits <= 20


def _filing_type(value: Any, add: Any) -> FilingType | None:
    if _blank(value):
        return None
    try:
        return FilingType(value)
    except ValueError:
        add("filing_type", _l("%(value)s is not a type of filing.", value=value))
        return None


BLOCK_PROBLEMS = {
    "host bits": _l("The prefix has host bits set; give the network address or a first–last range."),
    "reversed": _l("The first address comes after the last."),
    "mixed families": _l("The first and last addresses are of different families."),
}


def block_problem(reason: str) -> Message:
    return BLOCK_PROBLEMS.get(
        reason, _l("Enter a prefix (2001:db8:1::/48) or a range of addresses (10.0.0.0-10.0.0.255).")
    )


def _block(values: Mapping[str, Any], add: Any) -> Block | None:
    value = values.get("block")
    if isinstance(value, Block):
        return value
    if _blank(value):
        return None
    try:
        return parse_block(str(value))
    except BadBlock as exc:
        add("block", block_problem(str(exc)))
        return None


# -- the chain of allocations and overlapping filings ------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """An active filing as the overlap rule sees it: its block, who holds the block by it (the filer of a
    holding or reserved block; the user organization of a block handed on), and the holders up its chain of
    source filings (the filer, its upstream allocator, and so on up to the aggregate)."""

    filing_id: int | None
    block: Block
    holder: str
    upstream: frozenset[str] = field(default_factory=frozenset)


def claim_conflicts(new: Claim, others: Iterable[Claim]) -> list[Claim]:
    """The other holders' claims ``new`` overlaps: a block inside one's own chain (the holding it was handed out
    of, or a block handed on out of it) is no conflict; the same space filed for two holders is."""

    def nested(outer: Claim, inner: Claim) -> bool:
        return outer.block.contains(inner.block) and (outer.holder in inner.upstream)

    return [
        other
        for other in others
        if other.filing_id != new.filing_id
        and other.block.overlaps(new.block)
        and other.holder != new.holder
        and not nested(other, new)
        and not nested(new, other)
    ]


def holder_key(organization_id: int | None, uscc: str | None, name: str | None) -> str:
    """Who an organization is for the overlap rule: the platform's organization, else its USCC, else its name."""
    if organization_id is not None:
        return f"org:{organization_id}"
    if not _blank(uscc):
        return f"uscc:{normalize_uscc(str(uscc))}"
    return f"name:{normalized_name(name)}"


# -- facts the database found, worded --------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What the registry and the other filings say about a filing being submitted."""

    holds_block: bool  # a registry prefix the filer holds contains the block
    source_found: bool  # the approved filing the block comes from (or no source is needed: tier 1)
    source_holder: str | None  # who must file that source block (for the message), when known
    conflicts: Sequence[tuple[str, str]]  # (block, filing number or id) of other holders' overlapping filings
    same_party: bool  # the allocator (or, for a holding, the source) is the user organization itself
    registry_notes: Sequence[Message] = ()  # the registry records another holder or size
    late_by: int = 0  # working days past the filing deadline


def submission_errors(kind: FilingType, facts: Facts) -> Errors:
    errors: Errors = {}
    if not facts.holds_block:
        errors.setdefault("block", []).append(_l("This block is not in space your organization holds in the registry."))
    for block, reference in facts.conflicts:
        errors.setdefault("block", []).append(
            _l("This block overlaps %(block)s, filed for another holder (%(filing)s).", block=block, filing=reference)
        )
    if not facts.source_found:
        errors.setdefault("block", []).append(
            _l("The block it comes from has no approved filing yet: %(holder)s must file it first.",
               holder=facts.source_holder or "?")
            if kind is FilingType.HOLDING
            else _l("File the block you hold first (the holding this block comes from) and have it approved.")
        )  # fmt: skip
    if facts.same_party:
        name = "source_name" if kind is FilingType.HOLDING else "user_name"
        errors.setdefault(name, []).append(_l("The allocating organization and the user organization must differ."))
    return errors


def submission_warnings(facts: Facts) -> list[Message]:
    warnings = list(facts.registry_notes)
    if facts.late_by > 0:
        warnings.append(_l("This filing is late: its deadline passed %(n)d working days ago.", n=facts.late_by))
    return warnings
