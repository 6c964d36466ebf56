"""Reconciliation runs against the database (both backends): every finding type from a hand-made registry and its
filings, stored with the run and counted; the scope of a carrier; acknowledgements carried over to later runs while
nothing changes; two runs compared; who may start and read runs."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from sqlalchemy import select

from core.errors import PermissionDenied, ValidationFailed
from core.policy import OPERATOR
from filing.choices import RunScope
from filing.models import ReconciliationFinding, ReconciliationRun
from filing.permissions import RECONCILER
from filing.reconciliation import act_on_finding, diff_counts, execute_run, previous_run, start_run
from ipam.operations import add_prefix
from tests.filing_support import FilingWorld


def run(world: FilingWorld, scope: RunScope = RunScope.ALL, **values: object) -> ReconciliationRun:
    started = start_run(world.db, scope=scope, actor=world.regulator, **values)
    return execute_run(world.db, started, actor=RECONCILER, today=date.today())


def stored(world: FilingWorld, reconciliation: ReconciliationRun) -> Counter[str]:
    rows = world.db.scalars(select(ReconciliationFinding).where(ReconciliationFinding.run_id == reconciliation.id))
    return Counter(row.type for row in rows)


def test_a_run_finds_every_discrepancy_and_counts_the_matches(world: FilingWorld) -> None:
    world.site_assignment()  # the enterprise's /48, filed: matched
    world.approved(world.carrier, "assignment", "2001:db8:3::/48")  # filed, never assigned in the registry
    add_prefix(world.db, "2001:db8:4::/48", actor=OPERATOR, kind="assignment", holder=world.enterprise)
    world.approved(world.carrier, "assignment", "2001:db8:4::/48", user=world.other_enterprise)  # not its holder
    add_prefix(world.db, "2001:db8:5::/56", actor=OPERATOR, kind="assignment", holder=world.enterprise)
    world.approved(world.carrier, "assignment", "2001:db8:5::/48")  # filed /48, assigned /56
    done = run(world)
    assert done.state == "done"
    assert {k: v for k, v in done.counts.items() if v} == {
        "matched": 1, "unfiled": 1, "filed-not-assigned": 1, "holder-mismatch": 1, "size-mismatch": 1,
    }  # fmt: skip
    assert stored(world, done) == Counter({k: v for k, v in done.counts.items() if v and k != "matched"})
    unfiled = world.db.scalar(select(ReconciliationFinding).where(ReconciliationFinding.type == "unfiled"))
    assert unfiled is not None and unfiled.prefix_id == world.other_site.id and unfiled.block == "2001:db8:2::/48"
    assert unfiled.carrier_id == world.carrier.id and unfiled.working_days is not None
    size = world.db.scalar(select(ReconciliationFinding).where(ReconciliationFinding.type == "size-mismatch"))
    assert size is not None and size.details["missing"] == [] and "2001:db8:5:100::/56" in size.details["extra"]
    assert done.carrier_counts[str(world.carrier.id)]["unfiled"] == 1


def test_a_carriers_run_compares_only_its_records_and_filings(world: FilingWorld) -> None:
    add_prefix(world.db, "192.0.2.0/28", actor=OPERATOR, kind="assignment", holder=world.other_enterprise)
    done = run(world, RunScope.CARRIER, carrier=world.other_carrier)
    assert {k: v for k, v in done.counts.items() if v} == {"unfiled": 1}
    assert done.records == 1 and done.filings == 0


def test_an_acknowledged_finding_stays_acknowledged_in_the_next_run_while_nothing_changes(world: FilingWorld) -> None:
    first = run(world)
    finding = world.db.scalar(select(ReconciliationFinding).where(ReconciliationFinding.run_id == first.id))
    assert finding is not None
    case = act_on_finding(world.db, finding, "acknowledge", actor=world.regulator, comment="合同在办理中")
    second = run(world)
    again = world.db.scalar(select(ReconciliationFinding).where(ReconciliationFinding.run_id == second.id,
                                                                ReconciliationFinding.prefix_id == finding.prefix_id))  # fmt: skip
    assert again is not None and again.fingerprint == finding.fingerprint and case.state == "acknowledged"
    assert previous_run(world.db, second) == first
    assert diff_counts(world.db, first, second).still_open == 2


def test_the_diff_of_two_runs_names_what_is_new_and_what_was_resolved(world: FilingWorld) -> None:
    first = run(world)
    world.site_assignment()
    add_prefix(world.db, "2001:db8:9::/48", actor=OPERATOR, kind="assignment", holder=world.enterprise)
    second = run(world)
    diff = diff_counts(world.db, first, second)
    assert (diff.new, diff.resolved, diff.still_open) == (1, 1, 1)


def test_acknowledging_needs_a_comment_and_a_regulator_or_the_carrier_concerned(world: FilingWorld) -> None:
    finding = world.db.scalar(select(ReconciliationFinding).where(ReconciliationFinding.run_id == run(world).id))
    assert finding is not None
    with pytest.raises(ValidationFailed):
        act_on_finding(world.db, finding, "acknowledge", actor=world.regulator, comment=" ")
    with pytest.raises(PermissionDenied):
        act_on_finding(world.db, finding, "acknowledge", actor=world.other_carrier_user, comment="不是我们的")
    with pytest.raises(PermissionDenied):
        act_on_finding(world.db, finding, "acknowledge", actor=world.enterprise_user, comment="企业")
    act_on_finding(world.db, finding, "assign", actor=world.carrier_user, comment="请核对", assignee=world.carrier_user)


def test_only_regulators_reconcile_everything_and_a_carrier_only_itself(world: FilingWorld) -> None:
    with pytest.raises(PermissionDenied):
        start_run(world.db, scope=RunScope.ALL, actor=world.carrier_user)
    with pytest.raises(PermissionDenied):
        start_run(world.db, scope=RunScope.CARRIER, carrier=world.other_carrier, actor=world.carrier_user)
    with pytest.raises(PermissionDenied):
        start_run(world.db, scope=RunScope.CARRIER, carrier=world.carrier, actor=world.enterprise_user)
    own = start_run(world.db, scope=RunScope.CARRIER, carrier=world.carrier, actor=world.carrier_user)
    assert own.state == "queued"
    with pytest.raises(PermissionDenied):
        execute_run(world.db, own, actor=world.carrier_user, today=date.today())
    assert execute_run(world.db, own, actor=OPERATOR, today=date.today()).state == "done"
