"""The subnet planner against a brute-force planner and an independent checker, both on plain integer ranges."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipam.planner import (
    MAX_PLAN_NODES,
    NodeSpec,
    Plan,
    PlanDoesNotFit,
    PlanSpec,
    PlanTooLarge,
    PlanWouldMove,
    plan,
)
from ipam.space import Net, format_net, parse_net

WIDTH = 128
PARENT_BITS = 12  # a parent of 4,096 addresses: small enough to enumerate
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def copies(count: int, name: str) -> tuple[str, ...]:
    return (name,) if count == 1 else tuple(f"{name}-{n}" for n in range(1, count + 1))


# -- the independent oracle: every copy expanded, every candidate position tried one by one -------------------------


@dataclass
class Node:
    path: str
    spec: NodeSpec
    children: list[Node] = field(default_factory=list)
    bits: int = 0


class Refused(Exception):
    def __init__(self, path: str, needed_length: int | None) -> None:
        super().__init__(path, needed_length)
        self.path = path
        self.needed_length = needed_length


def expand(specs: tuple[NodeSpec, ...], path: str = "") -> list[Node]:
    nodes = []
    for spec in specs:
        for name in spec.names:
            child_path = f"{path}/{name}" if path else name
            nodes.append(Node(child_path, spec, expand(spec.children, child_path)))
    return nodes


def smallest_bits(addresses: int, nibble: bool) -> int:
    bits = 0
    while 1 << bits < addresses:
        bits += 1
    while nibble and bits % 4:
        bits += 1
    return bits


def first_free(start: int, limit: int | None, size: int, taken: list[tuple[int, int]]) -> int | None:
    """Try every aligned position from ``start`` on, one at a time, for a block of ``size`` free of ``taken``."""
    position = -(-start // size) * size
    while limit is None or position + size <= limit:
        if all(position + size <= low or high <= position for low, high in taken):
            return position
        position += size
    return None


def size_nodes(nodes: list[Node], spec: PlanSpec) -> None:
    for node in nodes:
        size_nodes(node.children, spec)
        cursor = 0
        for child in node.children:
            cursor = first_free(cursor, None, 1 << child.bits, []) + (1 << child.bits)
        if node.spec.length is not None:
            node.bits = smallest_bits(1 << (WIDTH - node.spec.length), spec.nibble)
            if cursor > 1 << node.bits:
                raise Refused(node.path, WIDTH - smallest_bits(cursor, spec.nibble))
        else:
            headroom = spec.headroom if node.spec.headroom is None else node.spec.headroom
            node.bits = smallest_bits(math.ceil(cursor * headroom), spec.nibble)


def reference_plan(spec: PlanSpec, existing: list[Net]) -> dict[str, Net]:
    """The plan by brute force, from scratch: each node at the first free aligned position after its previous
    sibling, the reserved and existing blocks taken from the start."""
    nodes = expand(spec.nodes)
    size_nodes(nodes, spec)
    placed: dict[str, Net] = {}
    kept_out = [(n.start, n.start + n.size) for n in [*spec.reserved, *existing]]

    def lay_out(children: list[Node], start: int, size: int, taken: list[tuple[int, int]]) -> None:
        cursor = start
        for child in children:
            position = first_free(cursor, start + size, 1 << child.bits, taken)
            if position is None:
                raise Refused(child.path, needed_length(children, start))
            taken.append((position, position + (1 << child.bits)))
            placed[child.path] = Net(position, WIDTH - child.bits)
            cursor = position + (1 << child.bits)
        for child in children:
            lay_out(child.children, placed[child.path].start, 1 << child.bits, [])

    def needed_length(children: list[Node], start: int) -> int:
        """The same layout in a space without end: where it ends is the size the parent would need."""
        taken = list(kept_out)
        cursor = start
        for child in children:
            position = first_free(cursor, None, 1 << child.bits, taken)
            taken.append((position, position + (1 << child.bits)))
            cursor = position + (1 << child.bits)
        return WIDTH - smallest_bits(cursor - start, False)

    lay_out(nodes, spec.parent.start, spec.parent.size, list(kept_out))
    return placed


def check_plan(spec: PlanSpec, result: Plan, existing: list[Net]) -> None:
    """Verify a plan from the spec alone: paths, containment, overlaps, sizes, nibbles, kept-out space."""
    nodes = {node.path: node for node in walk(expand(spec.nodes))}
    placed = {p.path: p.net for p in result.placements}
    assert [p.path for p in result.placements] == list(nodes), "every node once, depth first, in the plan's order"
    for path, net in placed.items():
        node = nodes[path]
        parent = placed[path.rpartition("/")[0]] if "/" in path else spec.parent
        assert parent.contains(net), f"{path} lies inside its parent"
        assert net.start % net.size == 0
        if spec.nibble:
            assert net.length % 4 == 0, f"{path} is on a nibble boundary"
        if node.spec.length is not None:
            assert net.length == WIDTH - smallest_bits(1 << (WIDTH - node.spec.length), spec.nibble)
        if node.children and node.spec.length is None:
            headroom = node.spec.headroom or spec.headroom
            summed = sum(placed[child.path].size for child in node.children)
            assert net.size >= summed * headroom, f"{path} leaves the headroom asked"
        for block in [*spec.reserved, *existing]:
            assert not net.overlaps(block), f"{path} keeps out of {format_net(block)}"
    ranges = sorted((net.start, net.start + net.size, path) for path, net in placed.items())
    for index, (_low, high, path) in enumerate(ranges):
        for other_low, _other_high, other in ranges[index + 1 :]:
            if other_low >= high:
                break
            assert other.startswith(path + "/") or path.startswith(other + "/"), f"{path} overlaps {other}"


def walk(nodes: list[Node]) -> Iterator[Node]:
    for node in nodes:
        yield node
        yield from walk(node.children)


# -- random plans ------------------------------------------------------------------------------------------------------

headrooms = st.sampled_from([None, Fraction(1), Fraction(3, 2), Fraction(2), Fraction(4)])


@st.composite
def levels(draw: st.DrawFn, depth: int) -> tuple[NodeSpec, ...]:
    specs = []
    for index in range(draw(st.integers(1, 3))):
        names = copies(draw(st.integers(1, 3)), "abcdef"[index])
        if depth >= 2 or draw(st.booleans()):
            specs.append(NodeSpec(names, length=WIDTH - draw(st.integers(0, 5))))
            continue
        children = draw(levels(depth + 1))
        length = WIDTH - draw(st.integers(0, 10)) if draw(st.integers(0, 4)) == 0 else None
        specs.append(NodeSpec(names, length=length, headroom=None if length else draw(headrooms), children=children))
    return tuple(specs)


def blocks_in(parent: Net, draw: st.DrawFn, most: int) -> list[Net]:
    blocks = []
    for _ in range(draw(st.integers(0, most))):
        bits = draw(st.integers(0, 8))
        slot = draw(st.integers(0, (parent.size >> bits) - 1))
        blocks.append(Net(parent.start + (slot << bits), WIDTH - bits))
    return blocks


@st.composite
def plans(draw: st.DrawFn) -> tuple[PlanSpec, list[Net]]:
    parent = Net(0x20010DB8 << 96 | draw(st.integers(0, 255)) << PARENT_BITS, WIDTH - PARENT_BITS)
    spec = PlanSpec(
        parent=parent,
        nodes=draw(levels(0)),
        nibble=draw(st.booleans()),
        headroom=draw(st.sampled_from([Fraction(1), Fraction(2)])),
        reserved=tuple(blocks_in(parent, draw, 2)),
    )
    return spec, blocks_in(parent, draw, 2)


@given(plans())
@FAST
def test_a_plan_is_what_the_brute_force_planner_makes_or_fails_where_it_fails(case: tuple[PlanSpec, list[Net]]) -> None:
    spec, existing = case
    try:
        expected = reference_plan(spec, existing)
    except Refused as refused:
        with pytest.raises(PlanDoesNotFit) as raised:
            plan(spec, existing=existing)
        assert raised.value.path == refused.path, "the error names the node that does not fit"
        assert raised.value.needed_length == refused.needed_length, "and the smallest block that would hold it"
        return
    result = plan(spec, existing=existing)
    assert result.prefixes() == expected
    check_plan(spec, result, existing)


@given(plans())
@FAST
def test_the_same_plan_always_lands_the_same_way(case: tuple[PlanSpec, list[Net]]) -> None:
    spec, existing = case
    try:
        first = plan(spec, existing=existing)
    except PlanDoesNotFit as exc:
        with pytest.raises(PlanDoesNotFit) as again:
            plan(spec, existing=existing)
        assert str(again.value) == str(exc)
        return
    assert plan(spec, existing=list(reversed(existing))) == first


def grow(spec: PlanSpec, draw: st.DrawFn) -> PlanSpec:
    """The plan with one addition: a new node at some level, or one more copy of some node."""
    levels_of = [((), spec.nodes)]
    for trail, nodes in levels_of:
        for index, node in enumerate(nodes):
            if node.children and node.length is None:
                levels_of.append(((*trail, index), node.children))
    trail, nodes = draw(st.sampled_from(levels_of))
    counted = [index for index, node in enumerate(nodes) if len(node.names) > 1]
    if counted and draw(st.booleans()):
        index = draw(st.sampled_from(counted))
        node = nodes[index]
        more = copies(len(node.names) + 1, node.names[0].rpartition("-")[0])
        bigger = (*nodes[:index], replace(node, names=more), *nodes[index + 1 :])
    else:
        bigger = (*nodes, NodeSpec(("added",), length=WIDTH - draw(st.integers(0, 3))))

    def rebuild(nodes: tuple[NodeSpec, ...], trail: tuple[int, ...]) -> tuple[NodeSpec, ...]:
        if not trail:
            return bigger
        head, *rest = trail
        inner = replace(nodes[head], children=rebuild(nodes[head].children, tuple(rest)))
        return (*nodes[:head], inner, *nodes[head + 1 :])

    return replace(spec, nodes=rebuild(spec.nodes, trail))


@given(plans(), st.data())
@FAST
def test_re_planning_after_an_addition_keeps_every_earlier_placement_or_says_which_would_move(
    case: tuple[PlanSpec, list[Net]], data: st.DataObject
) -> None:
    spec, existing = case
    try:
        before = plan(spec, existing=existing).prefixes()
    except PlanDoesNotFit:
        return
    grown = grow(spec, data.draw)
    try:
        after = plan(grown, existing=existing, previous=before)
    except (PlanWouldMove, PlanDoesNotFit) as exc:
        assert exc.path in {node.path for node in walk(expand(grown.nodes))}, "the refusal names a node of the plan"
        return
    check_plan(grown, after, existing)
    for path, net in before.items():
        now = after.prefixes()[path]
        assert now == net or (now.contains(net) and now.length < net.length), f"{path} stays where it was"


# -- examples ------------------------------------------------------------------------------------------------------


def factory(sites: int = 3, *, site_headroom: Fraction | None = None, lines: int = 16) -> PlanSpec:
    line = NodeSpec(copies(lines, "line"), length=64)
    zones = (NodeSpec(copies(4, "ot"), children=(line,)), NodeSpec(("it",), length=56))
    return PlanSpec(
        parent=parse_net("2001:db8:100::/48"),
        nodes=(NodeSpec(copies(sites, "binhai"), headroom=site_headroom, children=zones),),
        nibble=True,
        headroom=Fraction(2),
        reserved=(parse_net("2001:db8:100::/64"),),
    )


def test_three_factories_land_nibble_aligned_after_the_reserved_block() -> None:
    placed = plan(factory()).prefixes()
    assert format_net(placed["binhai-1"]) == "2001:db8:100:1000::/52"  # the first /52 holds the reserved /64
    assert format_net(placed["binhai-2/ot-3"]) == "2001:db8:100:2200::/56"  # 16 lines × 2, nibble: a /56
    assert format_net(placed["binhai-2/ot-3/line-16"]) == "2001:db8:100:220f::/64"
    assert format_net(placed["binhai-3/it"]) == "2001:db8:100:3400::/56"
    assert len(placed) == 3 * (1 + 4 * 17 + 1)


def test_a_plan_too_big_for_its_parent_names_the_node_the_size_it_needs_and_how_much_fits() -> None:
    with pytest.raises(PlanDoesNotFit) as raised:
        plan(factory(site_headroom=Fraction(4)))  # each site: 5 /56s × 4, nibble → a /48
    assert raised.value.path == "binhai-1" and raised.value.level == ""
    assert raised.value.needed_length == 46 and raised.value.held_length == 48
    assert "/46" in str(raised.value) and "1/4" in str(raised.value)


def test_a_node_whose_own_length_is_too_small_is_named() -> None:
    line = NodeSpec(copies(20, "line"), length=64)
    spec = PlanSpec(parse_net("2001:db8:100::/48"), (NodeSpec(copies(2, "zone"), length=60, children=(line,)),))
    with pytest.raises(PlanDoesNotFit) as raised:
        plan(spec)
    assert raised.value.path == "zone-1" and raised.value.needed_length == 59 and raised.value.held_length == 60


def test_re_planning_keeps_placed_nodes_when_sites_zones_and_lines_are_added() -> None:
    before = plan(factory()).prefixes()
    after = plan(factory(sites=4, lines=20), previous=before)
    placed = after.prefixes()
    assert all(placed[path] == net for path, net in before.items())
    assert {p.path for p in after.placements if not p.kept} >= {"binhai-4", "binhai-1/ot-1/line-20"}
    assert format_net(placed["binhai-4"]) == "2001:db8:100:4000::/52"


def test_a_node_that_cannot_grow_in_place_is_refused_not_moved_unless_repacked() -> None:
    spec = PlanSpec(parse_net("2001:db8::/48"), (NodeSpec(copies(2, "site"), children=(NodeSpec(("lan",), 56),)),))
    before = plan(spec).prefixes()
    assert format_net(before["site-2"]) == "2001:db8:0:100::/56"
    wider = replace(spec, nodes=(replace(spec.nodes[0], children=(NodeSpec(("lan",), 55),)),))
    with pytest.raises(PlanWouldMove) as raised:
        plan(wider, previous=before)
    assert raised.value.path == "site-1" and raised.value.length == 55 and "site-2" in str(raised.value)
    assert format_net(plan(wider).prefixes()["site-2"]) == "2001:db8:0:200::/55"  # repacked: no previous plan


def test_a_node_with_free_space_beside_it_grows_in_place_around_its_children() -> None:
    def spec(vlans: int) -> PlanSpec:
        grows = NodeSpec(("b",), children=(NodeSpec(copies(vlans, "v"), 64),))
        return PlanSpec(parse_net("2001:db8::/48"), (NodeSpec(("a",), length=62), grows))

    before = plan(spec(2)).prefixes()
    assert format_net(before["b"]) == "2001:db8:0:4::/63"
    after = plan(spec(4), previous=before).prefixes()
    assert format_net(after["b"]) == "2001:db8:0:4::/62"
    assert all(after[path] == before[path] for path in ("a", "b/v-1", "b/v-2"))
    assert format_net(after["b/v-4"]) == "2001:db8:0:7::/64"


def test_registered_blocks_are_kept_out_unless_they_are_the_plans_own_earlier_nodes() -> None:
    spec = PlanSpec(parse_net("2001:db8::/48"), (NodeSpec(copies(2, "site"), length=52),))
    taken = parse_net("2001:db8::/52")
    first = plan(spec, existing=[taken]).prefixes()
    assert format_net(first["site-1"]) == "2001:db8:0:1000::/52"
    applied = list(first.values())  # the plan applied: its sites are registered now
    more = replace(spec, nodes=(NodeSpec(copies(3, "site"), length=52),))
    again = plan(more, existing=[taken, *applied], previous=first)
    assert again.prefixes()["site-2"] == first["site-2"]
    assert format_net(again.prefixes()["site-3"]) == "2001:db8:0:3000::/52"


def test_a_reserved_block_added_over_a_placed_node_is_refused() -> None:
    spec = PlanSpec(parse_net("2001:db8::/48"), (NodeSpec(("site",), length=52),))
    before = plan(spec).prefixes()
    with pytest.raises(PlanWouldMove, match="2001:db8::/52"):
        plan(replace(spec, reserved=(parse_net("2001:db8:0:ff::/64"),)), previous=before)


def test_ipv4_parents_are_planned_the_same_way() -> None:
    spec = PlanSpec(
        parse_net("10.1.0.0/16"), (NodeSpec(copies(3, "floor"), children=(NodeSpec(copies(5, "vlan"), 24),)),)
    )
    placed = plan(spec).prefixes()
    found = [format_net(placed[p]) for p in ("floor-1", "floor-2", "floor-3/vlan-5")]
    assert found == ["10.1.0.0/21", "10.1.8.0/21", "10.1.20.0/24"]


def test_a_plan_of_more_nodes_than_the_limit_is_refused_before_any_work() -> None:
    line = NodeSpec(copies(1000, "line"), length=64)
    spec = PlanSpec(parse_net("2001:db8::/32"), (NodeSpec(copies(MAX_PLAN_NODES // 1000, "site"), children=(line,)),))
    with pytest.raises(PlanTooLarge, match=str(MAX_PLAN_NODES)):
        plan(spec)
