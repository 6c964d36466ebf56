"""The filing benchmark's world is the one its docstring promises (pure: no database, toy size)."""

from __future__ import annotations

import random
from collections import Counter

from bench import filing as bench
from filing.blocks import Block
from filing.choices import FilingState
from ipam.space import parse_net

CARRIERS = {"bench-carrier-a": 1, "bench-carrier-b": 2, "bench-carrier-c": 3}
ENTERPRISES = [(100 + i, f"企业{i}", None, bench.DISTRICTS[i % len(bench.DISTRICTS)], "C") for i in range(50)]


def toy_blocks(count: int = 2_000) -> list[tuple[Block, int, str | None]]:
    rng = random.Random(1)
    nets = [bench.registry_nets(text, 4_000, rng) for text in bench.CARRIER_AGGREGATES]
    return bench.filed_blocks(nets, CARRIERS, count, rng)


def test_the_bench_files_each_block_once_with_the_promised_mix() -> None:
    blocks = toy_blocks()
    filed = [block for block, _, _ in blocks]
    assert len(filed) == 2_000 and len(set(filed)) == 2_000
    kinds = Counter(
        "v4" if b.family == 4 else ("/48" if b.span_bits == 80 else "/56") for b, _, kind in blocks if kind != "holding"
    )
    assert kinds["v4"] == 199 and kinds["/56"] == 299 and kinds["/48"] == 1_498
    assert any(b.net is None for b in filed if b.family == 6), "some /56 filings are ranges, not prefixes"
    assert sum(kind == "holding" for _, _, kind in blocks) == 4


def test_the_bench_puts_a_fifth_of_its_filings_under_review_due_within_a_month() -> None:
    blocks = toy_blocks()
    rows = bench.filing_rows(blocks, ENTERPRISES, {1: "甲", 2: "乙", 3: "丙"}, random.Random(2))
    state, review_due = bench.FILING_COLUMNS.index("state"), bench.FILING_COLUMNS.index("review_due_on")
    waiting = [row for row in rows if row[state] in (FilingState.SUBMITTED, FilingState.CHANGE_SUBMITTED)]
    assert 0.17 < len(waiting) / len(rows) < 0.23
    assert all(row[review_due] is not None for row in waiting)
    assert all(row[review_due] is None for row in rows if row not in waiting)


def test_addresses_the_bench_calls_inside_a_block_lie_in_it_and_the_others_in_no_small_block() -> None:
    filed = [block for block, _, _ in toy_blocks()]
    small = [b for b in filed if b.span_bits <= (80 if b.family == 6 else 8)]
    outside = parse_net(bench.OUTSIDE)
    for address, inside in bench.sample_addresses(filed, 200, random.Random(3)):
        family = 6 if ":" in address else 4
        value = parse_net(f"{address}/{128 if family == 6 else 32}").start
        if inside is not None:
            assert inside.covers(family, value)
        elif family == 4 or outside.start <= value <= outside.last:
            assert not any(b.covers(family, value) for b in small)
