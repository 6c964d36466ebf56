"""Bulk filing from a CSV or Excel file: each row one filing, written (and, if asked, submitted) by the same
operations as the form, all or nothing, every problem named by its line and by the column as the file heads it.

The file is read by the import machinery's readers (``importers.csvfile.csv_rows``: UTF-8 with or without BOM,
or GB18030, comma or tab; ``importers.xlsx.sheet_rows``: the first sheet, streamed; both bounded against hostile
files) and its date forms (``importers.tabular.parse_date``). The header table below is the filing's own: the
national format's Chinese names (domain notes §3) and English aliases.

Loading runs inside a savepoint: ``filing.operations.create_filing`` for every row, then ``submit_filing`` when
the filer asks for it, collecting what each refuses. If any row has a problem, or for a dry run, the savepoint is
rolled back and nothing is left of the load, whatever the caller then commits.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import Organization
from core.errors import DomainError, ValidationFailed
from core.messages import Message
from core.messages import message as _l
from filing import queries
from filing.blocks import BadBlock, Block, parse_address, parse_block
from filing.choices import TYPE_CHINESE, ChoiceList, FilingType
from filing.models import FILED_FIELDS, Filing
from filing.operations import create_filing, require_filer, submit_filing
from filing.rules import CHOICE_FIELDS, block_problem
from importers.csvfile import csv_rows
from importers.formats import detect_format
from importers.models import Format
from importers.records import UnreadableFile
from importers.tabular import Cell, head_rows, parse_date, text_of
from importers.xlsx import sheet_rows
from ipam.models import from_key

log = logging.getLogger(__name__)

# Column -> every header spelling accepted, compared without spaces, underscores or brackets and case-blind. The
# first spelling is the national format's (and the Chinese template's), the second the English template's.
HEADERS: dict[str, tuple[str, ...]] = {
    "start": ("起始IP", "start", "起始地址", "startip", "qsip"),
    "end": ("终止IP", "end", "终止地址", "结束ip", "endip", "zzip"),
    "block": ("地址段", "block", "prefix", "cidr", "网段", "ip地址段"),
    "filing_type": ("分配方式", "type", "filingtype", "allocationtype", "kind", "fpfs"),
    "user_name": ("使用单位名称", "user_name", "使用单位", "单位名称", "user", "organization", "dwmc"),
    "user_uscc": ("统一社会信用代码", "uscc", "user_uscc", "creditcode", "证件号码"),
    "user_nature": ("单位性质", "nature", "user_nature", "dwxz"),
    "user_industry": ("行业分类", "industry", "user_industry", "单位分类", "hyfl"),
    "user_division": ("所在地区代码", "division", "user_division", "地区代码", "行政区划代码", "divisioncode"),
    "user_address": ("单位详细地址", "address", "user_address", "详细地址", "xxdz"),
    "usage": ("IP使用方式", "usage", "IP地址使用方式", "使用方式", "syfs"),
    "allocated_on": ("分配使用时间", "allocated_on", "date", "分配(使用)日期", "分配日期", "使用日期", "fprq"),
    "gateway_ip": ("网关IP", "gateway_ip", "gateway", "wgip"),
    "gateway_address": ("网关所在地址", "gateway_address", "网关地址", "wgdz"),
    "source_name": ("来源单位", "source", "source_name", "lydw"),
    "contact_name": ("联系人姓名", "contact_name", "联系人", "contact", "lxrxm"),
    "contact_phone": ("联系电话", "contact_phone", "phone", "电话", "lxrdh"),
    "contact_email": ("电子邮件", "contact_email", "email", "邮箱", "lxrdzyj"),
    "remarks": ("备注", "remarks", "bz"),
}
TEMPLATE_COLUMNS = tuple(HEADERS)
# The filed fields a row gives as they are written (the type, block, date and listed values are read apart).
TEXT_COLUMNS = tuple(n for n in FILED_FIELDS if n not in ("filing_type", "block", "allocated_on", *CHOICE_FIELDS))
# 分配方式 as files write it: the national format's words and the English names.
TYPE_WORDS: dict[str, FilingType] = {
    **{word: kind for kind, word in TYPE_CHINESE.items()},
    **{kind.value: kind for kind in FilingType},
    "held": FilingType.HOLDING, "allocated": FilingType.ALLOCATION, "assigned": FilingType.ASSIGNMENT,
}  # fmt: skip
MAX_ROWS = 100_000  # filings in one file; a larger book is loaded in parts
_CJK = re.compile(r"[\u3400-\u9fff]")


def header_key(header: str) -> str:
    return re.sub(r"[\s_\-（）()*]", "", header).casefold()


_LOOKUP = {header_key(spelling): column for column, spellings in HEADERS.items() for spelling in spellings}


def value_key(text: str) -> str:
    """A listed value as people type it: without spaces, case-blind (``NAT 地址池`` is ``nat地址池``)."""
    return re.sub(r"\s+", "", text).casefold()


class UnusableFile(ValidationFailed):
    """The file as a whole cannot be used: unreadable, neither CSV nor Excel, or without the columns a filing needs.
    Named on the form's ``file`` field."""

    code = "unusable_file"

    def __init__(self, message: Message) -> None:
        super().__init__(message, fields={"file": [message]})


@dataclass(frozen=True)
class RowProblem:
    """What is wrong with one row: its line, the column as the file heads it, the value there, and why."""

    line: int
    column: str
    value: str
    message: Message

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "value": self.value, "message": str(self.message)}


@dataclass
class BulkResult:
    """What a load did (or, for a dry run or a rejected file, would have done: then nothing was kept)."""

    dry_run: bool
    submit: bool
    rows: int = 0
    created: int = 0
    submitted: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)

    @property
    def loaded(self) -> bool:
        return not self.problems and not self.dry_run

    def summary(self) -> Message:
        """One line on what the load did (or would do); the page and the command say the same."""
        if self.problems:
            lines = len({p.line for p in self.problems})
            return _l("Nothing was loaded: %(lines)d of %(rows)d rows have problems.", lines=lines, rows=self.rows)
        if self.dry_run and self.submit:
            return _l("%(rows)d rows checked: every filing can be made and submitted. Nothing was changed (check "
                      "only).", rows=self.rows)  # fmt: skip
        if self.dry_run:
            return _l("%(rows)d rows checked: every filing can be made. Nothing was changed (check only).",
                      rows=self.rows)  # fmt: skip
        if self.submit:
            return _l("%(created)d filings made and %(submitted)d submitted for review.", created=self.created,
                      submitted=self.submitted)  # fmt: skip
        return _l("%(created)d draft filings made.", created=self.created)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "created": self.created, "submitted": self.submitted, "dry_run": self.dry_run,
            "submit": self.submit, "loaded": self.loaded, "problems": [p.as_dict() for p in self.problems],
            "warnings": [w.as_dict() for w in self.warnings],
        }  # fmt: skip


# -- reading ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Columns:
    """Where each column is in the file and how the file heads it."""

    positions: Mapping[str, int]
    headers: Mapping[str, str]
    chinese: bool  # the file heads its columns in Chinese: a column it lacks is named so

    @property
    def range_columns(self) -> bool:
        return {"start", "end"} <= self.positions.keys()

    @property
    def range_label(self) -> str:
        return f"{self.label('start')}/{self.label('end')}"

    def label(self, column: str) -> str:
        """The column as the file heads it; one the file lacks, as the template heads it."""
        if column == "block" and "block" not in self.positions and self.range_columns:
            return self.range_label
        if column in self.headers:
            return self.headers[column]
        spellings = HEADERS.get(column)
        return column if spellings is None else spellings[0 if self.chinese else 1]


def map_headers(cells: list[str]) -> Columns:
    positions: dict[str, int] = {}
    headers: dict[str, str] = {}
    for index, text in enumerate(cells):
        column = _LOOKUP.get(header_key(text)) if text else None
        if column is not None and column not in positions:
            positions[column], headers[column] = index, text
    return Columns(positions, headers, chinese=any(_CJK.search(text) for text in headers.values()))


def _names_a_block(columns: Columns) -> bool:
    return "block" in columns.positions or columns.range_columns


def table_rows(path: Path, name: str | None = None) -> Iterator[tuple[int, list[Cell]]]:
    """(line, cells) of a CSV file or an Excel workbook's first sheet. Raises ``UnreadableFile`` (reading) or
    ``UnusableFile`` (neither)."""
    try:
        file_format = detect_format(path, name)
    except UnreadableFile:
        file_format = None
    if file_format == Format.XLSX.value:
        return sheet_rows(path)
    if file_format == Format.CSV.value:
        return csv_rows(path)
    raise UnusableFile(_l("The file is neither CSV nor Excel (.xlsx)."))


def read_table(rows: Iterator[tuple[int, list[Cell]]]) -> tuple[Columns, Iterator[tuple[int, list[str]]]]:
    """The header (the row naming the most columns among the first rows, so a title row above it is fine) and the
    rows below it as text. Raises ``UnusableFile`` when no row names the block and the type."""
    head = head_rows(rows)
    if not head:
        raise UnusableFile(_l("The file is empty."))
    found: tuple[int, Columns] | None = None
    for index, (_line, cells) in enumerate(head):
        columns = map_headers(cells)
        if _names_a_block(columns) and (found is None or len(columns.positions) > len(found[1].positions)):
            found = (index, columns)
    if found is None:
        raise UnusableFile(_l("No header line names the block: give a 地址段 (block) column, or 起始IP and 终止IP "
                              "(start, end)."))  # fmt: skip
    header_index, columns = found
    if "filing_type" not in columns.positions:
        raise UnusableFile(_l("The file has no 分配方式 (type) column: 持有, 分配, 指派 or 保留."))

    def body() -> Iterator[tuple[int, list[str]]]:
        yield from head[header_index + 1 :]
        for line, cells in rows:
            yield line, [c if isinstance(c, str) else text_of(c) for c in cells]

    return columns, body()


# -- loading ---------------------------------------------------------------------------------------------------


def load_filings(
    session: Session,
    path: Path,
    *,
    filer: Organization,
    actor: Any,
    name: str | None = None,
    submit: bool = False,
    dry_run: bool = False,
) -> BulkResult:
    """File every row of ``path`` (CSV or Excel; ``name`` is the file's name as uploaded) for ``filer``: a draft
    each, submitted for review with ``submit``. All or nothing: when any row has a problem, or for ``dry_run``,
    nothing is kept and the result lists every problem. Raises ``UnusableFile`` for a file that cannot be used."""
    require_filer(actor, filer)
    result = BulkResult(dry_run=dry_run, submit=submit)
    savepoint = session.begin_nested()
    try:
        columns, rows = read_table(table_rows(path, name))
        loader = _Loader(session, columns, filer=filer, actor=actor, submit=submit)
        for line, cells in rows:
            if not any(cell.strip() for cell in cells):
                continue
            result.rows += 1
            if result.rows > MAX_ROWS:
                raise UnusableFile(_l("The file holds more than %(n)d filings; load it in parts.", n=MAX_ROWS))
            loader.load(line, cells, result)
    except UnreadableFile as exc:
        savepoint.rollback()
        raise UnusableFile(exc.message) from None
    except BaseException:
        savepoint.rollback()
        raise
    if result.problems or dry_run:
        savepoint.rollback()
    else:
        savepoint.commit()
    log.info("bulk filing for %s by %s: %d rows, %d drafts, %d submitted, %d problems%s", filer.code,
             actor.username, result.rows, result.created, result.submitted, len(result.problems),
             " (dry run)" if dry_run else "")  # fmt: skip
    return result


class _Loader:
    """Turns rows into filings; holds what is the same for every row (the value lists, the filer's filed blocks,
    the blocks seen so far in the file)."""

    def __init__(self, session: Session, columns: Columns, *, filer: Organization, actor: Any, submit: bool) -> None:
        self.session, self.columns, self.filer, self.actor, self.submit = session, columns, filer, actor, submit
        self.choices = {list_name: _choice_lookup(session, list_name) for list_name in ChoiceList}
        self.filed = _filed_blocks(session, filer)
        self.seen: dict[Block, int] = {}

    def load(self, line: int, cells: list[str], result: BulkResult) -> None:
        raw = {column: cells[index].strip() for column, index in self.columns.positions.items() if index < len(cells)}
        values, problems, block_text = self._values(line, raw)
        flagged = {column for column, _problem in problems}
        result.problems.extend(problem for _column, problem in problems)

        def refused(exc: DomainError) -> None:
            for name, messages in exc.fields.items():
                if name in flagged:
                    continue
                value = block_text if name == "block" else raw.get(name, "")
                result.problems.extend(RowProblem(line, self._label(name, raw), value, m) for m in messages)
            if not exc.fields:
                result.problems.append(RowProblem(line, "", "", exc.message))

        try:
            filing = create_filing(self.session, values, filer=self.filer, actor=self.actor)
        except DomainError as exc:
            refused(exc)
            return
        result.created += 1
        if not self.submit:
            return
        try:
            outcome = submit_filing(self.session, filing, actor=self.actor)
        except DomainError as exc:
            refused(exc)
            return
        result.submitted += 1
        result.warnings.extend(RowProblem(line, "", "", warning) for warning in outcome.warnings)

    def _label(self, name: str, raw: Mapping[str, str]) -> str:
        """A field's column as the file heads it; the block's, the column(s) this row writes it in."""
        if name == "block" and not raw.get("block") and (raw.get("start") or raw.get("end")):
            return self.columns.range_label
        return self.columns.label(name)

    def _values(self, line: int, raw: Mapping[str, str]) -> tuple[dict[str, Any], list[tuple[str, RowProblem]], str]:
        """The filed values of a row, and what is wrong with them before any operation sees them (a wrong value is
        left out, so that the operation names the row's other problems), each with the field it is about. Also
        the block as the row writes it."""
        problems: list[tuple[str, RowProblem]] = []

        def problem(name: str, value: str, message: Message, *, column: str | None = None) -> None:
            label = self.columns.label(column) if column else self._label(name, raw)
            problems.append((name, RowProblem(line, label, value, message)))

        values: dict[str, Any] = {name: raw.get(name) or None for name in TEXT_COLUMNS if name in raw}
        kind_text = raw.get("filing_type", "")
        kind = TYPE_WORDS.get(kind_text) or TYPE_WORDS.get(kind_text.casefold())
        if kind is not None:
            values["filing_type"] = kind.value
        elif kind_text:
            problem("filing_type", kind_text, _l("Not a type of filing: write 持有, 分配, 指派 or 保留 (holding, "
                                                 "allocation, assignment or reserved)."))  # fmt: skip
        block, block_text = self._block(line, raw, problem)
        if block is not None:
            values["block"] = str(block)
        for name, list_name in CHOICE_FIELDS.items():
            text = raw.get(name)
            if text:
                # A listed value by its code or its Chinese or English name; anything else goes on as written,
                # for the rule set to refuse in its own words.
                values[name] = self.choices[list_name].get(value_key(text), text)
        date_text = raw.get("allocated_on")
        if date_text:
            day = parse_date(date_text)
            if day is None:
                problem("allocated_on", date_text, _l("not a date (2024-03-01, 2024/3/1, 20240301 or 2024年3月1日)"))
            else:
                values["allocated_on"] = day
        return values, problems, block_text

    def _block(self, line: int, raw: Mapping[str, str], problem: Callable[..., None]) -> tuple[Block | None, str]:
        """The row's block (地址段, else 起始IP and 终止IP, or a prefix in 起始IP alone) and how the row writes it; None when it is missing, wrong,
        in the file twice or filed already (the problem is recorded)."""
        text, start, end = raw.get("block", ""), raw.get("start", ""), raw.get("end", "")
        if text or ("/" in start and not end):  # 地址段, or a prefix written in 起始IP alone
            written = text or start
            try:
                block = parse_block(written)
            except BadBlock as exc:
                problem("block", written, block_problem(str(exc)), column=None if text else "start")
                return None, written
        elif start or end:
            written = f"{start} - {end}"
            for column, value in (("start", start), ("end", end)):
                if not value:
                    problem("block", "", _l("Give both the first and the last address of the block."), column=column)
                    return None, written
                try:
                    parse_address(value)
                except BadBlock as exc:
                    problem("block", value, block_problem(str(exc)), column=column)
                    return None, written
            try:
                block = parse_block(start, end)
            except BadBlock as exc:
                problem("block", written, block_problem(str(exc)))
                return None, written
        else:
            return None, ""  # the operation says that the block is required
        earlier = self.seen.setdefault(block, line)
        if earlier != line:
            problem("block", written, _l("The same block as line %(line)d.", line=earlier))
            return None, written
        filed = self.filed.get(block)
        if filed is not None:
            problem("block", written, _l("Your organization has already filed this block (%(filing)s).",
                                         filing=filed))  # fmt: skip
            return None, written
        return block, written


def _choice_lookup(session: Session, list_name: str) -> dict[str, str]:
    """A value list's codes, Chinese and English names (as ``value_key`` spells them) -> the code; a code wins
    over a name that looks the same."""
    listed = queries.choice_values(session, list_name)
    lookup = {value_key(v.code): v.code for v in listed}
    for v in listed:
        for name in (v.name_zh, v.name_en):
            lookup.setdefault(value_key(name), v.code)
    return lookup


def _filed_blocks(session: Session, filer: Organization) -> dict[Block, str]:
    """The blocks the filer's live filings hold -> the filing's number (or id), in one query."""
    rows = session.execute(
        select(Filing.id, Filing.number, Filing.family, Filing.start, Filing.last).where(
            Filing.filer_id == filer.id, Filing.state.in_(queries.CLAIMING_STATES)
        )
    )
    return {Block(r.family, from_key(r.start), from_key(r.last)): r.number or f"#{r.id}" for r in rows}
