"""What every parser yields: plain records and located problems. Parsers know no database and no Flask.

Problem messages are message templates (marked with ``N_`` for the translation catalog) plus parameters: they
are stored that way and rendered in the reader's language when shown.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

from ipam.space import HostBitsSet, Net, format_net, parse_net, range_to_blocks

GZIP_MAGIC = b"\x1f\x8b"


def N_(message: str) -> str:
    """Marks a message template for the catalog; it is translated when shown, not here."""
    return message


def render(message: str, params: Mapping[str, Any] | None = None) -> str:
    """A stored message in the current language (untranslated outside an application context)."""
    from flask import has_app_context

    if has_app_context():
        from flask_babel import gettext

        return gettext(message, **(params or {}))
    return message % params if params else message


def message_parts(message: Any) -> tuple[str, dict[str, Any]]:
    """(template, params) of a lazy validator message (flask_babel LazyString) or a plain string."""
    args, kwargs = getattr(message, "_args", None), getattr(message, "_kwargs", None)
    if args:
        return str(args[0]), {k: str(v) for k, v in (kwargs or {}).items()}
    return str(message), {}


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
    message: str  # a template, see ``render``
    params: Mapping[str, Any] = field(default_factory=dict)
    sheet: str | None = None

    def text(self) -> str:
        return render(self.message, self.params)

    @classmethod
    def of(cls, line: int, column: str, value: str, message: Any, sheet: str | None = None) -> Problem:
        template, params = message_parts(message)
        return cls(line, column, value, template, params, sheet)


class UnreadableFile(ValueError):
    """The file as a whole cannot be read (empty, binary, unknown encoding, no usable header)."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.template, self.params = message, params

    def text(self) -> str:
        return render(self.template, self.params)


def open_binary(path: Path) -> IO[bytes]:
    """The bytes of ``path``, gunzipped transparently when it is gzip-compressed. The caller closes it."""
    with path.open("rb") as probe:
        compressed = probe.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if compressed else path.open("rb")  # type: ignore[return-value]


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
