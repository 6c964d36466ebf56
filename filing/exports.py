"""Exports of filings: the filtered list as CSV and Excel, with the headers of the domain notes (in Chinese, or in
English for an English reader) and the values as the reader reads them; and the spreadsheet writing the national
report's files share.

An export holds exactly what its caller may see: it is the list page's query (``queries.filtered`` with the
caller), read a thousand rows at a time. Every text cell goes through ``core.web.spreadsheet_safe``, so a value
that looks like a formula (``=1+1``) is shown as text, never run; Excel cells are written as strings or numbers,
never as formulas.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from typing import IO, Any

import xlsxwriter
from flask import send_file
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from core.web import csv_response, spreadsheet_safe
from filing.audit import FIELD_LABELS
from filing.blocks import Block
from filing.choices import TYPE_CHINESE, ChoiceList, FilingState, FilingType
from filing.models import Filing
from filing.queries import FilingFilter, choice_names

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
READ_BATCH = 1000

# (key, Chinese header as the domain notes write it, English header).
COLUMNS: tuple[tuple[str, str, Any], ...] = (
    ("first", "起始IP", _l("First address")),
    ("last", "终止IP", _l("Last address")),
    ("filing_type", "分配方式", FIELD_LABELS["filing_type"]),
    ("user_name", "使用单位名称", FIELD_LABELS["user_name"]),
    ("user_uscc", "统一社会信用代码", _l("Unified Social Credit Code")),
    ("user_nature", "单位性质", FIELD_LABELS["user_nature"]),
    ("user_industry", "行业分类", FIELD_LABELS["user_industry"]),
    ("user_division", "所在地区代码", FIELD_LABELS["user_division"]),
    ("user_address", "单位详细地址", FIELD_LABELS["user_address"]),
    ("usage", "IP使用方式", FIELD_LABELS["usage"]),
    ("allocated_on", "分配使用时间", FIELD_LABELS["allocated_on"]),
    ("gateway_ip", "网关IP", FIELD_LABELS["gateway_ip"]),
    ("gateway_address", "网关所在地址", FIELD_LABELS["gateway_address"]),
    ("source_name", "来源单位", FIELD_LABELS["source_name"]),
    ("contact_name", "联系人姓名", FIELD_LABELS["contact_name"]),
    ("contact_phone", "联系电话", FIELD_LABELS["contact_phone"]),
    ("contact_email", "电子邮件", FIELD_LABELS["contact_email"]),
    ("remarks", "备注", FIELD_LABELS["remarks"]),
    ("number", "备案号", FIELD_LABELS["number"]),
    ("state", "状态", FIELD_LABELS["state"]),
    ("version", "版本", FIELD_LABELS["version"]),
    ("filer", "备案单位", _l("Filing organization")),
    ("due_on", "截止日期", _l("Due date")),
)
CHOICE_COLUMNS = {"user_nature": ChoiceList.NATURE, "user_industry": ChoiceList.INDUSTRY, "usage": ChoiceList.USAGE}
TEXT_COLUMNS = ("user_name", "user_uscc", "user_division", "user_address", "gateway_ip", "gateway_address",
                "source_name", "contact_name", "contact_phone", "contact_email", "remarks", "number")  # fmt: skip

# The list's filters as the query string names them (the list page, its export links and the exports share them).
STATE_FILTERS = frozenset({*(s.value for s in FilingState if s is not FilingState.DELETED), "review", "active",
                           "with_filer"})  # fmt: skip
DUE_FILTERS = frozenset({"overdue", "today", "week"})
MAX_SEARCH_LENGTH = 200


def filter_from_args(args: Mapping[str, str]) -> FilingFilter:
    """The list's filter from a query string: ``state``, ``type``, ``filer`` (organization id), ``district``,
    ``family``, ``since`` and ``until`` (YYYY-MM-DD, the date of allocation or use), ``due``, ``q`` and
    ``view=queue``. A value that names nothing is ignored (a stale link shows more, never an error)."""
    state = args.get("state", "")
    filing_type = args.get("type", "")
    due = args.get("due", "")
    district = args.get("district", "").strip()
    family = args.get("family", "")
    q = args.get("q", "").strip()
    return FilingFilter(
        state=state if state in STATE_FILTERS else None,
        filing_type=filing_type if filing_type in {t.value for t in FilingType} else None,
        filer=_object_id(args.get("filer", "")),
        district=district if district.isascii() and district.isdigit() and len(district) <= 6 else None,
        family=int(family) if family in ("4", "6") else None,
        since=_day(args.get("since", "")),
        until=_day(args.get("until", "")),
        due=due if due in DUE_FILTERS else None,
        q=q[:MAX_SEARCH_LENGTH] or None,
        queue=args.get("view") == "queue",
    )


def _object_id(text: str) -> int | None:
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    value = int(text)
    return value if 1 <= value < 2**31 else None


def _day(text: str) -> date | None:
    if len(text) != 10:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


# -- the filtered list -------------------------------------------------------------------------------------------


def header(*, chinese: bool) -> list[str]:
    return [zh if chinese else str(en) for _, zh, en in COLUMNS]


def filing_rows(session: Session, stmt: Select[tuple[Filing]], *, chinese: bool) -> Iterator[list[object]]:
    """The filings of ``stmt`` as export rows, read in batches (the list's query: what the caller may see)."""
    names = choice_names(session, chinese=chinese)
    for filing in session.scalars(stmt.execution_options(yield_per=READ_BATCH)):
        yield filing_cells(filing, names, chinese=chinese)


def filing_cells(filing: Filing, names: Mapping[tuple[str, str], str], *, chinese: bool) -> list[object]:
    block = Block(filing.family, filing.first, filing.final)
    kind = filing.type_enum
    values: dict[str, object] = {name: getattr(filing, name) for name in TEXT_COLUMNS}
    for name, list_name in CHOICE_COLUMNS.items():
        code = getattr(filing, name)
        values[name] = names.get((list_name.value, code), code) if code else None
    values.update(
        first=block.first_text,
        last=block.last_text,
        filing_type=TYPE_CHINESE[kind] if chinese else kind.label,
        allocated_on=filing.allocated_on.isoformat() if filing.allocated_on else None,
        state=filing.state_enum.label,
        version=filing.version,
        filer=filing.filer.name,
        due_on=filing.due_on.isoformat() if filing.due_on else None,
    )
    return [values[key] for key, _, _ in COLUMNS]


def export_filename(extension: str, today: date) -> str:
    return f"filings-{today.isoformat()}.{extension}"


# -- files -----------------------------------------------------------------------------------------------------


def write_csv(target: IO[str], header_row: list[str], rows: Iterable[Sequence[object]]) -> None:
    """The bytes a CSV download gives (``core.web.csv_response``: a BOM, neutralized cells), into a file."""
    for chunk in csv_response("", header_row, rows).response:
        target.write(chunk)


def write_xlsx(target: IO[bytes], sheet: str, header_rows: Sequence[Sequence[str]],
               rows: Iterable[Sequence[object]]) -> int:  # fmt: skip
    """An Excel workbook of one sheet, written row by row (XlsxWriter's constant-memory mode: a hundred thousand
    rows never sit in memory). Integers are numbers; everything else is a string cell made spreadsheet-safe.
    Returns the number of data rows."""
    workbook = xlsxwriter.Workbook(
        target, {"constant_memory": True, "strings_to_formulas": False, "strings_to_numbers": False,
                 "strings_to_urls": False, "tmpdir": tempfile.gettempdir()},
    )  # fmt: skip
    worksheet = workbook.add_worksheet(sheet)
    bold = workbook.add_format({"bold": True})
    worksheet.set_column(0, max((len(r) for r in header_rows), default=1) - 1, 18)
    worksheet.freeze_panes(len(header_rows), 0)
    for line, names in enumerate(header_rows):
        for column, name in enumerate(names):
            worksheet.write_string(line, column, spreadsheet_safe(name), bold)
    count = 0
    for count, row in enumerate(rows, start=1):
        line = len(header_rows) + count - 1
        for column, value in enumerate(row):
            if value is None or value == "":
                continue
            if isinstance(value, int) and not isinstance(value, bool):
                worksheet.write_number(line, column, value)
            else:
                worksheet.write_string(line, column, spreadsheet_safe(value))
    workbook.close()
    return count


def xlsx_response(filename: str, sheet: str, header_rows: Sequence[Sequence[str]],
                  rows: Iterable[Sequence[object]]) -> Response:  # fmt: skip
    """An Excel download: the workbook is written to a temporary file first (a zip is finished only at its end),
    then sent; the file goes when the response is closed."""
    handle = tempfile.TemporaryFile()  # noqa: SIM115 (send_file closes it)
    write_xlsx(handle, sheet, header_rows, rows)
    handle.seek(0)
    return send_file(handle, mimetype=XLSX_MIMETYPE, as_attachment=True, download_name=filename)
