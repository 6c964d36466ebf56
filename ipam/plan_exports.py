"""A subnet plan for the network team and for DNS: table rows (CSV, XLSX), the plan as JSON or YAML, and the
ip6.arpa zones to delegate per site. Pure: no Flask, no database."""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from typing import IO, Any

import xlsxwriter
import yaml

from core.web import spreadsheet_safe
from ipam.planner import Plan
from ipam.space import Net, format_address, format_net

COLUMNS = ("path", "prefix", "first_address", "last_address", "size_64s")
# Integers beyond this lose digits as spreadsheet numbers: written as text.
EXACT_IN_A_SPREADSHEET = 2**53


def size_in_64s(net: Net) -> int | Fraction | None:
    """How many /64s ``net`` holds (a fraction for a longer prefix); None for IPv4."""
    if net.width != 128:
        return None
    return 1 << (64 - net.length) if net.length <= 64 else Fraction(1, 1 << (net.length - 64))


def rows(plan: Plan) -> Iterator[tuple[str, str, str, str, int | Fraction | None]]:
    """One row per node, in the plan's order: path, prefix, first and last address, size in /64s."""
    for placement in plan.placements:
        net = placement.net
        yield (
            placement.path,
            format_net(net),
            format_address(net.start, net.width),
            format_address(net.last, net.width),
            size_in_64s(net),
        )


def write_csv(target: IO[str], plan: Plan) -> None:
    """The rows as CSV, every cell spreadsheet-safe (a node's name comes from whoever wrote the plan)."""
    writer = csv.writer(target)
    writer.writerow(COLUMNS)
    for row in rows(plan):
        writer.writerow([spreadsheet_safe("" if value is None else value) for value in row])


def write_xlsx(target: IO[bytes], plan: Plan) -> None:
    """The rows as an Excel workbook of one sheet; sizes are numbers, text cells spreadsheet-safe."""
    workbook = xlsxwriter.Workbook(
        target,
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
            "tmpdir": tempfile.gettempdir(),
        },
    )
    sheet = workbook.add_worksheet("plan")
    bold = workbook.add_format({"bold": True})
    sheet.set_column(0, len(COLUMNS) - 1, 24)
    sheet.freeze_panes(1, 0)
    for column, name in enumerate(COLUMNS):
        sheet.write_string(0, column, name, bold)
    for line, row in enumerate(rows(plan), start=1):
        for column, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, int) and value < EXACT_IN_A_SPREADSHEET:
                sheet.write_number(line, column, value)
            else:
                sheet.write_string(line, column, spreadsheet_safe(value))
    workbook.close()


def as_json_text(plan: Plan) -> str:
    """The plan as ``plan preview --json`` prints it (and ``--previous`` reads it)."""
    return json.dumps(plan.as_json(), ensure_ascii=False, indent=2) + "\n"


def as_yaml_text(plan: Plan) -> str:
    """The same document as YAML (``--previous`` reads it too)."""
    document: Any = plan.as_json()
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


def arpa_zones(net: Net) -> list[str]:
    """The ip6.arpa zones that exactly cover ``net``: one when its length is a multiple of 4, else the
    ``2**(4 - length % 4)`` zones of the next multiple of 4 (a /50 is four /52 zones)."""
    if net.width != 128:
        raise ValueError(f"{format_net(net)} is not an IPv6 prefix")
    length = -(-net.length // 4) * 4
    step = 1 << (128 - length)
    return [_zone(start, length) for start in range(net.start, net.start + net.size, step)]


def _zone(start: int, length: int) -> str:
    nibbles = f"{start:032x}"[: length // 4]
    return ".".join(reversed(nibbles)) + (".ip6.arpa" if nibbles else "ip6.arpa")


def delegations(plan: Plan) -> Iterator[tuple[str, str]]:
    """``(site path, zone)`` for every top-level node of an IPv6 plan: the points to delegate to each site's DNS."""
    for placement in plan.placements:
        if "/" not in placement.path:
            for zone in arpa_zones(placement.net):
                yield placement.path, zone


def write_arpa(target: IO[str], plan: Plan) -> None:
    """One line per delegation point: the zone, then the site it belongs to."""
    for path, zone in delegations(plan):
        target.write(f"{zone}\t{path}\n")
