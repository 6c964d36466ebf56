"""The pure address engine against brute-force oracles built on netaddr's IPSet."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import netaddr
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ipam.space import (
    HostBitsSet,
    Net,
    Strategy,
    allocate,
    bit_reverse,
    candidates,
    fits,
    format_net,
    free_blocks,
    parse_net,
    range_to_blocks,
    sparse_key,
    utilization,
)
from tests.support import registry_data

REGISTRY = registry_data()


def ipset(nets: list[Net]) -> netaddr.IPSet:
    return netaddr.IPSet(netaddr.IPNetwork(format_net(n)) for n in nets)


def as_nets(cidrs: list[netaddr.IPNetwork], width: int) -> list[Net]:
    return [Net(int(c.network), c.prefixlen, width) for c in cidrs]


@st.composite
def trees(draw: st.DrawFn) -> tuple[Net, list[Net]]:
    """A parent of any length and non-overlapping children inside it, of any length (adversarial included)."""
    width = draw(st.sampled_from([32, 128]))
    length = draw(st.integers(0, width))
    parent_start = draw(st.integers(0, (1 << width) - 1)) >> (width - length) << (width - length) if length else 0
    parent = Net(parent_start, length, width)
    children: list[Net] = []
    for _ in range(draw(st.integers(0, 12))):
        child_length = draw(st.integers(length, min(width, length + draw(st.sampled_from([2, 4, 8, 16, 128])))))
        offset = draw(st.integers(0, (1 << (child_length - length)) - 1))
        child = Net(parent.start + (offset << (width - child_length)), child_length, width)
        if not any(child.overlaps(c) for c in children):
            children.append(child)
    if draw(st.booleans()) and not children:
        children = [parent]  # fully used, the child equal to the parent
    return parent, children


@given(trees())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_free_blocks_match_the_ipset_oracle(tree: tuple[Net, list[Net]]) -> None:
    parent, children = tree
    oracle = ipset([parent]) - ipset(children)
    assert free_blocks(parent, children) == as_nets(oracle.iter_cidrs(), parent.width)


@given(st.sampled_from([32, 128]), st.data())
def test_range_to_blocks_matches_netaddr(width: int, data: st.DataObject) -> None:
    first = data.draw(st.integers(0, (1 << width) - 1))
    last = data.draw(
        st.integers(first, min((1 << width) - 1, first + data.draw(st.sampled_from([0, 1, 255, 1 << 40, 1 << 127]))))
    )
    version = 4 if width == 32 else 6
    expected = netaddr.iprange_to_cidrs(netaddr.IPAddress(first, version), netaddr.IPAddress(last, version))
    assert list(range_to_blocks(first, last, width)) == as_nets(expected, width)


def brute_force_order(parent: Net, length: int, strategy: Strategy, used: list[Net]) -> list[Net]:
    """Allocate one at a time by checking every candidate against everything used so far."""
    taken: list[Net] = []
    while True:
        occupied = ipset(used + taken)
        free = [c for c in parent.subnets(length) if not ipset([c]) & occupied]
        if not free:
            return taken
        if strategy is Strategy.FIRST_FIT:
            pick = free[0]
        elif strategy is Strategy.SPARSE:
            k = length - parent.length
            pick = min(free, key=lambda c: bit_reverse((c.start - parent.start) >> (parent.width - length), k))
        else:
            blocks = as_nets((ipset([parent]) - occupied).iter_cidrs(), parent.width)
            holding = [b for b in blocks if b.length <= length]
            smallest = max(holding, key=lambda b: (b.length, -b.start))
            pick = Net(smallest.start, length, parent.width)
        taken.append(pick)


@given(trees(), st.sampled_from(list(Strategy)), st.integers(0, 6))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_allocation_order_matches_brute_force(tree: tuple[Net, list[Net]], strategy: Strategy, extra: int) -> None:
    parent, children = tree
    length = min(parent.width, parent.length + extra)
    assume(parent.size >> (parent.width - length) <= 64)  # the brute force enumerates every candidate
    expected = brute_force_order(parent, length, strategy, children)
    free = free_blocks(parent, children)
    taken, left = allocate(parent, free, length, len(expected) + 1, strategy)
    assert taken == expected
    assert left == free_blocks(parent, children + taken)
    assert fits(free, length) == len(expected)


@given(trees(), st.integers(0, 8), st.integers(1, 20))
@settings(max_examples=200, deadline=None)
def test_candidates_are_free_and_in_address_order(tree: tuple[Net, list[Net]], extra: int, limit: int) -> None:
    parent, children = tree
    length = min(parent.width, parent.length + extra)
    found = list(candidates(free_blocks(parent, children), length, limit))
    used = ipset(children)
    assert found == sorted(found) and len(found) <= limit
    assert all(not (ipset([c]) & used) and parent.contains(c) for c in found)
    assert len(found) == min(limit, fits(free_blocks(parent, children), length))


def test_sparse_order_is_rfc3531_leftmost() -> None:
    parent = parse_net("2001:db8::/48")
    taken, _ = allocate(parent, [parent], 52, 6, Strategy.SPARSE)
    assert [format_net(n) for n in taken] == [
        "2001:db8::/52", "2001:db8:0:8000::/52", "2001:db8:0:4000::/52",
        "2001:db8:0:c000::/52", "2001:db8:0:2000::/52", "2001:db8:0:a000::/52",
    ]  # fmt: skip
    assert [bit_reverse(i, 4) for i in range(9)] == [0, 8, 4, 12, 2, 10, 6, 14, 1]


def test_sparse_key_does_not_depend_on_the_requested_length() -> None:
    parent = parse_net("2001:db8::/32")
    block = parse_net("2001:db8:8000::/33")
    assert sparse_key(parent, block.start) == 1  # index 1 of the /33s, reversed over one bit
    assert sparse_key(parent, parse_net("2001:db8:4000::/34").start) == 2  # index 01 reversed is 10


def test_best_fit_keeps_large_blocks_whole() -> None:
    parent = parse_net("10.0.0.0/24")
    used = [parse_net("10.0.0.0/26"), parse_net("10.0.0.128/25")]  # leaves 10.0.0.64/26 free
    taken, _ = allocate(parent, free_blocks(parent, used), 28, 1, Strategy.BEST_FIT)
    assert format_net(taken[0]) == "10.0.0.64/28"
    taken, _ = allocate(parent, free_blocks(parent, [parse_net("10.0.0.0/26")]), 26, 1, Strategy.BEST_FIT)
    assert format_net(taken[0]) == "10.0.0.64/26"


def test_allocation_stops_when_space_runs_out() -> None:
    parent = parse_net("2001:db8::/126")
    taken, left = allocate(parent, [parent], 128, 10, Strategy.FIRST_FIT)
    assert len(taken) == 4 and left == []


def test_whole_space_and_host_routes() -> None:
    everything = Net(0, 0, 128)
    assert free_blocks(everything, []) == [everything]
    host = parse_net("2001:db8::1/128")
    assert free_blocks(host, [host]) == []
    assert [format_net(b) for b in free_blocks(everything, [host])][:3] == ["::/3", "2000::/16", "2001::/21"]


def test_parse_refuses_host_bits_and_names_the_network() -> None:
    with pytest.raises(HostBitsSet, match="2001:db8::/32"):
        parse_net("2001:db8::1/32")
    with pytest.raises(ValueError, match="not an IP prefix"):
        parse_net("2001:db8::/129")
    assert format_net(parse_net("2001:0db8:8000:0000::/33")) == "2001:db8:8000::/33"


def test_utilization_is_exact_in_units() -> None:
    parent = parse_net("2001::/20")
    usage = utilization(parent, [(48, 3), (128, 1)], unit_length=64)
    assert usage.used == 3 * (1 << 80) + 1
    assert usage.used_units == 3 * (1 << 16) + Fraction(1, 1 << 64)  # a /128 is 2^-64 of a /64
    assert usage.free == parent.size - usage.used
    by48 = utilization(parse_net("2001:db8::/32"), [(48, 4096)], unit_length=48)
    assert by48.used_units == 4096 and by48.percent == pytest.approx(6.25)
    assert by48.hd_ratio == pytest.approx(12 / 16)


def read_rir_ipv6(path: Path) -> tuple[list[Net], list[Net]]:
    used, available = [], []
    with path.open(encoding="ascii") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("|")
            if len(fields) < 7 or fields[2] != "ipv6" or fields[1] == "*":
                continue
            net = parse_net(f"{fields[3]}/{fields[4]}")
            (available if fields[6] == "available" else used).append(net)
    return used, available


def test_apnic_answer_key_every_available_line_reproduced() -> None:
    used, available = read_rir_ipv6(REGISTRY / "delegated-apnic-extended-20160131.txt")
    iana_blocks = [parse_net(p) for p in
                   ["2001:200::/23", "2001:7fa::/32", "2001:c00::/22", "2001:4400::/23", "2001:8000::/18", "2400::/12"]]  # fmt: skip
    computed = []
    for block in iana_blocks:
        computed.extend(free_blocks(block, [n for n in used if block.contains(n)]))
    assert len(available) == 28_145
    assert sorted(computed) == sorted(available)
