"""RIR statistics exchange format (``delegated-<rir>-[extended-]latest``), plain and extended.

``registry|cc|type|start|value|date|status[|opaque-id]``: for ipv6 ``value`` is the prefix length, for ipv4 the
number of addresses (a range that need not be one CIDR block, so it is split). ``available`` lines are counted and
skipped; the version line, summary lines and comments are skipped. A line longer than 1 MiB fails the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from core.messages import N_
from importers.records import AddressError, AllocationRecord, Problem, address_problem, blocks_of, bounded_lines
from ipam.space import range_to_blocks

STATUS_KINDS = {"allocated": "allocation", "assigned": "assignment", "reserved": "reserved"}


@dataclass
class RirSummary:
    records: int = 0
    available: int = 0
    skipped: int = 0  # other types (asn), summary and header lines
    split_ranges: int = 0  # ipv4 counts that are not one CIDR block


def parse_rir(lines: Iterable[str], summary: RirSummary | None = None) -> Iterator[AllocationRecord | Problem]:
    counts = summary if summary is not None else RirSummary()
    for number, raw in enumerate(bounded_lines(lines), start=1):
        line = raw.rstrip("\r\n")
        if not line or line.startswith("#"):
            continue
        fields = line.split("|")
        if len(fields) < 7 or fields[1] == "*" or fields[0][:1].isdigit():
            counts.skipped += 1  # version line (starts with the format version) and summary lines
            continue
        _registry, country, kind, start, value, registered, status = fields[:7]
        opaque = fields[7] if len(fields) > 7 and fields[7] else None
        if kind not in ("ipv4", "ipv6"):
            counts.skipped += 1
            continue
        status = status.strip().lower()
        if status == "available":
            counts.available += 1
            continue
        if status not in STATUS_KINDS:
            yield Problem(number, "status", status, N_("unknown status %(status)s"), {"status": status})
            continue
        when = _date(registered)
        if registered and when is None:
            yield Problem(number, "date", registered, N_("not a date in YYYYMMDD form"))
            continue
        try:
            blocks = _blocks(kind, start, value)
        except ValueError as exc:
            yield address_problem(number, "value" if isinstance(exc, _CountError) else "start", f"{start}|{value}", exc)
            continue
        if len(blocks) > 1:
            counts.split_ranges += 1
        for block in blocks:
            counts.records += 1
            yield AllocationRecord(
                line=number, prefix=block, kind=STATUS_KINDS[status], holder_id=opaque,
                country=country or None, registered=when, status=status,
            )  # fmt: skip


class _CountError(AddressError):
    pass


def _blocks(kind: str, start: str, value: str) -> list:  # type: ignore[type-arg]
    if not value.isdigit():
        raise _CountError(N_("%(value)s is not a number"), value=value)
    if kind == "ipv6":
        return blocks_of(f"{start}/{value}")
    (first,) = blocks_of(f"{start}/32")
    count = int(value)
    if count < 1 or first.start + count - 1 > 0xFFFFFFFF:
        raise _CountError(N_("%(value)s addresses do not fit after %(start)s"), value=value, start=start)
    return list(range_to_blocks(first.start, first.start + count - 1, 32))


def _date(text: str) -> date | None:
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None
