"""Carriers' CSV exports: UTF-8 (with or without BOM) or GB18030, comma or tab separated, Chinese or English
headers (``importers.tabular``), start–end ranges or CIDRs, dates in the common forms. Read as a stream, and
bounded: a line longer than 1 MiB (``records.MAX_LINE_CHARS``), a field longer than ``MAX_FIELD_CHARS``, a row
(quoted newlines may spread it over lines) longer than ``MAX_ROW_CHARS``, or a row with text beyond
``tabular.MAX_COLUMNS`` fails the file."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from pathlib import Path

from core.messages import N_
from importers.records import AllocationRecord, Problem, UnreadableFile, bounded_lines, open_binary
from importers.tabular import MAX_COLUMNS, Cell, records_from_rows

SNIFF_BYTES = 64 * 1024
MAX_FIELD_CHARS = 1 << 20
MAX_ROW_CHARS = 4 << 20  # above the field bound, so that an over-long field is named as such
csv.field_size_limit(MAX_FIELD_CHARS)


def detect_encoding(path: Path) -> str:
    """UTF-8 (a BOM is dropped: ``utf-8-sig``) or GB18030, checked over the whole file in one streaming pass."""
    with open_binary(path) as handle:
        head = handle.read(SNIFF_BYTES)
        if not head.strip():
            raise UnreadableFile(N_("the file is empty"))
        if b"\x00" in head[:4096]:
            raise UnreadableFile(N_("the file is binary, not text"))
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with open_binary(path) as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    raise UnreadableFile(N_("the file is neither UTF-8 nor GB18030 text"))


def parse_csv(path: Path, headers: dict[str, str] | None = None) -> Iterator[AllocationRecord | Problem]:
    """The file's records (``headers``: filled with the file's header for each column it names)."""
    yield from records_from_rows(csv_rows(path), headers=headers)


def csv_rows(path: Path) -> Iterator[tuple[int, list[Cell]]]:
    """(line number, cells) of each row, the line being where the row starts (a quoted newline spreads a row over
    lines), read in the file's encoding and delimiter, within the bounds above; for tables other than allocation
    records (the filings' bulk file)."""
    encoding = detect_encoding(path)
    with open_binary(path) as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, newline="")
        sample = text.read(SNIFF_BYTES)
        delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
        text.seek(0)
        lines = _Lines(text)
        yield from _rows(csv.reader(lines, delimiter=delimiter), lines)


def parse_csv_bytes(data: bytes) -> Iterator[AllocationRecord | Problem]:
    """For tests and small uploads held in memory."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".csv") as handle:
        handle.write(data)
        handle.flush()
        yield from parse_csv(Path(handle.name))


class _Lines:
    """The file's lines for ``csv.reader``, each bounded; counts the characters of the row being read."""

    def __init__(self, text: io.TextIOBase) -> None:
        self._lines = bounded_lines(text)
        self.row_chars = 0
        self.row_line = 1

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.row_chars += len(line)
        if self.row_chars > MAX_ROW_CHARS:
            raise UnreadableFile(N_("line %(line)d: the row is longer than 4 MiB"), line=self.row_line)
        return line


def _rows(reader: Iterator[list[str]], lines: _Lines) -> Iterator[tuple[int, list[Cell]]]:
    line = 1
    while True:
        lines.row_chars, lines.row_line = 0, line
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if str(exc).startswith("field larger than field limit"):
                raise UnreadableFile(N_("line %(line)d: a field is longer than 1 MiB"), line=line) from None
            # Typically a quoted field the file never closes (a file cut off mid-line).
            raise _Truncated(line, str(exc)) from None
        if len(row) > MAX_COLUMNS:
            if any(row[MAX_COLUMNS:]):
                raise UnreadableFile(
                    N_("line %(line)d has more than %(columns)d columns"), line=line, columns=MAX_COLUMNS
                )
            del row[MAX_COLUMNS:]
        yield line, row  # type: ignore[misc]
        line = reader.line_num + 1  # type: ignore[attr-defined]


class _Truncated(UnreadableFile):
    def __init__(self, line: int, detail: str) -> None:
        super().__init__(
            N_("line %(line)d: the file ends inside a quoted field (%(detail)s)"), line=line, detail=detail
        )
        self.line = line
