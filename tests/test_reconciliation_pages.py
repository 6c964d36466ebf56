"""The reconciliation pages (both backends): starting a run of the city, a carrier or a block and landing on its
page once it is done; the run's counts, chart data, diff with the previous run and filtered findings table, in a
fixed number of statements; the exports; a finding beside both sides and what reviewers do about it, carried into
the next run; the regulators' dashboard figures; who sees which run and finding."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from flask import Flask, render_template
from flask.testing import FlaskClient
from flask_login import login_user
from openpyxl import load_workbook
from sqlalchemy import select

from accounts.models import User
from core.policy import OPERATOR
from filing.choices import FINDING_TYPE_LABELS, CaseState, RunScope
from filing.models import FindingCase, ReconciliationFinding, ReconciliationRun
from filing.permissions import RECONCILER
from filing.reconciliation import execute_run, start_run
from filing.reconciliation_exports import header
from ipam.operations import add_prefix
from tests.conftest import post_form
from tests.filing_support import FilingWorld
from tests.querycount import count_statements

Login = Callable[..., User]
LIST = "/filings/reconciliations"


def reconciled(world: FilingWorld, scope: RunScope = RunScope.ALL, **values: Any) -> ReconciliationRun:
    """A finished run, as the job leaves it."""
    started = start_run(world.db, scope=scope, actor=world.regulator, **values)
    return execute_run(world.db, started, actor=RECONCILER, today=date.today())


def run_url(run: ReconciliationRun, **args: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in args.items())
    return f"{LIST}/{run.id}" + (f"?{query}" if query else "")


def finding_of(
    world: FilingWorld, run: ReconciliationRun, kind: str, block: str | None = None
) -> ReconciliationFinding:
    statement = select(ReconciliationFinding).where(ReconciliationFinding.run_id == run.id,
                                                     ReconciliationFinding.type == kind)  # fmt: skip
    if block is not None:
        statement = statement.where(ReconciliationFinding.block == block)
    found = world.db.scalars(statement).first()
    assert found is not None
    return found


def listed_blocks(html: str) -> list[str]:
    """The findings table's rows, by the block each shows first."""
    rows = re.findall(r'data-testid="finding-row".*?<code>([^<]+)</code>', html, flags=re.S)
    return rows


def assigned_long_ago(world: FilingWorld, block: str) -> None:
    """An assignment of 2020, never filed: late."""
    prefix = add_prefix(world.db, block, actor=OPERATOR, kind="assignment", holder=world.enterprise)
    prefix.assigned_on = date(2020, 1, 6)
    world.db.flush()


def holding_and_mismatches(world: FilingWorld) -> None:
    """Beside the two unfiled sites: a holder mismatch (2001:db8:4::/48) and a size mismatch (2001:db8:5::/56)."""
    world.carrier_holding()
    add_prefix(world.db, "2001:db8:4::/48", actor=OPERATOR, kind="assignment", holder=world.enterprise)
    world.approved(world.carrier, "assignment", "2001:db8:4::/48", user=world.other_enterprise)
    add_prefix(world.db, "2001:db8:5::/56", actor=OPERATOR, kind="assignment", holder=world.enterprise)
    world.approved(world.carrier, "assignment", "2001:db8:5::/48")


def mismatches_reconciled(world: FilingWorld, login_as: Login) -> ReconciliationRun:
    """A run of the city over the two unfiled sites and the mismatches, a regulator signed in."""
    holding_and_mismatches(world)
    run = reconciled(world)
    login_as(world.regulator)
    return run


# -- starting a run ------------------------------------------------------------------------------------------------


def test_a_regulator_starts_a_run_of_the_city_and_lands_on_its_page_once_it_is_done(
    world: FilingWorld, client: FlaskClient, login_as: Login
) -> None:
    login_as(world.regulator)
    response = post_form(client, LIST, {"scope": "all"})
    assert response.status_code == 302
    assert re.fullmatch(rf"{LIST}/\d+", response.headers["Location"])
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-state="done"' in page
    assert re.search(r'data-testid="count-unfiled">\s*<a [^>]*>2</a>', page)
    assert "data-refresh-after" not in page


def test_a_regulator_starts_a_run_of_one_carrier(world: FilingWorld, client: FlaskClient, login_as: Login) -> None:
    login_as(world.regulator)
    response = post_form(client, LIST, {"scope": "carrier", "carrier": str(world.other_carrier.id)})
    assert response.status_code == 302
    run = world.db.scalars(select(ReconciliationRun)).one()
    assert (run.scope, run.carrier_id) == ("carrier", world.other_carrier.id)


def test_a_regulator_starts_a_run_of_one_registered_block(
    world: FilingWorld, client: FlaskClient, login_as: Login
) -> None:
    login_as(world.regulator)
    response = post_form(client, LIST, {"scope": "block", "block": "2001:db8:1::/48"})
    assert response.status_code == 302
    run = world.db.scalars(select(ReconciliationRun)).one()
    assert (run.scope, run.block_id) == ("block", world.site.id)


@pytest.mark.parametrize(
    ("values", "field", "text"),
    [
        ({"scope": "block", "block": "2001:db8:77::/48"}, "block", "2001:db8:77::/48"),
        ({"scope": "block", "block": "2001:db8:1::/47"}, "block", "2001:db8:1::/47"),
        ({"scope": "block", "block": ""}, "block", None),
        ({"scope": "carrier", "carrier": ""}, "carrier", None),
    ],
)
def test_a_scope_that_names_nothing_is_an_error_beside_its_field_and_starts_nothing(
    world: FilingWorld, client: FlaskClient, login_as: Login, values: dict[str, str], field: str, text: str | None
) -> None:
    login_as(world.regulator)
    response = post_form(client, LIST, values)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'data-field-error="{field}"' in html
    if text is not None:
        assert text in html
    assert world.db.scalars(select(ReconciliationRun)).first() is None


def test_a_carrier_starts_a_run_of_its_own_records_whatever_it_sends(
    world: FilingWorld, client: FlaskClient, login_as: Login
) -> None:
    login_as(world.carrier_user)
    page = client.get(LIST).get_data(as_text=True)
    assert 'name="scope"' not in page and 'data-testid="start-run"' in page
    response = post_form(client, LIST, {"scope": "all", "carrier": str(world.other_carrier.id)})
    assert response.status_code == 302
    run = world.db.scalars(select(ReconciliationRun)).one()
    assert (run.scope, run.carrier_id, run.state) == ("carrier", world.carrier.id, "done")


def test_starting_a_run_needs_the_forms_token(world: FilingWorld, client: FlaskClient, login_as: Login) -> None:
    login_as(world.regulator)
    assert client.post(LIST, data={"scope": "all"}).status_code == 400
    assert world.db.scalars(select(ReconciliationRun)).first() is None


def test_the_list_shows_each_run_its_scope_state_starter_and_counts(
    world: FilingWorld, client: FlaskClient, login_as: Login
) -> None:
    city = reconciled(world)
    queued = start_run(world.db, scope=RunScope.CARRIER, carrier=world.carrier, actor=world.regulator)
    login_as(world.regulator)
    page = client.get(LIST).get_data(as_text=True)
    rows = re.findall(r'<tr data-testid="run-row" data-run="(\d+)">(.*?)</tr>', page, flags=re.S)
    assert [int(run_id) for run_id, _ in rows] == [queued.id, city.id]
    assert "海星通信测试" in rows[0][1] and 'data-state="queued"' in rows[0][1]
    assert world.regulator.display_name in rows[1][1] and 'data-state="done"' in rows[1][1]
    assert re.search(r'<td class="text-end">2</td>', rows[1][1])  # the two unfiled sites


# -- a run's page --------------------------------------------------------------------------------------------------


def test_a_queued_run_page_refreshes_itself_and_shows_no_findings_yet(
    world: FilingWorld, client: FlaskClient, login_as: Login
) -> None:
    queued = start_run(world.db, scope=RunScope.ALL, actor=world.regulator)
    login_as(world.regulator)
    page = client.get(run_url(queued)).get_data(as_text=True)
    assert 'data-refresh-after="3"' in page and 'data-state="queued"' in page
    assert 'data-testid="finding-list"' not in page
    assert "<script>" not in page  # the refresh is the page script's (no inline script under the CSP)


def test_a_run_page_shows_what_was_compared_and_the_counts_by_carrier_as_chart_data_and_table(
    world: FilingWorld, client: FlaskClient, login_as: Login
) -> None:
    run = mismatches_reconciled(world, login_as)
    page = client.get(run_url(run)).get_data(as_text=True)
    assert f"{run.records} 条登记记录" in page or f"{run.records} registry records" in page
    chart = json.loads(re.search(r'<script type="application/json" id="carrier-chart-data">(.*?)</script>', page,
                                 flags=re.S).group(1))  # fmt: skip
    assert chart["labels"] == ["海星通信测试"]
    by_type = {d["label"]: d["data"][0] for d in chart["datasets"]}
    assert sorted(by_type.values(), reverse=True)[:3] == [2, 1, 1]
    table = re.search(r'data-testid="carrier-numbers">(.*?)</table>', page, flags=re.S).group(1)
    assert f"carrier={world.carrier.id}" in table and "type=unfiled" in table


def test_the_counts_by_type_link_to_the_findings_of_that_type(
    world: FilingWorld, client: FlaskClient, login_as: Login
) -> None:
    run = mismatches_reconciled(world, login_as)
    page = client.get(run_url(run)).get_data(as_text=True)
    assert "type=holder-mismatch#findings" in page
    listed = client.get(run_url(run, type="holder-mismatch")).get_data(as_text=True)
    assert listed_blocks(listed) == ["2001:db8:4::/48"]


@pytest.mark.parametrize(
    ("args", "blocks"),
    [
        ({}, ["2001:db8:1::/48", "2001:db8:2::/48", "2001:db8:4::/48", "2001:db8:5::/56"]),
        ({"type": "unfiled"}, ["2001:db8:1::/48", "2001:db8:2::/48"]),
        ({"district": "120116"}, ["2001:db8:1::/48", "2001:db8:4::/48", "2001:db8:5::/56"]),
        ({"district": "1201"}, ["2001:db8:1::/48", "2001:db8:4::/48", "2001:db8:5::/56"]),
        ({"district": "1202"}, []),
        ({"holder": "海河精密"}, ["2001:db8:2::/48"]),
        ({"min_days": "0", "type": "unfiled"}, ["2001:db8:1::/48", "2001:db8:2::/48"]),
        ({"min_days": "100000"}, []),
        ({"late": "y"}, []),
        ({"case": "acknowledged"}, []),
        ({"type": "lease", "district": "12-01", "min_days": "many"}, None),  # names nothing: left out
    ],
)
def test_the_findings_table_filters(
    world: FilingWorld, client: FlaskClient, login_as: Login, args: dict[str, str], blocks: list[str] | None
) -> None:
    run = mismatches_reconciled(world, login_as)
    response = client.get(run_url(run, **args))
    assert response.status_code == 200
    everything = ["2001:db8:1::/48", "2001:db8:2::/48", "2001:db8:4::/48", "2001:db8:5::/56"]
    assert listed_blocks(response.get_data(as_text=True)) == (everything if blocks is None else blocks)


def test_the_findings_table_filters_by_carrier_holder_uscc_and_case(
    world: FilingWorld, client: FlaskClient, login_as: Login
) -> None:
    add_prefix(world.db, "192.0.2.0/28", actor=OPERATOR, kind="assignment", holder=world.other_enterprise)
    run = reconciled(world)
    acknowledged = finding_of(world, run, "unfiled", "2001:db8:1::/48")
    world.db.add(FindingCase(fingerprint=acknowledged.fingerprint, carrier_id=world.carrier.id, state="acknowledged"))
    world.db.flush()
    login_as(world.regulator)
    by_carrier = client.get(run_url(run, carrier=str(world.other_carrier.id))).get_data(as_text=True)
    assert listed_blocks(by_carrier) == ["192.0.2.0/28"]
    by_uscc = client.get(run_url(run, holder=world.enterprise.uscc)).get_data(as_text=True)
    assert listed_blocks(by_uscc) == ["2001:db8:1::/48"]
    still_open = client.get(run_url(run, case="open")).get_data(as_text=True)
    assert listed_blocks(still_open) == ["192.0.2.0/28", "2001:db8:2::/48"]


def test_the_findings_table_shows_the_age_in_working_days_and_late_ones_in_red(
    world: FilingWorld, client: FlaskClient, login_as: Login
) -> None:
    assigned_long_ago(world, "2001:db8:8::/48")
    run = reconciled(world)
    login_as(world.regulator)
    page = client.get(run_url(run, late="y")).get_data(as_text=True)
    assert listed_blocks(page) == ["2001:db8:8::/48"]
    assert re.search(r'<span class="text-danger[^"]*" data-testid="late">\d+ ', page)


def test_the_findings_table_reads_a_page_in_a_fixed_number_of_statements(
    app: Flask, world: FilingWorld, client: FlaskClient, login_as: Login
) -> None:
    reconciled(world)  # each measured run has a previous one to be compared with
    login_as(world.regulator)

    def statements(first: int, n: int) -> int:
        for i in range(n):
            add_prefix(world.db, f"2001:db8:{first + i:x}::/48", actor=OPERATOR, kind="assignment",
                       holder=world.other_enterprise)  # fmt: skip
        run = reconciled(world)
        found = world.db.scalars(select(ReconciliationFinding).where(ReconciliationFinding.run_id == run.id)).all()
        for finding in found[::2]:  # a case on every other finding, some assigned
            if world.db.scalar(select(FindingCase).where(FindingCase.fingerprint == finding.fingerprint)) is None:
                world.db.add(FindingCase(fingerprint=finding.fingerprint, carrier_id=world.carrier.id,
                                         state="assigned", assignee_id=world.carrier_user.id))  # fmt: skip
        world.db.flush()
        with app.app_context(), count_statements() as log:
            assert client.get(run_url(run)).status_code == 200
        return log.count

    assert statements(0x100, 1) == statements(0x200, 10)


# -- the diff with the previous run --------------------------------------------------------------------------------


def test_the_diff_with_the_previous_run_links_to_the_new_resolved_and_still_open_findings(
    world: FilingWorld, client: FlaskClient, login_as: Login
) -> None:
    first = reconciled(world)
    world.site_assignment()  # 2001:db8:1::/48 filed: resolved
    add_prefix(world.db, "2001:db8:9::/48", actor=OPERATOR, kind="assignment", holder=world.enterprise)  # new
    second = reconciled(world)
    login_as(world.regulator)
    page = client.get(run_url(second)).get_data(as_text=True)
    assert f"#{first.id}" in page
    for change, count, blocks in (("new", 1, ["2001:db8:9::/48"]), ("resolved", 1, ["2001:db8:1::/48"]),
                                  ("still_open", 1, ["2001:db8:2::/48"])):  # fmt: skip
        testid = f"diff-{change.replace('_', '-')}"
        link = re.search(rf'<a href="([^"]+)" data-testid="{testid}">\D*(\d+)', page)
        assert link is not None and int(link.group(2)) == count
        listed = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
        assert listed_blocks(listed) == blocks, change


def test_the_first_run_of_a_scope_has_nothing_to_compare_with(
    world: FilingWorld, client: FlaskClient, login_as: Login
) -> None:
    reconciled(world, RunScope.CARRIER, carrier=world.other_carrier)
    run = reconciled(world)
    login_as(world.regulator)
    page = client.get(run_url(run, change="resolved")).get_data(as_text=True)
    assert 'data-testid="no-previous"' in page
    assert len(listed_blocks(page)) == 2  # the change names nothing without a previous run: every finding


# -- exports -------------------------------------------------------------------------------------------------------


def test_the_csv_export_holds_every_filtered_finding_with_its_case(
    world: FilingWorld, client: FlaskClient, login_as: Login, app: Flask
) -> None:
    run = mismatches_reconciled(world, login_as)
    app.config["PAGE_SIZE"] = 1  # the export is not the page
    response = client.get(f"{LIST}/{run.id}/findings.csv?type=unfiled")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert f"reconciliation-{run.id}-findings.csv" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    with app.test_request_context():
        assert rows[0] == header()
        unfiled, still_open = str(FINDING_TYPE_LABELS["unfiled"]), str(CaseState.OPEN.label)
    assert [(row[0], row[1], row[14]) for row in rows[1:]] == [(unfiled, "2001:db8:1::/48", still_open),
                                                                (unfiled, "2001:db8:2::/48", still_open)]  # fmt: skip


def test_the_xlsx_export_holds_the_filtered_findings_and_runs_no_formula(
    world: FilingWorld, client: FlaskClient, login_as: Login, create_org: Callable[..., Any]
) -> None:
    formula = create_org(kind="enterprise", name='=HYPERLINK("http://x")')
    add_prefix(world.db, "2001:db8:6::/48", actor=OPERATOR, kind="assignment", holder=formula)
    run = reconciled(world)
    login_as(world.regulator)
    response = client.get(f"{LIST}/{run.id}/findings.xlsx?holder=HYPERLINK")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert len(values) == 2 and values[1][1] == "2001:db8:6::/48"
    assert values[1][5] == '\'=HYPERLINK("http://x")'
    csv_text = client.get(f"{LIST}/{run.id}/findings.csv?holder=HYPERLINK").get_data(as_text=True)
    assert "'=HYPERLINK" in csv_text


# -- a finding -----------------------------------------------------------------------------------------------------


def test_a_finding_shows_both_sides_the_differing_fields_marked_and_links_to_both(
    world: FilingWorld, client: FlaskClient, login_as: Login
) -> None:
    finding = finding_of(world, mismatches_reconciled(world, login_as), "holder-mismatch")
    page = client.get(f"{LIST}/findings/{finding.id}").get_data(as_text=True)
    rows = re.findall(r'<tr class="([^"]*)" data-testid="side-row"[^>]*>(.*?)</tr>', page, flags=re.S)
    marked = {re.search(r'data-field="(\w+)"', cells).group(1) for css, cells in rows if "table-warning" in css}
    assert {"name", "uscc"} <= marked and "block" not in marked
    assert "津沽智能测试" in page and "海河精密测试" in page
    assert f'href="/prefixes/{finding.prefix_id}"' in page
    assert f'href="/filings/{finding.filing_id}"' in page


def test_a_size_mismatch_lists_what_was_filed_beyond_the_record(
    world: FilingWorld, client: FlaskClient, login_as: Login
) -> None:
    finding = finding_of(world, mismatches_reconciled(world, login_as), "size-mismatch")
    page = client.get(f"{LIST}/findings/{finding.id}").get_data(as_text=True)
    extra = re.search(r'data-testid="extra">(.*?)</ul>', page, flags=re.S).group(1)
    assert "2001:db8:5:100::/56" in extra and "2001:db8:5:8000::/49" in extra
    assert 'data-field="block"' in page and re.search(r'class="table-warning"[^>]*>\s*<th[^>]*>地址块', page)


def unfiled_finding_url(world: FilingWorld, login_as: Login, block: str | None = None) -> str:
    """The address of an unfiled finding of a fresh run of the city, a regulator signed in."""
    finding = finding_of(world, reconciled(world), "unfiled", block)
    login_as(world.regulator)
    return f"{LIST}/findings/{finding.id}"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"action": "acknowledge", "comment": "  "}, "comment"),
        ({"action": "assign", "comment": "请核对"}, "assignee"),
        ({"action": "assign", "comment": "请核对", "assignee": "enterprise"}, "assignee"),  # not offered
    ],
)
def test_a_step_without_its_comment_or_assignee_is_refused_beside_the_field_and_writes_nothing(
    world: FilingWorld, client: FlaskClient, login_as: Login, values: dict[str, str], field: str
) -> None:
    url = unfiled_finding_url(world, login_as)
    if values.get("assignee") == "enterprise":
        values = {**values, "assignee": str(world.enterprise_user.id)}
    response = post_form(client, url, values)
    assert response.status_code == 200
    assert f'data-field-error="{field}"' in response.get_data(as_text=True)
    assert world.db.scalars(select(FindingCase)).first() is None


def test_an_acknowledged_finding_shows_its_comment_and_history_and_stays_acknowledged_in_the_next_run(
    world: FilingWorld, client: FlaskClient, login_as: Login
) -> None:
    url = unfiled_finding_url(world, login_as, "2001:db8:1::/48")
    response = post_form(client, url, {"action": "acknowledge", "comment": "合同在办理中"})
    assert response.status_code == 302 and response.headers["Location"] == url
    page = client.get(url).get_data(as_text=True)
    assert 'data-state="acknowledged"' in page and "合同在办理中" in page
    assert 'data-action="finding.acknowledge"' in page
    assert 'data-testid="case-reopen"' in page and 'data-testid="case-acknowledge"' not in page
    later = reconciled(world)
    again = finding_of(world, later, "unfiled", "2001:db8:1::/48")
    listed = client.get(run_url(later, case="acknowledged")).get_data(as_text=True)
    assert listed_blocks(listed) == ["2001:db8:1::/48"]
    assert "合同在办理中" in client.get(f"{LIST}/findings/{again.id}").get_data(as_text=True)


def test_a_finding_is_assigned_to_someone_of_the_carrier_then_reopened(
    world: FilingWorld, client: FlaskClient, login_as: Login
) -> None:
    url = unfiled_finding_url(world, login_as)
    page = client.get(url).get_data(as_text=True)
    assert f'value="{world.carrier_user.id}"' in page and f'value="{world.other_carrier_user.id}"' not in page
    assert f'value="{world.enterprise_user.id}"' not in page
    response = post_form(client, url, {"action": "assign", "comment": "请核对", "assignee": str(world.carrier_user.id)})
    assert response.status_code == 302
    case = world.db.scalars(select(FindingCase)).one()
    assert (case.state, case.assignee_id) == ("assigned", world.carrier_user.id)
    assert world.carrier_user.display_name in client.get(url).get_data(as_text=True)
    assert post_form(client, url, {"action": "reopen"}).status_code == 302
    world.db.refresh(case)
    assert (case.state, case.assignee_id) == ("open", None)


def test_a_step_the_case_does_not_allow_now_is_refused_on_the_page(
    world: FilingWorld, client: FlaskClient, login_as: Login
) -> None:
    url = unfiled_finding_url(world, login_as)
    response = post_form(client, url, {"action": "reopen"})
    assert response.status_code == 200
    assert 'data-testid="form-errors"' in response.get_data(as_text=True)
    assert post_form(client, url, {"action": "delete"}).status_code == 400


# -- who sees what -------------------------------------------------------------------------------------------------


def test_a_carrier_sees_only_its_own_runs_and_the_findings_about_it(
    world: FilingWorld, client: FlaskClient, login_as: Login
) -> None:
    add_prefix(world.db, "192.0.2.0/28", actor=OPERATOR, kind="assignment", holder=world.other_enterprise)
    city = reconciled(world)
    own = reconciled(world, RunScope.CARRIER, carrier=world.other_carrier)
    others = reconciled(world, RunScope.CARRIER, carrier=world.carrier)
    login_as(world.other_carrier_user)
    listed = client.get(LIST).get_data(as_text=True)
    assert re.findall(r'data-testid="run-row" data-run="(\d+)"', listed) == [str(own.id)]
    assert client.get(run_url(city)).status_code == 404
    assert client.get(run_url(others)).status_code == 404
    assert client.get(f"{LIST}/{others.id}/findings.csv").status_code == 404
    assert client.get(f"{LIST}/findings/{finding_of(world, others, 'unfiled').id}").status_code == 404
    mine = finding_of(world, city, "unfiled", "192.0.2.0/28")
    page = client.get(f"{LIST}/findings/{mine.id}").get_data(as_text=True)
    assert 'data-testid="back-to-run"' not in page  # the city's run is the regulators'
    assert listed_blocks(client.get(run_url(own)).get_data(as_text=True)) == ["192.0.2.0/28"]


def test_a_carrier_cannot_act_on_another_carriers_finding(
    world: FilingWorld, client: FlaskClient, login_as: Login
) -> None:
    finding = finding_of(world, reconciled(world), "unfiled")
    login_as(world.other_carrier_user)
    token_page = client.get(LIST)
    assert token_page.status_code == 200
    response = post_form(client, f"{LIST}/findings/{finding.id}", {"action": "acknowledge", "comment": "x"},
                         form_page=LIST)  # fmt: skip
    assert response.status_code == 404


def test_an_enterprise_is_refused_every_reconciliation_page(
    world: FilingWorld, client: FlaskClient, login_as: Login
) -> None:
    run = reconciled(world)
    finding = finding_of(world, run, "unfiled")
    login_as(world.enterprise_user)
    for url in (LIST, run_url(run), f"{LIST}/{run.id}/findings.csv", f"{LIST}/{run.id}/findings.xlsx",
                f"{LIST}/findings/{finding.id}"):  # fmt: skip
        assert client.get(url).status_code == 403, url
    assert client.post(LIST, data={"scope": "all"}).status_code == 403


# -- the regulators' dashboard -------------------------------------------------------------------------------------


def dashboard_part(app: Flask, user: User) -> str:
    with app.test_request_context("/"):
        login_user(user)
        return render_template("reconciliation/_dashboard.html")


def test_the_dashboard_part_invites_a_first_run(app: Flask, world: FilingWorld) -> None:
    html = dashboard_part(app, world.regulator)
    assert 'data-testid="no-reconciliation"' in html and f'href="{LIST}"' in html


def test_the_dashboard_part_shows_the_latest_city_runs_unfiled_and_late_blocks_by_carrier(
    app: Flask, world: FilingWorld
) -> None:
    assigned_long_ago(world, "2001:db8:8::/48")
    reconciled(world, RunScope.CARRIER, carrier=world.carrier)
    city = reconciled(world)
    html = dashboard_part(app, world.regulator)
    assert f"{LIST}/{city.id}" in html
    row = re.search(r'data-testid="reconciliation-carrier">(.*?)</tr>', html, flags=re.S).group(1)
    assert "海星通信测试" in row
    assert re.findall(r">(\d+)</a>", row) == ["3", "1"]
