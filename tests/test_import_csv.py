"""Carriers' CSV exports: encodings, separators, header spellings, and line-numbered problems."""

from __future__ import annotations

from datetime import date

import pytest

from importers.csvfile import parse_csv_bytes
from importers.records import AllocationRecord, Problem, UnreadableFile
from importers.tabular import parse_date
from ipam.space import format_net

HEADER_ZH = "起始IP,终止IP,使用单位名称,统一社会信用代码,分配方式,IP地址使用方式,分配使用时间,所在地区代码,备注"
GOOD_ROW = "2001:db8::,2001:db8:0:ffff:ffff:ffff:ffff:ffff,津沽示例制造有限公司,91120000103100784F,指派,工业网络,2024/3/1,120116,一号厂区"


def parse(text: str, encoding: str = "utf-8") -> tuple[list[AllocationRecord], list[Problem]]:
    items = list(parse_csv_bytes(text.encode(encoding)))
    return [i for i in items if isinstance(i, AllocationRecord)], [i for i in items if isinstance(i, Problem)]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_chinese_headers_in_every_supported_encoding(encoding: str) -> None:
    records, problems = parse(f"{HEADER_ZH}\n{GOOD_ROW}\n", encoding)
    assert problems == []
    (row,) = records
    assert format_net(row.prefix) == "2001:db8::/48"
    assert row.holder_name == "津沽示例制造有限公司" and row.uscc == "91120000103100784F"
    assert row.kind == "assignment" and row.usage == "industrial-network"
    assert row.registered == date(2024, 3, 1) and row.division == "120116" and row.description == "一号厂区"


def test_english_headers_tab_separated_and_cidr_column() -> None:
    records, problems = parse("prefix\tholder\tdate\n2001:db8:1::/48\tExample Works\t20240301\n")
    assert problems == [] and records[0].registered == date(2024, 3, 1)


def test_every_bad_line_is_reported_with_its_line_and_column() -> None:
    rows = [
        GOOD_ROW,
        "2001:db8::1,2001:db8::,甲,,,,,,",  # end before start
        "2001:db8:1::,2001:db8:1::ffff,乙,91120000103100784A,,,,,",  # bad check character
        "2001:db8:2::,2001:db8:2::ff,丙,,,,2024-13-01,,",  # bad date
        "2001:db8:3::,2001:db8:3::ff,丁,,,,,129999,",  # unknown division
        "nonsense,2001:db8:4::ff,戊,,,,,,",
    ]
    records, problems = parse(HEADER_ZH + "\n" + "\n".join(rows) + "\n")
    assert len(records) == 1
    assert [(p.line, p.column) for p in problems] == [
        (3, "end"), (4, "uscc"), (5, "registered"), (6, "division"), (7, "start"),
    ]  # fmt: skip


def test_a_range_that_is_not_one_block_is_split() -> None:
    records, _ = parse("起始IP,终止IP,使用单位名称\n10.0.0.0,10.0.2.255,甲\n")
    assert [format_net(r.prefix) for r in records] == ["10.0.0.0/23", "10.0.2.0/24"]
    assert {r.line for r in records} == {2}


def test_formula_looking_cells_stay_text() -> None:
    records, _ = parse("地址段,使用单位名称\n2001:db8::/48,\"=cmd|' /C calc'!A0\"\n")
    assert records[0].holder_name == "=cmd|' /C calc'!A0"


def test_a_file_that_ends_mid_line_still_reads_its_last_row() -> None:
    records, problems = parse(f"{HEADER_ZH}\n{GOOD_ROW}")
    assert len(records) == 1 and problems == []


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "empty"), (b"\x00\x01\x02binary", "binary"), (b"\xff\xfe\xfa\xfb\xff", "neither"),
     ("名称,电话\n甲,1\n".encode(), "no address column")],
)  # fmt: skip
def test_unreadable_files_are_refused_as_a_whole(data: bytes, message: str) -> None:
    with pytest.raises(UnreadableFile, match=message):
        list(parse_csv_bytes(data))


@pytest.mark.parametrize("text", ["2024-03-01", "2024/3/1", "20240301", "2024年3月1日"])
def test_dates_in_the_common_forms(text: str) -> None:
    assert parse_date(text) == date(2024, 3, 1)
