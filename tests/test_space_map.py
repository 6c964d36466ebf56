"""The space map summarizes a parent from its free-space index: each cell's used share is exact (against
netaddr), cells a child fills link to it, reserved children show as reserved, and IPv4 maps like IPv6. The
pure part on integers, the rest on both databases."""

from __future__ import annotations

import re
from itertools import groupby

import netaddr
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from core.policy import OPERATOR
from ipam.models import Prefix
from ipam.operations import add_prefix
from ipam.queries import space_map
from ipam.space import Net, format_net, free_blocks, free_per_cell, parse_net
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
    assert free_per_cell(parent, length, blocks) == oracle(parent, length, children)


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
    assert free_per_cell(parent, length, grouped) == oracle(parent, length, children)


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
