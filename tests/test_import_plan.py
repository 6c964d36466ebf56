"""The import planner (pure) against a brute-force oracle: every row is compared with every accepted prefix."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from importers.plan import Attributes, Create, Existing, Holding, Planner, Reject, Remove, Row, Unchanged, Update
from ipam.choices import may_contain
from ipam.space import Net

KINDS = ("allocation", "assignment", "reserved")
WIDTH = 32
BASE = 10 << 24  # 10.0.0.0/8 keeps the examples small and readable


@st.composite
def nets(draw: st.DrawFn, low: int = 9, high: int = 16) -> Net:
    length = draw(st.integers(low, high))
    index = draw(st.integers(0, (1 << (length - 8)) - 1))
    return Net(BASE + (index << (WIDTH - length)), length, WIDTH)


@st.composite
def rows(draw: st.DrawFn) -> list[Row]:
    found = draw(st.lists(st.tuples(nets(), st.sampled_from(KINDS)), max_size=40))
    return sorted(
        (Row(line, net, Attributes(kind, 1)) for line, (net, kind) in enumerate(found, start=2)),
        key=lambda r: (r.net.start, r.net.length, r.line),
    )


HOLDINGS = [Holding(1, Net(BASE, 9, WIDTH), "aggregate"), Holding(2, Net(BASE + (3 << 22), 10, WIDTH), "allocation")]


def oracle(file_rows: list[Row]) -> dict[int, Net | str | None]:
    """line -> parent network of the created prefix, "holding" for the carrier's own block, None: rejected."""
    accepted: list[tuple[Net, str]] = [(h.net, h.kind) for h in HOLDINGS]
    result: dict[int, Net | str | None] = {}
    seen: set[Net] = set()
    for row in file_rows:
        if row.net in {h.net for h in HOLDINGS}:
            result[row.line] = "holding" if row.net not in seen else None
            seen.add(row.net)
            continue
        if any(net == row.net for net, _ in accepted):
            result[row.line] = None
            continue
        containers = [(net, kind) for net, kind in accepted if net.contains(row.net)]
        if not containers:
            result[row.line] = None
            continue
        parent, kind = max(containers, key=lambda c: c[0].length)
        # Below an assignment its holder plans subnets: a carrier's file puts nothing there.
        if kind == "assignment" or not may_contain(kind, row.attributes.kind):
            result[row.line] = None
            continue
        accepted.append((row.net, row.attributes.kind))
        result[row.line] = parent
    return result


@settings(max_examples=300, deadline=None)
@given(rows(), st.booleans())
def test_new_rows_go_below_their_smallest_container_or_are_rejected(file_rows: list[Row], snapshot: bool) -> None:
    events = list(Planner(mode_snapshot=snapshot, carrier_name="c").plan(HOLDINGS, [], file_rows))
    decided: dict[int, Net | str | None] = {}
    for event in events:
        assert isinstance(event, Create | Reject | Unchanged)
        decided[event.row.line] = (
            event.parent if isinstance(event, Create) else "holding" if isinstance(event, Unchanged) else None
        )
        if isinstance(event, Reject):
            assert event.problem.line == event.row.line and event.problem.message
    assert decided == oracle(file_rows)


@st.composite
def registered_tree(draw: st.DrawFn) -> list[Existing]:
    """A valid registry below the holdings: accepted rows of a random file, as prefixes with ids."""
    file_rows = draw(rows())
    parents = oracle(file_rows)
    accepted = [r for r in file_rows if isinstance(parents[r.line], Net)]
    ids = {r.net: 100 + i for i, r in enumerate(accepted)} | {h.net: h.id for h in HOLDINGS}
    return [
        Existing(ids[r.net], r.net, ids[parents[r.line]], r.attributes, "holder", False, False)  # type: ignore[index]
        for r in accepted
    ]


@settings(max_examples=200, deadline=None)
@given(registered_tree(), st.data())
def test_reimports_change_nothing_and_snapshots_remove_exactly_what_is_missing(
    existing: list[Existing], data: st.DataObject
) -> None:
    kept = data.draw(st.sets(st.sampled_from([e.net for e in existing])) if existing else st.just(set()))
    file_rows = [Row(i, e.net, e.attributes) for i, e in enumerate(existing, start=2) if e.net in kept]
    in_file = [Existing(e.id, e.net, e.parent_id, e.attributes, e.holder_name, False, e.net in kept) for e in existing]
    for snapshot in (False, True):
        events = list(Planner(mode_snapshot=snapshot, carrier_name="c").plan(HOLDINGS, in_file, file_rows))
        unchanged = {e.row.net for e in events if isinstance(e, Unchanged)}
        removed = {e.existing.net for e in events if isinstance(e, Remove)}
        moved = [e for e in events if isinstance(e, Update)]
        missing = {e.net for e in existing} - kept
        if not snapshot:
            assert unchanged == kept and removed == set() and moved == []
            continue
        # Every prefix the file lacks goes (alone or with the record above it); what the file keeps stays,
        # moving up to the nearest surviving ancestor when its parent goes.
        assert removed == missing
        assert unchanged | {e.row.net for e in moved} == kept
        by_id = {e.id: e for e in existing}
        for update in moved:
            assert update.parent is not None and update.parent.contains(update.row.net)
            old_parent = by_id.get(update.existing.parent_id or 0)
            assert old_parent is not None and old_parent.net in missing


def test_a_rejected_row_does_not_keep_a_prefix_whose_parent_goes() -> None:
    assignment = Existing(100, Net(BASE, 16, WIDTH), 1, Attributes("assignment", 7), "客户", False, False)
    subnet = Existing(101, Net(BASE, 24, WIDTH), 100, Attributes("subnet", 7), "客户", False, True)
    row = Row(2, subnet.net, Attributes("assignment", 7))  # names the customer's subnet: not the carrier's record
    events = list(Planner(mode_snapshot=True, carrier_name="c").plan(HOLDINGS, [assignment, subnet], [row]))
    assert {e.existing.id for e in events if isinstance(e, Remove)} == {100, 101}
    assert [e.row.line for e in events if isinstance(e, Reject)] == [2]
