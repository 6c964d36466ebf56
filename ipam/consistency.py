"""The registry's invariants, checked for one parent at a time: pure, no Flask, no database.

For each parent (and for the top level, which has none) the checker is given the children in address order and
the parent's rows of the free-space index in address order, and returns what is wrong:
- ``overlapping-siblings``: a child overlaps an earlier sibling of its family (named: the one reaching furthest);
- ``outside-parent``: a child is not inside its parent (another family, or not a strictly longer prefix within it);
- ``missing-free-block`` / ``extra-free-block``: the index differs from the maximal aligned blocks the children
  inside the parent leave free (``ipam.space.gaps``). A parent without children and without index rows is
  consistent: ``ipam.freespace`` writes no rows for a prefix that never had children (all of it is free).

Both inputs are consumed once, as streams, so a parent with a million children is checked in constant memory
(apart from the problems found). ``ipam.consistency_cli`` feeds it from the database.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from ipam.space import Net, gaps


class ProblemType(StrEnum):
    OVERLAPPING_SIBLINGS = "overlapping-siblings"
    OUTSIDE_PARENT = "outside-parent"
    MISSING_FREE_BLOCK = "missing-free-block"
    EXTRA_FREE_BLOCK = "extra-free-block"


@dataclass(frozen=True, slots=True)
class Node:
    """A registered prefix: its id and network."""

    id: int
    net: Net


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong, where: ``net`` is the child (with ``prefix_id``) or the free block concerned; ``other`` the
    sibling a child overlaps."""

    type: ProblemType
    parent: Node | None
    net: Net
    prefix_id: int | None = None
    other: Node | None = None


def check_parent(parent: Node | None, children: Iterable[Node], blocks: Iterable[Net]) -> list[Problem]:
    """Every problem of ``parent`` (``None``: the top level) with ``children`` and its free-space index ``blocks``,
    both in address order (``(start, length)``)."""
    child_problems: list[Problem] = []
    inside = _checked_children(parent, children, child_problems)
    if parent is None:
        deque(inside, maxlen=0)  # the top level has no index: only its siblings are checked
        return child_problems
    block_iter = iter(blocks)
    first_block = next(block_iter, None)
    expected = gaps(parent.net, inside)  # reads every child before it ends
    first_expected = next(expected, None)
    if first_block is None and first_expected == parent.net:
        return child_problems  # never had children: no rows, all of it free
    block_problems = list(_differences(parent, _chain(first_expected, expected), _chain(first_block, block_iter)))
    return child_problems + block_problems


def _checked_children(parent: Node | None, children: Iterable[Node], problems: list[Problem]) -> Iterator[Net]:
    """The children inside ``parent``, in order; records overlapping siblings and children outside on the way.

    Sorted by start, a child overlaps an earlier sibling exactly when it starts before the furthest end reached so
    far in its family; CIDR blocks nest, so the earlier sibling reaching furthest contains it."""
    reach: dict[int, Node] = {}
    for child in children:
        net = child.net
        widest = reach.get(net.width)
        if widest is not None and net.start <= widest.net.last:
            problems.append(Problem(ProblemType.OVERLAPPING_SIBLINGS, parent, net, child.id, widest))
        if widest is None or net.last > widest.net.last:
            reach[net.width] = child
        if parent is None or (parent.net.contains(net) and net.length > parent.net.length):
            yield net
        else:
            problems.append(Problem(ProblemType.OUTSIDE_PARENT, parent, net, child.id))


def _differences(parent: Node, expected: Iterator[Net], actual: Iterator[Net]) -> Iterator[Problem]:
    """A merge of two block lists in address order: what only one of them has."""
    want, have = next(expected, None), next(actual, None)
    while want is not None or have is not None:
        if have is None or (want is not None and (want.start, want.length) < (have.start, have.length)):
            yield Problem(ProblemType.MISSING_FREE_BLOCK, parent, want)  # type: ignore[arg-type]
            want = next(expected, None)
        elif want is None or (have.start, have.length) < (want.start, want.length):
            yield Problem(ProblemType.EXTRA_FREE_BLOCK, parent, have)
            have = next(actual, None)
        else:
            want, have = next(expected, None), next(actual, None)


def _chain(first: Net | None, rest: Iterator[Net]) -> Iterator[Net]:
    if first is not None:
        yield first
        yield from rest
