"""A run over a generated world (``tests/reconciliation_world.py``) finds exactly the discrepancies planted in it:
the counts by type, matched pairs included, and each stored finding's type and block (both backends)."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.policy import OPERATOR
from filing.choices import RunScope
from filing.models import ReconciliationFinding, ReconciliationRun
from filing.permissions import RECONCILER
from filing.reconciliation import execute_run, start_run
from ipam import freespace
from ipam.models import Prefix
from ipam.space import gaps
from tests.reconciliation_world import Planted, build_world

SIZE = 2_000
TODAY = date(2026, 12, 1)


@pytest.fixture
def planted(db: Session) -> Planted:
    return build_world(db, SIZE, seed=7, today=TODAY)


def reconcile(db: Session) -> ReconciliationRun:
    run = start_run(db, scope=RunScope.ALL, actor=OPERATOR)
    return execute_run(db, run, actor=RECONCILER, today=TODAY)


def stored(db: Session, run: ReconciliationRun) -> Counter[tuple[str, str]]:
    rows = db.execute(
        select(ReconciliationFinding.type, ReconciliationFinding.block).where(ReconciliationFinding.run_id == run.id)
    )
    return Counter((kind, block) for kind, block in rows)


def test_the_world_holds_as_many_records_and_standing_filings_as_asked(db: Session, planted: Planted) -> None:
    run = reconcile(db)
    assert (run.records, run.filings) == (SIZE, SIZE)


def test_a_run_counts_exactly_the_planted_discrepancies_and_the_matches(db: Session, planted: Planted) -> None:
    run = reconcile(db)
    assert run.counts == planted.counts
    assert all(planted.counts[kind] == SIZE // 100 for kind in planted.counts if kind != "matched")


def test_a_run_stores_each_planted_discrepancy_with_its_block(db: Session, planted: Planted) -> None:
    assert stored(db, reconcile(db)) == planted.findings


def test_the_counts_by_carrier_add_up_to_the_runs_and_each_carrier_has_its_share(db: Session, planted: Planted) -> None:
    run = reconcile(db)
    by_carrier: Counter[str] = Counter()
    for found in run.carrier_counts.values():
        by_carrier.update(found)
    assert dict(by_carrier) == {kind: n for kind, n in planted.counts.items() if n}
    discrepancies = {kind for kind in planted.counts if kind != "matched"}
    for carrier in planted.carriers.values():
        assert set(run.carrier_counts[str(carrier)]) >= discrepancies


def test_the_world_keeps_the_free_space_index_of_every_parent_exact(db: Session, planted: Planted) -> None:
    parents = db.scalars(select(Prefix).where(Prefix.id.in_(select(Prefix.parent_id).where(Prefix.parent_id > 0))))
    for parent in parents:
        children = db.scalars(select(Prefix).where(Prefix.parent_id == parent.id).order_by(Prefix.start))
        expected = list(gaps(parent.net, (child.net for child in children)))
        assert freespace.all_blocks(db, parent.id, parent.net) == expected, parent.network
