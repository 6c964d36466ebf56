"""The national report (pure: no Flask, no database): which operations a window's changes become, and the rows
the national system's upload format writes for them.

What a window holds, per filing (``plan_entries``):
- its latest version approved in the window: add (XZBA) when the national system does not have the filing yet
  (no report that ended before the window holds it), else change (XGBA);
- its cancellation in the window: delete (SCBA) of the version that stood, when the national system has the
  filing. A filing approved and cancelled inside one window never reached the national system, so it is
  reported as nothing (not as an add and a delete); a cancellation outweighs a change approved in the same
  window.

A row (``national_row``) carries the version's values under the national field codes (domain notes §3), with the
operation, the filing number and the version first. IPv4 blocks are written as the 32-bit integers the known
upload version takes; IPv6 blocks (which that version cannot take: the platform adds them) as text. The dotted
or colon text of both ends is repeated in two columns of our own at the end, so a reader need not convert.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from filing.blocks import parse_block
from filing.choices import TYPE_CHINESE, ChoiceList, FilingType, ReportOperation

# (field code, Chinese name): the national fields in the order of the domain notes, preceded by the operation,
# the filing number and the version, and followed by the columns the platform adds (the USCC, the block's ends as
# text). The codes of the platform's own columns are ours, in the national format's manner.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("Czlx", "操作类型"), ("Babh", "备案号"), ("Bbh", "版本"),
    ("Qsip", "起始IP"), ("Zzip", "终止IP"), ("Fpfs", "分配方式"), ("Fpdx", "分配对象"), ("Syfs", "IP使用方式"),
    ("Fprq", "分配使用日期"), ("Dwmc", "使用单位名称"), ("Dwxz", "单位性质"), ("Hyfl", "行业分类"),
    ("Shengid", "省"), ("Shiid", "市"), ("Xianid", "县"), ("Xxdz", "单位详细地址"),
    ("Lxrxm", "联系人姓名"), ("Lxrdh", "联系电话"), ("Lxrdzyj", "电子邮件"), ("Wgip", "网关IP"), ("Wgdz", "网关所在地址"),
    ("Lydw", "来源单位"), ("Bz", "备注"),
    ("Tyshxydm", "统一社会信用代码"), ("Qsipwb", "起始IP（文本）"), ("Zzipwb", "终止IP（文本）"),
)  # fmt: skip
CODES = tuple(code for code, _ in COLUMNS)
CHINESE_NAMES = tuple(name for _, name in COLUMNS)

Cell = str | int | None


@dataclass(frozen=True)
class Change:
    """What a window found for one filing: a version approved in it, or its cancellation in it."""

    filing_id: int
    version: int  # the version approved; for a cancellation, the version that stood
    reported: bool  # the national system has the filing: a report that ended before the window holds it


@dataclass(frozen=True, order=True)
class Entry:
    filing_id: int
    version: int
    operation: ReportOperation


def plan_entries(approved: Iterable[Change], cancelled: Iterable[Change]) -> list[Entry]:
    """The report's entries, one a filing at most, by filing id (see the module's notes for the rules)."""
    latest: dict[int, Change] = {}
    for change in approved:
        if change.filing_id not in latest or change.version > latest[change.filing_id].version:
            latest[change.filing_id] = change
    entries: dict[int, Entry] = {
        change.filing_id: Entry(
            change.filing_id, change.version, ReportOperation.CHANGE if change.reported else ReportOperation.ADD
        )
        for change in latest.values()
    }
    for change in cancelled:
        if change.reported:
            entries[change.filing_id] = Entry(change.filing_id, change.version, ReportOperation.DELETE)
        else:
            entries.pop(change.filing_id, None)
    return sorted(entries.values())


def division_levels(code: str | None) -> tuple[str, str, str]:
    """(province, city, county) codes of a 6-digit division code: 120116 → 120000, 120100, 120116. A level the
    code does not reach (a province's or a city's own code) is blank."""
    if not code or len(code) != 6 or not code.isdigit():
        return "", "", ""
    province = code[:2] + "0000"
    city = code[:4] + "00" if code[2:4] != "00" else ""
    county = code if code[4:] != "00" else ""
    return province, city, county


def national_row(
    operation: ReportOperation | str,
    number: str | None,
    version: int,
    values: Mapping[str, Any],
    names: Mapping[tuple[str, str], str],
) -> dict[str, Cell]:
    """One upload row from a version's values; ``names`` names the stored codes of the value lists ((list, code) →
    name; a code without a name is written as it is)."""
    block = parse_block(str(values["block"]))
    first: Cell = block.first if block.family == 4 else block.first_text
    last: Cell = block.last if block.family == 4 else block.last_text
    kind = FilingType(values["filing_type"])
    province, city, county = division_levels(values.get("user_division"))

    def named(list_name: ChoiceList, key: str) -> str | None:
        code = values.get(key)
        return names.get((list_name.value, code), code) if code else None

    return {
        "Czlx": ReportOperation(operation).value, "Babh": number, "Bbh": version,
        "Qsip": first, "Zzip": last, "Fpfs": TYPE_CHINESE[kind],
        "Fpdx": values.get("user_name") if kind is not FilingType.RESERVED else None,
        "Syfs": named(ChoiceList.USAGE, "usage"), "Fprq": values.get("allocated_on"), "Dwmc": values.get("user_name"),
        "Dwxz": named(ChoiceList.NATURE, "user_nature"), "Hyfl": named(ChoiceList.INDUSTRY, "user_industry"),
        "Shengid": province, "Shiid": city, "Xianid": county, "Xxdz": values.get("user_address"),
        "Lxrxm": values.get("contact_name"), "Lxrdh": values.get("contact_phone"),
        "Lxrdzyj": values.get("contact_email"), "Wgip": values.get("gateway_ip"),
        "Wgdz": values.get("gateway_address"), "Lydw": values.get("source_name"), "Bz": values.get("remarks"),
        "Tyshxydm": values.get("user_uscc"), "Qsipwb": block.first_text, "Zzipwb": block.last_text,
    }  # fmt: skip


def row_cells(row: Mapping[str, Cell]) -> list[Cell]:
    """A row's cells in the order of ``COLUMNS``."""
    return [row[code] for code in CODES]
