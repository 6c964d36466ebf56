"""RPSL ``inet6num`` / ``inetnum`` objects (RIPE and APNIC whois dumps, the dn42 registry).

Objects are blank-line separated ``attribute: value`` lines; a line starting with whitespace or ``+`` continues
the previous attribute. The key is a CIDR (``2001:db8::/48``) or a range (``first - last``); a range that is not one
CIDR block is split into its blocks (and counted).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from importers.records import AllocationRecord, Problem, address_problem, blocks_of

OBJECT_CLASSES = ("inet6num", "inetnum")


@dataclass
class RpslSummary:
    objects: int = 0
    records: int = 0
    split_ranges: int = 0
    other_objects: int = 0


def rpsl_objects(lines: Iterable[str]) -> Iterator[tuple[int, list[tuple[str, str]]]]:
    """(first line number, [(attribute, value), …]) for every object, continuation lines joined."""
    attributes: list[tuple[str, str]] = []
    first_line = 0
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            if attributes:
                yield first_line, attributes
                attributes = []
            continue
        if line.startswith(("%", "#")):
            continue
        if line[0] in " \t+" and attributes:
            name, value = attributes[-1]
            attributes[-1] = (name, f"{value} {line[1:].strip()}".strip())
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        if not attributes:
            first_line = number
        attributes.append((name.strip().lower(), _strip_comment(value.strip())))
    if attributes:
        yield first_line, attributes


def _strip_comment(value: str) -> str:
    return value.split(" #", 1)[0].strip() if " #" in value else value


def parse_rpsl(lines: Iterable[str], summary: RpslSummary | None = None) -> Iterator[AllocationRecord | Problem]:
    counts = summary if summary is not None else RpslSummary()
    for number, attributes in rpsl_objects(lines):
        object_class, key = attributes[0]
        if object_class not in OBJECT_CLASSES:
            counts.other_objects += 1
            continue
        counts.objects += 1
        values = {}
        for name, value in attributes:
            values.setdefault(name, value)
        try:
            blocks = _blocks(key)
        except ValueError as exc:
            yield address_problem(number, object_class, key, exc)
            continue
        if len(blocks) > 1:
            counts.split_ranges += 1
        status = values.get("status", "")
        for block in blocks:
            counts.records += 1
            yield AllocationRecord(
                line=number, prefix=block, kind=_kind(status), holder_id=values.get("org"),
                country=values.get("country"), netname=values.get("netname"), description=values.get("descr"),
                status=status or None,
            )  # fmt: skip


def _blocks(key: str) -> list:  # type: ignore[type-arg]
    if "-" in key:
        first, _, last = (part.strip() for part in key.partition("-"))
        return blocks_of(start=first, end=last)
    return blocks_of(key)


def _kind(status: str) -> str:
    word = status.upper()
    if "ASSIGNED" in word:
        return "assignment"
    if "RESERVED" in word or "NOT-SET" in word:
        return "reserved"
    return "allocation"
