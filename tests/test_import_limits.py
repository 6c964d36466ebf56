"""No import file can crash the import worker or take its memory: hostile workbooks, gzip bombs and over-long
lines fail the file with a clear message, and the parsers stay small whatever they read. Pure parsers, no database."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest

from importers import csvfile, records, rpsl, xlsx
from importers.csvfile import parse_csv
from importers.records import AllocationRecord, Problem, UnreadableFile, open_text, render
from importers.rir import parse_rir
from importers.rpsl import parse_rpsl
from importers.tabular import records_from_rows
from importers.xlsx import excel_date, is_date_format, parse_xlsx, sheet_rows

ROOT = Path(__file__).resolve().parents[1]
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
USCC = "91120000103100784F"


def write_xlsx(path: Path, sheet_data: str, *, head: str = "", shared: list[str] | None = None,
               sheet_xml: bytes | None = None) -> Path:  # fmt: skip
    """A minimal workbook written by hand, so that it can say what no writer would."""
    rels = (f'<Relationships xmlns="{PKG_REL_NS}"><Relationship Id="rId1" Target="worksheets/sheet1.xml" '
            f'Type="{REL_NS}/worksheet"/><Relationship Id="rId2" Target="sharedStrings.xml" '
            f'Type="{REL_NS}/sharedStrings"/></Relationships>')  # fmt: skip
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("_rels/.rels", f'<Relationships xmlns="{PKG_REL_NS}"><Relationship Id="rId1" '
                         f'Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>')  # fmt: skip
        archive.writestr("xl/workbook.xml", f'<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><sheets>'
                         '<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>')  # fmt: skip
        archive.writestr("xl/_rels/workbook.xml.rels", rels)
        strings = "".join(f"<si><t>{text}</t></si>" for text in shared or [])
        archive.writestr("xl/sharedStrings.xml", f'<sst xmlns="{MAIN_NS}">{strings}</sst>')
        body = f'<worksheet xmlns="{MAIN_NS}">{head}<sheetData>{sheet_data}</sheetData></worksheet>'
        archive.writestr("xl/worksheets/sheet1.xml", sheet_xml if sheet_xml is not None else body)
    return path


def unreadable(parse, *args) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(UnreadableFile) as caught:
        list(parse(*args))
    return caught.value.text()


def split(items) -> tuple[list[AllocationRecord], list[Problem]]:  # type: ignore[no-untyped-def]
    items = list(items)
    return [i for i in items if isinstance(i, AllocationRecord)], [i for i in items if isinstance(i, Problem)]


HEADER_ROW = '<row r="1"><c r="A1" t="inlineStr"><is><t>地址段</t></is></c><c r="B1" t="inlineStr"><is><t>使用单位名称</t></is></c></row>'


# -- Excel -------------------------------------------------------------------------------------------------------


def xfd_workbook(path: Path, *, dimension: bool) -> Path:
    head = '<dimension ref="A1:XFD1048576"/>' if dimension else ""
    return write_xlsx(path, '<row r="1"><c r="A1"><v>1</v></c></row>'
                      '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>', head=head)  # fmt: skip


@pytest.mark.parametrize("dimension", [True, False])
def test_a_tiny_workbook_declaring_a_cell_at_xfd1048576_fails_cleanly_and_fast(tmp_path: Path, dimension: bool) -> None:
    path = xfd_workbook(tmp_path / "wide.xlsx", dimension=dimension)
    assert path.stat().st_size < 2048
    started = time.perf_counter()
    message = unreadable(parse_xlsx, path)
    assert time.perf_counter() - started < 1
    assert message == "the sheet is wider than 256 columns (cell XFD1048576)"


def test_a_cell_far_down_the_sheet_is_read_without_filling_the_rows_between(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "far.xlsx", HEADER_ROW + '<row r="400000"><c r="CV400000" t="inlineStr">'
                      "<is><t>2001:db8::/48</t></is></c></row>", head='<dimension ref="A1:CV400000"/>')  # fmt: skip
    started = time.perf_counter()
    assert [(n, len(cells)) for n, cells in sheet_rows(path)] == [(1, 2), (400000, 100)]
    _records, problems = split(parse_xlsx(path))
    assert [(p.line, p.column) for p in problems] == [(400000, "start"), (400000, "holder_name")]
    assert time.perf_counter() - started < 1


def test_a_workbook_expanding_past_the_bound_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = "".join(f'<row r="{n}"><c r="A{n}"><v>{n}</v></c></row>' for n in range(2, 100_000))
    path = write_xlsx(tmp_path / "bomb.xlsx", HEADER_ROW + rows)
    monkeypatch.setattr(xlsx, "MAX_UNZIPPED_BYTES", 1 << 20)
    assert unreadable(parse_xlsx, path) == "the workbook is larger than 1 MB once decompressed"


def test_a_sheet_beyond_excel_rows_and_a_damaged_sheet_fail(tmp_path: Path) -> None:
    long = write_xlsx(tmp_path / "long.xlsx", '<row r="1048577"><c r="A1048577"><v>1</v></c></row>')
    assert unreadable(parse_xlsx, long) == "the sheet is longer than 1048576 rows (cell A1048577)"
    damaged = write_xlsx(tmp_path / "damaged.xlsx", "<row><c><v>1</v></row>")
    assert "not well-formed XML" in unreadable(parse_xlsx, damaged)
    missing = write_xlsx(tmp_path / "missing.xlsx", '<row r="1"><c r="A1" t="s"><v>7</v></c></row>')
    assert unreadable(parse_xlsx, missing) == "the sheet is damaged: cell A1 names a string the workbook lacks"


def test_giant_tags_cells_strings_and_dtds_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tag = write_xlsx(tmp_path / "tag.xlsx", f'<row r="1"><c r="A1" x="{"a" * (2 << 20)}"/></row>')
    assert "over-long XML tag" in unreadable(parse_xlsx, tag)
    cell = write_xlsx(tmp_path / "cell.xlsx", f'<row r="1"><c r="B1" t="str"><v>{"a" * 40_000}</v></c></row>')
    assert unreadable(parse_xlsx, cell) == "a cell holds more than 32,767 characters (cell B1)"
    laughs = b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><w/>'
    dtd = write_xlsx(tmp_path / "dtd.xlsx", "", sheet_xml=laughs)
    assert unreadable(parse_xlsx, dtd) == "the workbook is damaged: it declares a DTD"
    monkeypatch.setattr(xlsx, "MAX_SHARED_STRINGS", 10)
    strings = write_xlsx(tmp_path / "strings.xlsx", HEADER_ROW, shared=[str(n) for n in range(11)])
    assert unreadable(parse_xlsx, strings) == "the workbook has more than 10 distinct strings"


def test_xls_ods_and_non_workbooks_are_refused_with_a_reason(tmp_path: Path) -> None:
    xls = tmp_path / "old.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    assert ".xls" in unreadable(parse_xlsx, xls)
    ods = tmp_path / "book.ods"
    with zipfile.ZipFile(ods, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", "<x/>")
    assert ".ods" in unreadable(parse_xlsx, ods)
    fake = tmp_path / "fake.xlsx"
    fake.write_bytes(b"PK\x03\x04 not really a workbook")
    assert "not an Excel workbook" in unreadable(parse_xlsx, fake)


def test_rows_and_cells_without_references_take_the_next_place(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "plain.xlsx", '<row><c t="inlineStr"><is><t>a</t></is></c><c/><c t="b"><v>1</v>'
                      '</c></row><row r="4"><c r="C4" t="e"><v>#N/A</v></c><c><v>2.5</v></c></row><row/>'
                      '<row><c t="d"><v>2024-03-01T00:00:00</v></c></row>', shared=[])  # fmt: skip
    assert list(sheet_rows(path)) == [(1, ["a", "", True]), (4, ["", "", "#N/A", 2.5]), (6, [date(2024, 3, 1)])]


def test_date_formats_and_the_excel_epochs() -> None:
    assert is_date_format("yyyy-mm-dd") and is_date_format('yyyy"年"m"月"d"日"') and is_date_format("[$-409]d-mmm")
    assert not is_date_format("General") and not is_date_format('0.00" days"') and not is_date_format("[Red]0.0")
    assert excel_date(1) == date(1900, 1, 1) and excel_date(59) == date(1900, 2, 28)
    assert excel_date(61) == date(1900, 3, 1) and excel_date(45352) == date(2024, 3, 1)
    assert excel_date(45352.5) == datetime(2024, 3, 1, 12)
    assert excel_date(0, date(1904, 1, 1)) == date(1904, 1, 1) and excel_date(-1) is None


def normal_workbook(path: Path) -> Path:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "分配记录"
    sheet.append(["某运营商 IPv6 地址分配表"])
    sheet.merge_cells("A1:G1")
    sheet.append(["地址段", "使用单位", None, "分配方式", "分配使用时间", "所在地区代码", "联系电话"])
    sheet.merge_cells("B2:C2")
    sheet.append([None, "使用单位名称", "统一社会信用代码", None, None, None, None])
    sheet.merge_cells("A2:A3")
    sheet.append(["2001:db8:10::/48", "津沽示例制造有限公司", USCC, "指派", date(2024, 3, 1), 120116, 13800000000])
    sheet.append(["2001:db8:11::/48", "另一家公司", None, "分配", "2024/3/2", 120116.0, None])
    sheet.append(["2001:db8:12::/48", "第三家", "123", "指派", None, None, None])
    book.save(path)
    return path


def test_a_normal_workbook_gives_the_same_records_as_before(tmp_path: Path) -> None:
    path = normal_workbook(tmp_path / "book.xlsx")
    records_, problems = split(parse_xlsx(path))
    assert [(r.line, str(r.registered), r.division, r.contact_phone, r.kind) for r in records_] == [
        (4, "2024-03-01", "120116", "13800000000", "assignment"), (5, "2024-03-02", "120116", None, "allocation"),
    ]  # fmt: skip
    assert records_[0].uscc == USCC and records_[0].sheet == "分配记录"
    assert [(p.line, p.column, p.text()) for p in problems] == [
        (6, "uscc", "A Unified Social Credit Code has 18 characters (this one has 3).")
    ]
    calamine = pytest.importorskip("python_calamine")
    data = calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("分配记录")
    before = list(records_from_rows(((n, row) for n, row in enumerate(data.iter_rows(), start=1)), sheet="分配记录"))
    assert list(parse_xlsx(path)) == before


# -- CSV, gzip and line-based formats -----------------------------------------------------------------------------


def gz(path: Path, *chunks: bytes, repeat: int = 1) -> Path:
    """``chunks`` gzipped, the last one ``repeat`` times (a bomb is written without being held)."""
    with gzip.open(path, "wb", compresslevel=9) as handle:
        for chunk in chunks:
            handle.write(chunk)
        for _ in range(repeat - 1):
            handle.write(chunks[-1])
    return path


def test_a_gzip_file_with_a_giant_line_fails_on_that_line(tmp_path: Path) -> None:
    path = gz(tmp_path / "line.csv.gz", "地址段,使用单位名称\n".encode(), b"a" * (3 << 20), b"\n")
    assert path.stat().st_size < 64 * 1024
    assert unreadable(parse_csv, path) == "line 2 is longer than 1 MiB"
    rir = gz(tmp_path / "delegated-x.gz", b"2|apnic|20160131|3||20160130|+1000\n", b"|" * (2 << 20))
    with open_text(rir) as handle:
        assert unreadable(parse_rir, handle) == "line 2 is longer than 1 MiB"


def test_gzip_input_is_bounded_by_what_it_expands_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "MAX_UNZIPPED_BYTES", 1 << 20)
    path = gz(tmp_path / "bomb.csv.gz", "地址段,使用单位名称\n".encode(), b"2001:db8::/48,x\n" * 200_000)
    assert unreadable(parse_csv, path) == "the file is larger than 1 MB once decompressed"
    damaged = tmp_path / "cut.csv.gz"
    damaged.write_bytes(path.read_bytes()[:500])
    assert "gzip data is damaged" in unreadable(parse_csv, damaged)


def test_a_giant_csv_field_is_named_as_such_and_a_cut_quote_still_reads(tmp_path: Path) -> None:
    field = tmp_path / "field.csv"
    field.write_text('地址段,使用单位名称\n2001:db8::/48,"' + ("a" * 1000 + "\n") * 1100 + '"\n', encoding="utf-8")
    assert unreadable(parse_csv, field) == "line 2: a field is longer than 1 MiB"
    cut = tmp_path / "cut.csv"
    cut.write_text('地址段,使用单位名称\n2001:db8::/48,"unclosed\n', encoding="utf-8")
    assert [r.holder_name for r in split(parse_csv(cut))[0]] == ["unclosed"]


def test_rows_spread_over_lines_and_wide_rows_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csvfile, "MAX_ROW_CHARS", 10_000)
    spread = tmp_path / "spread.csv"
    spread.write_text("地址段,使用单位名称\n" + '"x\n",' * 4000 + "\n", encoding="utf-8")
    assert unreadable(parse_csv, spread) == "line 2: the row is longer than 4 MiB"
    wide = tmp_path / "wide.csv"
    wide.write_text("地址段,使用单位名称" + "," * 300 + "x\n", encoding="utf-8")
    assert unreadable(parse_csv, wide) == "line 1 has more than 256 columns"
    padded = tmp_path / "padded.csv"
    padded.write_text("地址段,使用单位名称" + "," * 300 + "\n2001:db8::/48,x\n", encoding="utf-8")
    assert len(split(parse_csv(padded))[0]) == 1


def test_an_rpsl_object_without_end_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rpsl, "MAX_OBJECT_CHARS", 1000)
    lines = ["inet6num: 2001:db8::/32", *(["+ x"] * 1000)]
    assert unreadable(parse_rpsl, lines) == "line 1: the object starting there is longer than 1 MiB"


# -- messages -----------------------------------------------------------------------------------------------------


def test_a_wrong_length_uscc_keeps_its_count_typed_and_renders(tmp_path: Path) -> None:
    path = tmp_path / "uscc.csv"
    path.write_text("地址段,使用单位名称,统一社会信用代码\n2001:db8::/48,甲,123\n", encoding="utf-8")
    (problem,) = split(parse_csv(path))[1]
    assert problem.params == {"n": 3} and json.loads(json.dumps(problem.params)) == {"n": 3}
    assert problem.text() == "A Unified Social Credit Code has 18 characters (this one has 3)."
    assert render(problem.message, {"n": "3"}) == problem.text()  # as stored by older versions


@pytest.mark.parametrize(
    ("template", "params", "text"),
    [("has %(n)d", {"n": "3"}, "has 3"), ("has %(n)d", {"n": "three"}, "has three"), ("has %(n)d", {}, "has %(n)d"),
     ("has %(n)d of %(m)s", {"m": "x"}, "has  of x"), ("%(x).1f%%", {"x": "2.25"}, "2.2%"),
     ("%(x)d%% and %(y)s", {"x": None}, "None% and "), ("plain", {"n": 1}, "plain"), ("%(n)s", ["x"], ""),
     ("%(n)d", None, "%(n)d")],
)  # fmt: skip
def test_render_never_raises_whatever_was_stored(template: str, params: object, text: str) -> None:
    assert render(template, params) == text  # type: ignore[arg-type]


# -- memory ---------------------------------------------------------------------------------------------------------

CHILD = """
import resource, sys
from pathlib import Path
from importers.csvfile import parse_csv
from importers.records import UnreadableFile, open_text
from importers.rir import parse_rir
from importers.xlsx import parse_xlsx
for name in sys.argv[1:]:
    path = Path(name)
    try:
        if path.name.startswith("delegated"):
            with open_text(path) as handle:
                sum(1 for _ in parse_rir(handle))
        elif ".csv" in path.name:
            sum(1 for _ in parse_csv(path))
        else:
            sum(1 for _ in parse_xlsx(path))
        print(path.name, "read")
    except UnreadableFile as exc:
        print(path.name, exc.text())
# This process's own peak (VmHWM): ru_maxrss would start from the parent's size, inherited across fork and exec.
status = Path("/proc/self/status")
peak = [line.split()[1] for line in status.read_text().splitlines() if line.startswith("VmHWM")] if status.exists() else []
print(peak[0] if peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_the_parsers_stay_small_over_every_hostile_file(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        write_xlsx(tmp_path / "base.xlsx", "")
        with zipfile.ZipFile(tmp_path / "base.xlsx") as base:
            for name in base.namelist():
                if not name.endswith("sheet1.xml"):
                    archive.writestr(name, base.read(name))
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(f'<worksheet xmlns="{MAIN_NS}"><sheetData>'.encode())
            for _ in range(256):
                sheet.write(b" " * (1 << 20))  # 256 MB of sheet XML, which calamine would hold whole
            sheet.write(b"</sheetData></worksheet>")
    files = [
        xfd_workbook(tmp_path / "wide.xlsx", dimension=False),
        write_xlsx(tmp_path / "far.xlsx", HEADER_ROW + '<row r="400000"><c r="CV400000"><v>1</v></c></row>'),
        bomb,
        gz(tmp_path / "line.csv.gz", "地址段,使用单位名称\n".encode(), b"a" * (1 << 20), repeat=256),
        gz(tmp_path / "field.csv.gz", '地址段,使用单位名称\n2001:db8::/48,"'.encode(), b"a" * 999 + b"\n", repeat=200_000),
        gz(tmp_path / "delegated-bomb.gz", b"|" * (1 << 20), repeat=256),
    ]  # fmt: skip
    assert all(path.stat().st_size < 2 << 20 for path in files)
    done = subprocess.run([sys.executable, "-c", CHILD, *map(str, files)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=True)  # fmt: skip
    *outcomes, peak_kib = done.stdout.splitlines()
    assert outcomes == [
        "wide.xlsx the sheet is wider than 256 columns (cell XFD1048576)",
        "far.xlsx read",
        "bomb.xlsx the file is empty",
        "line.csv.gz line 2 is longer than 1 MiB",
        "field.csv.gz line 2: a field is longer than 1 MiB",
        "delegated-bomb.gz line 1 is longer than 1 MiB",
    ]
    assert int(peak_kib) < 300 * 1024, f"peak RSS {int(peak_kib) // 1024} MB"
