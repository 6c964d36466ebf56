"""``flask reconcile``: the operator reconciles the city, a carrier or a block at once, watching a count of what it
has read on standard error; the run is kept, its counts printed as tables, or with ``--json`` the run's id, its
counts and every finding it stored on standard output. An unknown carrier or block exits 1 and keeps nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from core.policy import OPERATOR
from filing.models import ReconciliationFinding, ReconciliationRun
from ipam.operations import add_prefix
from tests.filing_support import FilingWorld

NOTHING = {"matched": 0, "unfiled": 0, "filed-not-assigned": 0, "holder-mismatch": 0, "size-mismatch": 0,
           "overlapping-filings": 0, "outside-aggregate": 0}  # fmt: skip


def reconcile(runner: FlaskCliRunner, world: FilingWorld, *args: str) -> Any:
    world.db.commit()
    return runner.invoke(args=["reconcile", *args])


def document(runner: FlaskCliRunner, world: FilingWorld, *args: str) -> dict[str, Any]:
    result = reconcile(runner, world, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def stored(world: FilingWorld, block: str) -> ReconciliationFinding:
    world.db.expire_all()
    found = world.db.scalar(select(ReconciliationFinding).where(ReconciliationFinding.block == block))
    assert found is not None
    return found


def runs_stored(world: FilingWorld) -> int:
    return world.db.scalar(select(func.count()).select_from(ReconciliationRun)) or 0


def test_the_json_holds_the_run_its_counts_and_every_stored_finding(runner: FlaskCliRunner, world: FilingWorld) -> None:
    world.site_assignment()  # matched: counted, not listed
    filed = world.approved(world.carrier, "assignment", "2001:db8:3::/48")  # filed, never assigned
    add_prefix(world.db, "2001:db8:5::/56", actor=OPERATOR, kind="assignment", holder=world.enterprise)
    sized = world.approved(world.carrier, "assignment", "2001:db8:5::/48")  # filed /48, assigned /56
    printed = document(runner, world)
    unfiled, free, size = (stored(world, block) for block in ("2001:db8:2::/48", "2001:db8:3::/48",
                                                              "2001:db8:5::/56"))  # fmt: skip
    assert printed == {
        "run": unfiled.run_id,
        "counts": {**NOTHING, "matched": 1, "unfiled": 1, "filed-not-assigned": 1, "size-mismatch": 1},
        "findings": [
            {"type": "unfiled", "blocks": ["2001:db8:2::/48"], "prefix_id": world.other_site.id, "filing_id": None,
             "other_filing_id": None, "carrier": "hx", "district": None, "working_days": unfiled.working_days,
             "late": unfiled.late, "extra": [], "missing": [], "others": [], "fingerprint": unfiled.fingerprint},
            {"type": "filed-not-assigned", "blocks": ["2001:db8:3::/48"], "prefix_id": None, "filing_id": filed.id,
             "other_filing_id": None, "carrier": "hx", "district": "120116", "working_days": None, "late": False,
             "extra": [], "missing": [], "others": [], "fingerprint": free.fingerprint},
            {"type": "size-mismatch", "blocks": ["2001:db8:5::/56", "2001:db8:5::/48"], "prefix_id": size.prefix_id,
             "filing_id": sized.id, "other_filing_id": None, "carrier": "hx", "district": "120116",
             "working_days": None, "late": False, "extra": size.details["extra"], "missing": [], "others": [],
             "fingerprint": size.fingerprint},
        ],
    }  # fmt: skip
    assert len(size.details["extra"]) == 8  # the /48 less its first /56: /56, /55, …, /49


def test_the_json_of_a_run_without_findings_is_still_a_document(runner: FlaskCliRunner, world: FilingWorld) -> None:
    printed = document(runner, world, "--carrier", "jc")
    assert printed["counts"] == NOTHING and printed["findings"] == []


def test_the_run_is_kept_done_as_the_operator_started_it(runner: FlaskCliRunner, world: FilingWorld) -> None:
    printed = document(runner, world)
    world.db.expire_all()
    run = world.db.get(ReconciliationRun, printed["run"])
    assert run is not None and run.state == "done" and run.scope == "all" and run.started_by_name == OPERATOR.username
    assert (run.records, run.filings) == (2, 0)


def test_the_count_of_what_was_read_goes_to_standard_error_not_into_the_json(
    runner: FlaskCliRunner, world: FilingWorld
) -> None:
    result = reconcile(runner, world, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["counts"]["unfiled"] == 2
    assert "2" in result.stderr and "0" in result.stderr and result.stderr.startswith("\r")


def test_the_summary_counts_by_type_and_by_carrier(runner: FlaskCliRunner, world: FilingWorld) -> None:
    add_prefix(world.db, "192.0.2.0/28", actor=OPERATOR, kind="assignment", holder=world.other_enterprise)
    result = reconcile(runner, world)
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.stdout.splitlines()]
    assert ["type", "count"] in lines and ["unfiled", "3"] in lines and ["matched", "0"] in lines
    by_carrier = lines[lines.index(["carrier", "type", "count"]) + 1 :]
    assert by_carrier == [["hx", "unfiled", "2"], ["jc", "unfiled", "1"]]


def test_a_carriers_run_compares_only_its_own_records(runner: FlaskCliRunner, world: FilingWorld) -> None:
    add_prefix(world.db, "192.0.2.0/28", actor=OPERATOR, kind="assignment", holder=world.other_enterprise)
    printed = document(runner, world, "--carrier", "jc")
    assert [(f["type"], f["blocks"], f["carrier"]) for f in printed["findings"]] == [
        ("unfiled", ["192.0.2.0/28"], "jc")
    ]


def test_a_blocks_run_compares_only_what_lies_inside_it(runner: FlaskCliRunner, world: FilingWorld) -> None:
    add_prefix(world.db, "192.0.2.0/28", actor=OPERATOR, kind="assignment", holder=world.other_enterprise)
    printed = document(runner, world, "--block", "2001:db8::/32")
    assert [f["blocks"] for f in printed["findings"]] == [["2001:db8:1::/48"], ["2001:db8:2::/48"]]


@pytest.mark.parametrize(
    "args",
    [("--carrier", "no-such"), ("--block", "2001:db8:77::/48"), ("--block", "not-a-block")],
    ids=["unknown carrier", "unregistered block", "not a block"],
)
def test_an_unknown_scope_exits_1_with_one_line_and_keeps_nothing(
    runner: FlaskCliRunner, world: FilingWorld, args: tuple[str, str]
) -> None:
    result = reconcile(runner, world, *args, "--json")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert runs_stored(world) == 0


def test_a_carrier_and_a_block_together_are_a_usage_error(runner: FlaskCliRunner, world: FilingWorld) -> None:
    result = reconcile(runner, world, "--carrier", "hx", "--block", "2001:db8::/32")
    assert result.exit_code == 2 and runs_stored(world) == 0
