"""Spreadsheet-shaped files (CSV and Excel): one documented table of header spellings, one reading of a row.

The header table is the contract with carriers' systems (it is shown on the import page and in the template):
a column is found by any of its spellings, compared without spaces, underscores or brackets and case-blind.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time

from accounts.validators import division_error, normalize_uscc, uscc_error
from core.messages import N_
from importers.records import AllocationRecord, Problem, UnreadableFile, address_problem, blocks_of

# Column -> every header spelling a carrier's system is known to use. The first spelling of each language is
# the one the downloadable template uses.
HEADERS: dict[str, tuple[str, ...]] = {
    "prefix": ("地址段", "prefix", "cidr", "网段", "ip地址段"),
    "start": ("起始IP", "start", "起始地址", "startip", "qsip"),
    "end": ("终止IP", "end", "终止地址", "结束ip", "endip", "zzip"),
    "holder_name": ("使用单位名称", "holder", "使用单位", "单位名称", "holdername", "organization", "dwmc"),
    "uscc": ("统一社会信用代码", "uscc", "证件号码", "creditcode"),
    "holder_id": ("客户编号", "customer_id", "客户id", "externalid", "org", "khbh"),
    "kind": ("分配方式", "kind", "allocationtype", "fpfs"),
    "usage": ("IP地址使用方式", "usage", "ip使用方式", "使用方式", "syfs"),
    "registered": ("分配使用时间", "date", "分配日期", "分配(使用)日期", "allocated", "fprq"),
    "division": ("所在地区代码", "division", "地区代码", "行政区划代码", "divisioncode"),
    "contact_name": ("联系人", "contact", "联系人姓名", "lxrxm"),
    "contact_phone": ("联系电话", "phone", "电话", "lxrdh"),
    "contact_email": ("电子邮件", "email", "邮箱", "lxrdzyj"),
    "remarks": ("备注", "remarks", "bz"),
}


TEMPLATE_COLUMNS = ("prefix", "start", "end", "holder_name", "uscc", "holder_id", "kind", "usage", "registered",
                    "division", "contact_name", "contact_phone", "contact_email", "remarks")  # fmt: skip
# The words a file may use for a kind or a usage, the registry's own labels among them in both languages (so that
# the records an import wrote, exported in the reader's language, load again): compared as ``value_key`` has them.
KINDS = {"分配": "allocation", "allocation": "allocation", "allocated": "allocation", "指派": "assignment",
         "assignment": "assignment", "assigned": "assignment", "保留": "reserved", "reserved": "reserved",
         "保留地址块": "reserved", "reserved block": "reserved"}  # fmt: skip
USAGES = {"静态": "static", "static": "static", "动态": "dynamic", "dynamic": "dynamic", "专线": "leased-line",
          "leased-line": "leased-line", "idc": "idc", "企业网": "enterprise-network",
          "enterprise-network": "enterprise-network", "工业网络": "industrial-network",
          "industrial-network": "industrial-network", "nat地址池": "nat-pool", "nat-pool": "nat-pool",
          "其他": "other", "other": "other"}  # fmt: skip
_KIND_OF, _USAGE_OF = dict(KINDS), dict(USAGES)  # exact spellings first, as they are
DATE_FORMS = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T][\d:.]+)?$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})(?:[ T][\d:.]+)?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"),
)
HEADER_SEARCH_ROWS = 10
MAX_HEADER_CHARS = 100  # of a header kept to name its column in problems
MAX_COLUMNS = 256  # a table wider than this is refused (no carrier's book has more than 20 columns)

Cell = str | int | float | date | datetime | time | bool | None


def _normalize(header: str) -> str:
    return re.sub(r"[\s_（）()*]", "", header).lower()


_LOOKUP = {_normalize(spelling): column for column, spellings in HEADERS.items() for spelling in spellings}
_TRAILING_NOTE = re.compile(r"\s*[（(][^（）()]*[）)]\s*$")


@functools.lru_cache(maxsize=1024)
def value_key(text: str) -> str:
    """A kind or usage as compared: case-blind, without spaces, hyphens or underscores, and without a note in
    brackets after it (指派（使用单位） is 指派, "Industrial network" is industrial-network)."""
    return re.sub(r"[\s_-]", "", _TRAILING_NOTE.sub("", text)).lower()


_KIND_BY_KEY = {value_key(word): kind for word, kind in KINDS.items()}
_USAGE_BY_KEY = {value_key(word): usage for word, usage in USAGES.items()}


def map_headers(headers: Iterable[str]) -> dict[str, int]:
    """Column name -> position; unknown headers are ignored."""
    positions: dict[str, int] = {}
    for index, header in enumerate(headers):
        column = _LOOKUP.get(_normalize(header))
        if column is not None and column not in positions:
            positions[column] = index
    return positions


def usable(positions: dict[str, int]) -> bool:
    return ("prefix" in positions or {"start", "end"} <= positions.keys()) and bool(
        {"holder_name", "uscc", "holder_id"} & positions.keys()
    )


def require_columns(positions: dict[str, int]) -> None:
    if "prefix" not in positions and not {"start", "end"} <= positions.keys():
        raise UnreadableFile(N_("no address column: expected 地址段/prefix, or 起始IP and 终止IP (start, end)"))
    if not {"holder_name", "uscc", "holder_id"} & positions.keys():
        raise UnreadableFile(N_("no holder column: expected 使用单位名称/holder or 统一社会信用代码/uscc"))


def find_header(rows: list[tuple[int, list[str]]]) -> tuple[int, dict[str, int], list[str]]:
    """The header among the first rows: the one naming the most columns (the earliest of equals), with its cells.
    A title row above it, or a header whose cells are merged over two rows (the lower row holds only the split
    cells, the upper one the rest), are fine."""
    best: tuple[int, int, dict[str, int], list[str]] | None = None  # (columns found, -row, positions, header)
    previous: list[str] = []
    for index, (_line, cells) in enumerate(rows):
        merged = [cell or (previous[i] if i < len(previous) else "") for i, cell in enumerate(cells)]
        merged += previous[len(cells) :]
        for candidate in (cells, merged):
            positions = map_headers(candidate)
            if usable(positions) and (best is None or (len(positions), -index) > best[:2]):
                best = (len(positions), -index, positions, candidate)
        previous = cells
    if best is not None:
        return -best[1], best[2], best[3]
    if rows:
        require_columns(map_headers(rows[0][1]))
    raise UnreadableFile(N_("the file has no header line"))


def text_of(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return str(cell)
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))  # Excel keeps numbers (division codes, phone numbers) as floats
    if isinstance(cell, datetime):
        return cell.date().isoformat()
    if isinstance(cell, date):
        return cell.isoformat()
    return str(cell).strip()


def head_rows(rows: Iterator[tuple[int, list[Cell]]]) -> list[tuple[int, list[str]]]:
    """The first rows of a table as text, among which its header is searched (the rest stay in ``rows``)."""
    head: list[tuple[int, list[str]]] = []
    for line, cells in rows:
        head.append((line, [text_of(c) for c in cells]))
        if len(head) >= HEADER_SEARCH_ROWS:
            break
    return head


def records_from_rows(
    rows: Iterator[tuple[int, list[Cell]]], sheet: str | None = None, headers: dict[str, str] | None = None
) -> Iterator[AllocationRecord | Problem]:
    """Records of a table: the header is searched among the first rows, every later row is one record. The
    header's own words for the columns it names go into ``headers`` (column -> header), for problems to name."""
    head = head_rows(rows)
    if not head:
        raise UnreadableFile(N_("the file is empty"))
    header_index, positions, cells = find_header(head)
    if headers is not None:
        headers.update({column: cells[index].strip()[:MAX_HEADER_CHARS] for column, index in positions.items()})
    columns = tuple(positions.items())
    for line, cells in head[header_index + 1 :]:
        yield from _row(line, cells, columns, sheet)
    for line, cells in rows:
        yield from _row(line, [c if isinstance(c, str) else text_of(c) for c in cells], columns, sheet)


def _row(
    line: int, row: list[str], columns: tuple[tuple[str, int], ...], sheet: str | None
) -> Iterator[AllocationRecord | Problem]:
    if not any(row):
        return
    width = len(row)
    values = {name: row[index].strip() for name, index in columns if index < width}
    get = values.get
    prefix, start, end = get("prefix", ""), get("start", ""), get("end", "")
    problems: list[Problem] = []
    blocks = []
    try:
        blocks = blocks_of(prefix, start, end)
    except ValueError as exc:
        column = "prefix" if prefix else ("end" if start and "end" in str(exc) else "start")
        problems.append(address_problem(line, column, get(column, ""), exc, sheet))
    uscc = get("uscc")
    if uscc:
        uscc = normalize_uscc(uscc)
        if (error := _uscc_error(uscc)) is not None:
            problems.append(Problem.of(line, "uscc", uscc, error, sheet))
    division = get("division") or None
    if division and (error := _division_error(division)) is not None:
        problems.append(Problem.of(line, "division", division, error, sheet))
    registered, raw_date = None, get("registered")
    if raw_date:
        registered = parse_date(raw_date)
        if registered is None:
            message = N_("not a date (2024-03-01, 2024/3/1, 20240301 or 2024年3月1日)")
            problems.append(Problem(line, "registered", raw_date, message, {}, sheet))
    raw_kind = get("kind")
    kind = _KIND_OF.get(raw_kind) or _KIND_BY_KEY.get(value_key(raw_kind)) if raw_kind else "assignment"
    if kind is None:
        message = N_("unknown allocation type (分配/allocation, 指派/assignment or 保留/reserved)")
        problems.append(Problem(line, "kind", raw_kind or "", message, {}, sheet))
    raw_usage = get("usage")
    usage = (_USAGE_OF.get(raw_usage) or _USAGE_BY_KEY.get(value_key(raw_usage))) if raw_usage else None
    if raw_usage and usage is None:
        problems.append(Problem(line, "usage", raw_usage, N_("unknown way of using the addresses"), {}, sheet))
    holder_name, holder_id = get("holder_name") or None, get("holder_id") or None
    if not holder_name and not uscc and not holder_id:
        problems.append(Problem(line, "holder_name", "", N_("the holder is missing"), {}, sheet))
    if problems:
        yield from problems
        return
    for block in blocks:
        yield AllocationRecord(
            line=line, prefix=block, kind=kind or "assignment", holder_name=holder_name, holder_id=holder_id,
            uscc=uscc or None, registered=registered, description=get("remarks") or None, usage=usage,
            division=division, contact_name=get("contact_name") or None, contact_phone=get("contact_phone") or None,
            contact_email=get("contact_email") or None, sheet=sheet,
        )  # fmt: skip


# Holders, divisions and dates repeat across a carrier's book: each distinct value is checked once.
@functools.lru_cache(maxsize=65_536)
def _uscc_error(uscc: str):  # type: ignore[no-untyped-def]
    return uscc_error(uscc)


@functools.lru_cache(maxsize=4096)
def _division_error(code: str):  # type: ignore[no-untyped-def]
    return division_error(code)


@functools.lru_cache(maxsize=16_384)
def parse_date(text: str) -> date | None:
    for form in DATE_FORMS:
        match = form.match(text.strip())
        if match:
            try:
                return date(*(int(part) for part in match.groups()))
            except ValueError:
                return None
    return None
