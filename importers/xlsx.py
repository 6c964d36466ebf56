"""Excel workbooks (``.xlsx``, also ``.xls``/``.ods``): the first sheet or a named one, the same columns as CSV.

Read with python-calamine (Rust): rows come out typed (dates as dates, numbers as floats). Line numbers are the
sheet's row numbers as Excel shows them."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

from python_calamine import CalamineError, CalamineWorkbook

from importers.records import N_, AllocationRecord, Problem, UnreadableFile
from importers.tabular import Cell, records_from_rows


def parse_xlsx(path: Path, sheet: str | None = None) -> Iterator[AllocationRecord | Problem]:
    if path.stat().st_size == 0:
        raise UnreadableFile(N_("the file is empty"))
    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except (CalamineError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise UnreadableFile(N_("the file is not an Excel workbook (%(detail)s)"), detail=str(exc)[:200]) from None
    names = workbook.sheet_names
    if not names:
        raise UnreadableFile(N_("the workbook has no sheets"))
    if sheet is not None and sheet not in names:
        raise UnreadableFile(N_("the workbook has no sheet %(sheet)s (it has: %(names)s)"), sheet=sheet,
                             names=", ".join(names))  # fmt: skip
    name = sheet or names[0]
    try:
        data = workbook.get_sheet_by_name(name)
    except CalamineError as exc:
        raise UnreadableFile(N_("the sheet cannot be read (%(detail)s)"), detail=str(exc)[:200]) from None
    first_row = data.start[0] if data.start else 0
    yield from records_from_rows(_rows(data.iter_rows(), first_row), sheet=name)


def _rows(rows: Iterator[list[Cell]], first_row: int) -> Iterator[tuple[int, list[Cell]]]:
    for offset, row in enumerate(rows):
        yield first_row + offset + 1, row
