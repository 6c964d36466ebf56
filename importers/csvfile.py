"""Carriers' CSV exports: UTF-8 (with or without BOM) or GB18030, comma or tab separated, Chinese or English
headers (``importers.tabular``), start–end ranges or CIDRs, dates in the common forms. Read as a stream."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from pathlib import Path

from importers.records import N_, AllocationRecord, Problem, UnreadableFile, open_binary
from importers.tabular import Cell, records_from_rows

SNIFF_BYTES = 64 * 1024
csv.field_size_limit(1 << 20)


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


def parse_csv(path: Path) -> Iterator[AllocationRecord | Problem]:
    encoding = detect_encoding(path)
    with open_binary(path) as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, newline="")
        sample = text.read(SNIFF_BYTES)
        delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
        text.seek(0)
        yield from records_from_rows(_rows(csv.reader(text, delimiter=delimiter)))


def parse_csv_bytes(data: bytes) -> Iterator[AllocationRecord | Problem]:
    """For tests and small uploads held in memory."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".csv") as handle:
        handle.write(data)
        handle.flush()
        yield from parse_csv(Path(handle.name))


def _rows(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[Cell]]]:
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # Typically a quoted field the file never closes (a file cut off mid-line).
            raise _Truncated(line, str(exc)) from None
        yield line, row  # type: ignore[misc]
        line = reader.line_num + 1  # type: ignore[attr-defined]


class _Truncated(UnreadableFile):
    def __init__(self, line: int, detail: str) -> None:
        super().__init__(
            N_("line %(line)d: the file ends inside a quoted field (%(detail)s)"), line=line, detail=detail
        )
        self.line = line
