"""The registry's consistency check: the pure checker against a netaddr oracle, and ``flask db check`` on a clean
registry and on one broken by hand."""

from __future__ import annotations

import json
from collections.abc import Iterator

import netaddr
import pytest
from flask.testing import FlaskCliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session

from core.policy import OPERATOR
from ipam.consistency import Node, Problem, ProblemType, check_parent
from ipam.models import FreeBlock, Prefix, to_key
from ipam.operations import AllocationRequest, add_prefix, allocate_prefixes
from ipam.space import Net, format_net, free_blocks, parse_net, sparse_key
from tests.test_space import as_nets, ipset, trees

Registry = tuple[Node, list[Node], list[Net]]


def network(net: Net) -> netaddr.IPNetwork:
    return netaddr.IPNetwork(format_net(net))


@st.composite
def nets_near(draw: st.DrawFn, parent: Net) -> Net:
    """Any network of the parent's family near it: inside, around it, or beside it (or of the other family)."""
    if draw(st.integers(0, 9)) == 0:
        width = 160 - parent.width
        return Net(0, draw(st.integers(0, width)), width)
    length = draw(st.integers(max(0, parent.length - 2), min(parent.width, parent.length + 6)))
    span = 1 << (parent.width - min(length, parent.length))
    start = parent.start - span + draw(st.integers(0, 3 * span - 1)) if parent.length else draw(st.integers(0, span))
    start = max(0, min(start, (1 << parent.width) - 1)) >> (parent.width - length) << (parent.width - length)
    return Net(start, length, parent.width)


@st.composite
def registries(draw: st.DrawFn) -> Registry:
    """A parent whose children may overlap or lie outside it, and an index that may be right, short or padded."""
    parent, clean = draw(trees())
    children = [c for c in clean if c != parent] + draw(st.lists(nets_near(parent), max_size=4))
    children = sorted(set(children), key=lambda n: (n.width, n.start, n.length))
    blocks = free_blocks(parent, [c for c in clean if c != parent])
    blocks = [b for b in blocks if draw(st.integers(0, 5))] + draw(st.lists(nets_near(parent), max_size=3))
    blocks = sorted({b for b in blocks if b.width == parent.width}, key=lambda n: (n.start, n.length))
    nodes = [Node(i, net) for i, net in enumerate(sorted(children, key=lambda n: (n.start, n.length)), start=2)]
    return Node(1, parent), nodes, blocks


def of_type(problems: list[Problem], kind: ProblemType) -> list[Problem]:
    return [p for p in problems if p.type is kind]


@given(trees())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_consistent_parent_has_no_problems(tree: tuple[Net, list[Net]]) -> None:
    parent, children = tree
    children = [c for c in children if c != parent]
    nodes = [Node(i, c) for i, c in enumerate(sorted(children), start=2)]
    index = free_blocks(parent, children) if children else []
    assert check_parent(Node(1, parent), nodes, index) == []


@given(registries())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_overlapping_siblings_are_exactly_those_netaddr_finds(registry: Registry) -> None:
    parent, children, blocks = registry
    found = of_type(check_parent(parent, children, blocks), ProblemType.OVERLAPPING_SIBLINGS)
    involved = {p.prefix_id for p in found} | {p.other.id for p in found if p.other}
    nested = [
        (c.id, d.id)
        for c in children
        for d in children
        if c is not d and c.net.width == d.net.width and network(c.net) in network(d.net)
    ]
    assert involved == {i for pair in nested for i in pair}
    assert all(p.other and network(p.net) in network(p.other.net) for p in found)


@given(registries())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_children_outside_are_exactly_those_not_strictly_inside_per_netaddr(registry: Registry) -> None:
    parent, children, blocks = registry
    found = {p.prefix_id for p in of_type(check_parent(parent, children, blocks), ProblemType.OUTSIDE_PARENT)}
    outside = {
        c.id
        for c in children
        if c.net.width != parent.net.width
        or not (network(c.net) in network(parent.net) and c.net.length > parent.net.length)
    }
    assert found == outside


@given(registries())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_missing_and_extra_free_blocks_match_the_ipset_oracle(registry: Registry) -> None:
    parent, children, blocks = registry
    problems = check_parent(parent, children, blocks)
    inside = [
        c.net
        for c in children
        if c.net.width == parent.net.width
        and network(c.net) in network(parent.net)
        and c.net.length > parent.net.length
    ]
    oracle = set(as_nets((ipset([parent.net]) - ipset(inside)).iter_cidrs(), parent.net.width))
    if not blocks and oracle == {parent.net}:
        oracle = set()  # a prefix that never had children keeps no index rows
    assert {p.net for p in of_type(problems, ProblemType.MISSING_FREE_BLOCK)} == oracle - set(blocks)
    assert {p.net for p in of_type(problems, ProblemType.EXTRA_FREE_BLOCK)} == set(blocks) - oracle


def test_a_parent_that_gave_all_its_children_back_may_keep_itself_as_one_free_block() -> None:
    parent = parse_net("2001:db8::/48")
    assert check_parent(Node(1, parent), [], [parent]) == []
    halves = list(parent.subnets(49))
    assert [p.type for p in check_parent(Node(1, parent), [], halves)] == [
        ProblemType.MISSING_FREE_BLOCK, ProblemType.EXTRA_FREE_BLOCK, ProblemType.EXTRA_FREE_BLOCK,
    ]  # fmt: skip


def test_top_level_siblings_overlap_only_within_a_family() -> None:
    top = [Node(1, Net(0, 0, 32)), Node(2, Net(0, 8, 128)), Node(3, Net(0, 16, 128))]
    problems = check_parent(None, top, [])
    assert [(p.type, p.prefix_id, p.other and p.other.id) for p in problems] == [
        (ProblemType.OVERLAPPING_SIBLINGS, 3, 2)
    ]


# ``flask db check`` on the test's registry (each test's writes are rolled back).

PARENT = "2001:db8:5500::/40"


@pytest.fixture
def registry(db: Session) -> Iterator[Prefix]:
    parent = add_prefix(db, PARENT, actor=OPERATOR, kind="aggregate", holder=None)
    db.flush()
    allocate_prefixes(db, parent, AllocationRequest(48, 3), holder=None, actor=OPERATOR)
    allocate_prefixes(db, parent, AllocationRequest(56, 2), holder=None, actor=OPERATOR)
    db.flush()
    yield parent


def check(runner: FlaskCliRunner) -> tuple[int, list[dict[str, object]]]:
    result = runner.invoke(args=["db", "check", "--json"])
    return result.exit_code, json.loads(result.stdout)


def insert_prefix(db: Session, net: str, parent: Prefix, *, kind: str = "assignment") -> None:
    """A row written behind the operations' back, as a faulty script or a manual edit would."""
    if db.get_bind().dialect.name == "postgresql":  # let the sibling constraint wait for a commit that never comes
        db.execute(text("SET CONSTRAINTS ex_prefix_siblings_overlap DEFERRED"))
    db.execute(insert(Prefix).values(**Prefix.columns_for(parse_net(net)), kind=kind, parent_id=parent.id))
    db.flush()


def test_db_check_passes_a_consistent_registry(runner: FlaskCliRunner, registry: Prefix) -> None:
    result = runner.invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output
    assert check(runner) == (0, [])


def test_db_check_reports_an_overlapping_sibling(runner: FlaskCliRunner, db: Session, registry: Prefix) -> None:
    insert_prefix(db, "2001:db8:5500:100::/56", registry)  # inside the first /48 allocated
    code, problems = check(runner)
    overlap = [p for p in problems if p["type"] == "overlapping-siblings"]
    assert code == 1
    assert [(p["prefix"], p["other"]) for p in overlap] == [("2001:db8:5500:100::/56", "2001:db8:5500::/48")]


def test_db_check_reports_a_child_outside_its_parent(runner: FlaskCliRunner, db: Session, registry: Prefix) -> None:
    child = db.scalars(select(Prefix).where(Prefix.parent_id == registry.id).order_by(Prefix.start)).first()
    assert child is not None
    other = add_prefix(db, "2001:db8:7700::/40", actor=OPERATOR, kind="aggregate", holder=None)
    db.flush()
    db.execute(update(Prefix).where(Prefix.id == child.id).values(parent_id=other.id))
    code, problems = check(runner)
    assert code == 1
    assert {"type": "outside-parent", "parent": "2001:db8:7700::/40", "prefix": "2001:db8:5500::/48"} in [
        {k: p[k] for k in ("type", "parent", "prefix")} for p in problems
    ]


def test_db_check_reports_a_missing_and_an_extra_free_block(
    runner: FlaskCliRunner, db: Session, registry: Prefix
) -> None:
    first = min(db.execute(select(FreeBlock.start, FreeBlock.prefix_len).where(FreeBlock.parent_id == registry.id)))
    gone = Net(int.from_bytes(first[0], "big"), first[1])
    db.execute(delete(FreeBlock).where(FreeBlock.parent_id == registry.id, FreeBlock.start == first[0]))
    extra = parse_net("2001:db8:5500::/64")  # inside the first allocated /48
    db.execute(
        insert(FreeBlock).values(
            parent_id=registry.id, prefix_len=64, start=to_key(extra.start),
            sparse_key=to_key(sparse_key(registry.net, extra.start)),
        )
    )  # fmt: skip
    code, problems = check(runner)
    assert code == 1
    assert sorted((p["type"], p["prefix"]) for p in problems) == [
        ("extra-free-block", "2001:db8:5500::/64"), ("missing-free-block", str(gone)),
    ]  # fmt: skip


def test_db_check_prints_the_problems_and_fails_in_one_line(
    runner: FlaskCliRunner, db: Session, registry: Prefix
) -> None:
    db.execute(delete(FreeBlock).where(FreeBlock.parent_id == registry.id))
    result = runner.invoke(args=["db", "check"])
    assert result.exit_code == 1
    assert "missing-free-block" in result.stdout
    assert result.stderr.strip().startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
