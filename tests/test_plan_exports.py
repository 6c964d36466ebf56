"""A subnet plan's exports: rows for the network team (CSV, XLSX), the plan as JSON and YAML, and the ip6.arpa zones
to delegate per site; and ``flask plan export``."""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction
from pathlib import Path

import openpyxl
import pytest
from flask.testing import FlaskCliRunner

from ipam import plan_exports, plan_format, planner
from ipam.space import parse_net
from tests.test_plan_cli import write

PLAN = """
parent: 2001:db8:100::/48
nibble: true
nodes:
  - name: binhai
    count: 2
    nodes: [{name: ot, count: 4, nodes: [{name: line, count: 16, length: 64}]}]
  - {name: "=SUM(1+1)", length: 56}
"""


def laid_out(text: str = PLAN) -> planner.Plan:
    return planner.plan(plan_format.read_plan(text))


def test_csv_gives_path_prefix_first_and_last_address_and_size_in_64s() -> None:
    buffer = io.StringIO()
    plan_exports.write_csv(buffer, laid_out())
    table = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert table[0] == ["path", "prefix", "first_address", "last_address", "size_64s"]
    rows = {row[0]: row for row in table[1:]}
    assert rows["binhai-1"] == [
        "binhai-1",
        "2001:db8:100::/56",
        "2001:db8:100::",
        "2001:db8:100:ff:ffff:ffff:ffff:ffff",
        "256",
    ]
    assert rows["binhai-2/ot-1/line-2"][1:] == [
        "2001:db8:100:101::/64",
        "2001:db8:100:101::",
        "2001:db8:100:101:ffff:ffff:ffff:ffff",
        "1",
    ]
    assert len(table) == 1 + len(laid_out().placements)


def test_csv_neutralizes_a_node_name_that_looks_like_a_formula() -> None:
    buffer = io.StringIO()
    plan_exports.write_csv(buffer, laid_out())
    paths = [row[0] for row in csv.reader(io.StringIO(buffer.getvalue()))]
    assert paths[-1] == "'=SUM(1+1)"


def test_size_of_a_prefix_longer_than_a_64_is_a_fraction_of_a_64() -> None:
    assert plan_exports.size_in_64s(parse_net("2001:db8::/66")) == Fraction(1, 4)
    assert plan_exports.size_in_64s(parse_net("192.0.2.0/24")) is None


def test_xlsx_opens_with_sizes_as_numbers_and_formula_looking_text_neutralized(tmp_path: Path) -> None:
    target = tmp_path / "plan.xlsx"
    with target.open("wb") as binary:
        plan_exports.write_xlsx(binary, laid_out())
    sheet = openpyxl.load_workbook(target).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("path", "prefix", "first_address", "last_address", "size_64s")
    assert rows[1] == ("binhai-1", "2001:db8:100::/56", "2001:db8:100::", "2001:db8:100:ff:ffff:ffff:ffff:ffff", 256)
    assert rows[-1][0] == "'=SUM(1+1)"
    assert all(sheet.cell(row=r, column=1).data_type == "s" for r in range(2, sheet.max_row + 1))


@pytest.mark.parametrize("export", [plan_exports.as_json_text, plan_exports.as_yaml_text])
def test_the_plan_as_json_or_yaml_reads_back_as_the_previous_plan(export: object) -> None:
    plan = laid_out()
    assert callable(export)
    previous = plan_format.read_previous(export(plan))
    assert previous.parent == plan.parent and dict(previous.prefixes) == plan.prefixes()


def test_json_export_has_the_shape_preview_prints() -> None:
    plan = laid_out()
    assert json.loads(plan_exports.as_json_text(plan)) == plan.as_json()


@pytest.mark.parametrize(
    ("prefix", "zones"),
    [
        ("2001:db8:100::/48", ["0.0.1.0.8.b.d.0.1.0.0.2.ip6.arpa"]),
        ("2001:db8:100:4000::/50", [f"{n}.0.0.1.0.8.b.d.0.1.0.0.2.ip6.arpa" for n in "4567"]),
        ("2001:db8:100:1000::/52", ["1.0.0.1.0.8.b.d.0.1.0.0.2.ip6.arpa"]),
        ("2001:db8:100:1200::/56", ["2.1.0.0.1.0.8.b.d.0.1.0.0.2.ip6.arpa"]),
        ("2001:db8:100:1200::/55", ["2.1.0.0.1.0.8.b.d.0.1.0.0.2.ip6.arpa", "3.1.0.0.1.0.8.b.d.0.1.0.0.2.ip6.arpa"]),
    ],
)
def test_arpa_zones_cover_a_prefix_exactly_at_nibble_boundaries(prefix: str, zones: list[str]) -> None:
    assert plan_exports.arpa_zones(parse_net(prefix)) == zones


def test_delegations_are_the_zones_of_each_site_only() -> None:
    plan = laid_out()
    found = list(plan_exports.delegations(plan))
    assert found[:2] == [
        ("binhai-1", "0.0.0.0.1.0.8.b.d.0.1.0.0.2.ip6.arpa"),
        ("binhai-2", "1.0.0.0.1.0.8.b.d.0.1.0.0.2.ip6.arpa"),
    ]
    assert len(found) == 3


def test_cli_export_writes_each_format(runner: FlaskCliRunner, tmp_path: Path) -> None:
    plan_file = write(tmp_path, PLAN)
    arpa = runner.invoke(args=["plan", "export", plan_file, "--format", "arpa"])
    assert arpa.exit_code == 0, arpa.output
    assert arpa.stdout.splitlines()[0] == "0.0.0.0.1.0.8.b.d.0.1.0.0.2.ip6.arpa\tbinhai-1"
    as_json = runner.invoke(args=["plan", "export", plan_file, "--format", "json"])
    assert json.loads(as_json.stdout) == laid_out().as_json()
    target = tmp_path / "out.xlsx"
    xlsx = runner.invoke(args=["plan", "export", plan_file, "--format", "xlsx", "--output", str(target)])
    assert xlsx.exit_code == 0, xlsx.output
    assert openpyxl.load_workbook(target).active is not None


def test_cli_export_to_excel_without_an_output_file_exits_2(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = runner.invoke(args=["plan", "export", write(tmp_path, PLAN), "--format", "xlsx"])
    assert result.exit_code == 2
