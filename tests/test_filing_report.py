"""The national report: approved filings changed since the last report, as the national system's add, change and
delete operations; each report kept so the next continues from it; its rows in the upload format (IPv4 as 32-bit
integers); for regulators only, on the page and from the command line."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from openpyxl import load_workbook
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from accounts.models import AuditEvent, Organization, User
from core.errors import PermissionDenied
from core.policy import OPERATOR
from filing.choices import ReportOperation
from filing.models import Filing, FilingReport, FilingReportEntry, FilingVersion
from filing.operations import approve_filing, cancel_filing, change_filing, create_filing, submit_filing
from filing.report import CHINESE_NAMES, CODES, Change, Entry, division_levels, national_row, plan_entries
from filing.reports import make_report, report_rows
from ipam.operations import add_prefix
from tests.conftest import post_form

ADD, CHANGE, DELETE = ReportOperation.ADD, ReportOperation.CHANGE, ReportOperation.DELETE


# -- the rules, pure ---------------------------------------------------------------------------------------------


def test_a_first_approval_is_an_add_and_a_later_one_a_change() -> None:
    entries = plan_entries([Change(1, 1, reported=False), Change(2, 3, reported=True)], [])
    assert entries == [Entry(1, 1, ADD), Entry(2, 3, CHANGE)]


def test_only_the_latest_version_approved_in_the_window_is_reported() -> None:
    assert plan_entries([Change(1, 1, False), Change(1, 2, False)], []) == [Entry(1, 2, ADD)]


def test_a_cancellation_of_a_reported_filing_is_a_delete_of_the_version_that_stood() -> None:
    assert plan_entries([Change(1, 3, True)], [Change(1, 2, True)]) == [Entry(1, 2, DELETE)]


def test_a_filing_approved_and_cancelled_in_one_window_is_reported_as_nothing() -> None:
    assert plan_entries([Change(1, 1, False)], [Change(1, 1, False)]) == []


def test_division_codes_give_province_city_and_county() -> None:
    assert division_levels("120116") == ("120000", "120100", "120116")
    assert division_levels("120100") == ("120000", "120100", "")
    assert division_levels("120000") == ("120000", "", "")
    assert division_levels(None) == ("", "", "")


VALUES = {
    "filing_type": "assignment", "block": "10.0.0.0/24", "source_name": None, "user_name": "示例制造有限公司",
    "user_uscc": "91120000103100784F", "user_nature": "enterprise", "user_industry": "C", "user_division": "120116",
    "user_address": "天津市滨海新区", "usage": "static", "allocated_on": "2024-03-01", "gateway_ip": "10.0.0.1",
    "gateway_address": "机房A", "contact_name": "张三", "contact_phone": "022-12345678",
    "contact_email": "a@example.com", "remarks": None,
}  # fmt: skip
NAMES = {("nature", "enterprise"): "企业", ("industry", "C"): "制造业", ("usage", "static"): "静态"}


def test_ipv4_ends_are_32_bit_integers_with_the_dotted_text_beside() -> None:
    row = national_row("XZBA", "津IP备2026000001", 1, VALUES, NAMES)
    assert (row["Qsip"], row["Zzip"]) == (167772160, 167772415)
    assert (row["Qsipwb"], row["Zzipwb"]) == ("10.0.0.0", "10.0.0.255")
    assert (row["Czlx"], row["Babh"], row["Fpfs"], row["Fpdx"], row["Dwxz"], row["Hyfl"], row["Syfs"]) == (
        "XZBA", "津IP备2026000001", "指派", "示例制造有限公司", "企业", "制造业", "静态"
    )  # fmt: skip
    assert (row["Shengid"], row["Shiid"], row["Xianid"], row["Fprq"]) == ("120000", "120100", "120116", "2024-03-01")


def test_ipv6_ends_are_text() -> None:
    row = national_row("XGBA", "n", 2, {**VALUES, "block": "2001:db8:1::/48", "gateway_ip": None}, NAMES)
    assert (row["Qsip"], row["Zzip"]) == ("2001:db8:1::", "2001:db8:1:ffff:ffff:ffff:ffff:ffff")


# -- reports in the database ---------------------------------------------------------------------------------------


@pytest.fixture
def world(db: Session, create_org: Callable[..., Organization], create_user: Callable[..., User]) -> dict[str, Any]:
    carrier = create_org(kind="carrier", code="cmcc-tj", name="示例移动天津分公司")
    add_prefix(db, "10.0.0.0/16", actor=OPERATOR, kind="aggregate", holder=carrier)
    add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier)
    return {"carrier": carrier, "filer": create_user(role="carrier", organization=carrier),
            "regulator": create_user(role="regulator")}  # fmt: skip


def approved_holding(db: Session, world: dict[str, Any], block: str, **values: Any) -> Filing:
    filing = create_filing(
        db,
        {"filing_type": "holding", "block": block, "source_name": "APNIC", "user_name": world["carrier"].name,
         "usage": "static", "allocated_on": date(2024, 3, 1), "contact_name": "张三",
         "contact_phone": "022-12345678", **values},
        filer=world["carrier"], actor=world["filer"],
    )  # fmt: skip
    submit_filing(db, filing, actor=world["filer"])
    approve_filing(db, filing, actor=world["regulator"])
    return filing


def entries_of(db: Session, report: FilingReport) -> set[tuple[int, int, str]]:
    rows = db.execute(
        select(FilingReportEntry.filing_id, FilingReportEntry.version, FilingReportEntry.operation).where(
            FilingReportEntry.report_id == report.id
        )
    )
    return {tuple(row) for row in rows}  # type: ignore[misc]


def test_an_approved_filing_is_an_add_in_the_first_report(db: Session, world: dict[str, Any]) -> None:
    filing = approved_holding(db, world, "10.0.0.0/24")
    report = make_report(db, since=None, actor=world["regulator"])
    assert report.since is None and report.created_by == world["regulator"].username
    assert entries_of(db, report) == {(filing.id, 1, "XZBA")}
    assert report.counts == {"XZBA": 1, "XGBA": 0, "SCBA": 0}
    (row,) = report_rows(db, report)
    assert (row["Czlx"], row["Babh"], row["Qsip"], row["Zzip"]) == ("XZBA", filing.number, 167772160, 167772415)
    assert (row["Fpfs"], row["Syfs"], row["Lydw"]) == ("持有", "静态", "APNIC")


def test_a_change_approved_later_is_a_change_and_an_unchanged_filing_is_not_repeated(
    db: Session, world: dict[str, Any]
) -> None:
    changed = approved_holding(db, world, "10.0.0.0/24")
    unchanged = approved_holding(db, world, "2001:db8:1::/48")
    first = make_report(db, since=None, actor=world["regulator"])
    assert {e[0] for e in entries_of(db, first)} == {changed.id, unchanged.id}
    change_filing(db, changed, {"remarks": "网关迁移"}, actor=world["filer"])
    approve_filing(db, changed, actor=world["regulator"])
    second = make_report(db, since=None, actor=world["regulator"])
    assert second.since == first.through
    assert entries_of(db, second) == {(changed.id, 2, "XGBA")}
    (row,) = report_rows(db, second)
    assert row["Bz"] == "网关迁移" and row["Bbh"] == 2
    assert entries_of(db, make_report(db, since=None, actor=world["regulator"])) == set()


def test_a_cancellation_is_a_delete_in_the_next_report(db: Session, world: dict[str, Any]) -> None:
    filing = approved_holding(db, world, "10.0.0.0/24")
    make_report(db, since=None, actor=world["regulator"])
    cancel_filing(db, filing, actor=world["filer"], reason="returned to the carrier")
    report = make_report(db, since=None, actor=world["regulator"])
    assert entries_of(db, report) == {(filing.id, 1, "SCBA")}
    (row,) = report_rows(db, report)
    assert (row["Czlx"], row["Qsipwb"]) == ("SCBA", "10.0.0.0")


def test_a_filing_cancelled_before_it_was_ever_reported_is_left_out(db: Session, world: dict[str, Any]) -> None:
    filing = approved_holding(db, world, "10.0.0.0/24")
    cancel_filing(db, filing, actor=world["filer"])
    assert entries_of(db, make_report(db, since=None, actor=world["regulator"])) == set()


def test_only_regulators_make_reports_and_each_is_audited(db: Session, world: dict[str, Any]) -> None:
    approved_holding(db, world, "10.0.0.0/24")
    with pytest.raises(PermissionDenied):
        make_report(db, since=None, actor=world["filer"])
    report = make_report(db, since=None, actor=world["regulator"])
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "filing_report.create"))
    assert event is not None and event.object_id == str(report.id)
    assert event.actor_name == world["regulator"].username and event.changes["counts"][1]["XZBA"] == 1


# -- the pages ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["carrier", "enterprise", "allocator"])
def test_the_report_pages_are_for_regulators_only(
    client: FlaskClient, login_as: Callable[..., User], db: Session, world: dict[str, Any], role: str
) -> None:
    report = make_report(db, since=None, actor=world["regulator"])
    login_as(role)
    for url in ("/filings/reports", f"/filings/reports/{report.id}", f"/filings/reports/{report.id}.csv",
                f"/filings/reports/{report.id}.xlsx", f"/filings/reports/{report.id}.json"):  # fmt: skip
        assert client.get(url).status_code == 403
    assert client.post("/filings/reports", data={}).status_code == 403
    assert db.scalar(select(FilingReport).where(FilingReport.id != report.id)) is None


def test_a_regulator_makes_a_report_on_the_page_and_downloads_it(
    client: FlaskClient, login_as: Callable[..., User], db: Session, world: dict[str, Any]
) -> None:
    filing = approved_holding(db, world, "10.0.0.0/24", remarks="=1+1")
    login_as(world["regulator"])
    response = post_form(client, "/filings/reports", {"since": ""})
    assert response.status_code == 302
    report = db.scalar(select(FilingReport))
    assert report is not None and response.headers["Location"].endswith(f"/filings/reports/{report.id}")
    page = client.get(f"/filings/reports/{report.id}").get_data(as_text=True)
    assert filing.number in page and "XZBA" in page
    assert f"/filings/reports/{report.id}.xlsx" in client.get("/filings/reports").get_data(as_text=True)

    text = client.get(f"/filings/reports/{report.id}.csv").get_data(as_text=True)
    lines = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert lines[0] == list(CODES) and lines[1] == list(CHINESE_NAMES)
    row = dict(zip(CODES, lines[2], strict=True))
    assert (row["Czlx"], row["Qsip"], row["Zzip"], row["Bz"]) == ("XZBA", "167772160", "167772415", "'=1+1")

    sheet = load_workbook(io.BytesIO(client.get(f"/filings/reports/{report.id}.xlsx").data), read_only=True).active
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert cells[0] == list(CODES) and cells[1] == list(CHINESE_NAMES)
    xlsx_row = dict(zip(CODES, cells[2], strict=True))
    assert (xlsx_row["Qsip"], xlsx_row["Zzip"], xlsx_row["Bz"]) == (167772160, 167772415, "'=1+1")

    document = json.loads(client.get(f"/filings/reports/{report.id}.json").data)
    assert document["report"]["id"] == report.id and document["report"]["counts"]["XZBA"] == 1
    assert document["rows"][0]["Qsip"] == 167772160 and document["columns"]["Qsip"] == "起始IP"


def test_a_report_since_a_day_holds_only_what_was_approved_after_it(
    client: FlaskClient, login_as: Callable[..., User], db: Session, world: dict[str, Any]
) -> None:
    older = approved_holding(db, world, "10.0.0.0/24")
    newer = approved_holding(db, world, "10.0.1.0/24")
    db.execute(
        update(FilingVersion)
        .where(FilingVersion.filing_id == older.id)
        .values(decided_at=datetime(2024, 1, 1, tzinfo=UTC))
    )
    login_as(world["regulator"])
    assert post_form(client, "/filings/reports", {"since": "2025-01-01"}).status_code == 302
    report = db.scalar(select(FilingReport))
    assert report is not None and entries_of(db, report) == {(newer.id, 1, "XZBA")}
    assert "2025-01-01 00:00:00" in client.get(f"/filings/reports/{report.id}").get_data(as_text=True)  # China time


def test_a_report_cannot_start_in_the_future(
    client: FlaskClient, login_as: Callable[..., User], db: Session, world: dict[str, Any]
) -> None:
    login_as(world["regulator"])
    response = post_form(client, "/filings/reports", {"since": "2099-01-01"})
    assert response.status_code == 200 and 'data-field-error="since"' in response.get_data(as_text=True)
    assert db.scalar(select(FilingReport)) is None


# -- the command -------------------------------------------------------------------------------------------------


def test_the_report_command_makes_keeps_and_writes_a_report(
    runner: FlaskCliRunner, db: Session, world: dict[str, Any], tmp_path: Path
) -> None:
    filing = approved_holding(db, world, "10.0.0.0/24")
    output = tmp_path / "report.csv"
    result = runner.invoke(args=["filing", "report", "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert "XZBA 1, XGBA 0, SCBA 0" in result.output and str(output) in result.output
    lines = list(csv.reader(io.StringIO(output.read_text(encoding="utf-8-sig"))))
    assert lines[0] == list(CODES) and lines[2][:5] == ["XZBA", filing.number, "1", "167772160", "167772415"]
    assert db.scalar(select(FilingReport).where(FilingReport.created_by == "system:operator")) is not None

    again = runner.invoke(args=["filing", "report", "--json"])
    assert again.exit_code == 0, again.output
    document = json.loads(again.output)
    assert document["report"]["counts"] == {"XZBA": 0, "XGBA": 0, "SCBA": 0} and document["rows"] == []


def test_a_report_since_an_earlier_day_sends_that_stretch_again_as_it_was(
    runner: FlaskCliRunner, db: Session, world: dict[str, Any]
) -> None:
    approved_holding(db, world, "10.0.0.0/24")
    assert runner.invoke(args=["filing", "report", "--json"]).exit_code == 0
    result = runner.invoke(args=["filing", "report", "--since", "2000-01-01", "--json"])
    assert result.exit_code == 0, result.output
    assert [row["Czlx"] for row in json.loads(result.output)["rows"]] == ["XZBA"]
