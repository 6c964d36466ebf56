"""The reconciliation sweep (``filing/reconcile.py``): every finding type on hand-made cases, and the sweep checked by
hypothesis against a brute-force oracle that compares every record with every filing, address by address, on small
random sets of nested and overlapping ranges in both families."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st

from filing.reconcile import (
    Aggregate,
    FiledBlock,
    Finding,
    FindingType,
    Party,
    Record,
    fingerprint,
    hands_on,
    sweep,
)
from ipam.space import Net, format_net, parse_net

CARRIER, LOWER, FACTORY, WORKSHOP = (
    Party(1, "91120000MA0000001X", "海星通信"),
    Party(2, None, "渤海云（天津）"),
    Party(3, "91120116MA05ABCD1X", "津沽智能"),
    Party(4, None, "北辰 新材料"),
)


def net(text: str) -> tuple[int, int, int]:
    parsed = parse_net(text)
    return parsed.family, parsed.start, parsed.last


def record(id_: int, text: str, holder: Party, carrier: Party = CARRIER) -> Record:
    family, first, last = net(text)
    return Record(id_, family, first, last, holder, carrier.organization_id)


def filed(id_: int, text: str, user: Party, filer: Party = CARRIER) -> FiledBlock:
    family, first, last = net(text)
    return FiledBlock(id_, family, first, last, user, filer)


def held(text: str, carrier: Party = CARRIER) -> Aggregate:
    family, first, last = net(text)
    return Aggregate(carrier.organization_id or 0, family, first, last)


def ordered(items: Iterable[Record | FiledBlock]) -> list:
    return sorted(items, key=lambda i: (i.family, i.first, -i.last))


def found(
    records: Iterable[Record], filings: Iterable[FiledBlock], aggregates: Iterable[Aggregate] = ()
) -> list[Finding]:
    return list(sweep(ordered(records), ordered(filings), aggregates or [held("2001:db8::/32")]))


def kinds(findings: Iterable[Finding]) -> Counter[str]:
    return Counter(f.type.value for f in findings)


# -- each finding type --------------------------------------------------------------------------------------------


def test_the_same_block_for_the_same_holder_is_matched() -> None:
    (finding,) = found([record(1, "2001:db8:1::/48", FACTORY)], [filed(10, "2001:db8:1::/48", FACTORY)])
    assert (finding.type, finding.record.id, finding.filing.id) == (FindingType.MATCHED, 1, 10)


def test_holders_compare_by_uscc_and_else_by_the_name_as_people_write_it() -> None:
    by_name = Party(None, None, "北辰新材料")
    assert kinds(found([record(1, "2001:db8:1::/48", WORKSHOP)], [filed(10, "2001:db8:1::/48", by_name)])) == {
        "matched": 1
    }
    other_uscc = Party(None, "91120116MA05ZZZZ9X", "津沽智能")
    assert kinds(found([record(1, "2001:db8:1::/48", FACTORY)], [filed(10, "2001:db8:1::/48", other_uscc)])) == {
        "holder-mismatch": 1
    }


def test_an_assignment_without_a_filing_is_unfiled() -> None:
    (finding,) = found([record(1, "2001:db8:1::/48", FACTORY)], [])
    assert (finding.type, finding.record.id) == (FindingType.UNFILED, 1)


def test_a_filing_in_free_space_or_in_someone_elses_is_filed_not_assigned() -> None:
    findings = found(
        [record(1, "2001:db8:2::/48", WORKSHOP)],
        [filed(10, "2001:db8:1::/48", FACTORY), filed(11, "2001:db8:2::/56", FACTORY)],
    )
    assert kinds(findings) == {"filed-not-assigned": 2, "unfiled": 1}
    by_filing = {f.filing.id: f.others for f in findings if f.filing is not None}
    assert by_filing == {10: (), 11: (1,)}


def test_filed_48_assigned_56_is_a_size_mismatch_with_the_exact_difference() -> None:
    (finding,) = found([record(1, "2001:db8:1::/56", FACTORY)], [filed(10, "2001:db8:1::/48", FACTORY)])
    assert finding.type is FindingType.SIZE_MISMATCH and finding.missing == ()
    assert [format_net(n) for n in finding.extra] == [
        "2001:db8:1:100::/56", "2001:db8:1:200::/55", "2001:db8:1:400::/54", "2001:db8:1:800::/53",
        "2001:db8:1:1000::/52", "2001:db8:1:2000::/51", "2001:db8:1:4000::/50", "2001:db8:1:8000::/49",
    ]  # fmt: skip


def test_filings_of_different_users_that_overlap_are_found_but_a_chain_of_allocations_is_not() -> None:
    chain = found(
        [record(1, "2001:db8:100::/40", LOWER), record(2, "2001:db8:100::/48", FACTORY, carrier=LOWER)],
        [filed(10, "2001:db8:100::/40", LOWER), filed(11, "2001:db8:100::/48", FACTORY, filer=LOWER)],
        [held("2001:db8::/32"), held("2001:db8:100::/40", LOWER)],
    )
    assert kinds(chain) == {"matched": 2}
    clash = found([], [filed(10, "2001:db8:1::/48", FACTORY), filed(11, "2001:db8:1::/56", WORKSHOP)])
    assert kinds(clash) == {"overlapping-filings": 1, "filed-not-assigned": 2}


def test_a_record_or_a_filing_outside_every_block_its_carrier_holds_is_outside_aggregate() -> None:
    findings = found(
        [record(1, "2001:db9::/48", FACTORY)], [filed(10, "2001:db9::/48", FACTORY)], [held("2001:db8::/32")]
    )
    assert kinds(findings) == {"outside-aggregate": 2, "matched": 1}


def test_ipv4_and_ipv6_are_compared_within_their_family() -> None:
    findings = found([record(1, "10.0.0.0/24", FACTORY)], [filed(10, "::a00:0/120", FACTORY)], [held("10.0.0.0/8")])
    assert kinds(findings) == {"unfiled": 1, "filed-not-assigned": 1, "outside-aggregate": 1}


def test_a_fingerprint_stays_while_nothing_changes_and_changes_with_the_holder() -> None:
    same = found([record(1, "2001:db8:1::/48", FACTORY)], [])[0]
    again = found([record(1, "2001:db8:1::/48", FACTORY)], [])[0]
    moved = found([record(1, "2001:db8:1::/48", WORKSHOP)], [])[0]
    assert fingerprint(same) == fingerprint(again) != fingerprint(moved)


# -- against the oracle -------------------------------------------------------------------------------------------

PARTIES = [
    CARRIER,
    LOWER,
    FACTORY,
    WORKSHOP,
    Party(None, None, "北辰新材料"),
    Party(None, "91120116MA05ABCD1X", "别名"),
]
SPACE = 6  # bits of address space the random ranges live in: every address can be enumerated


def addresses(first: int, last: int) -> set[int]:
    return set(range(first, last + 1))


def net_addresses(nets: Iterable[Net]) -> frozenset[int]:
    return frozenset(a for n in nets for a in addresses(n.start, n.last))


def oracle(records: list[Record], filings: list[FiledBlock], aggregates: list[Aggregate]) -> Counter:
    """Every record against every filing, and every filing against every other, by brute force."""
    out: Counter = Counter()

    def holds(carrier_id: int | None, family: int, first: int, last: int) -> bool:
        owned = set().union(*(addresses(a.first, a.last) for a in aggregates
                              if a.carrier_id == carrier_id and a.family == family))  # fmt: skip
        return carrier_id is not None and addresses(first, last) <= owned

    def overlap(a: Record | FiledBlock, b: Record | FiledBlock) -> bool:
        return a.family == b.family and a.first <= b.last and b.first <= a.last

    for r in records:
        if not holds(r.carrier_id, r.family, r.first, r.last):
            out["outside-aggregate", ("r", r.id)] += 1
        partners = [f for f in filings if overlap(r, f)]
        identical = [f for f in partners if (f.first, f.last) == (r.first, r.last)]
        same_holder = [f for f in partners if f not in identical and r.holder.same_as(f.user)]
        for f in identical:
            out["matched" if r.holder.same_as(f.user) else "holder-mismatch", r.id, f.id] += 1
        for f in same_holder:
            extra = frozenset(addresses(f.first, f.last) - addresses(r.first, r.last))
            missing = frozenset(addresses(r.first, r.last) - addresses(f.first, f.last))
            out["size-mismatch", r.id, f.id, extra, missing] += 1
        if not identical and not same_holder:
            out["unfiled", r.id] += 1
    for f in filings:
        if not holds(f.filer.organization_id, f.family, f.first, f.last):
            out["outside-aggregate", ("f", f.id)] += 1
        partners = [r for r in records if overlap(r, f)]
        covered = any((r.first, r.last) == (f.first, f.last) or r.holder.same_as(f.user) for r in partners)
        if not covered:
            out["filed-not-assigned", f.id, tuple(sorted(r.id for r in partners))] += 1
    for index, f in enumerate(filings):
        for g in filings[index + 1 :]:
            if overlap(f, g) and not f.user.same_as(g.user) and not hands_on(f, g):
                out["overlapping-filings", frozenset((f.id, g.id))] += 1
    return out


def as_oracle_sees_it(findings: Iterable[Finding]) -> Counter:
    out: Counter = Counter()
    for f in findings:
        t = f.type.value
        if t == "outside-aggregate":
            out[t, ("r", f.record.id) if f.record else ("f", f.filing.id)] += 1
        elif t in ("matched", "holder-mismatch"):
            out[t, f.record.id, f.filing.id] += 1
        elif t == "size-mismatch":
            out[t, f.record.id, f.filing.id, net_addresses(f.extra), net_addresses(f.missing)] += 1
        elif t == "unfiled":
            out[t, f.record.id] += 1
        elif t == "filed-not-assigned":
            out[t, f.filing.id, tuple(sorted(f.others))] += 1
        else:
            out[t, frozenset((f.filing.id, f.other.id))] += 1
    return out


@st.composite
def laminar_records(draw: st.DrawFn) -> list[Record]:
    """Registry records: CIDR blocks (which nest or lie apart), one record per block."""
    blocks = draw(st.lists(st.tuples(st.sampled_from([4, 6]), st.integers(0, SPACE), st.integers(0, 2**SPACE - 1)),
                           max_size=12))  # fmt: skip
    seen: set[tuple[int, int, int]] = set()
    out: list[Record] = []
    for family, host_bits, start in blocks:
        first = start >> host_bits << host_bits
        key = (family, first, first + (1 << host_bits) - 1)
        if key in seen:
            continue
        seen.add(key)
        holder = draw(st.sampled_from(PARTIES))
        carrier = draw(st.sampled_from([1, 2, None]))
        out.append(Record(len(out) + 1, family, key[1], key[2], holder, carrier))
    return out


@st.composite
def any_filings(draw: st.DrawFn) -> list[FiledBlock]:
    """Filings: any ranges (a filing may be a range that is not one prefix), overlapping at will."""
    spans = draw(st.lists(st.tuples(st.sampled_from([4, 6]), st.integers(0, 2**SPACE - 1), st.integers(0, 20)),
                          max_size=10))  # fmt: skip
    return [
        FiledBlock(
            100 + i,
            family,
            first,
            min(first + length, 2**SPACE - 1),
            draw(st.sampled_from(PARTIES)),
            draw(st.sampled_from([CARRIER, LOWER, FACTORY])),
        )
        for i, (family, first, length) in enumerate(spans)
    ]


@st.composite
def holdings(draw: st.DrawFn) -> list[Aggregate]:
    spans = draw(st.lists(st.tuples(st.sampled_from([1, 2, 3]), st.sampled_from([4, 6]), st.integers(0, SPACE),
                                    st.integers(0, 2**SPACE - 1)), max_size=5))  # fmt: skip
    return [Aggregate(c, fam, s >> b << b, (s >> b << b) + (1 << b) - 1) for c, fam, b, s in spans]


@settings(max_examples=400, deadline=None)
@given(laminar_records(), any_filings(), holdings())
def test_the_sweep_finds_what_comparing_everything_with_everything_finds(
    records: list[Record], filings: list[FiledBlock], aggregates: list[Aggregate]
) -> None:
    swept = list(sweep(ordered(records), ordered(filings), aggregates))
    assert as_oracle_sees_it(swept) == oracle(records, filings, aggregates)
