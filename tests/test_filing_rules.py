"""The filing rule set, pure: the fields each type needs, well-formed values, and the chain-aware overlap rule
against a brute-force reading of the national rule."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from filing.blocks import Block, parse_block
from filing.choices import FilingType
from filing.rules import REQUIRED_BY_TYPE, Claim, claim_conflicts, field_errors, holder_key, normalized_name

CHOICES = {"nature": frozenset({"enterprise"}), "industry": frozenset({"C"}), "usage": frozenset({"static"})}
TODAY = date(2026, 12, 1)


def test_a_draft_may_be_half_written_and_a_submission_names_each_missing_field() -> None:
    for kind in FilingType:
        values = {"filing_type": kind.value, "block": "2001:db8::/48"}
        assert field_errors(values, CHOICES, today=TODAY, complete=False) == {}
        missing = set(field_errors(values, CHOICES, today=TODAY, complete=True))
        assert missing == {"allocated_on", "contact_name", "contact_phone", *REQUIRED_BY_TYPE[kind]}


def test_blocks_are_read_as_filers_write_them() -> None:
    assert str(parse_block("2001:db8:1:: - 2001:db8:1:ffff:ffff:ffff:ffff:ffff")) == "2001:db8:1::/48"
    assert str(parse_block("10.0.0.1～10.0.0.9")) == "10.0.0.1-10.0.0.9"
    assert parse_block("192.0.2.7").size == 1
    for bad in ("2001:db8::1/48", "10.0.0.9-10.0.0.1", "10.0.0.1-2001:db8::", "banana"):
        errors = field_errors({"block": bad}, CHOICES, today=TODAY, complete=False)
        assert list(errors) == ["block"], bad


def test_names_compare_as_people_write_them() -> None:
    assert normalized_name(" 示例（天津）有限公司 ") == normalized_name("示例(天津)有限公司")
    assert holder_key(None, "91120000103100784f", "x") == holder_key(None, "91120000103100784F", "y")


blocks = st.builds(
    lambda start, bits: Block(6, start << 8, (start << 8) + (1 << bits) - 1),
    st.integers(0, 15), st.integers(0, 10),
)  # fmt: skip
holders = st.sampled_from(["org:1", "org:2", "org:3"])
claims = st.builds(
    lambda i, block, holder, upstream: Claim(i, block, holder, frozenset(upstream)),
    st.integers(1, 10**6), blocks, holders, st.sets(holders, max_size=2),
)  # fmt: skip


def oracle(new: Claim, others: list[Claim]) -> list[Claim]:
    """Address by address: a shared address is a conflict unless both are the same holder's, or one block holds
    the other whole and its holder is up the other's chain."""

    def excused(a: Claim, b: Claim) -> bool:
        def holds(outer: Claim, inner: Claim) -> bool:
            return all(
                outer.block.first <= x <= outer.block.last for x in range(inner.block.first, inner.block.last + 1)
            )

        return (
            a.holder == b.holder or (holds(a, b) and a.holder in b.upstream) or (holds(b, a) and b.holder in a.upstream)
        )

    found = []
    for other in others:
        shared = set(range(new.block.first, new.block.last + 1)) & set(range(other.block.first, other.block.last + 1))
        if other.filing_id != new.filing_id and shared and not excused(new, other):
            found.append(other)
    return found


@given(claims, st.lists(claims, max_size=6))
def test_the_overlap_rule_matches_the_brute_force_reading(new: Claim, others: list[Claim]) -> None:
    assert claim_conflicts(new, others) == oracle(new, others)


@given(claims, claims)
def test_a_conflict_is_one_either_way(a: Claim, b: Claim) -> None:
    assert bool(claim_conflicts(a, [b])) == bool(claim_conflicts(b, [a]))


def test_a_carriers_holding_does_not_conflict_with_what_it_handed_on_but_two_users_do() -> None:
    aggregate = Claim(1, parse_block("2001:db8::/32"), "org:carrier", frozenset({"org:carrier"}))
    site = Claim(2, parse_block("2001:db8:1::/48"), "org:factory", frozenset({"org:carrier"}))
    again = Claim(3, parse_block("2001:db8:1:100::/56"), "org:other", frozenset({"org:carrier"}))
    assert claim_conflicts(site, [aggregate]) == []
    assert claim_conflicts(again, [aggregate, site]) == [site]
