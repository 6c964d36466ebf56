"""Exports of the filing list as CSV and Excel: the domain notes' headers (English for an English reader), values
as the reader reads them, exactly the filings the caller may see under the list's filters, and no cell a
spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from accounts.models import Organization, User
from core.policy import OPERATOR
from filing.choices import FilingState
from filing.exports import COLUMNS, filter_from_args
from filing.models import Filing
from filing.operations import approve_filing, create_filing, submit_filing
from filing.queries import FilingFilter
from ipam.operations import add_prefix
from tests.conftest import post_form

CHINESE_HEADER = [
    "起始IP", "终止IP", "分配方式", "使用单位名称", "统一社会信用代码", "单位性质", "行业分类", "所在地区代码", "单位详细地址",
    "IP使用方式", "分配使用时间", "网关IP", "网关所在地址", "来源单位", "联系人姓名", "联系电话", "电子邮件", "备注",
    "备案号", "状态", "版本", "备案单位", "截止日期",
]  # fmt: skip


# -- the filters, from a query string ------------------------------------------------------------------------------


def test_the_filters_are_read_from_the_query_string() -> None:
    args = {"state": "approved", "type": "assignment", "filer": "7", "district": "1201", "family": "6",
            "since": "2024-01-01", "until": "2024-12-31", "due": "overdue", "q": " 2001:db8:: ", "view": "queue"}  # fmt: skip
    assert filter_from_args(args) == FilingFilter(
        state="approved", filing_type="assignment", filer=7, district="1201", family=6, since=date(2024, 1, 1),
        until=date(2024, 12, 31), due="overdue", q="2001:db8::", queue=True,
    )  # fmt: skip


def test_filter_values_that_name_nothing_are_ignored() -> None:
    args = {"state": "deleted", "type": "lease", "filer": "99999999999", "district": "12-01", "family": "5",
            "since": "2024-02-30", "until": "yesterday", "due": "soon", "q": "   ", "view": "all"}  # fmt: skip
    assert filter_from_args(args) == FilingFilter()


# -- the exports ---------------------------------------------------------------------------------------------------


@pytest.fixture
def world(db: Session, create_org: Callable[..., Organization], create_user: Callable[..., User]) -> dict[str, Any]:
    carriers = {}
    for code, block in (("cmcc-tj", "10.0.0.0/16"), ("cu-tj", "10.1.0.0/16")):
        carrier = create_org(kind="carrier", code=code, name=f"{code} 分公司")
        add_prefix(db, block, actor=OPERATOR, kind="aggregate", holder=carrier)
        carriers[code] = (carrier, create_user(role="carrier", organization=carrier))
    return {"carriers": carriers, "regulator": create_user(role="regulator")}


def holding(db: Session, world: dict[str, Any], code: str, block: str, *, approve: bool = True,
            **values: Any) -> Filing:  # fmt: skip
    carrier, filer = world["carriers"][code]
    filing = create_filing(
        db,
        {"filing_type": "holding", "block": block, "source_name": "APNIC", "user_name": carrier.name,
         "usage": "static", "allocated_on": date(2024, 3, 1), "contact_name": "张三",
         "contact_phone": "022-12345678", **values},
        filer=carrier, actor=filer,
    )  # fmt: skip
    if approve:
        submit_filing(db, filing, actor=filer)
        approve_filing(db, filing, actor=world["regulator"])
    return filing


def state_label(app: Flask, state: FilingState) -> str:
    """The state as a Chinese reader reads it (from the catalog)."""
    with app.test_request_context():
        return state.label


def csv_table(client: FlaskClient, query: str = "") -> list[list[str]]:
    response = client.get(f"/filings/export.csv{query}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).removeprefix("\ufeff"))))


def xlsx_table(client: FlaskClient, query: str = "") -> list[list[Any]]:
    response = client.get(f"/filings/export.xlsx{query}")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data), read_only=True).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_an_export_holds_the_filings_with_chinese_headers_and_values_as_read(
    app: Flask, client: FlaskClient, login_as: Callable[..., User], db: Session, world: dict[str, Any]
) -> None:
    filing = holding(db, world, "cmcc-tj", "10.0.0.0/24")
    login_as(world["carriers"]["cmcc-tj"][1])
    header, row = csv_table(client)
    assert header == CHINESE_HEADER
    values = dict(zip(header, row, strict=True))
    assert (values["起始IP"], values["终止IP"], values["分配方式"], values["IP使用方式"]) == (
        "10.0.0.0", "10.0.0.255", "持有", "静态"
    )  # fmt: skip
    assert (values["备案号"], values["状态"], values["版本"], values["备案单位"]) == (
        filing.number, state_label(app, FilingState.APPROVED), "1", "cmcc-tj 分公司"
    )  # fmt: skip
    assert values["分配使用时间"] == "2024-03-01" and values["截止日期"] == filing.due_on.isoformat()
    sheet = xlsx_table(client)
    assert sheet[0] == CHINESE_HEADER and sheet[1][0] == "10.0.0.0" and sheet[1][CHINESE_HEADER.index("版本")] == 1


def test_an_english_reader_gets_english_headers_and_names(
    client: FlaskClient, login_as: Callable[..., User], db: Session, world: dict[str, Any]
) -> None:
    holding(db, world, "cmcc-tj", "10.0.0.0/24")
    login_as(world["carriers"]["cmcc-tj"][1])
    post_form(client, "/language", {"language": "en"}, form_page="/filings")
    header, row = csv_table(client)
    assert header[:3] == ["First address", "Last address", "Type of filing"] and len(header) == len(COLUMNS)
    values = dict(zip(header, row, strict=True))
    assert (values["Type of filing"], values["Use of the addresses"], values["State"]) == (
        "Holding", "Static", "Approved"
    )  # fmt: skip


def test_a_filers_export_holds_only_its_own_filings(
    client: FlaskClient, login_as: Callable[..., User], db: Session, world: dict[str, Any]
) -> None:
    holding(db, world, "cmcc-tj", "10.0.0.0/24")
    holding(db, world, "cu-tj", "10.1.0.0/24")
    login_as(world["carriers"]["cmcc-tj"][1])
    assert [row[0] for row in csv_table(client)[1:]] == ["10.0.0.0"]
    assert [row[0] for row in xlsx_table(client)[1:]] == ["10.0.0.0"]
    other = world["carriers"]["cu-tj"][0].id
    assert csv_table(client, f"?filer={other}")[1:] == []  # naming another filer shows nothing of it


def test_a_regulators_export_holds_every_filers_filings(
    client: FlaskClient, login_as: Callable[..., User], db: Session, world: dict[str, Any]
) -> None:
    holding(db, world, "cmcc-tj", "10.0.0.0/24")
    holding(db, world, "cu-tj", "10.1.0.0/24")
    login_as(world["regulator"])
    assert sorted(row[0] for row in csv_table(client)[1:]) == ["10.0.0.0", "10.1.0.0"]


def test_an_export_follows_the_list_filters(
    client: FlaskClient, login_as: Callable[..., User], db: Session, world: dict[str, Any]
) -> None:
    holding(db, world, "cmcc-tj", "10.0.0.0/24")
    holding(db, world, "cmcc-tj", "10.0.1.0/24", approve=False)
    login_as(world["regulator"])
    assert [row[0] for row in csv_table(client, "?state=draft")[1:]] == ["10.0.1.0"]
    assert [row[0] for row in xlsx_table(client, "?state=approved&family=4")[1:]] == ["10.0.0.0"]
    assert csv_table(client, "?family=6")[1:] == []


def test_a_formula_looking_value_is_neutralized_in_csv_and_xlsx(
    client: FlaskClient, login_as: Callable[..., User], db: Session, world: dict[str, Any]
) -> None:
    holding(db, world, "cmcc-tj", "10.0.0.0/24", remarks="=1+1", source_name="@SUM(A1)")
    login_as(world["regulator"])
    header, row = csv_table(client)
    values = dict(zip(header, row, strict=True))
    assert (values["备注"], values["来源单位"]) == ("'=1+1", "'@SUM(A1)")
    response = client.get("/filings/export.xlsx")
    workbook = load_workbook(io.BytesIO(response.data))
    cells = {cell.value: cell.data_type for row in workbook.active.iter_rows(min_row=2) for cell in row}
    assert cells["'=1+1"] == "s" and cells["'@SUM(A1)"] == "s"
    assert not any(kind == "f" for kind in cells.values())


def test_signed_out_visitors_get_no_export(client: FlaskClient) -> None:
    assert client.get("/filings/export.csv").status_code == 302


def test_the_export_command_writes_every_filing_as_the_operator(
    runner: FlaskCliRunner, db: Session, world: dict[str, Any], tmp_path: Path
) -> None:
    holding(db, world, "cmcc-tj", "10.0.0.0/24")
    holding(db, world, "cu-tj", "10.1.0.0/24", approve=False)
    result = runner.invoke(args=["filing", "export"])
    assert result.exit_code == 0, result.output
    lines = list(csv.reader(io.StringIO(result.output.removeprefix("\ufeff"))))
    assert lines[0] == CHINESE_HEADER and sorted(line[0] for line in lines[1:]) == ["10.0.0.0", "10.1.0.0"]

    output = tmp_path / "filings.xlsx"
    narrowed = runner.invoke(args=["filing", "export", "--format", "xlsx", "--output", str(output), "--filer",
                                   "cu-tj", "--state", "draft"])  # fmt: skip
    assert narrowed.exit_code == 0, narrowed.output
    rows = list(load_workbook(output, read_only=True).active.iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == ["10.1.0.0"]
    unknown = runner.invoke(args=["filing", "export", "--filer", "nobody"])
    assert unknown.exit_code == 1 and "nobody" in unknown.output
