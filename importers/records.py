"""What every parser yields: plain records and located problems. Parsers know no database and no Flask.

Problem messages are message templates (marked with ``N_`` for the translation catalog) plus parameters: they
are stored that way and rendered in the reader's language when shown, as a ``core.messages.Message``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

from core.messages import N_, Message, as_message, format_message, storable
from core.messages import render as render  # where the import pages and the CLI find it
from ipam.space import HostBitsSet, Net, format_net, parse_net, range_to_blocks

GZIP_MAGIC = b"\x1f\x8b"
# Bounds every reader keeps, whatever the file says (a hostile file fails with ``UnreadableFile``, it never takes
# the worker's memory): the bytes a gzip-compressed file may expand to, read in one pass, and the length of a line.
MAX_UNZIPPED_BYTES = 1 << 30
MAX_LINE_CHARS = 1 << 20


@dataclass(frozen=True)
class AllocationRecord:
    """One block a file says is allocated, assigned or reserved (a registry prefix to be)."""

    line: int
    prefix: Net
    kind: str  # allocation, assignment, reserved
    holder_id: str | None = None  # opaque id (RIR), org handle (RPSL), or None
    holder_name: str | None = None
    uscc: str | None = None
    country: str | None = None
    registered: date | None = None
    netname: str | None = None
    description: str | None = None
    status: str | None = None  # the file's own word for it
    usage: str | None = None
    division: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None
    sheet: str | None = None


@dataclass(frozen=True)
class Problem:
    """A line the importer cannot take, said so that a person can find and fix it."""

    line: int
    column: str
    value: str
    message: str  # a template, see ``core.messages``
    params: Mapping[str, Any] = field(default_factory=dict)
    sheet: str | None = None
    severity: str = "error"  # "warning": said of a row that loads all the same (a pool policy it predates)

    def text(self) -> str:
        return str(Message.from_stored(self.message, self.params))

    @classmethod
    def of(cls, line: int, column: str, value: str, message: Message, sheet: str | None = None) -> Problem:
        """The problem a validator's message (``accounts.validators``) states, stored as template and params."""
        template, params = as_message(message).as_stored()
        return cls(line, column, value, template, params, sheet)


class UnreadableFile(ValueError):
    """The file as a whole cannot be read (empty, binary, unknown encoding, no usable header)."""

    def __init__(self, message: str, **params: Any) -> None:
        typed = {k: storable(v) for k, v in params.items()}
        super().__init__(format_message(message, typed))
        self.template, self.params = message, typed

    @property
    def message(self) -> Message:
        return Message(self.template, self.params)

    def text(self) -> str:
        return str(self.message)


def open_binary(path: Path) -> IO[bytes]:
    """The bytes of ``path``, gunzipped transparently when it is gzip-compressed (at most ``MAX_UNZIPPED_BYTES``
    of them, counted as they come out, never trusting the gzip header). The caller closes it."""
    with path.open("rb") as probe:
        compressed = probe.read(2) == GZIP_MAGIC
    if not compressed:
        return path.open("rb")
    return io.BufferedReader(_BoundedGzip(path), buffer_size=1 << 16)


class _BoundedGzip(io.RawIOBase):
    """A gzip stream that fails the file once it has expanded past ``MAX_UNZIPPED_BYTES`` (a gzip bomb), and that
    reports damaged or cut-off gzip data as an unreadable file."""

    def __init__(self, path: Path) -> None:
        self._inner = gzip.GzipFile(path, "rb")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            count = self._inner.readinto(buffer)
        except (OSError, EOFError, zlib.error) as exc:
            raise UnreadableFile(N_("the gzip data is damaged (%(detail)s)"), detail=str(exc)[:200]) from None
        if self._inner.tell() > MAX_UNZIPPED_BYTES:
            raise UnreadableFile(
                N_("the file is larger than %(megabytes)d MB once decompressed"), megabytes=MAX_UNZIPPED_BYTES >> 20
            )
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._inner.seek(offset, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def close(self) -> None:
        self._inner.close()
        super().close()


def bounded_lines(lines: Iterable[str]) -> Iterator[str]:
    """The lines of a text stream (or of any iterable of lines), each read with a bounded ``readline``: a line
    longer than ``MAX_LINE_CHARS`` (its newline aside) fails the file before more of it is held."""
    readline = getattr(lines, "readline", None)
    if readline is None:
        for number, line in enumerate(lines, start=1):
            if len(line) > MAX_LINE_CHARS and len(line.rstrip("\r\n")) > MAX_LINE_CHARS:
                raise LineTooLong(number)
            yield line
        return
    number, limit = 0, MAX_LINE_CHARS + 2
    while line := readline(limit):
        number += 1
        if len(line) > MAX_LINE_CHARS and len(line.rstrip("\r\n")) > MAX_LINE_CHARS:
            raise LineTooLong(number)
        yield line


class LineTooLong(UnreadableFile):
    def __init__(self, line: int) -> None:
        super().__init__(N_("line %(line)d is longer than 1 MiB"), line=line)
        self.line = line


def open_text(path: Path, encoding: str = "utf-8") -> IO[str]:
    """A text stream of ``path``, gunzipped transparently when it is gzip-compressed."""
    return io.TextIOWrapper(open_binary(path), encoding=encoding, errors="strict", newline="")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def blocks_of(prefix: str = "", start: str = "", end: str = "") -> list[Net]:
    """The CIDR blocks a prefix, or a start–end range, covers. Raises ``ValueError`` with a template message."""
    if prefix:
        return [_net(prefix)]
    if not start or not end:
        raise ValueError(N_("give a prefix, or both a start and an end address"))
    first, last = _net(start, strict=False), _net(end, strict=False)
    if first.width != last.width:
        raise ValueError(N_("the start and end are of different IP versions"))
    if last.start < first.start:
        raise ValueError(N_("the end address lies before the start"))
    return list(range_to_blocks(first.start, last.start, first.width))


class AddressError(ValueError):
    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message)
        self.params = params


def _net(text: str, *, strict: bool = True) -> Net:
    try:
        return parse_net(text, strict=strict)
    except HostBitsSet as exc:
        raise AddressError(
            N_("%(value)s has host bits set (the network is %(net)s)"), value=text, net=format_net(exc.network)
        ) from None
    except ValueError:
        raise AddressError(N_("%(value)s is not an IP address or prefix"), value=text) from None


def address_problem(line: int, column: str, value: str, exc: ValueError, sheet: str | None = None) -> Problem:
    return Problem(line, column, value, str(exc), getattr(exc, "params", {}), sheet)
