"""Excel workbooks (``.xlsx``, ``.xlsm``): the first sheet or a named one, the same columns as CSV.

Read as a stream: the zip members are read in chunks and fed to an incremental XML parser (expat), and the rows
come out one by one, typed (dates as dates, numbers as floats, as Excel keeps them). Line numbers are the sheet's
row numbers as Excel shows them; a row is padded with empty cells up to its last cell only, and rows the sheet
skips are absent.

Nothing the file declares is trusted before it is checked against the bounds below: a workbook beyond any of
them fails with ``UnreadableFile`` before anything is allocated for it. ``.xls`` and ``.ods`` files are refused
(their only reader here, calamine, builds a whole sheet as a dense table that a tiny file can make huge).
"""

from __future__ import annotations

import contextlib
import posixpath
import pyexpat
import re
import struct
import zipfile
import zlib
from array import array
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any

from core.messages import N_
from importers.records import GZIP_MAGIC, AllocationRecord, Problem, UnreadableFile
from importers.tabular import MAX_COLUMNS, Cell, records_from_rows

MAX_UNZIPPED_BYTES = 1 << 30  # real bytes decompressed from the zip, all members together (headers lie)
MAX_ROWS = 1_048_576  # Excel's own limit
MAX_CELL_CHARS = 32_767  # Excel's own limit on a cell's text
MAX_ROW_CHARS = 1 << 20  # the text of one row, as for a CSV line
MAX_SHARED_STRINGS = 2_000_000  # distinct strings of the workbook
MAX_SHARED_STRING_BYTES = 64 << 20  # their UTF-8 text, held compactly
MAX_STYLES = 65_536  # cell formats (Excel allows 64,000)
MAX_SHEETS = 1_024  # sheets and relationships of the workbook
MAX_SHEET_NAME_CHARS = 255
MAX_TOKEN_BYTES = 1 << 20  # XML read without completing a tag or a text chunk (a giant tag, comment or name)
MAX_ZIP_ENTRIES = 10_000  # the zip's directory is read whole by zipfile: bounded before it is opened
MAX_ZIP_DIRECTORY_BYTES = 1 << 20
READ_CHUNK = 64 * 1024

OLE_MAGIC = b"\xd0\xcf\x11\xe0"
ZIP_MAGIC = b"PK\x03\x04"
ODS_MIMETYPE = b"application/vnd.oasis.opendocument"
# Built-in number formats that show a date (ECMA-376 18.8.30, and the East Asian ones).
DATE_FORMAT_IDS = frozenset([*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59)])
_DATE_FORMAT_NOISE = re.compile(r'"[^"]*"|\[[^\]]*\]|\\.|_.|\*.')
_DATE_TOKENS = re.compile(r"[ymd]", re.IGNORECASE)
_CELL_REFERENCE = re.compile(r"([A-Za-z]{1,3})?(\d{1,7})?$")
_DIGITS = "0123456789"
_MS_PER_DAY = 86_400_000
_EPOCH_1900, _EPOCH_1904 = date(1899, 12, 30), date(1904, 1, 1)
_LAST_SERIAL = 2_958_465  # 9999-12-31


def parse_xlsx(
    path: Path, sheet: str | None = None, headers: dict[str, str] | None = None
) -> Iterator[AllocationRecord | Problem]:
    """The sheet's records (``headers``: filled with the sheet's header for each column it names)."""
    with _checked_workbook(path) as book:
        name = _sheet_name(book, sheet)
        yield from records_from_rows(book.rows(name), sheet=name, headers=headers)


def sheet_rows(path: Path, sheet: str | None = None) -> Iterator[tuple[int, list[Cell]]]:
    """(row number, cells) of a sheet (the first one by default), checked and read as ``parse_xlsx`` reads them;
    for tables other than allocation records (the filings' bulk file)."""
    with _checked_workbook(path) as book:
        yield from book.rows(_sheet_name(book, sheet))


@contextlib.contextmanager
def _checked_workbook(path: Path) -> Iterator[_Workbook]:
    """The workbook of ``path``, once it is known to be an .xlsx (not empty, not .xls, .ods or gzip)."""
    with path.open("rb") as handle:
        head = handle.read(8)
        if not head:
            raise UnreadableFile(N_("the file is empty"))
        if head.startswith(OLE_MAGIC):
            raise UnreadableFile(
                N_("Excel 97-2003 workbooks (.xls) cannot be imported; save the sheet as .xlsx or CSV")
            )
        if head.startswith(GZIP_MAGIC):
            raise UnreadableFile(N_("the workbook is gzip-compressed; upload the .xlsx file itself"))
        archive = _open_zip(handle)
        with archive:
            yield _Workbook(archive)


def _sheet_name(book: _Workbook, sheet: str | None) -> str:
    names = [name for name, _part in book.sheets]
    if not names:
        raise UnreadableFile(N_("the workbook has no sheets"))
    if sheet is not None and sheet not in names:
        raise UnreadableFile(N_("the workbook has no sheet %(sheet)s (it has: %(names)s)"), sheet=sheet,
                             names=", ".join(names))  # fmt: skip
    return sheet or names[0]


def _open_zip(handle: IO[bytes]) -> zipfile.ZipFile:
    handle.seek(0)
    if handle.read(4) != ZIP_MAGIC:
        raise UnreadableFile(N_("the file is not an Excel workbook (%(detail)s)"), detail="not a zip archive")
    entries, directory = _zip_directory(handle)
    if entries > MAX_ZIP_ENTRIES or directory > MAX_ZIP_DIRECTORY_BYTES:
        raise UnreadableFile(N_("the workbook holds more than %(count)d files"), count=MAX_ZIP_ENTRIES)
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise UnreadableFile(N_("the file is not an Excel workbook (%(detail)s)"), detail=str(exc)[:200]) from None
    try:
        with archive.open("mimetype") as member:
            mimetype = member.read(len(ODS_MIMETYPE))
    except (KeyError, zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, zlib.error, EOFError):
        mimetype = b""
    if mimetype == ODS_MIMETYPE:
        archive.close()
        raise UnreadableFile(N_("OpenDocument spreadsheets (.ods) cannot be imported; save the sheet as .xlsx or CSV"))
    return archive


def _zip_directory(handle: IO[bytes]) -> tuple[int, int]:
    """(entries, bytes) of the zip's central directory, read from its end record (ZIP64 too)."""
    end = handle.seek(0, 2)
    window = min(end, 22 + 0xFFFF + 20)
    handle.seek(end - window)
    tail = handle.read(window)
    at = len(tail) - 22
    if not (at >= 0 and tail[at : at + 4] == b"PK\x05\x06" and tail[-2:] == b"\x00\x00"):
        at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        raise UnreadableFile(N_("the file is not an Excel workbook (%(detail)s)"), detail="no zip directory")
    entries, directory = struct.unpack("<HI", tail[at + 10 : at + 16])
    if entries != 0xFFFF and directory != 0xFFFFFFFF:
        return entries, directory
    locator = tail[at - 20 : at] if at >= 20 else b""
    if not locator.startswith(b"PK\x06\x07"):
        return entries, directory
    (offset,) = struct.unpack("<Q", locator[8:16])
    handle.seek(offset)
    record = handle.read(56)
    if len(record) < 56 or not record.startswith(b"PK\x06\x06"):
        raise UnreadableFile(N_("the file is not an Excel workbook (%(detail)s)"), detail="bad zip64 directory")
    entries64, directory64 = struct.unpack("<QQ", record[32:48])
    return entries64, directory64


class _Workbook:
    """The parts of a workbook a sheet's rows need: sheet names and parts, shared strings, date formats."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.members = {info.filename.lower(): info for info in archive.infolist()}
        self.budget = [MAX_UNZIPPED_BYTES]
        workbook = self._target(self._relationships("_rels/.rels"), "/officeDocument") or "xl/workbook.xml"
        if workbook.lower() not in self.members:
            raise UnreadableFile(N_("the file is not an Excel workbook (%(detail)s)"), detail="no workbook part")
        folder, base = posixpath.split(workbook)
        relationships = self._relationships(posixpath.join(folder, "_rels", base + ".rels"), folder)
        self.date1904, sheets = self._read_workbook(workbook)
        parts = {rid: target for rid, (_kind, target) in relationships.items()}
        self.sheets = [(name, parts.get(rid) or "") for name, rid in sheets]
        self.shared_part = self._target(relationships, "/sharedStrings")
        self.styles_part = self._target(relationships, "/styles")

    def rows(self, name: str) -> Iterator[tuple[int, list[Cell]]]:
        part = dict(self.sheets)[name]
        if part.lower() not in self.members:
            raise UnreadableFile(N_("the sheet cannot be read (%(detail)s)"), detail=f"no part {part[:100]}")
        shared = _SharedStrings()
        if self.shared_part and self.shared_part.lower() in self.members:
            self._parse(self.shared_part, shared)
        date_styles = _Styles()
        if self.styles_part and self.styles_part.lower() in self.members:
            self._parse(self.styles_part, date_styles)
        reader = _SheetReader(shared, date_styles.dates, _EPOCH_1904 if self.date1904 else None)
        for rows in self._feed(part, reader):
            yield from rows

    def _read_workbook(self, part: str) -> tuple[bool, list[tuple[str, str]]]:
        reader = _WorkbookReader()
        self._parse(part, reader)
        return reader.date1904, reader.sheets

    def _relationships(self, part: str, folder: str = "") -> dict[str, tuple[str, str]]:
        """Id -> (type, target part) of a relationships part (absent: none)."""
        if part.lower() not in self.members:
            return {}
        reader = _RelationshipsReader(folder)
        self._parse(part, reader)
        return reader.targets

    @staticmethod
    def _target(relationships: dict[str, tuple[str, str]], kind: str) -> str | None:
        return next((target for rel_type, target in relationships.values() if rel_type.endswith(kind)), None)

    def _parse(self, part: str, reader: _XmlReader) -> None:
        for _ in self._feed(part, reader):
            pass

    def _feed(self, part: str, reader: _XmlReader) -> Iterator[list[tuple[int, list[Cell]]]]:
        """Feeds ``part`` to ``reader`` chunk by chunk; yields what the reader completed after each chunk."""
        parser = pyexpat.ParserCreate(namespace_separator=" ")
        parser.buffer_text = True
        parser.buffer_size = READ_CHUNK
        parser.StartElementHandler = reader.start
        parser.EndElementHandler = reader.end
        parser.CharacterDataHandler = reader.text
        parser.StartDoctypeDeclHandler = _no_doctype
        fed = 0
        try:
            with self.archive.open(self.members[part.lower()]) as member:
                while not reader.done and (chunk := member.read(READ_CHUNK)):
                    fed += len(chunk)
                    self.budget[0] -= len(chunk)
                    if self.budget[0] < 0:
                        raise UnreadableFile(N_("the workbook is larger than %(megabytes)d MB once decompressed"),
                                             megabytes=MAX_UNZIPPED_BYTES >> 20)  # fmt: skip
                    parser.Parse(chunk, False)
                    if fed - parser.CurrentByteIndex > MAX_TOKEN_BYTES:
                        raise UnreadableFile(N_("the workbook is damaged: %(part)s holds an over-long XML tag"),
                                             part=part[:100])  # fmt: skip
                    if reader.ready:
                        yield reader.taken()
                if not reader.done:
                    parser.Parse(b"", True)
        except pyexpat.ExpatError as exc:
            raise UnreadableFile(N_("the workbook is damaged: %(part)s is not well-formed XML (%(detail)s)"),
                                 part=part[:100], detail=str(exc)[:200]) from None  # fmt: skip
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, zlib.error, EOFError) as exc:
            raise UnreadableFile(N_("the sheet cannot be read (%(detail)s)"), detail=str(exc)[:200]) from None
        if reader.ready:
            yield reader.taken()


def _no_doctype(*_args: Any) -> None:
    raise UnreadableFile(N_("the workbook is damaged: it declares a DTD"))


_LOCAL: dict[str, str] = {}


def _local(name: str) -> str:
    """``tag`` of a namespaced ``"uri tag"`` (any namespace: transitional and strict OOXML alike)."""
    local = _LOCAL.get(name)
    if local is None:
        local = name.rpartition(" ")[2]
        if len(_LOCAL) < 4096:
            _LOCAL[name] = local
    return local


class _XmlReader:
    done = False
    ready: list[tuple[int, list[Cell]]]

    def __init__(self) -> None:
        self.ready = []

    def taken(self) -> list[tuple[int, list[Cell]]]:
        """The rows completed so far, handed over (the list itself stays: the handlers hold it)."""
        rows = self.ready.copy()
        self.ready.clear()
        return rows

    def start(self, name: str, attributes: dict[str, str]) -> None:
        raise NotImplementedError

    def end(self, name: str) -> None:
        pass

    def text(self, data: str) -> None:
        pass


class _RelationshipsReader(_XmlReader):
    def __init__(self, folder: str) -> None:
        super().__init__()
        self.folder = folder
        self.targets: dict[str, tuple[str, str]] = {}

    def start(self, name: str, attributes: dict[str, str]) -> None:
        if _local(name) != "Relationship" or attributes.get("TargetMode") == "External":
            return
        if len(self.targets) >= MAX_SHEETS:
            raise UnreadableFile(N_("the workbook has more than %(count)d parts"), count=MAX_SHEETS)
        target = attributes.get("Target", "")
        part = target[1:] if target.startswith("/") else posixpath.normpath(posixpath.join(self.folder, target))
        self.targets[attributes.get("Id", "")] = (attributes.get("Type", ""), part)


class _WorkbookReader(_XmlReader):
    def __init__(self) -> None:
        super().__init__()
        self.date1904 = False
        self.sheets: list[tuple[str, str]] = []  # (name, relationship id)

    def start(self, name: str, attributes: dict[str, str]) -> None:
        local = _local(name)
        if local == "workbookPr":
            self.date1904 = attributes.get("date1904", "").lower() in ("1", "true")
        elif local == "sheet":
            if len(self.sheets) >= MAX_SHEETS:
                raise UnreadableFile(N_("the workbook has more than %(count)d sheets"), count=MAX_SHEETS)
            sheet = attributes.get("name", "")
            if len(sheet) > MAX_SHEET_NAME_CHARS:
                raise UnreadableFile(N_("the workbook is damaged: a sheet name is longer than %(count)d characters"),
                                     count=MAX_SHEET_NAME_CHARS)  # fmt: skip
            rid = next((value for key, value in attributes.items() if key.endswith("relationships id")), "")
            self.sheets.append((sheet, rid))

    def end(self, name: str) -> None:
        if _local(name) == "sheets":
            self.done = True  # what follows (defined names, calculation settings) is not needed


class _Styles(_XmlReader):
    """Which cell formats (``s`` of a cell) show a date."""

    def __init__(self) -> None:
        super().__init__()
        self.date_formats = set(DATE_FORMAT_IDS)
        self.dates: set[int] = set()
        self.formats = self.xfs = 0
        self.in_cell_xfs = False

    def start(self, name: str, attributes: dict[str, str]) -> None:
        local = _local(name)
        if local == "numFmt":
            self.formats += 1
            if self.formats > MAX_STYLES:
                raise UnreadableFile(N_("the workbook has more than %(count)d cell formats"), count=MAX_STYLES)
            number = _integer(attributes.get("numFmtId"))
            if number is not None and is_date_format(attributes.get("formatCode", "")):
                self.date_formats.add(number)
        elif local == "cellXfs":
            self.in_cell_xfs = True
        elif local == "xf" and self.in_cell_xfs:
            if self.xfs >= MAX_STYLES:
                raise UnreadableFile(N_("the workbook has more than %(count)d cell formats"), count=MAX_STYLES)
            if _integer(attributes.get("numFmtId")) in self.date_formats:
                self.dates.add(self.xfs)
            self.xfs += 1

    def end(self, name: str) -> None:
        if _local(name) == "cellXfs":
            self.in_cell_xfs = False
            self.done = True


def is_date_format(code: str) -> bool:
    """Whether a number format shows a date: a y, m or d outside quoted text, brackets and escapes."""
    return bool(_DATE_TOKENS.search(_DATE_FORMAT_NOISE.sub("", code)))


def _integer(text: str | None) -> int | None:
    if text is None or not text.isdigit() or len(text) > 9:
        return None
    return int(text)


class _SharedStrings(_XmlReader):
    """The workbook's strings, as one UTF-8 buffer and their offsets (a Python string each would take ~4x)."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = bytearray()
        self.offsets = array("Q", [0])
        self.parts: list[str] = []
        self.chars = 0
        self.collect = False
        self.phonetic = 0

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> str:
        return self.buffer[self.offsets[index] : self.offsets[index + 1]].decode()

    def start(self, name: str, attributes: dict[str, str]) -> None:
        local = _local(name)
        if local == "t":
            self.collect = not self.phonetic
        elif local == "si":
            self.parts, self.chars = [], 0
        elif local == "rPh":
            self.phonetic += 1
        elif local == "sst":
            declared = _integer(attributes.get("uniqueCount"))
            if declared is not None and declared > MAX_SHARED_STRINGS:
                raise _TooManyStrings

    def end(self, name: str) -> None:
        local = _local(name)
        if local == "t":
            self.collect = False
        elif local == "rPh":
            self.phonetic -= 1
        elif local == "si":
            if len(self.offsets) > MAX_SHARED_STRINGS:
                raise _TooManyStrings
            self.buffer += "".join(self.parts).encode()
            if len(self.buffer) > MAX_SHARED_STRING_BYTES:
                raise UnreadableFile(N_("the workbook's strings take more than %(megabytes)d MB"),
                                     megabytes=MAX_SHARED_STRING_BYTES >> 20)  # fmt: skip
            self.offsets.append(len(self.buffer))
            self.parts = []

    def text(self, data: str) -> None:
        if self.collect:
            self.chars += len(data)
            if self.chars > MAX_CELL_CHARS:
                raise UnreadableFile(N_("a string of the workbook is longer than 32,767 characters"))
            self.parts.append(data)


class _TooManyStrings(UnreadableFile):
    def __init__(self) -> None:
        super().__init__(N_("the workbook has more than %(count)d distinct strings"), count=MAX_SHARED_STRINGS)


class _LongCell(UnreadableFile):
    def __init__(self, cell: str) -> None:
        super().__init__(N_("a cell holds more than 32,767 characters (cell %(cell)s)"), cell=cell)


class _SheetReader(_XmlReader):
    """The rows of ``sheetData``: each completed row goes to ``ready`` as (row number, cells).

    The handlers are closures over local state: they run a few times per cell, and this is the importer's
    hottest loop (attribute look-ups on ``self`` cost a third of the time)."""

    def __init__(self, shared: _SharedStrings, date_styles: set[int], epoch1904: date | None) -> None:
        super().__init__()
        ready = self.ready
        date_style_names = {str(style) for style in date_styles}
        columns = {_reference(column, 0)[:-1]: column for column in range(1, MAX_COLUMNS + 1)}
        row_number = column = row_chars = chars = phonetic = 0
        cells: list[Cell] = []
        parts: list[str] = []
        kind, style = "n", None
        collect = in_row = number_from_cell = False
        local_of = _LOCAL.get

        def start(name: str, attributes: dict[str, str]) -> None:
            nonlocal row_number, column, row_chars, chars, phonetic, cells, kind, style, collect, in_row
            nonlocal number_from_cell
            local = local_of(name) or _local(name)
            if local == "c":
                reference = attributes.get("r")
                if reference is None:
                    column += 1
                    if column > MAX_COLUMNS:
                        raise _TooWide(_reference(column, row_number))
                else:
                    column = columns.get(reference.rstrip(_DIGITS)) or self._column(reference, in_row)
                    if number_from_cell or not in_row:
                        row_number, number_from_cell = self._row_of(reference, row_number), False
                kind, style = attributes.get("t", "n"), attributes.get("s")
                chars, collect = 0, False
            elif local == "v":
                collect = kind != "inlineStr"
            elif local == "t":
                collect = kind == "inlineStr" and not phonetic
            elif local == "row":
                number = attributes.get("r")
                number_from_cell = number is None
                row_number = row_number + 1 if number is None else _row_number(number)
                _check(1, row_number, f"A{row_number}")
                cells, row_chars, in_row, column = [], 0, True, 0
            elif local == "rPh":
                phonetic += 1
            elif local == "dimension":
                for corner in attributes.get("ref", "").split(":"):
                    corner_column, corner_row = _position(corner)
                    _check(corner_column or 1, corner_row or 1, corner)

        def end(name: str) -> None:
            nonlocal row_chars, collect, in_row, phonetic
            local = local_of(name) or _local(name)
            if local == "c":
                value: Cell = ""
                if parts:
                    text = parts[0] if len(parts) == 1 else "".join(parts)
                    parts.clear()
                    if kind == "n":
                        try:
                            value = float(text)
                        except ValueError:
                            value = text
                        else:
                            if style in date_style_names:
                                value = excel_date(value, epoch1904) or value
                    elif kind == "s":
                        value = self._shared(shared, text, column, row_number)
                    elif kind == "b":
                        value = text.strip() in ("1", "true")
                    elif kind == "d":
                        value = _iso_date(text)
                    else:
                        value = text
                    if value.__class__ is str:
                        row_chars += len(value)  # type: ignore[arg-type]
                        if row_chars > MAX_ROW_CHARS:
                            raise UnreadableFile(N_("row %(row)d holds more than 1 MiB of text"), row=row_number)
                width = len(cells)
                if column > width:
                    if column > width + 1:
                        cells.extend([""] * (column - width - 1))
                    cells.append(value)
                else:
                    cells[column - 1] = value
            elif local == "v" or local == "t":
                collect = False
            elif local == "row":
                if cells:
                    ready.append((row_number, cells))
                in_row = False
            elif local == "rPh":
                phonetic -= 1
            elif local == "sheetData":
                self.done = True

        def text(data: str) -> None:
            nonlocal chars
            if collect:
                chars += len(data)
                if chars > MAX_CELL_CHARS:
                    raise UnreadableFile(N_("a cell holds more than 32,767 characters (cell %(cell)s)"),
                                         cell=_reference(column, row_number))  # fmt: skip
                parts.append(data)

        self.start, self.end, self.text = start, end, text  # type: ignore[method-assign]

    @staticmethod
    def _column(reference: str, in_row: bool) -> int:
        """The column of a reference the fast look-up missed: damaged, or beyond the bounds."""
        column, row = _position(reference)
        if column is None:
            raise UnreadableFile(N_("the sheet is damaged: a cell is named %(cell)s"), cell=reference[:20])
        _check(column, row or 1, reference)
        return column

    @staticmethod
    def _row_of(reference: str, current: int) -> int:
        """The row of a cell when its row element does not say it."""
        row = _position(reference)[1]
        if row is None:
            return current
        _check(1, row, reference)
        return row

    @staticmethod
    def _shared(shared: _SharedStrings, text: str, column: int, row: int) -> str:
        index = _integer(text.strip())
        if index is None or index >= len(shared):
            raise UnreadableFile(N_("the sheet is damaged: cell %(cell)s names a string the workbook lacks"),
                                 cell=_reference(column, row))  # fmt: skip
        return shared[index]


def _row_number(text: str) -> int:
    number = _integer(text)
    if number is None or number < 1:
        raise UnreadableFile(N_("the sheet is damaged: a row is numbered %(row)s"), row=text[:20])
    return number


def _check(column: int, row: int, reference: str) -> None:
    if column > MAX_COLUMNS:
        raise _TooWide(reference[:20])
    if row > MAX_ROWS:
        raise UnreadableFile(N_("the sheet is longer than %(rows)d rows (cell %(cell)s)"), rows=MAX_ROWS,
                             cell=reference[:20])  # fmt: skip


class _TooWide(UnreadableFile):
    def __init__(self, cell: str) -> None:
        super().__init__(N_("the sheet is wider than %(columns)d columns (cell %(cell)s)"), columns=MAX_COLUMNS,
                         cell=cell)  # fmt: skip


def excel_date(serial: float, epoch1904: date | None = None) -> date | datetime | time | None:
    """The date (or date and time, or time of day below 1) an Excel serial number stands for; None when it is none
    (negative, too big). In the 1900 system Excel counts a 29 February 1900 that never was: serials before it are
    one day later."""
    if not 0 <= serial <= _LAST_SERIAL:
        return None
    days, milliseconds = divmod(round(serial * _MS_PER_DAY), _MS_PER_DAY)
    if not days and milliseconds:
        return (datetime.min + timedelta(milliseconds=milliseconds)).time()
    if epoch1904 is not None:
        day = epoch1904 + timedelta(days=days)
    else:
        day = _EPOCH_1900 + timedelta(days=days + (1 if days < 61 else 0))
    if not milliseconds:
        return day
    return datetime(day.year, day.month, day.day) + timedelta(milliseconds=milliseconds)


def _iso_date(text: str) -> Cell:
    try:
        moment = datetime.fromisoformat(text.strip().removesuffix("Z"))
    except ValueError:
        return text
    return moment.date() if moment == datetime(moment.year, moment.month, moment.day) else moment


def _position(reference: str) -> tuple[int | None, int | None]:
    """(column, row) of a cell reference such as ``AB12`` (``$`` signs allowed); None for a missing part."""
    match = _CELL_REFERENCE.match(reference.replace("$", ""))
    if match is None:
        return None, None
    letters, digits = match.groups()
    column = None
    if letters:
        column = 0
        for letter in letters.upper():
            column = column * 26 + ord(letter) - 64
    return column, int(digits) if digits else None


def _reference(column: int, row: int) -> str:
    letters = ""
    while column > 0:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return f"{letters}{row}"
