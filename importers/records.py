"""What every parser yields: plain records and line-numbered problems. Parsers know no database."""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO

from ipam.space import Net

GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class AllocationRecord:
    """One block a file says is allocated, assigned or reserved (a registry prefix to be)."""

    line: int
    prefix: Net
    kind: str  # allocation, assignment, reserved
    holder_id: str | None = None  # opaque id (RIR), org handle (RPSL), or None
    holder_name: str | None = None
    country: str | None = None
    registered: date | None = None
    netname: str | None = None
    description: str | None = None
    status: str | None = None  # the file's own word for it
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Problem:
    """A line the importer cannot take, said so that a person can find and fix it."""

    line: int
    column: str
    value: str
    message: str


def open_text(path: Path, encoding: str = "utf-8") -> IO[str]:
    """A text stream of ``path``, gunzipped transparently when it is gzip-compressed."""
    with path.open("rb") as probe:
        compressed = probe.read(2) == GZIP_MAGIC
    # The caller owns (and closes) the returned stream.
    raw: IO[bytes] = gzip.open(path, "rb") if compressed else path.open("rb")  # type: ignore[assignment]  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")
