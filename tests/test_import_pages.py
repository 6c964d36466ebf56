"""The import pages as a carrier reads them, on both databases: one line per upload with its final state, the check
and its load linked both ways, only the holders of rows that load offered for creation, everything in the reader's
language (formats, modes, kinds, usages, what each column holds) and every column named as the file's own header
names it, and the downloadable template loading as it is for the demo carrier."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import Organization, User
from accounts.operations import create_token
from core.policy import OPERATOR
from importers.models import COLUMN_LABELS, MODE_LABELS, ImportBatch, ImportProblem, Mode
from importers.tabular import HEADERS
from ipam.choices import KIND_LABELS, USAGE_LABELS
from ipam.models import Prefix
from ipam.operations import add_prefix
from ipam.queries import get_prefix
from ipam.space import parse_net
from tests.support import csrf_token_in, run_import

BOOK = "地址段,使用单位名称,分配方式,IP地址使用方式\n2001:db8:1::/48,甲,指派,工业网络\n2001:db8:2::/48,乙,指派,静态\n"


@pytest.fixture
def carrier(db: Session, create_org: Callable[..., Organization]) -> Organization:
    org = create_org(kind="carrier", code="pages-carrier", name="页面测试运营商")
    add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=org)
    return org


@pytest.fixture
def signed_in(db: Session, carrier: Organization, create_user: Callable[..., User],
              login_as: Callable[..., User]) -> User:  # fmt: skip
    user = create_user(role="carrier", organization=carrier)
    db.commit()
    return login_as(user)


def in_language(app: Flask, language: str, text: Any) -> str:
    """``text`` (a lazy label, or a msgid) as a reader of ``language`` reads it."""
    from flask_babel import gettext

    with app.test_request_context(), force_locale(language):
        return str(text) if not isinstance(text, str) else gettext(text)


def read_in(client: FlaskClient, language: str) -> None:
    with client.session_transaction() as session:
        session["language"] = language


def upload(client: FlaskClient, text: str, name: str = "book.csv", **fields: str) -> str:
    """Upload ``text`` for a check; the address of the check's page (the job ran at once)."""
    token = csrf_token_in(client.get("/imports").get_data(as_text=True))
    response = client.post("/imports", data={"csrf_token": token, "mode": "delta", "format": "",
                                             "file": (io.BytesIO(text.encode()), name), **fields},
                           content_type="multipart/form-data")  # fmt: skip
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def confirm(client: FlaskClient, check_url: str) -> str:
    page = client.get(check_url).get_data(as_text=True)
    response = client.post(check_url + "/confirm", data={"csrf_token": csrf_token_in(page)})
    assert response.status_code == 302
    return response.headers["Location"]


def batch_id(url: str) -> int:
    return int(url.rstrip("/").rsplit("/", 1)[-1])


def link_of(page: str, testid: str) -> str:
    match = re.search(rf'<a href="([^"]+)"[^>]*data-testid="{testid}"', page)
    assert match is not None, f"no {testid} link"
    return match.group(1)


def problem_columns(page: str) -> dict[str, str]:
    """Internal column -> the column as the problems table names it."""
    return dict(re.findall(r'<tr data-column="([^"]+)"[^>]*><td>[^<]*</td><td>([^<]*)</td>', page))


def csv_of(body: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))


# -- one line per upload (item 4) -----------------------------------------------------------------------------


def test_a_confirmed_check_is_listed_once_as_its_load_linked_to_the_check_and_back(
    client: FlaskClient, signed_in: User
) -> None:
    check_url = upload(client, BOOK)
    load_url = confirm(client, check_url)
    check, load = batch_id(check_url), batch_id(load_url)
    listing = client.get("/imports").get_data(as_text=True)
    assert re.findall(r'<tr data-batch="(\d+)"', listing) == [str(load)]
    assert '<td data-status="loaded">' in listing
    assert link_of(listing, "earlier-batch") == f"/imports/{check}"
    check_page = client.get(check_url).get_data(as_text=True)
    assert link_of(check_page, "next-batch") == f"/imports/{load}"
    assert re.search(r'data-testid="next-batch" data-status="loaded"', check_page)
    assert link_of(client.get(load_url).get_data(as_text=True), "earlier-batch") == f"/imports/{check}"


def test_an_unconfirmed_check_and_a_new_upload_of_the_same_file_are_two_lines(
    client: FlaskClient, signed_in: User
) -> None:
    first, second = batch_id(upload(client, BOOK)), batch_id(upload(client, BOOK))
    listing = client.get("/imports").get_data(as_text=True)
    assert re.findall(r'<tr data-batch="(\d+)"', listing) == [str(second), str(first)]
    assert 'data-testid="earlier-batch"' not in listing


def test_the_api_lists_an_upload_once_with_the_check_its_load_continued(
    client: FlaskClient, db: Session, carrier: Organization, create_user: Callable[..., User]
) -> None:
    user = create_user(role="carrier", organization=carrier)
    _, secret = create_token(db, user, actor=user, name="pages", days=30, read_only=False)
    db.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    checked = client.post("/api/v1/imports", headers=headers, content_type="multipart/form-data",
                          data={"file": (io.BytesIO(BOOK.encode()), "book.csv"), "dry_run": "true"}).get_json()  # fmt: skip
    loaded = client.post(f"/api/v1/imports/{checked['id']}/confirm", headers=headers).get_json()
    listed = client.get("/api/v1/imports", headers=headers).get_json()
    assert [(b["id"], b["status"], b["previous_batch"]) for b in listed["items"]] == [
        (loaded["id"], "loaded", checked["id"])
    ]
    assert listed["meta"]["total"] == 1
    check = client.get(f"/api/v1/imports/{checked['id']}", headers=headers).get_json()
    assert (check["next_batch"], check["previous_batch"]) == (loaded["id"], None)


# -- the holders an import creates (item 5) -------------------------------------------------------------------


RANGE_BOOK = (
    "起始IP,终止IP,使用单位名称,分配方式\n"
    "2001:db8:feff::,2001:db8:ff00:ffff:ffff:ffff:ffff:ffff,跨界公司,指派\n"  # half inside another allocator's block
    "2001:db8:1::,2001:db8:1:ffff:ffff:ffff:ffff:ffff,甲,指派\n"
)


@pytest.fixture
def foreign_block(db: Session, create_org: Callable[..., Organization], carrier: Organization) -> Prefix:
    other = create_org(kind="allocator", code="pages-allocator")
    return add_prefix(db, "2001:db8:ff00::/40", actor=OPERATOR, kind="allocation", holder=other)


def test_the_company_of_a_refused_row_is_not_among_the_holders_to_create(
    db: Session, carrier: Organization, foreign_block: Prefix, tmp_path: Path
) -> None:
    path = tmp_path / "ranges.csv"
    path.write_text(RANGE_BOOK, encoding="utf-8")
    check = run_import(db, carrier, path, "csv", dry_run=True)
    assert [h["name"] for h in check.details["new_holders"]] == ["甲"]
    assert (check.holders_created, check.created, check.skipped, check.errors) == (1, 1, 1, 1)
    problems = db.scalars(select(ImportProblem).where(ImportProblem.batch_id == check.id)).all()
    assert [(p.line, p.column, p.value) for p in problems] == [(2, "prefix", "2001:db8:ff00::/48")]


def test_a_range_refused_in_part_loads_none_of_its_blocks(
    client: FlaskClient, db: Session, foreign_block: Prefix, signed_in: User
) -> None:
    load_url = confirm(client, upload(client, RANGE_BOOK, allow_partial="y"))
    load = db.get(ImportBatch, batch_id(load_url))
    assert load is not None
    assert (load.status, load.created, load.skipped, load.holders_created) == ("loaded", 1, 1, 1)
    assert get_prefix(db, parse_net("2001:db8:1::/48")) is not None
    assert get_prefix(db, parse_net("2001:db8:feff::/48")) is None
    assert db.scalar(select(func.count()).select_from(Organization).where(Organization.name == "跨界公司")) == 0


def test_the_page_of_a_load_names_the_holders_it_created(client: FlaskClient, signed_in: User, app: Flask) -> None:
    load_page = client.get(confirm(client, upload(client, BOOK))).get_data(as_text=True)
    assert re.findall(r"<li>([^<]+)</li>", load_page.split('data-testid="new-holders"')[1].split("</ul>")[0]) == [
        "甲", "乙"]  # fmt: skip
    assert in_language(app, "zh_CN", "Holders this import created") in load_page


# -- the reader's language (item 7) ---------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_the_batch_page_names_the_format_and_the_mode_in_the_readers_language(
    app: Flask, client: FlaskClient, signed_in: User, language: str
) -> None:
    read_in(client, language)
    page = client.get(upload(client, BOOK)).get_data(as_text=True)
    line = page.split('<p class="text-muted">')[1].split("</p>")[0]
    assert " · CSV · " + in_language(app, language, MODE_LABELS[Mode.DELTA]) in line
    assert "csv" not in line and "delta" not in line


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_the_import_mode_choices_follow_the_readers_language(
    app: Flask, client: FlaskClient, signed_in: User, language: str
) -> None:
    read_in(client, language)
    page = client.get("/imports").get_data(as_text=True)
    for mode in Mode:
        label = in_language(app, language, MODE_LABELS[mode])
        assert re.search(rf'<option (selected )?value="{mode.value}">{re.escape(label)}</option>', page), label


def test_the_upload_page_says_what_each_column_holds_in_the_readers_language(
    app: Flask, client: FlaskClient, signed_in: User
) -> None:
    page = client.get("/imports").get_data(as_text=True)
    for column, label in COLUMN_LABELS.items():
        assert f"<code>{column}</code>" not in page
        assert f"<tr><td>{in_language(app, 'zh_CN', label)}</td><td>{' / '.join(HEADERS[column])}</td></tr>" in page


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_problems_name_the_column_as_the_files_own_header_does(
    client: FlaskClient, signed_in: User, language: str
) -> None:
    read_in(client, language)
    book = "IP地址段,单位名称,证件号码,fprq\nnonsense,甲,91120000103100784A,2024-02-30\n"
    check_url = upload(client, book)
    assert problem_columns(client.get(check_url).get_data(as_text=True)) == {
        "prefix": "IP地址段", "uscc": "证件号码", "registered": "fprq"}  # fmt: skip
    report = csv_of(client.get(check_url + "/problems.csv").get_data(as_text=True))
    assert [row[2] for row in report[1:]] == ["IP地址段", "证件号码", "fprq"]


def test_a_refused_block_of_a_range_names_the_ranges_two_headers(
    client: FlaskClient, signed_in: User, foreign_block: Prefix
) -> None:
    db_book = "起始地址,终止地址,单位名称\n2001:db8:ff00::,2001:db8:ff00::ffff,甲\n"
    page = client.get(upload(client, db_book)).get_data(as_text=True)
    assert problem_columns(page) == {"prefix": "起始地址–终止地址"}


def test_a_refusal_names_the_kinds_of_prefix_in_the_readers_language(
    app: Flask, client: FlaskClient, db: Session, carrier: Organization, signed_in: User
) -> None:
    add_prefix(db, "2001:db8:1::/48", actor=OPERATOR, kind="assignment", holder=carrier)
    db.commit()
    page = client.get(upload(client, "地址段,使用单位名称,分配方式\n2001:db8::/40,甲,指派\n")).get_data(as_text=True)
    problem = page.split('<tr data-column="prefix"')[1].split("</tr>")[0]
    assert in_language(app, "zh_CN", KIND_LABELS["assignment"]) in problem and "assignment" not in problem


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_the_records_an_import_wrote_read_in_the_readers_language_and_load_again(
    app: Flask, client: FlaskClient, signed_in: User, language: str
) -> None:
    read_in(client, language)
    load_url = confirm(client, upload(client, BOOK))
    exported = client.get(load_url + "/records.csv").get_data(as_text=True)
    header, *rows = csv_of(exported)
    english = language == "en"
    assert header == [HEADERS[c][1 if english else 0]
                      for c in ("prefix", "holder_name", "uscc", "kind", "usage", "registered", "remarks")]  # fmt: skip
    assert [row[3:5] for row in rows] == [
        [in_language(app, language, KIND_LABELS["assignment"]), in_language(app, language, USAGE_LABELS[usage])]
        for usage in ("industrial-network", "static")
    ]
    again = client.get(upload(client, exported, "records.csv")).get_data(as_text=True)
    assert 'data-status="previewed"' in again
    assert re.search(r'data-count="unchanged">2<', again) and re.search(r'data-count="errors">0<', again)


def test_a_change_of_holder_in_the_preview_names_both_holders_never_their_ids(
    client: FlaskClient, db: Session, carrier: Organization, create_org: Callable[..., Organization],
    signed_in: User,
) -> None:  # fmt: skip
    before = create_org(kind="enterprise", name="原持有企业")
    add_prefix(db, "2001:db8:1::/48", actor=OPERATOR, kind="assignment", holder=before)
    db.commit()
    page = client.get(upload(client, "地址段,使用单位名称,分配方式\n2001:db8:1::/48,新持有企业,指派\n")).get_data(
        as_text=True
    )
    (change,) = re.findall(r'<li><span class="font-monospace">2001:db8:1::/48</span>:([^<]*)</li>', page)
    assert "原持有企业 → 新持有企业" in change
    assert str(before.id) not in change and "-1" not in change


# -- the template (item 15) -----------------------------------------------------------------------------------


@pytest.fixture
def demo_carrier(client: FlaskClient, runner: Any, db: Session) -> Iterator[None]:
    logins = {row["role"]: row for row in json.loads(runner.invoke(args=["demo", "--json"]).output)}
    carrier = logins["carrier"]
    token = csrf_token_in(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": carrier["username"], "password": carrier["password"],
                                           "csrf_token": token})  # fmt: skip
    assert response.status_code == 302
    yield


def test_the_template_loads_as_it_is_for_the_demo_carrier(client: FlaskClient, demo_carrier: None) -> None:
    template = client.get("/imports/template.csv").get_data(as_text=True)
    check = client.get(upload(client, template, "template.csv")).get_data(as_text=True)
    assert 'data-status="previewed"' in check and re.search(r'data-count="errors">0<', check), check
    loaded = client.get(confirm(client, upload(client, template, "template.csv"))).get_data(as_text=True)
    assert 'data-status="loaded"' in loaded and re.search(r'data-count="created">1<', loaded)
    english = client.get("/imports/template.csv?lang=en").get_data(as_text=True)
    again = client.get(upload(client, english, "template-en.csv")).get_data(as_text=True)
    assert re.search(r'data-count="unchanged">1<', again) and re.search(r'data-count="errors">0<', again)


def test_the_templates_example_holder_has_a_valid_made_up_code(client: FlaskClient, signed_in: User) -> None:
    from accounts.validators import uscc_error

    header, example = csv_of(client.get("/imports/template.csv").get_data(as_text=True))
    uscc = example[header.index(HEADERS["uscc"][0])]
    assert uscc_error(uscc) is None and "DEMD" in uscc
