"""Bulk filing from CSV or Excel: each row one filing through the same operations as the form, all or nothing,
every problem named by its line and the file's own column; ``flask filing import`` and the upload page."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import Organization, User
from core.errors import PermissionDenied
from core.policy import OPERATOR
from filing.bulk import BulkResult, UnusableFile, load_filings
from filing.models import Filing
from filing.operations import approve_filing, create_filing, submit_filing
from ipam.operations import add_prefix
from tests.support import csrf_token_in

HEADER = ["分配方式", "地址段", "起始IP", "终止IP", "使用单位名称", "统一社会信用代码", "单位性质", "行业分类",
          "所在地区代码", "单位详细地址", "IP使用方式", "分配使用时间", "来源单位", "联系人姓名", "联系电话", "电子邮件",
          "备注"]  # fmt: skip
WORKS = {"使用单位名称": "示例制造有限公司", "统一社会信用代码": "91120000103100784F", "单位性质": "企业",
         "行业分类": "制造业", "所在地区代码": "120116", "单位详细地址": "天津市滨海新区示例路1号",
         "IP使用方式": "工业网络", "分配使用时间": "2024/3/1", "联系人姓名": "张三", "联系电话": "022-12345678",
         "电子邮件": "noc@example.com"}  # fmt: skip


@pytest.fixture
def world(db: Session, create_org: Callable[..., Organization], create_user: Callable[..., User]) -> dict[str, Any]:
    """A carrier holding 2001:db8::/32 that assigned 2001:db8:1::/48 and 2001:db8:2::/48 to an enterprise."""
    carrier = create_org(kind="carrier", code="bulk-carrier", name="示例通信天津分公司")
    works = create_org(kind="enterprise", code="bulk-works", name="示例制造有限公司", uscc="91120000103100784F")
    add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier)
    for block in ("2001:db8:1::/48", "2001:db8:2::/48"):
        add_prefix(db, block, actor=OPERATOR, kind="assignment", holder=works)
    db.flush()
    return {
        "carrier": carrier,
        "works": works,
        "carrier_user": create_user(role="carrier", organization=carrier),
        "works_user": create_user(role="enterprise", organization=works),
        "regulator": create_user(role="regulator"),
    }


def approved_holding(db: Session, world: dict[str, Any]) -> Filing:
    """The carrier's holding of its aggregate, filed and approved: what it assigns from it can be submitted."""
    values = {"filing_type": "holding", "block": "2001:db8::/32", "source_name": "APNIC",
              "user_name": world["carrier"].name, "usage": "static", "allocated_on": date(2024, 1, 2),
              "contact_name": "李四", "contact_phone": "022-87654321"}  # fmt: skip
    holding = create_filing(db, values, filer=world["carrier"], actor=world["carrier_user"])
    submit_filing(db, holding, actor=world["carrier_user"])
    approve_filing(db, holding, actor=world["regulator"])
    db.flush()
    return holding


def assignment(block: str = "2001:db8:1::/48", **changes: str) -> dict[str, str]:
    return {"分配方式": "指派", "地址段": block, **WORKS, **changes}


def write_csv(
    path: Path, rows: list[dict[str, str]], *, header: list[str] = HEADER, encoding: str = "utf-8-sig"
) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([[row.get(column, "") for column in header] for row in rows])
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def filing_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Filing)) or 0


def problems_by_line(result: BulkResult) -> dict[int, list[tuple[str, str]]]:
    found: dict[int, list[tuple[str, str]]] = {}
    for problem in result.problems:
        found.setdefault(problem.line, []).append((problem.column, problem.value))
    return found


# -- reading the file ------------------------------------------------------------------------------------------


def test_a_utf8_csv_with_bom_files_each_row_as_a_draft_with_listed_values_as_codes(
    db: Session, world: dict[str, Any], tmp_path: Path
) -> None:
    rows = [
        assignment(),
        {**assignment(""), "起始IP": "2001:db8:2::", "终止IP": "2001:db8:2:ffff:ffff:ffff:ffff:ffff"},
    ]
    path = write_csv(tmp_path / "filings.csv", rows)
    result = load_filings(db, path, filer=world["carrier"], actor=world["carrier_user"])
    assert (result.problems, result.created, result.loaded) == ([], 2, True)
    filings = db.scalars(select(Filing).order_by(Filing.block)).all()
    assert [(f.block, f.state, f.filing_type, f.filer_id) for f in filings] == [
        ("2001:db8:1::/48", "draft", "assignment", world["carrier"].id),
        ("2001:db8:2::/48", "draft", "assignment", world["carrier"].id),
    ]
    first = filings[0]
    assert (first.user_nature, first.user_industry, first.usage) == ("enterprise", "C", "industrial-network")
    assert (first.allocated_on, first.user_organization_id) == (date(2024, 3, 1), world["works"].id)


def test_a_gb18030_csv_with_english_headers_loads(db: Session, world: dict[str, Any], tmp_path: Path) -> None:
    header = ["type", "block", "user_name", "uscc", "nature", "industry", "usage", "date"]
    row = {"type": "assignment", "block": "2001:db8:1::/48", "user_name": "示例制造有限公司",
           "uscc": "91120000103100784F", "nature": "Enterprise", "industry": "C", "usage": "NAT 地址池",
           "date": "2024年3月1日"}  # fmt: skip
    path = write_csv(tmp_path / "filings.csv", [row], header=header, encoding="gb18030")
    result = load_filings(db, path, filer=world["carrier"], actor=world["carrier_user"])
    assert result.problems == [] and result.created == 1
    filing = db.scalar(select(Filing))
    assert (filing.user_name, filing.user_nature, filing.usage) == ("示例制造有限公司", "enterprise", "nat-pool")
    assert filing.allocated_on == date(2024, 3, 1)


def test_an_excel_workbook_with_a_title_row_dates_and_numbers_loads(
    db: Session, world: dict[str, Any], tmp_path: Path
) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["IP地址备案表"])
    sheet.append(HEADER)
    row = {**assignment(), "所在地区代码": 120116, "分配使用时间": datetime(2024, 3, 1), "联系电话": 13800138000}
    sheet.append([row.get(column) for column in HEADER])
    path = tmp_path / "filings.xlsx"
    book.save(path)
    result = load_filings(db, path, filer=world["carrier"], actor=world["carrier_user"])
    assert result.problems == [] and result.created == 1
    filing = db.scalar(select(Filing))
    assert (filing.user_division, filing.allocated_on, filing.contact_phone) == ("120116", date(2024, 3, 1),
                                                                                 "13800138000")  # fmt: skip


def test_a_file_without_a_block_or_type_column_is_unusable(db: Session, world: dict[str, Any], tmp_path: Path) -> None:
    no_block = write_csv(tmp_path / "a.csv", [assignment()], header=["分配方式", "使用单位名称"])
    no_type = write_csv(tmp_path / "b.csv", [assignment()], header=["地址段", "使用单位名称"])
    binary = tmp_path / "c.csv"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    for path in (no_block, no_type, binary):
        with pytest.raises(UnusableFile) as refused:
            load_filings(db, path, filer=world["carrier"], actor=world["carrier_user"])
        assert "file" in refused.value.fields
    assert filing_count(db) == 0


# -- all or nothing --------------------------------------------------------------------------------------------


def test_two_bad_rows_are_reported_by_line_and_the_files_own_headers_and_nothing_is_loaded(
    db: Session, world: dict[str, Any], tmp_path: Path
) -> None:
    header = ["kind", "prefix", "user_name", "USCC", "date", "phone"]
    good = {"kind": "指派", "prefix": "2001:db8:1::/48", "user_name": "示例制造有限公司", "date": "2024-03-01"}
    rows = [
        good,
        {**good, "prefix": "2001:db8:2::/48", "USCC": "91120000103100784X"},  # line 3: the check character
        {**good, "prefix": "2001:db8:3::/48"},
        {**good, "prefix": "2001:db8:4::1/48", "date": "3 March", "phone": "call me"},  # line 5: three problems
    ]
    path = write_csv(tmp_path / "filings.csv", rows, header=header)
    before = filing_count(db)
    result = load_filings(db, path, filer=world["carrier"], actor=world["carrier_user"])
    assert not result.loaded
    found = problems_by_line(result)
    assert sorted(found) == [3, 5]
    assert found[3] == [("USCC", "91120000103100784X")]
    assert sorted(found[5]) == [("date", "3 March"), ("phone", "call me"), ("prefix", "2001:db8:4::1/48")]
    assert filing_count(db) == before


def test_the_same_block_twice_in_a_file_is_an_error_on_the_later_line(
    db: Session, world: dict[str, Any], tmp_path: Path
) -> None:
    range_row = {**assignment(""), "起始IP": "2001:db8:1::", "终止IP": "2001:db8:1:ffff:ffff:ffff:ffff:ffff"}
    path = write_csv(tmp_path / "filings.csv", [assignment(), range_row])
    result = load_filings(db, path, filer=world["carrier"], actor=world["carrier_user"])
    assert [(p.line, p.column, p.message.params) for p in result.problems] == [(3, "起始IP/终止IP", {"line": 2})]
    assert filing_count(db) == 0


def test_a_prefix_in_the_start_column_alone_is_the_block_but_an_address_needs_its_end(
    db: Session, world: dict[str, Any], tmp_path: Path
) -> None:
    header = ["分配方式", "起始IP", "终止IP"]
    rows = [{"分配方式": "保留", "起始IP": "2001:db8:f::/48"}, {"分配方式": "保留", "起始IP": "2001:db8:e::"}]
    result = load_filings(db, write_csv(tmp_path / "f.csv", rows, header=header), filer=world["carrier"],
                          actor=world["carrier_user"], dry_run=True)  # fmt: skip
    assert [(p.line, p.column, p.value) for p in result.problems] == [(3, "终止IP", "")]
    assert result.created == 1


def test_a_block_the_filer_has_filed_already_is_refused(db: Session, world: dict[str, Any], tmp_path: Path) -> None:
    create_filing(db, {"filing_type": "assignment", "block": "2001:db8:1::/48"}, filer=world["carrier"],
                  actor=world["carrier_user"])  # fmt: skip
    path = write_csv(tmp_path / "filings.csv", [assignment()])
    result = load_filings(db, path, filer=world["carrier"], actor=world["carrier_user"])
    assert [(p.line, p.column, p.value) for p in result.problems] == [(2, "地址段", "2001:db8:1::/48")]
    assert filing_count(db) == 1


def test_an_unknown_type_or_listed_value_is_an_error_on_its_column(
    db: Session, world: dict[str, Any], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "filings.csv", [assignment(分配方式="转让", 单位性质="外星企业")])
    result = load_filings(db, path, filer=world["carrier"], actor=world["carrier_user"])
    assert problems_by_line(result) == {2: [("分配方式", "转让"), ("单位性质", "外星企业")]}


# -- submitting ------------------------------------------------------------------------------------------------


def test_submit_files_and_submits_every_row(db: Session, world: dict[str, Any], tmp_path: Path) -> None:
    approved_holding(db, world)
    path = write_csv(tmp_path / "filings.csv", [assignment(), assignment("2001:db8:2::/48")])
    result = load_filings(db, path, filer=world["carrier"], actor=world["carrier_user"], submit=True)
    assert (result.problems, result.created, result.submitted) == ([], 2, 2)
    states = db.scalars(select(Filing.state).where(Filing.filing_type == "assignment")).all()
    assert states == ["submitted", "submitted"]


def test_submit_runs_the_submission_rules_and_a_block_the_filer_does_not_hold_is_an_error_on_its_line(
    db: Session, world: dict[str, Any], tmp_path: Path
) -> None:
    approved_holding(db, world)
    before = filing_count(db)
    path = write_csv(tmp_path / "filings.csv", [assignment(), assignment("2001:db9:1::/48")])
    result = load_filings(db, path, filer=world["carrier"], actor=world["carrier_user"], submit=True)
    assert {(p.line, p.column, p.value) for p in result.problems} == {(3, "地址段", "2001:db9:1::/48")}
    assert any("registry" in p.message.template for p in result.problems)
    assert filing_count(db) == before


def test_submit_needs_the_fields_the_type_requires(db: Session, world: dict[str, Any], tmp_path: Path) -> None:
    approved_holding(db, world)
    path = write_csv(tmp_path / "filings.csv", [assignment(联系电话="")])
    drafts = load_filings(db, path, filer=world["carrier"], actor=world["carrier_user"], dry_run=True)
    submitted = load_filings(db, path, filer=world["carrier"], actor=world["carrier_user"], submit=True)
    assert drafts.problems == [] and problems_by_line(submitted) == {2: [("联系电话", "")]}


def test_a_dry_run_checks_everything_and_changes_nothing(db: Session, world: dict[str, Any], tmp_path: Path) -> None:
    approved_holding(db, world)
    before = filing_count(db)
    path = write_csv(tmp_path / "filings.csv", [assignment(), assignment("2001:db8:2::/48")])
    result = load_filings(db, path, filer=world["carrier"], actor=world["carrier_user"], submit=True, dry_run=True)
    assert (result.problems, result.created, result.submitted, result.loaded) == ([], 2, 2, False)
    assert filing_count(db) == before


def test_an_enterprise_files_only_for_itself(db: Session, world: dict[str, Any], tmp_path: Path) -> None:
    path = write_csv(tmp_path / "filings.csv", [assignment()])
    with pytest.raises(PermissionDenied):
        load_filings(db, path, filer=world["carrier"], actor=world["works_user"])
    assert filing_count(db) == 0


# -- the command -----------------------------------------------------------------------------------------------


def test_the_command_loads_a_file_and_exits_0(
    runner: FlaskCliRunner, db: Session, world: dict[str, Any], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "filings.csv", [assignment(), assignment("2001:db8:2::/48")])
    result = runner.invoke(args=["filing", "import", str(path), "--filer", "bulk-carrier", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["created"], report["loaded"], report["problems"]) == (2, True, [])
    assert filing_count(db) == 2


def test_the_command_exits_1_with_every_row_problem_and_loads_nothing(
    runner: FlaskCliRunner, db: Session, world: dict[str, Any], tmp_path: Path
) -> None:
    rows = [assignment(), assignment("2001:db8:2::/48", 统一社会信用代码="123"), assignment("bad")]
    path = write_csv(tmp_path / "filings.csv", rows)
    result = runner.invoke(args=["filing", "import", str(path), "--filer", "bulk-carrier"])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2 and "统一社会信用代码 (123)" in errors[0] and "地址段 (bad)" in errors[1]
    assert filing_count(db) == 0


def test_the_command_dry_run_changes_nothing(
    runner: FlaskCliRunner, db: Session, world: dict[str, Any], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "filings.csv", [assignment()])
    result = runner.invoke(args=["filing", "import", str(path), "--filer", "bulk-carrier", "--dry-run", "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["created"] == 1
    assert filing_count(db) == 0


@pytest.mark.parametrize("case", ["unknown filer", "missing file", "no header", "no filer option"])
def test_the_command_exits_2_for_an_unusable_file_or_argument(
    runner: FlaskCliRunner, db: Session, world: dict[str, Any], tmp_path: Path, case: str
) -> None:
    good = write_csv(tmp_path / "filings.csv", [assignment()])
    args = {
        "unknown filer": [str(good), "--filer", "nobody"],
        "missing file": [str(tmp_path / "missing.csv"), "--filer", "bulk-carrier"],
        "no header": [str(write_csv(tmp_path / "x.csv", [{}], header=["a", "b"])), "--filer", "bulk-carrier"],
        "no filer option": [str(good)],
    }[case]
    assert runner.invoke(args=["filing", "import", *args]).exit_code == 2
    assert filing_count(db) == 0


# -- the page --------------------------------------------------------------------------------------------------


def upload(client: FlaskClient, path: Path, **options: bool) -> Any:
    token = csrf_token_in(client.get("/filings/import").get_data(as_text=True))
    data = {"csrf_token": token, "file": (io.BytesIO(path.read_bytes()), path.name),
            **{name: "y" for name, on in options.items() if on}}  # fmt: skip
    return client.post("/filings/import", data=data, content_type="multipart/form-data")


def test_a_carrier_files_a_spreadsheet_on_the_page(
    client: FlaskClient, db: Session, world: dict[str, Any], login_as: Callable[..., User], tmp_path: Path
) -> None:
    login_as(world["carrier_user"])
    path = write_csv(tmp_path / "filings.csv", [assignment(), assignment("2001:db8:2::/48")])
    page = upload(client, path).get_data(as_text=True)
    assert 'data-status="loaded"' in page and 'data-testid="filing-list-link"' in page
    assert db.scalars(select(Filing.filer_id)).all() == [world["carrier"].id] * 2


def test_the_page_lists_each_problem_and_keeps_nothing(
    client: FlaskClient, db: Session, world: dict[str, Any], login_as: Callable[..., User], tmp_path: Path
) -> None:
    login_as(world["carrier_user"])
    path = write_csv(tmp_path / "filings.csv", [assignment(), assignment("2001:db8:2::/48", 分配使用时间="soon")])
    page = upload(client, path).get_data(as_text=True)
    assert 'data-status="rejected"' in page and 'data-line="3"' in page and "soon" in page
    assert filing_count(db) == 0


def test_the_check_only_box_changes_nothing(
    client: FlaskClient, db: Session, world: dict[str, Any], login_as: Callable[..., User], tmp_path: Path
) -> None:
    login_as(world["carrier_user"])
    page = upload(client, write_csv(tmp_path / "filings.csv", [assignment()]), check_only=True)
    assert 'data-status="checked"' in page.get_data(as_text=True)
    assert filing_count(db) == 0


def test_an_unusable_upload_is_named_beside_the_file_field(
    client: FlaskClient, world: dict[str, Any], login_as: Callable[..., User], tmp_path: Path
) -> None:
    login_as(world["carrier_user"])
    page = upload(client, write_csv(tmp_path / "filings.csv", [{}], header=["名称"])).get_data(as_text=True)
    assert 'data-field-error="file"' in page


def test_an_enterprise_files_for_its_own_organization_on_the_page(
    client: FlaskClient, db: Session, world: dict[str, Any], login_as: Callable[..., User], tmp_path: Path
) -> None:
    login_as(world["works_user"])
    row = {"分配方式": "持有", "地址段": "2001:db8:1::/48", "使用单位名称": "示例制造有限公司"}
    assert 'data-status="loaded"' in upload(client, write_csv(tmp_path / "f.csv", [row])).get_data(as_text=True)
    assert db.scalars(select(Filing.filer_id)).all() == [world["works"].id]


def test_a_regulator_may_not_file_in_bulk(
    client: FlaskClient, world: dict[str, Any], login_as: Callable[..., User]
) -> None:
    login_as(world["regulator"])
    assert client.get("/filings/import").status_code == 403
    assert client.get("/filings/import/template.csv").status_code == 403


def test_the_template_has_the_national_headers_and_loads_as_it_is(
    client: FlaskClient, db: Session, world: dict[str, Any], login_as: Callable[..., User], tmp_path: Path
) -> None:
    login_as(world["carrier_user"])
    chinese = client.get("/filings/import/template.csv").get_data(as_text=True)
    english = client.get("/filings/import/template.csv?lang=en").get_data(as_text=True)
    assert chinese.lstrip("\ufeff").startswith("起始IP,终止IP,地址段,分配方式,使用单位名称,统一社会信用代码")
    assert english.lstrip("\ufeff").startswith("start,end,block,type,user_name,uscc")
    for name, text in (("zh.csv", chinese), ("en.csv", english)):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        result = load_filings(db, path, filer=world["carrier"], actor=world["carrier_user"], dry_run=True)
        assert result.problems == [] and result.created == 1
