"""Carriers' CSV exports: UTF-8 (with or without BOM) or GB18030, comma or tab separated, Chinese or English
headers mapped by one documented table, start–end ranges or CIDRs, dates in the common forms."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from accounts.validators import division_error, normalize_uscc, uscc_error
from importers.records import AllocationRecord, Problem
from ipam.space import Net, parse_net, range_to_blocks

# Column -> every header spelling a carrier's system is known to use (compared without spaces, case-blind).
HEADERS: dict[str, tuple[str, ...]] = {
    "prefix": ("地址段", "prefix", "cidr", "网段", "ip地址段"),
    "start": ("起始ip", "起始地址", "startip", "start", "qsip"),
    "end": ("终止ip", "终止地址", "结束ip", "endip", "end", "zzip"),
    "holder_name": ("使用单位名称", "使用单位", "单位名称", "holder", "holdername", "organization", "dwmc"),
    "uscc": ("统一社会信用代码", "证件号码", "uscc", "creditcode"),
    "kind": ("分配方式", "allocationtype", "kind", "fpfs"),
    "usage": ("ip地址使用方式", "ip使用方式", "使用方式", "usage", "syfs"),
    "registered": ("分配使用时间", "分配日期", "分配(使用)日期", "date", "allocated", "fprq"),
    "division": ("所在地区代码", "地区代码", "行政区划代码", "division", "divisioncode"),
    "contact_name": ("联系人", "联系人姓名", "contact", "lxrxm"),
    "contact_phone": ("联系电话", "电话", "phone", "lxrdh"),
    "contact_email": ("电子邮件", "邮箱", "email", "lxrdzyj"),
    "remarks": ("备注", "remarks", "bz"),
}
KINDS = {"分配": "allocation", "allocation": "allocation", "allocated": "allocation", "指派": "assignment",
         "assignment": "assignment", "assigned": "assignment", "保留": "reserved", "reserved": "reserved"}  # fmt: skip
USAGES = {"静态": "static", "static": "static", "动态": "dynamic", "dynamic": "dynamic", "专线": "leased-line",
          "leased-line": "leased-line", "idc": "idc", "企业网": "enterprise-network",
          "enterprise-network": "enterprise-network", "工业网络": "industrial-network",
          "industrial-network": "industrial-network", "nat地址池": "nat-pool", "nat-pool": "nat-pool",
          "其他": "other", "other": "other"}  # fmt: skip
DATE_FORMS = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"),
)


class UnreadableFile(ValueError):
    """The file as a whole cannot be read (empty, binary, unknown encoding, no usable header)."""


def decode(data: bytes) -> str:
    """UTF-8 (a BOM is dropped) or GB18030; anything else is refused."""
    if not data.strip():
        raise UnreadableFile("the file is empty")
    if b"\x00" in data[:4096]:
        raise UnreadableFile("the file is binary, not text")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableFile("the file is neither UTF-8 nor GB18030 text")


def _normalize(header: str) -> str:
    return re.sub(r"[\s_（）()]", "", header).lower().replace("（", "(").replace("）", ")")


def map_headers(headers: list[str]) -> dict[str, int]:
    """Column name -> position; unknown headers are ignored."""
    lookup = {_normalize(spelling): column for column, spellings in HEADERS.items() for spelling in spellings}
    positions: dict[str, int] = {}
    for index, header in enumerate(headers):
        column = lookup.get(_normalize(header))
        if column is not None and column not in positions:
            positions[column] = index
    return positions


@dataclass
class CsvRecord:
    line: int
    prefixes: list[Net]
    record: AllocationRecord
    uscc: str | None
    usage: str | None
    division: str | None
    contact: dict[str, str]


def parse_csv(data: bytes) -> Iterator[CsvRecord | Problem]:
    text = decode(data)
    sample = text[:4096]
    delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        headers = next(reader)
    except StopIteration:
        raise UnreadableFile("the file has no header line") from None
    positions = map_headers(headers)
    if "prefix" not in positions and not {"start", "end"} <= set(positions):
        raise UnreadableFile("no address column: expected 地址段/prefix, or 起始IP and 终止IP (start, end)")
    if "holder_name" not in positions and "uscc" not in positions:
        raise UnreadableFile("no holder column: expected 使用单位名称/holder or 统一社会信用代码/uscc")
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        yield from _row(line, row, positions)


def _cell(row: list[str], positions: dict[str, int], column: str) -> str:
    index = positions.get(column)
    return row[index].strip() if index is not None and index < len(row) else ""


def _row(line: int, row: list[str], positions: dict[str, int]) -> Iterator[CsvRecord | Problem]:
    def get(column: str) -> str:
        return _cell(row, positions, column)

    problems: list[Problem] = []
    prefixes: list[Net] = []
    try:
        if get("prefix"):
            prefixes = [parse_net(get("prefix"))]
        else:
            first, last = parse_net(get("start"), strict=False), parse_net(get("end"), strict=False)
            if first.width != last.width:
                raise ValueError("start and end are of different IP versions")
            if last.start < first.start:
                raise ValueError("the end address lies before the start")
            prefixes = list(range_to_blocks(first.start, last.start, first.width))
    except ValueError as exc:
        column = "prefix" if get("prefix") else "start"
        problems.append(Problem(line, column, get(column) or get("end"), str(exc)))
    uscc = normalize_uscc(get("uscc")) if get("uscc") else None
    if uscc and (error := uscc_error(uscc)) is not None:
        problems.append(Problem(line, "uscc", uscc, str(error)))
    division = get("division") or None
    if division and (error := division_error(division)) is not None:
        problems.append(Problem(line, "division", division, str(error)))
    registered, raw_date = None, get("registered")
    if raw_date:
        registered = parse_date(raw_date)
        if registered is None:
            problems.append(
                Problem(line, "registered", raw_date, "not a date (2024-03-01, 2024/3/1, 20240301, 2024年3月1日)")
            )
    kind = KINDS.get(get("kind").lower()) if get("kind") else "assignment"
    if kind is None:
        problems.append(Problem(line, "kind", get("kind"), "unknown allocation type"))
    usage = USAGES.get(get("usage").lower()) if get("usage") else None
    if get("usage") and usage is None:
        problems.append(Problem(line, "usage", get("usage"), "unknown usage"))
    if not get("holder_name") and not uscc:
        problems.append(Problem(line, "holder_name", "", "the holder is missing"))
    if problems:
        yield from problems
        return
    record = AllocationRecord(
        line=line, prefix=prefixes[0], kind=kind or "assignment", holder_name=get("holder_name") or None,
        registered=registered, description=get("remarks") or None,
    )  # fmt: skip
    contact = {k: get(k) for k in ("contact_name", "contact_phone", "contact_email") if get(k)}
    yield CsvRecord(line, prefixes, record, uscc, usage, division, contact)


def parse_date(text: str) -> date | None:
    for form in DATE_FORMS:
        match = form.match(text.strip())
        if match:
            try:
                return date(*(int(part) for part in match.groups()))
            except ValueError:
                return None
    return None
