"""Format parsers against the shared real registry files (read in place, never copied)."""

from __future__ import annotations

from importers.records import AllocationRecord, Problem, open_text
from importers.rir import RirSummary, parse_rir
from importers.rpsl import RpslSummary, parse_rpsl
from ipam.space import format_net
from tests.support import registry_data

REGISTRY = registry_data()


def split(items):  # type: ignore[no-untyped-def]
    records = [i for i in items if isinstance(i, AllocationRecord)]
    problems = [i for i in items if isinstance(i, Problem)]
    return records, problems


def test_apnic_2016_extended_ipv6_records_parse_without_errors() -> None:
    summary = RirSummary()
    with open_text(REGISTRY / "delegated-apnic-extended-20160131.txt") as handle:
        records, problems = split(list(parse_rir(handle, summary)))
    assert problems == []
    ipv6 = [r for r in records if r.prefix.width == 128]
    assert len(ipv6) == 4_838
    assert {r.kind for r in ipv6} == {"allocation", "assignment", "reserved"}
    assert all(r.holder_id or r.kind == "reserved" for r in ipv6)


def test_plain_format_and_gzip_are_read_transparently() -> None:
    with open_text(REGISTRY / "delegated-apnic-20210715.txt") as handle:
        plain, problems = split(list(parse_rir(handle)))
    assert problems == [] and all(r.holder_id is None for r in plain)
    with open_text(REGISTRY / "ripe-whois-grs-delegated-apnic-extended-20130417.gz") as handle:
        zipped, problems = split(list(parse_rir(handle)))
    assert problems == [] and any(r.prefix.width == 128 for r in zipped)


def test_bad_rir_lines_are_named_with_their_line() -> None:
    lines = ["2|apnic|20160131|3||20160130|+1000", "apnic|CN|ipv6|2001:db8::|33x|20160101|allocated|A1",
             "apnic|CN|ipv6|2001:db8::1|32|20160101|allocated|A1", "apnic|CN|ipv6|2001:db8::|32|2016|allocated|A1",
             "apnic|CN|ipv4|10.0.0.0|768|20160101|assigned|A2"]  # fmt: skip
    records, problems = split(list(parse_rir(lines)))
    assert [p.line for p in problems] == [2, 3, 4]
    assert [format_net(r.prefix) for r in records] == ["10.0.0.0/23", "10.0.2.0/24"]


def test_dn42_inet6num_objects_with_ranges_and_nesting() -> None:
    summary = RpslSummary()
    with open_text(REGISTRY / "dn42-registry-inet6num.rpsl") as handle:
        records, problems = split(list(parse_rpsl(handle, summary)))
    assert problems == [] and summary.objects == 2_241
    assert any(format_net(r.prefix) == "::/0" for r in records)


def test_ripe_test_database_inet6num_with_continuation_lines() -> None:
    summary = RpslSummary()
    with open_text(REGISTRY / "ripe-whois-TEST.db", encoding="latin-1") as handle:
        records, problems = split(list(parse_rpsl(handle, summary)))
    assert problems == []
    v6 = [r for r in records if r.prefix.width == 128]
    assert summary.objects >= 32 and len(v6) == 32
    root = next(r for r in v6 if format_net(r.prefix) == "::/0")
    assert root.country == "EU" and root.status == "ALLOCATED-BY-RIR"


def test_rpsl_continuation_and_split_ranges() -> None:
    text = ["inet6num: 2001:db8:: - 2001:db8:0:2:ffff:ffff:ffff:ffff", "descr: first line",
            "+ second line", "        third line", "status: ASSIGNED PA", "", "person: Someone", "nic-hdl: X1"]  # fmt: skip
    summary = RpslSummary()
    records, problems = split(list(parse_rpsl(text, summary)))
    assert problems == [] and summary.split_ranges == 1 and summary.other_objects == 1
    assert [format_net(r.prefix) for r in records] == ["2001:db8::/63", "2001:db8:0:2::/64"]
    assert records[0].description == "first line second line third line" and records[0].kind == "assignment"
