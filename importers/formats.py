"""Which parser reads a file: by its name, else by its first lines."""

from __future__ import annotations

import re
from pathlib import Path

from core.messages import N_
from importers.models import Format
from importers.records import UnreadableFile, open_binary

RIR_LINE = re.compile(rb"^(\d+(\.\d+)?\|[a-z]+\||[a-z]+\|[A-Z*]{0,2}\|(ipv4|ipv6|asn|\*)\|)", re.IGNORECASE)
RPSL_LINE = re.compile(rb"^(inet6?num|[a-z-]+):\s", re.IGNORECASE)
EXCEL_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")


def detect_format(path: Path, name: str | None = None) -> str:
    lowered = (name or path.name).lower().removesuffix(".gz")
    if lowered.endswith((".xlsx", ".xlsm", ".xls", ".ods")):
        return Format.XLSX.value
    if lowered.endswith((".csv", ".tsv")):
        return Format.CSV.value
    if lowered.endswith((".rpsl", ".db")) or "inet6num" in lowered or "inetnum" in lowered:
        return Format.RPSL.value
    if lowered.startswith("delegated-") or "delegated-" in lowered:
        return Format.RIR.value
    with open_binary(path) as handle:
        head = handle.read(64 * 1024)
    if head.startswith(EXCEL_MAGIC):
        return Format.XLSX.value
    for line in head.splitlines():
        if not line.strip() or line.startswith((b"#", b"%")):
            continue
        if RIR_LINE.match(line):
            return Format.RIR.value
        if RPSL_LINE.match(line):
            return Format.RPSL.value
        if b"," in line or b"\t" in line:
            return Format.CSV.value
        break
    raise UnreadableFile(N_("cannot tell the file's format; name it (csv, xlsx, rpsl or rir)"))
