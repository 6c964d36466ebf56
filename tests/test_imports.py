"""Carrier imports end to end on both databases: real registry files, every error case the issue names,
snapshot and delta modes, idempotence, holders, and the free-space index left exact."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import Organization
from core.policy import OPERATOR
from importers.models import HolderReference, ImportBatch, ImportProblem
from importers.operations import start_batch
from importers.records import open_text
from importers.tasks import execute
from ipam import freespace
from ipam.models import Prefix
from ipam.operations import add_prefix
from ipam.queries import get_prefix
from ipam.space import format_net, free_blocks, parse_net
from tests.support import registry_data, run_import

REGISTRY = registry_data()
APNIC_BLOCKS = ("2001:200::/23", "2001:7fa::/32", "2001:c00::/22", "2001:4400::/23", "2001:8000::/18", "2400::/12")
HEADER = "地址段,使用单位名称,统一社会信用代码,分配方式,IP地址使用方式,分配使用时间,所在地区代码,备注"
USCC = "91120000103100784F"


def problems_of(db: Session, batch: ImportBatch) -> list[tuple[int, str, str]]:
    rows = db.scalars(select(ImportProblem).where(ImportProblem.batch_id == batch.id).order_by(ImportProblem.line))
    return [(p.line, p.column, p.text()) for p in rows]


def prefix_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Prefix)) or 0


def assert_index_exact(db: Session, parent: Prefix) -> None:
    children = [c.net for c in db.scalars(select(Prefix).where(Prefix.parent_id == parent.id))]
    assert freespace.all_blocks(db, parent.id, parent.net) == free_blocks(parent.net, children)


@pytest.fixture
def carrier(db: Session, create_org: Callable[..., Organization]) -> Organization:
    org = create_org(kind="carrier", code="cmcc-tj", name="示例移动天津分公司")
    add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=org)
    return org


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def csv_rows(rows: list[str]) -> str:
    return HEADER + "\n" + "\n".join(rows) + "\n"


# -- the real registry files ----------------------------------------------------------------------------------


def test_apnic_2016_imports_every_ipv6_record_and_leaves_the_available_lines_free(
    db: Session, create_org: Callable[..., Organization]
) -> None:
    apnic = create_org(kind="registry", code="apnic", name="APNIC")
    blocks = [add_prefix(db, b, actor=OPERATOR, kind="aggregate", holder=apnic) for b in APNIC_BLOCKS]
    path = REGISTRY / "delegated-apnic-extended-20160131.txt"
    batch = run_import(db, apnic, path, "rir", family=6, mode="snapshot")
    assert (batch.status, batch.errors, batch.created, batch.rows) == ("loaded", 0, 4_838, 4_838)
    with open_text(path) as handle:
        available = {
            format_net(parse_net(f"{f[3]}/{f[4]}"))
            for f in (line.split("|") for line in handle)
            if len(f) > 6 and f[2] == "ipv6" and f[6] == "available"
        }
    assert len(available) == 28_145
    free = {format_net(b) for p in blocks for b in freespace.all_blocks(db, p.id, p.net)}
    assert free == available
    # The opaque ids became unverified enterprises, remembered as the registry's names for them.
    assert batch.holders_created > 1_000
    assert db.scalar(select(func.count()).select_from(Organization).where(Organization.verified.is_(False))) == (
        batch.holders_created
    )
    again = run_import(db, apnic, path, "rir", family=6, mode="snapshot")
    assert (again.unchanged, again.created, again.updated, again.removed, again.holders_created) == (4_838, 0, 0, 0, 0)
    assert again.same_content_as_id == batch.id


def test_dn42_imports_its_objects_with_their_nesting(db: Session, create_org: Callable[..., Organization]) -> None:
    dn42 = create_org(kind="registry", code="dn42", name="dn42 registry")
    root = add_prefix(db, "fd00::/8", actor=OPERATOR, kind="allocation", holder=dn42)
    batch = run_import(db, dn42, REGISTRY / "dn42-registry-inet6num.rpsl", "rpsl", allow_partial=True)
    assert (batch.status, batch.rows) == ("loaded", 2_241)
    # ::/0 (the file's first object) is special-purpose space outside the registry's block: named, not loaded.
    assert (batch.errors, batch.created, batch.unchanged) == (1, 2_239, 1)
    assert problems_of(db, batch)[0][0] == 4  # the object starting on line 4
    prefixes = db.scalars(select(Prefix).where(Prefix.import_batch_id == batch.id)).all()
    by_id = {p.id: p for p in prefixes} | {root.id: root}
    nets = sorted(p.net for p in prefixes)
    for prefix in prefixes:  # the parent is the smallest other prefix that contains it
        containing = [n for n in nets if n != prefix.net and n.contains(prefix.net)]
        expected = max(containing, key=lambda n: n.length) if containing else root.net
        assert by_id[prefix.parent_id].net == expected
    assert db.scalar(select(func.count()).select_from(Prefix).where(Prefix.parent_id == root.id)) > 1_000
    for parent in [root, *[p for p in prefixes if p.kind == "allocation"][:50]]:
        assert_index_exact(db, parent)


# -- errors -------------------------------------------------------------------------------------------------------


def test_one_bad_line_among_ten_thousand_changes_nothing_and_is_named(
    db: Session, carrier: Organization, tmp_path: Path
) -> None:
    rows = [f"2001:db8:{i:x}::/48,示例单位{i % 50},,指派,静态,2024-03-01,120116," for i in range(10_000)]
    rows[6_789] = "2001:db8:zz::/48,坏行单位,,指派,静态,2024-03-01,120116,"
    before = prefix_count(db)
    batch = run_import(db, carrier, write(tmp_path, "book.csv", csv_rows(rows)), "csv")
    assert batch.status == "rejected" and batch.errors == 1 and batch.created == 9_999
    assert problems_of(db, batch) == [(6_791, "prefix", "2001:db8:zz::/48 is not an IP address or prefix")]
    assert prefix_count(db) == before
    assert db.scalar(select(func.count()).select_from(Organization).where(Organization.verified.is_(False))) == 0


def test_every_kind_of_row_error_is_reported_not_only_the_first(
    db: Session, carrier: Organization, create_org: Callable[..., Organization], tmp_path: Path
) -> None:
    other = create_org(kind="carrier", code="other-carrier")
    add_prefix(db, "2001:db8:ff00::/40", actor=OPERATOR, kind="allocation", holder=other)
    rows = [
        "2001:db8:1::/48,甲,,指派,,,,",
        "2001:db8:1::/48,甲,,指派,,,,",  # duplicate
        "2001:db8:2::1/48,乙,,指派,,,,",  # host bits
        "2001:db9::/48,丙,,指派,,,,",  # outside the carrier's blocks
        "2001:db8:ff00::/48,丁,,指派,,,,",  # inside another allocator's block
        "2001:db8:3::/48,戊,91120000103100784A,指派,,,,",  # bad USCC
        "2001:db8:4::/48,己,,指派,,2024-02-30,,",  # bad date
        "2001:db8:5::/48,庚,,指派,,,999999,",  # unknown division
        "2001:db8:6::/48,辛,,指派,,,,",
        "2001:db8:6:100::/56,壬,,指派,,,,",  # overlaps line 10 (an assignment holds no assignments)
    ]
    batch = run_import(db, carrier, write(tmp_path, "bad.csv", csv_rows(rows)), "csv")
    lines = [(line, column) for line, column, _ in problems_of(db, batch)]
    assert lines == [(3, "prefix"), (4, "prefix"), (5, "prefix"), (6, "prefix"), (7, "uscc"), (8, "registered"),
                     (9, "division"), (11, "prefix")]  # fmt: skip
    texts = dict(((line, text) for line, _, text in problems_of(db, batch)))
    assert "line 2" in texts[3] and "other-carrier" not in texts[6] and "测试单位" in texts[6]
    assert batch.status == "rejected" and batch.created == 2


def test_unreadable_files_fail_as_a_whole(db: Session, carrier: Organization, tmp_path: Path) -> None:
    cases = {
        "empty.csv": b"",
        "binary.csv": b"\x00\x01\x02\x03PK\x00\x00garbage" * 10,
        "noaddress.csv": "名称,电话\n甲,1\n".encode(),
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        batch = run_import(db, carrier, path, "csv")
        assert batch.status == "failed" and batch.message, name
    assert prefix_count(db) == 1


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8-sig"])
def test_gb18030_and_bom_files_load(db: Session, carrier: Organization, tmp_path: Path, encoding: str) -> None:
    path = write(
        tmp_path,
        "book.csv",
        csv_rows([f"2001:db8:1::/48,津沽示例制造有限公司,{USCC},指派,工业网络,2024年3月1日,120116,一号厂区"]),
        encoding,
    )
    batch = run_import(db, carrier, path, "csv")
    assert (batch.status, batch.created) == ("loaded", 1)
    prefix = get_prefix(db, parse_net("2001:db8:1::/48"))
    assert prefix.holder.name == "津沽示例制造有限公司" and prefix.holder.uscc == USCC and not prefix.holder.verified
    assert prefix.usage == "industrial-network" and str(prefix.assigned_on) == "2024-03-01"
    assert prefix.description == "一号厂区" and prefix.source == "import" and prefix.import_batch_id == batch.id


def test_a_file_that_ends_mid_line_loads_its_complete_lines_and_names_the_cut_one(
    db: Session, carrier: Organization, tmp_path: Path
) -> None:
    text = csv_rows(["2001:db8:1::/48,甲,,指派,,,,"]) + "2001:db8:2::/4"
    batch = run_import(db, carrier, write(tmp_path, "cut.csv", text), "csv")
    assert batch.status == "rejected"
    assert [(line, column) for line, column, _ in problems_of(db, batch)] == [(3, "prefix"), (3, "holder_name")]


def test_excel_with_a_title_row_and_merged_header_cells(db: Session, carrier: Organization, tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "分配记录"
    sheet.append(["某运营商 IPv6 地址分配表"])
    sheet.merge_cells("A1:F1")
    sheet.append(["地址段", "使用单位", None, "分配方式", "分配使用时间", "所在地区代码"])
    sheet.merge_cells("B2:C2")  # merged over the name and the code
    sheet.append([None, "使用单位名称", "统一社会信用代码", None, None, None])
    sheet.merge_cells("A2:A3")
    sheet.append(["2001:db8:10::/48", "津沽示例制造有限公司", USCC, "指派", "2024-03-01", 120116])
    sheet.append(["2001:db8:11::/48", "另一家公司", None, "指派", None, None])
    path = tmp_path / "book.xlsx"
    book.save(path)
    batch = run_import(db, carrier, path, "xlsx")
    assert (batch.status, batch.created, batch.errors) == ("loaded", 2, 0), problems_of(db, batch)
    assert get_prefix(db, parse_net("2001:db8:10::/48")).holder.uscc == USCC
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    assert run_import(db, carrier, broken, "xlsx").status == "failed"


def test_a_formula_looking_cell_is_stored_as_text_and_escaped_on_export(
    app: Flask, db: Session, carrier: Organization, tmp_path: Path, client: Any, login_as: Callable[..., Any],
    create_user: Callable[..., Any],
) -> None:  # fmt: skip
    formula = "=cmd|' /C calc'!A0"
    path = write(tmp_path, "f.csv", csv_rows([f'2001:db8:1::/48,"{formula}",,指派,,,,"{formula}"']))
    batch = run_import(db, carrier, path, "csv")
    assert get_prefix(db, parse_net("2001:db8:1::/48")).description == formula
    db.commit()
    login_as(create_user(role="carrier", organization=carrier))
    exported = client.get(f"/imports/{batch.id}/records.csv").get_data(as_text=True)
    assert f"'{formula}" in exported and f",{formula}" not in exported


# -- modes, idempotence, holders -----------------------------------------------------------------------------


def test_snapshot_removes_what_the_file_lacks_and_delta_keeps_it(
    db: Session, carrier: Organization, tmp_path: Path
) -> None:
    first = [f"2001:db8:{i:x}::/48,单位{i},,指派,静态,,," for i in range(1, 6)]
    run_import(db, carrier, write(tmp_path, "a.csv", csv_rows(first)), "csv")
    subnet_parent = get_prefix(db, parse_net("2001:db8:5::/48"))
    add_prefix(db, "2001:db8:5:1::/64", actor=OPERATOR, kind="subnet", holder=subnet_parent.holder)
    fewer = [*first[:3], "2001:db8:9::/48,单位9,,指派,静态,,,"]
    delta = run_import(db, carrier, write(tmp_path, "b.csv", csv_rows(fewer)), "csv")
    assert (delta.created, delta.unchanged, delta.removed) == (1, 3, 0)
    preview = run_import(db, carrier, write(tmp_path, "c.csv", csv_rows(fewer)), "csv", mode="snapshot",
                         dry_run=True)  # fmt: skip
    assert (preview.status, preview.removed, preview.details["removed_below"]) == ("previewed", 2, 1)
    assert get_prefix(db, parse_net("2001:db8:4::/48")) is not None
    snapshot = run_import(db, carrier, write(tmp_path, "d.csv", csv_rows(fewer)), "csv", mode="snapshot")
    assert (snapshot.status, snapshot.removed, snapshot.unchanged) == ("loaded", 2, 4)
    assert get_prefix(db, parse_net("2001:db8:4::/48")) is None
    assert get_prefix(db, parse_net("2001:db8:5:1::/64")) is None  # went with its assignment
    assert_index_exact(db, get_prefix(db, parse_net("2001:db8::/32")))
    events = db.scalars(select(func.count()).select_from(Prefix)).one()
    assert events == 5


def test_changes_are_updates_and_reimporting_the_same_file_changes_nothing(
    db: Session, carrier: Organization, create_org: Callable[..., Organization], tmp_path: Path
) -> None:
    known = create_org(kind="enterprise", code="known", name="已登记企业", uscc=USCC)
    rows = ["2001:db8:1::/48,已登记企业,91120000103100784F,指派,静态,2024-03-01,,",
            "2001:db8:2::/48,客户乙,,指派,静态,,,"]  # fmt: skip
    first = run_import(db, carrier, write(tmp_path, "a.csv", csv_rows(rows)), "csv")
    assert first.holders_created == 1
    assert get_prefix(db, parse_net("2001:db8:1::/48")).holder_id == known.id
    again = run_import(db, carrier, write(tmp_path, "a.csv", csv_rows(rows)), "csv")
    assert (again.created, again.updated, again.unchanged, again.holders_created) == (0, 0, 2, 0)
    assert again.same_content_as_id == first.id
    changed = [rows[0], "2001:db8:2::/48,客户乙,,指派,动态,,,改为动态"]
    update = run_import(db, carrier, write(tmp_path, "b.csv", csv_rows(changed)), "csv")
    assert (update.updated, update.unchanged, update.holders_created) == (1, 1, 0)  # 客户乙 found by name
    prefix = get_prefix(db, parse_net("2001:db8:2::/48"))
    assert prefix.usage == "dynamic" and prefix.description == "改为动态"
    references = db.scalars(select(HolderReference.value).where(HolderReference.carrier_id == carrier.id)).all()
    assert "客户乙" in references


def test_allow_partial_loads_the_valid_rows(db: Session, carrier: Organization, tmp_path: Path) -> None:
    rows = ["2001:db8:1::/48,甲,,指派,,,,", "oops,乙,,指派,,,,", "2001:db8:3::/48,丙,,指派,,,,"]
    batch = run_import(db, carrier, write(tmp_path, "p.csv", csv_rows(rows)), "csv", allow_partial=True)
    assert (batch.status, batch.created, batch.skipped, batch.errors) == ("loaded", 2, 1, 1)
    assert get_prefix(db, parse_net("2001:db8:3::/48")) is not None


def test_nested_rows_of_a_lower_level_allocator(db: Session, carrier: Organization,
                                                 create_org: Callable[..., Organization], tmp_path: Path) -> None:  # fmt: skip
    rows = ["2001:db8:100::/40,下级分配单位,,分配,,,,", "2001:db8:100::/48,客户甲,,指派,,,,",
            "2001:db8:101::/48,客户乙,,指派,,,,", "2001:db8:200::/48,客户丙,,指派,,,,"]  # fmt: skip
    batch = run_import(db, carrier, write(tmp_path, "n.csv", csv_rows(rows)), "csv")
    assert (batch.status, batch.created) == ("loaded", 4)
    allocation = get_prefix(db, parse_net("2001:db8:100::/40"))
    assert {c.network for c in db.scalars(select(Prefix).where(Prefix.parent_id == allocation.id))} == {
        "2001:db8:100::/48", "2001:db8:101::/48"}  # fmt: skip
    assert_index_exact(db, allocation)
    assert_index_exact(db, get_prefix(db, parse_net("2001:db8::/32")))


# -- interfaces -----------------------------------------------------------------------------------------------------


def test_cli_exit_codes_and_json(runner: Any, db: Session, carrier: Organization, tmp_path: Path) -> None:
    db.commit()
    good = write(tmp_path, "good.csv", csv_rows(["2001:db8:1::/48,甲,,指派,,,,"]))
    bad = write(tmp_path, "bad.csv", csv_rows(["nonsense,甲,,指派,,,,"]))
    result = runner.invoke(args=["import", "assignments", str(good), "--carrier", "cmcc-tj", "--json"])
    assert result.exit_code == 0, result.output
    assert '"created": 1' in result.output
    result = runner.invoke(args=["import", "assignments", str(bad), "--carrier", "cmcc-tj"])
    assert result.exit_code == 1 and "nonsense" in result.output
    result = runner.invoke(args=["import", "assignments", str(good), "--carrier", "nobody"])
    assert result.exit_code == 2
    result = runner.invoke(args=["import", "assignments", str(good), "--carrier", "cmcc-tj", "--mode", "sideways"])
    assert result.exit_code == 2
    listing = runner.invoke(args=["import", "list", "--json"])
    assert listing.exit_code == 0 and "good.csv" in listing.output
    batch_id = db.scalar(select(func.max(ImportBatch.id)))
    shown = runner.invoke(args=["import", "show", str(batch_id), "--problems"])
    assert shown.exit_code == 0 and "nonsense" in shown.output


def test_web_upload_preview_confirm_and_tenancy(
    client: Any, db: Session, carrier: Organization, login_as: Callable[..., Any], create_user: Callable[..., Any],
    create_org: Callable[..., Organization],
) -> None:  # fmt: skip
    from tests.support import csrf_token_in

    user = create_user(role="carrier", organization=carrier)
    db.commit()
    login_as(user)
    page = client.get("/imports")
    token = csrf_token_in(page.get_data(as_text=True))
    data = csv_rows(["2001:db8:1::/48,甲,,指派,,,,", "2001:db8:2::/48,乙,,指派,,,,"]).encode()
    response = client.post("/imports", data={"csrf_token": token, "mode": "delta", "format": "",
                                             "file": (io.BytesIO(data), "book.csv")},
                           content_type="multipart/form-data")  # fmt: skip
    assert response.status_code == 302, response.get_data(as_text=True)
    preview_url = response.headers["Location"]
    preview = client.get(preview_url).get_data(as_text=True)
    assert 'data-status="previewed"' in preview and "2001:db8:1::/48" in preview
    assert get_prefix(db, parse_net("2001:db8:1::/48")) is None
    token = csrf_token_in(preview)
    confirmed = client.post(preview_url + "/confirm", data={"csrf_token": token})
    assert confirmed.status_code == 302
    result = client.get(confirmed.headers["Location"]).get_data(as_text=True)
    assert 'data-status="loaded"' in result
    assert get_prefix(db, parse_net("2001:db8:2::/48")) is not None
    assert client.post(preview_url + "/confirm", data={"csrf_token": token}).status_code == 302  # already loaded
    assert db.scalar(select(func.count()).select_from(ImportBatch)) == 2
    assert client.get("/imports/template.csv").get_data(as_text=True).startswith("\ufeff地址段")
    # Another carrier sees neither the batch nor its reports; an enterprise has no imports at all.
    client.post("/logout", data={"csrf_token": token})
    login_as("carrier")
    batch_id = preview_url.rsplit("/", 1)[-1]
    assert client.get(f"/imports/{batch_id}").status_code == 404
    assert client.get(f"/imports/{batch_id}/problems.csv").status_code == 404
    client.post("/logout", data={"csrf_token": csrf_token_in(client.get("/imports").get_data(as_text=True))})
    login_as("enterprise")
    assert client.get("/imports").status_code == 403


def test_api_post_and_get(client: Any, db: Session, carrier: Organization, create_user: Callable[..., Any]) -> None:
    from accounts.operations import create_token

    user = create_user(role="carrier", organization=carrier)
    _, secret = create_token(db, user, actor=user, name="import", days=30, read_only=False)
    db.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    data = csv_rows(["2001:db8:1::/48,甲,,指派,,,,", "bad,乙,,指派,,,,"]).encode()
    response = client.post("/api/v1/imports", headers=headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(data), "book.csv"), "allow_partial": "true"})  # fmt: skip
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.get_json()["status"] == "queued"  # the job starts once the request has committed
    fetched = client.get(f"/api/v1/imports/{response.get_json()['id']}", headers=headers)
    assert fetched.status_code == 200
    body = fetched.get_json()
    assert body["status"] == "loaded" and body["counts"]["created"] == 1 and body["problems"][0]["line"] == 3
    assert body["problems_total"] == 1
    missing = client.post("/api/v1/imports", headers=headers, content_type="multipart/form-data", data={})
    assert missing.status_code == 422 and missing.get_json()["error"]["code"]


def test_api_confirms_a_check_once_and_offers_what_the_caller_may_do(
    client: Any, db: Session, carrier: Organization, create_user: Callable[..., Any]
) -> None:
    from accounts.operations import create_token

    user = create_user(role="carrier", organization=carrier)
    _, secret = create_token(db, user, actor=user, name="import", days=30, read_only=False)
    db.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    data = csv_rows(["2001:db8:1::/48,甲,,指派,,,,"]).encode()
    checked = client.post("/api/v1/imports", headers=headers, content_type="multipart/form-data",
                          data={"file": (io.BytesIO(data), "book.csv"), "dry_run": "true"}).get_json()  # fmt: skip
    preview = client.get(f"/api/v1/imports/{checked['id']}", headers=headers).get_json()
    assert (preview["status"], preview["actions"], preview["next_batch"]) == ("previewed", ["confirm"], None)
    confirmed = client.post(f"/api/v1/imports/{checked['id']}/confirm", headers=headers)
    assert confirmed.status_code == 202 and confirmed.get_json()["status"] == "queued"
    loaded = client.get(f"/api/v1/imports/{confirmed.get_json()['id']}", headers=headers).get_json()
    assert (loaded["status"], loaded["counts"]["created"], loaded["actions"]) == ("loaded", 1, [])
    preview = client.get(f"/api/v1/imports/{checked['id']}", headers=headers).get_json()
    assert (preview["actions"], preview["next_batch"]) == ([], loaded["id"])
    again = client.post(f"/api/v1/imports/{checked['id']}/confirm", headers=headers)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "illegal_transition"
    not_stopped = client.post(f"/api/v1/imports/{loaded['id']}/run_again", headers=headers)
    assert not_stopped.status_code == 409


def test_api_tenancy(client: Any, db: Session, carrier: Organization, create_user: Callable[..., Any]) -> None:
    from accounts.operations import create_token

    path = Path(client.application.config["IMPORT_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    file = write(path, "x.csv", csv_rows(["2001:db8:1::/48,甲,,指派,,,,"]))
    batch = run_import(db, carrier, file, "csv", dry_run=True)
    stranger = create_user(role="carrier")
    _, secret = create_token(db, stranger, actor=stranger, name="t", days=30, read_only=True)
    db.commit()
    response = client.get(f"/api/v1/imports/{batch.id}", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 404


def test_api_lists_imports_newest_first_a_page_at_a_time(
    client: Any, db: Session, carrier: Organization, create_user: Callable[..., Any]
) -> None:
    from accounts.operations import create_token

    path = Path(client.application.config["IMPORT_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    file = write(path, "x.csv", csv_rows(["2001:db8:1::/48,甲,,指派,,,,", "bad,乙,,指派,,,,"]))
    batches = [run_import(db, carrier, file, "csv", dry_run=True, allow_partial=True) for _ in range(3)]
    own, other = create_user(role="carrier", organization=carrier), create_user(role="carrier")
    secrets = {u.id: create_token(db, u, actor=u, name="t", days=30, read_only=True)[1] for u in (own, other)}
    db.commit()

    def listed(user: Any, query: str = "") -> Any:
        return client.get(f"/api/v1/imports?{query}", headers={"Authorization": f"Bearer {secrets[user.id]}"})

    first, second = listed(own, "per_page=2").get_json(), listed(own, "per_page=2&page=2").get_json()
    assert [b["id"] for b in first["items"] + second["items"]] == [b.id for b in reversed(batches)]
    assert first["meta"] == {"page": 1, "per_page": 2, "total": 3, "pages": 2}
    assert first["items"][0]["problems_total"] == 1 and "problems" not in first["items"][0]
    assert listed(other).get_json()["items"] == []
    assert listed(own, "per_page=100000").status_code == 422


# -- two carriers at once ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend_name", ["sqlite", "postgresql"])
def test_concurrent_imports_of_two_carriers(backend_name: str, tmp_path: Path) -> None:
    import threading

    from app import create_app
    from core import migrate
    from core.extensions import db as database
    from tests.support import BACKENDS, fresh_database

    if backend_name not in BACKENDS:
        pytest.skip(f"{backend_name} not among the test backends")
    with fresh_database(backend_name, tmp_path) as url:
        migrate.upgrade(url)
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "imports-" + "k" * 40, "LOG_LEVEL": "WARNING",
                          "IMPORT_DIR": str(tmp_path / "imports")})  # fmt: skip
        batches = []
        with app.app_context():
            with database.session_scope() as session:
                for n, block in ((1, "2001:db8:1000::/36"), (2, "2001:db8:2000::/36")):
                    org = Organization(kind="carrier", code=f"c{n}", name=f"运营商{n}")
                    session.add(org)
                    session.flush()
                    add_prefix(session, block, actor=OPERATOR, kind="aggregate", holder=org)
                    rows = [f"2001:db8:{n}{i:03x}::/48,客户{n}-{i % 40},,指派,,,," for i in range(3000)]
                    path = write(tmp_path, f"c{n}.csv", csv_rows(rows))
                    batches.append(start_batch(session, actor=OPERATOR, carrier=org, path=path, file_name=path.name,
                                               file_format="csv").id)  # fmt: skip

            def work(batch_id: int) -> None:
                with app.app_context():
                    execute(batch_id, None)

            threads = [threading.Thread(target=work, args=(b,)) for b in batches]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            with database.session_scope() as session:
                done = [session.get(ImportBatch, b) for b in batches]
                assert [(b.status, b.created) for b in done] == [("loaded", 3000), ("loaded", 3000)]
                for block in ("2001:db8:1000::/36", "2001:db8:2000::/36"):
                    parent = get_prefix(session, parse_net(block))
                    children = sorted(
                        c.net for c in session.scalars(select(Prefix).where(Prefix.parent_id == parent.id))
                    )
                    assert len(children) == 3000 and all(a.last < b.start for a, b in itertools.pairwise(children))
                    assert freespace.all_blocks(session, parent.id, parent.net) == free_blocks(parent.net, children)
        database.engine.dispose()


def test_a_new_allocation_takes_in_the_assignments_it_covers(
    db: Session, carrier: Organization, tmp_path: Path
) -> None:
    run_import(db, carrier, write(tmp_path, "a.csv", csv_rows([
        "2001:db8:100::/48,客户甲,,指派,,,,", "2001:db8:101::/48,客户乙,,指派,,,,"])), "csv")  # fmt: skip
    # Delta: a lower-level allocator now manages the block the two customers sit in.
    batch = run_import(db, carrier, write(tmp_path, "b.csv", csv_rows(["2001:db8:100::/40,下级单位,,分配,,,,"])), "csv")
    assert (batch.status, batch.created) == ("loaded", 1)
    allocation = get_prefix(db, parse_net("2001:db8:100::/40"))
    assert get_prefix(db, parse_net("2001:db8:101::/48")).parent_id == allocation.id
    assert_index_exact(db, allocation)
    assert_index_exact(db, get_prefix(db, parse_net("2001:db8::/32")))
    # An assignment cannot take in other assignments: refused, with the reason, and nothing changes.
    refused = run_import(db, carrier, write(tmp_path, "c.csv", csv_rows(["2001:db8:100::/44,客户丙,,指派,,,,"])), "csv")
    assert refused.status == "rejected" and "2001:db8:100::/48" in problems_of(db, refused)[0][2]


def test_a_snapshot_that_drops_an_allocation_keeps_the_records_below_it_that_the_file_lists(
    db: Session, carrier: Organization, tmp_path: Path
) -> None:
    rows = [
        "2001:db8:100::/40,下级单位,,分配,,,,",
        "2001:db8:100::/48,客户甲,,指派,,,,",
        "2001:db8:101::/48,客户乙,,指派,,,,",
    ]
    run_import(db, carrier, write(tmp_path, "a.csv", csv_rows(rows)), "csv")
    batch = run_import(db, carrier, write(tmp_path, "b.csv", csv_rows(rows[1:])), "csv", mode="snapshot")
    assert (batch.status, batch.removed, batch.updated, batch.unchanged) == ("loaded", 1, 2, 0)
    aggregate = get_prefix(db, parse_net("2001:db8::/32"))
    assert get_prefix(db, parse_net("2001:db8:100::/40")) is None
    assert get_prefix(db, parse_net("2001:db8:100::/48")).parent_id == aggregate.id
    assert_index_exact(db, aggregate)


def test_records_of_a_lower_level_allocator_are_left_to_it(
    db: Session, carrier: Organization, create_org: Callable[..., Organization], tmp_path: Path
) -> None:
    from accounts.validators import uscc_check_character

    code = "91120116MA05L6KQ0" + uscc_check_character("91120116MA05L6KQ0")
    allocator = create_org(kind="allocator", code="lower", uscc=code)
    block = add_prefix(db, "2001:db8:200::/40", actor=OPERATOR, kind="allocation", holder=allocator)
    add_prefix(db, "2001:db8:200::/48", actor=OPERATOR, kind="assignment", holder=create_org())
    rows = [f"2001:db8:200::/40,下级单位,{code},分配,,,,", "2001:db8:300::/48,客户甲,,指派,,,,"]
    batch = run_import(db, carrier, write(tmp_path, "a.csv", csv_rows(rows)), "csv", mode="snapshot")
    assert batch.status == "loaded" and batch.removed == 0
    assert get_prefix(db, parse_net("2001:db8:200::/48")) is not None  # the allocator's own record stays
    inside = run_import(db, carrier, write(tmp_path, "b.csv", csv_rows(["2001:db8:201::/48,客户乙,,指派,,,,"])), "csv")
    assert inside.status == "rejected" and block.network in problems_of(db, inside)[0][2]


def test_regulator_admins_import_for_a_named_carrier_and_enterprises_cannot(
    client: Any, db: Session, carrier: Organization, create_user: Callable[..., Any]
) -> None:
    from accounts.operations import create_token

    admin, enterprise = create_user(role="regulator-admin"), create_user(role="enterprise")
    tokens = {u.role: create_token(db, u, actor=u, name="t", days=1, read_only=False)[1] for u in (admin, enterprise)}
    db.commit()
    data = csv_rows(["2001:db8:1::/48,甲,,指派,,,,"]).encode()

    def post(role: str, **form: Any) -> Any:
        return client.post("/api/v1/imports", headers={"Authorization": f"Bearer {tokens[role]}"},
                           content_type="multipart/form-data", data={"file": (io.BytesIO(data), "a.csv"), **form})  # fmt: skip

    assert post("enterprise").status_code == 403
    unnamed = post("regulator-admin")
    assert unnamed.status_code == 422 and "carrier" in unnamed.get_json()["error"]["fields"]
    response = post("regulator-admin", carrier="cmcc-tj", dry_run="true")
    assert response.status_code == 202 and response.get_json()["carrier"] == "cmcc-tj"
    assert db.get(ImportBatch, response.get_json()["id"]).status == "previewed"  # the job ran after the commit
    assert get_prefix(db, parse_net("2001:db8:1::/48")) is None


def test_upload_form_errors_sit_beside_their_fields(
    client: Any, db: Session, carrier: Organization, login_as: Callable[..., Any], create_user: Callable[..., Any]
) -> None:
    from tests.support import csrf_token_in

    login_as(create_user(role="carrier", organization=carrier))
    token = csrf_token_in(client.get("/imports").get_data(as_text=True))
    missing = client.post("/imports", data={"csrf_token": token, "mode": "delta"}, content_type="multipart/form-data")
    assert missing.status_code == 200 and 'data-field-error="file"' in missing.get_data(as_text=True)
    picture = client.post("/imports", data={"csrf_token": token, "mode": "delta",
                                            "file": (io.BytesIO(b"\x89PNG\r\n\x1a\n\x00\x00"), "logo.png")},
                          content_type="multipart/form-data")  # fmt: skip
    assert picture.status_code == 200 and 'data-field-error="format"' in picture.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(ImportBatch)) == 0
    assert client.get("/imports/2147483647").status_code == 404
    bad_mode = client.post("/api/v1/imports", data={"mode": "sideways", "file": (io.BytesIO(b"x"), "a.csv")},
                           content_type="multipart/form-data", headers={"X-CSRFToken": token})  # fmt: skip
    assert bad_mode.status_code == 422 and bad_mode.get_json()["error"]["code"]
