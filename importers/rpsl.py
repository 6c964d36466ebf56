"""RPSL ``inet6num`` / ``inetnum`` objects (RIPE and APNIC whois dumps, the dn42 registry).

Objects are blank-line separated ``attribute: value`` lines; a line starting with whitespace or ``+`` continues
the previous attribute. The key is a CIDR (``2001:db8::/48``) or a range (``first - last``); a range that is not one
CIDR block is split into its blocks (and counted). A line longer than 1 MiB, or an object longer than
``MAX_OBJECT_CHARS``, fails the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from core.messages import N_
from importers.records import AllocationRecord, Problem, UnreadableFile, address_problem, blocks_of, bounded_lines

OBJECT_CLASSES = ("inet6num", "inetnum")
MAX_OBJECT_CHARS = 1 << 20  # whois objects are a few KiB; a dump without blank lines is not one object


@dataclass
class RpslSummary:
    objects: int = 0
    records: int = 0
    split_ranges: int = 0
    other_objects: int = 0


def rpsl_objects(lines: Iterable[str]) -> Iterator[tuple[int, list[tuple[str, str]]]]:
    """(first line number, [(attribute, value), …]) for every object, continuation lines joined."""
    attributes: list[tuple[str, list[str]]] = []  # a value's parts, joined once the object is complete
    first_line = size = 0
    for number, raw in enumerate(bounded_lines(lines), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            if attributes:
                yield first_line, _joined(attributes)
                attributes, size = [], 0
            continue
        if line.startswith(("%", "#")):
            continue
        continuation = line[0] in " \t+" and bool(attributes)
        if not continuation:
            name, sep, value = line.partition(":")
            if not sep:
                continue
            if not attributes:
                first_line = number
        size += len(line)
        if size > MAX_OBJECT_CHARS:
            raise UnreadableFile(N_("line %(line)d: the object starting there is longer than 1 MiB"), line=first_line)
        if continuation:
            if part := line[1:].strip():
                attributes[-1][1].append(part)
            continue
        value = _strip_comment(value.strip())
        attributes.append((name.strip().lower(), [value] if value else []))
    if attributes:
        yield first_line, _joined(attributes)


def _joined(attributes: list[tuple[str, list[str]]]) -> list[tuple[str, str]]:
    return [(name, " ".join(parts)) for name, parts in attributes]


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
