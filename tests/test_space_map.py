"""The space map summarizes a parent from its free-space index: each cell's used share is exact (against
netaddr), cells a child fills link to it, reserved children show as reserved, and IPv4 maps like IPv6. A cell
zooms into the map of its block, as exact, with the way back out, for those who see the layout only; a block
that is none of the prefix's shows all of it. The pure part on integers, the rest on both databases."""

from __future__ import annotations

import random
import re
from itertools import groupby
from typing import Any

import netaddr
import pytest
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from core.policy import OPERATOR
from ipam.models import Prefix
from ipam.operations import AllocationRequest, add_prefix, allocate_prefixes
from ipam.queries import cell_block_counts, cell_child_counts, get_prefix, space_map
from ipam.space import Net, addresses_per_cell, enclosing_blocks, format_net, free_blocks, parse_net
from tests.querycount import count_statements
from tests.test_space import ipset, trees


def oracle(parent: Net, length: int, children: list[Net]) -> list[int]:
    """Free addresses per cell, the slow way: the parent's set minus the children's, cut cell by cell."""
    free = ipset([parent]) - ipset(children)
    return [(free & netaddr.IPSet([netaddr.IPNetwork(format_net(c))])).size for c in parent.subnets(length)]


@given(trees(), st.integers(0, 6))
@settings(max_examples=300, deadline=None)
def test_free_per_cell_counts_the_free_addresses_of_each_cell(tree: tuple[Net, list[Net]], finer: int) -> None:
    parent, children = tree
    length = min(parent.width, parent.length + finer)
    blocks = [(b.start, b.length, 1) for b in free_blocks(parent, children)]
    assert addresses_per_cell(parent, length, blocks) == oracle(parent, length, children)


@given(trees(), st.integers(0, 6))
@settings(max_examples=200, deadline=None)
def test_free_per_cell_needs_only_a_count_per_cell_and_length(tree: tuple[Net, list[Net]], finer: int) -> None:
    parent, children = tree
    length = min(parent.width, parent.length + finer)
    cell_of = lambda b: (b.start >> (parent.width - length), b.length)  # noqa: E731 (the grouping key)
    grouped = [
        (blocks[0].start, blocks[0].length, len(blocks))
        for blocks in (list(g) for _, g in groupby(sorted(free_blocks(parent, children), key=cell_of), cell_of))
    ]
    assert addresses_per_cell(parent, length, grouped) == oracle(parent, length, children)


@given(trees(), st.integers(0, 6))
@settings(max_examples=200, deadline=None)
def test_the_children_counted_per_cell_leave_what_the_free_blocks_count(
    tree: tuple[Net, list[Net]], finer: int
) -> None:
    parent, children = tree
    length = min(parent.width, parent.length + finer)
    cell_of = lambda b: (b.start >> (parent.width - length), b.length)  # noqa: E731 (the grouping key)
    grouped = [
        (blocks[0].start, blocks[0].length, len(blocks))
        for blocks in (list(g) for _, g in groupby(sorted(children, key=cell_of), cell_of))
    ]
    size = 1 << (parent.width - length)
    assert [size - used for used in addresses_per_cell(parent, length, grouped)] == oracle(parent, length, children)


def _registry(db: Session, parent: str, children: list[tuple[str, str]]) -> Prefix:
    top = add_prefix(db, parent, actor=OPERATOR, kind="aggregate", holder=None)
    for network, kind in children:
        add_prefix(db, network, actor=OPERATOR, kind=kind, holder=None)
    db.flush()
    return top


def test_map_shares_match_the_children_exactly(db: Session) -> None:
    children = ["2001:db8::/48", "2001:db8:1::/52", "2001:db8:100::/40", "2001:db8:4321::/64", "2001:db8:ff00::/56"]
    top = _registry(db, "2001:db8::/32", [(c, "allocation") for c in children])
    cells = space_map(db, top, 40)
    free = oracle(top.net, 40, [parse_net(c) for c in children])
    assert [round((1 - c.used) * (1 << 88)) for c in cells] == free


def test_map_links_a_cell_to_the_child_that_fills_it(db: Session) -> None:
    top = _registry(db, "2001:db8::/32", [("2001:db8:100::/40", "allocation"), ("2001:db8::/48", "allocation")])
    cells = {format_net(c.net): c for c in space_map(db, top, 40)}
    filled = cells["2001:db8:100::/40"]
    assert filled.state == "used" and filled.prefix_id is not None and filled.used == 1
    assert cells["2001:db8::/40"].state == "partial" and cells["2001:db8::/40"].prefix_id is None
    assert cells["2001:db8:200::/40"].state == "free" and cells["2001:db8:200::/40"].used == 0


def test_map_shows_cells_under_a_reserved_child_as_reserved(db: Session) -> None:
    top = _registry(db, "2001:db8::/32", [("2001:db8:8000::/33", "reserved")])
    cells = space_map(db, top, 36)
    assert [c.state for c in cells] == ["free"] * 8 + ["reserved"] * 8


def test_map_of_a_prefix_without_children_is_all_free(db: Session) -> None:
    top = _registry(db, "2001:db8::/32", [])
    assert {c.state for c in space_map(db, top, 36)} == {"free"}


def test_map_of_a_fully_used_prefix_is_all_used(db: Session) -> None:
    top = _registry(db, "2001:db8::/32", [("2001:db8::/33", "allocation"), ("2001:db8:8000::/33", "allocation")])
    assert {(c.state, c.used) for c in space_map(db, top, 36)} == {("used", 1)}


def test_map_of_an_ipv4_block_reads_its_keys_at_the_right_bytes(db: Session) -> None:
    top = _registry(db, "198.51.0.0/16", [("198.51.4.0/22", "allocation"), ("198.51.9.128/25", "allocation")])
    cells = space_map(db, top, 24)
    assert [c.used for c in cells[3:10]] == [0, 1, 1, 1, 1, 0, 1 / 2]


def test_map_page_shades_a_partly_used_cell_and_says_its_share(client: FlaskClient, login_as, db: Session) -> None:
    top = _registry(db, "2001:db8::/32", [("2001:db8::/42", "allocation"), ("2001:db8:100::/41", "allocation")])
    login_as("regulator")
    page = client.get(f"/prefixes/{top.id}/map?length=40").get_data(as_text=True)
    assert re.search(r'class="cell cell-partial shade-2" title="2001:db8::/40 · [^"]*25[^"]*" data-used="25"', page)
    assert re.search(r'class="cell cell-partial shade-3" title="2001:db8:100::/40 · [^"]*50[^"]*" data-used="50"', page)


@given(trees(), st.data())
@settings(max_examples=300, deadline=None)
def test_the_way_out_of_a_zoomed_map_is_each_step_holding_the_block(tree: tuple[Net, list[Net]], data: Any) -> None:
    outer, _ = tree
    inner_length = data.draw(st.integers(outer.length, outer.width))
    offset = data.draw(st.integers(0, (1 << (inner_length - outer.length)) - 1))
    inner = Net(outer.start + (offset << (outer.width - inner_length)), inner_length, outer.width)
    step = data.draw(st.integers(1, 12))
    way_out = enclosing_blocks(outer, inner, step)
    cidr = netaddr.IPNetwork(format_net(inner))
    expected = [cidr.supernet(length)[0] for length in range(outer.length + step, inner.length, step)]
    assert [netaddr.IPNetwork(format_net(b)) for b in way_out] == expected


# -- zooming into a cell ---------------------------------------------------------------------------------------


def _random_children(parent: Net, rng: random.Random, count: int) -> list[Net]:
    """Non-overlapping children of assorted lengths, some filling whole cells of a zoomed map."""
    children: list[Net] = []
    while len(children) < count:
        length = rng.choice([parent.length + 5, parent.length + 9, parent.length + 12, parent.length + 16, 64])
        child = Net(
            parent.start + (rng.randrange(1 << (length - parent.length)) << (parent.width - length)),
            length,
            parent.width,
        )
        if not any(child.overlaps(c) for c in children):
            children.append(child)
    return children


def test_a_zoomed_map_counts_each_cell_of_its_block_exactly(db: Session) -> None:
    parent = parse_net("2001:db8::/32")
    children = _random_children(parent, random.Random(16), 60)
    top = _registry(db, format_net(parent), [(format_net(c), "allocation") for c in children])
    for block in [*parent.subnets(36), *parse_net("2001:db8::/36").subnets(40)]:
        for length in (block.length + 4, block.length + 8):
            cells = space_map(db, top, length, within=block)
            assert [c.net for c in cells] == list(block.subnets(length))
            assert [round((1 - c.used) * c.net.size) for c in cells] == oracle(block, length, children), block


def test_a_map_inside_one_child_is_all_used(db: Session) -> None:
    top = _registry(db, "2001:db8::/32", [("2001:db8:100::/40", "allocation"), ("2001:db8:200::/44", "reserved")])
    for block in (parse_net("2001:db8:100::/44"), parse_net("2001:db8:200::/44"), parse_net("2001:db8:210::/44")):
        cells = space_map(db, top, block.length + 4, within=block)
        expected = oracle(block, block.length + 4, [parse_net("2001:db8:100::/40"), parse_net("2001:db8:200::/44")])
        assert [round((1 - c.used) * c.net.size) for c in cells] == expected, block


@pytest.mark.parametrize("way", ["grouped", "counted", "children"])
def test_every_way_of_counting_a_zoomed_block_agrees_with_netaddr(db: Session, way: str) -> None:
    parent = parse_net("2001:db8::/32")
    children = _random_children(parent, random.Random(7), 40)
    top = _registry(db, format_net(parent), [(format_net(c), "allocation") for c in children])
    for block in [parent, *parent.subnets(35)]:
        length = block.length + 6
        within = None if block == parent else block
        if way == "children":
            used = addresses_per_cell(block, length, cell_child_counts(db, top.id, parent, length, within=within))
            free = [(block.size >> 6) - used_here for used_here in used]
        else:
            counts = cell_block_counts(db, top.id, parent, length, within=within, grouped=way == "grouped")
            free = addresses_per_cell(block, length, counts)
        assert free == oracle(block, length, children), block


def test_a_zoomed_map_links_the_children_that_fill_its_cells_and_tells_reserved_ones(db: Session) -> None:
    top = _registry(
        db,
        "2001:db8::/32",
        [("2001:db8:100::/44", "allocation"), ("2001:db8:120::/43", "reserved"), ("2001:db8:140::/48", "allocation")],
    )
    cells = {format_net(c.net): c for c in space_map(db, top, 44, within=parse_net("2001:db8:100::/40"))}
    assert cells["2001:db8:100::/44"].state == "used" and cells["2001:db8:100::/44"].prefix_id is not None
    assert cells["2001:db8:120::/44"].state == cells["2001:db8:130::/44"].state == "reserved"
    assert cells["2001:db8:140::/44"].state == "partial" and cells["2001:db8:140::/44"].prefix_id is None
    assert cells["2001:db8:150::/44"].state == "free"


def test_a_block_inside_one_child_zooms_into_cells_all_linked_to_it(db: Session) -> None:
    top = _registry(db, "2001:db8::/32", [("2001:db8:100::/40", "allocation")])
    cells = space_map(db, top, 48, within=parse_net("2001:db8:100::/44"))
    assert {(c.state, c.used) for c in cells} == {("used", 1)} and len({c.prefix_id for c in cells}) == 1


def test_a_free_block_zooms_into_free_cells(db: Session) -> None:
    top = _registry(db, "2001:db8::/32", [("2001:db8::/48", "allocation")])
    assert {(c.state, c.used) for c in space_map(db, top, 48, within=parse_net("2001:db8:8000::/40"))} == {("free", 0)}


def test_an_ipv4_block_zooms_like_an_ipv6_one(db: Session) -> None:
    children = ["198.51.4.0/22", "198.51.9.128/25", "198.51.9.16/28"]
    top = _registry(db, "198.51.0.0/16", [(c, "allocation") for c in children])
    block = parse_net("198.51.8.0/22")
    cells = space_map(db, top, 28, within=block)
    assert [round((1 - c.used) * c.net.size) for c in cells] == oracle(block, 28, [parse_net(c) for c in children])


def test_a_zoomed_map_reads_a_bounded_number_of_statements_however_many_children(db: Session) -> None:
    for parent, count in ((parse_net("2001:db8::/32"), 3), (parse_net("2001:db9::/32"), 200)):
        children = [*_random_children(parent, random.Random(count), count), Net(parent.start, 48)]
        top = _registry(db, format_net(parent), [(format_net(c), "allocation") for c in children])
        with count_statements() as log:
            space_map(db, top, 48, within=Net(parent.start, 36))
        assert log.count <= 5, str(log)


def _cells_of(page: str) -> list[tuple[str, str | None]]:
    """(block, link) of each cell of a map page, in order."""
    cells = []
    for attributes in re.findall(r'<(?:a|span) class="cell [^"]*"([^>]*)>', page):
        title = re.search(r'title="([^ ]+) ·', attributes)
        link = re.search(r'href="([^"]+)"', attributes)
        assert title is not None, attributes
        cells.append((title.group(1), link.group(1) if link else None))
    return cells


def test_each_cell_links_to_the_map_of_its_block_and_the_zoomed_map_leads_back_out(
    client: FlaskClient, login_as, db: Session
) -> None:
    top = _registry(db, "2001:db8::/32", [("2001:db8:100::/40", "allocation"), ("2001:db8:200::/48", "allocation")])
    filled, site = (get_prefix(db, parse_net(n)) for n in ("2001:db8:100::/40", "2001:db8:200::/48"))
    login_as("regulator")
    links = dict(_cells_of(client.get(f"/prefixes/{top.id}/map").get_data(as_text=True)))
    assert len(links) == 256 and links["2001:db8:100::/40"] == f"/prefixes/{filled.id}"
    assert links["2001:db8:200::/40"] == f"/prefixes/{top.id}/map?within=2001:db8:200::/40"
    zoomed = client.get(links["2001:db8:200::/40"])
    assert zoomed.status_code == 200
    cells = _cells_of(zoomed.get_data(as_text=True))
    assert len(cells) == 256 and cells[0] == ("2001:db8:200::/48", f"/prefixes/{site.id}")
    assert cells[1] == ("2001:db8:201::/48", f"/prefixes/{top.id}/map?within=2001:db8:201::/48")
    inner = client.get(f"/prefixes/{top.id}/map?within=2001:db8:201::/48").get_data(as_text=True)
    way_out = re.search(r'data-testid="map-zoom">(.*?)</ol>', inner, re.DOTALL)
    assert way_out is not None
    assert re.findall(r'href="([^"]+)"', way_out.group(1)) == [
        f"/prefixes/{top.id}/map",
        f"/prefixes/{top.id}/map?within=2001:db8:200::/40",
    ]
    assert 'name="within" value="2001:db8:201::/48"' in inner


@pytest.mark.parametrize(
    "within", ["2001:db8::1/40", "2001:db9::/40", "2001:db8::/24", "198.51.100.0/24", "not-a-block", "2001:db8::/129"]
)
def test_a_block_that_is_none_of_the_prefixes_shows_the_whole_map_saying_so(
    client: FlaskClient, login_as, db: Session, within: str
) -> None:
    top = _registry(db, "2001:db8::/32", [("2001:db8:100::/40", "allocation")])
    login_as("regulator")
    response = client.get(f"/prefixes/{top.id}/map", query_string={"within": within})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "alert-warning" in page and 'data-testid="map-zoom"' not in page
    assert [block for block, _ in _cells_of(page)] == [format_net(c) for c in top.net.subnets(40)]


def test_who_may_not_see_a_blocks_layout_sees_no_cells_zoomed_either(
    client: FlaskClient, login_as, db: Session, create_org, create_user
) -> None:
    carrier, allocator = create_org(kind="carrier"), create_org(kind="allocator")
    block = add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier)
    (downstream,) = allocate_prefixes(
        db, block, AllocationRequest(40, kind="allocation"), holder=allocator, actor=OPERATOR
    )
    allocate_prefixes(db, downstream, AllocationRequest(48), holder=create_org(), actor=OPERATOR)
    db.flush()
    login_as(create_user(role="carrier", organization=carrier))
    page = client.get(f"/prefixes/{downstream.id}/map?within=2001:db8::/44").get_data(as_text=True)
    assert 'data-testid="layout-hidden"' in page and 'class="cell ' not in page
