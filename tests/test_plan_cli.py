"""``flask plan preview``: a plan file laid out in its parent, around what the registry holds there; nothing written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import Organization
from core.policy import OPERATOR
from ipam.models import Prefix
from ipam.operations import add_prefix

PLAN = """
parent: 2001:db8:100::/48
nibble: true
headroom: 2
nodes:
  - name: binhai
    count: {sites}
    nodes:
      - {{name: ot, count: 4, nodes: [{{name: line, count: 16, length: 64}}]}}
      - {{name: it, length: 56}}
"""


def write(tmp_path: Path, text: str, name: str = "plan.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def preview_json(runner: FlaskCliRunner, *args: str) -> dict[str, object]:
    result = runner.invoke(args=["plan", "preview", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def prefixes_of(printed: dict[str, object]) -> dict[str, str]:
    nodes = printed["nodes"]
    assert isinstance(nodes, list)
    return {node["path"]: node["prefix"] for node in nodes}


def test_preview_prints_every_node_with_its_prefix_as_json(runner: FlaskCliRunner, tmp_path: Path) -> None:
    printed = preview_json(runner, write(tmp_path, PLAN.format(sites=3)))
    assert printed["parent"] == "2001:db8:100::/48"
    placed = prefixes_of(printed)
    assert len(placed) == 3 * (1 + 4 * 17 + 1)
    assert placed["binhai-1"] == "2001:db8:100::/52"
    assert placed["binhai-2/ot-3/line-16"] == "2001:db8:100:120f::/64"


def test_preview_in_a_registered_parent_avoids_its_children_and_writes_nothing(
    runner: FlaskCliRunner, db: Session, create_org: Callable[..., Organization], tmp_path: Path
) -> None:
    enterprise = create_org(kind="enterprise")
    parent = add_prefix(db, "2001:db8:100::/48", actor=OPERATOR, kind="assignment", holder=enterprise)
    add_prefix(db, "2001:db8:100:1000::/52", actor=OPERATOR, kind="subnet", holder=enterprise)
    db.flush()
    before = db.scalar(select(func.count()).select_from(Prefix))
    result = runner.invoke(args=["plan", "preview", write(tmp_path, PLAN.format(sites=2))])
    assert result.exit_code == 0, result.output
    rows = dict(line.split() for line in result.stdout.splitlines()[1:])  # the header, then path and prefix
    assert rows["binhai-1"] == "2001:db8:100::/52" and rows["binhai-2"] == "2001:db8:100:2000::/52"
    assert parent.network not in result.stdout.splitlines()[0], "a registered parent needs no note"
    assert db.scalar(select(func.count()).select_from(Prefix)) == before


def test_preview_in_an_unregistered_parent_says_so_first(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = runner.invoke(args=["plan", "preview", write(tmp_path, PLAN.format(sites=1))])
    assert result.exit_code == 0, result.output
    note, header, first = result.stdout.splitlines()[:3]
    assert "2001:db8:100::/48" in note and header.split() == ["path", "prefix"]
    assert first.split() == ["binhai", "2001:db8:100::/52"]


def test_a_plan_that_does_not_fit_fails_in_one_line_naming_the_node_and_the_size_needed(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(args=["plan", "preview", write(tmp_path, PLAN.format(sites=20))])
    assert result.exit_code == 1
    assert result.stdout == ""
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and message.startswith("error:")
    assert "binhai-17" in message and "/47" in message and "1/2" in message


def test_the_parent_option_replaces_the_files(runner: FlaskCliRunner, tmp_path: Path) -> None:
    printed = preview_json(runner, write(tmp_path, PLAN.format(sites=1)), "--parent", "2001:db8:ff00::/40")
    assert printed["parent"] == "2001:db8:ff00::/40"
    assert prefixes_of(printed)["binhai"] == "2001:db8:ff00::/52"


def test_re_planning_with_the_previous_plan_keeps_every_node_in_place_unless_repacked(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    first = preview_json(runner, write(tmp_path, PLAN.format(sites=2)))
    previous = write(tmp_path, json.dumps(first), "plan.json")
    grown = PLAN.format(sites=2).replace("  - name: binhai", "  - {name: office, length: 56}\n  - name: binhai")
    kept = prefixes_of(preview_json(runner, write(tmp_path, grown), "--previous", previous))
    assert all(kept[path] == prefix for path, prefix in prefixes_of(first).items())
    assert kept["office"] == "2001:db8:100:2000::/56"
    repacked = prefixes_of(preview_json(runner, write(tmp_path, grown), "--previous", previous, "--repack"))
    assert repacked["office"] == "2001:db8:100::/56" and repacked["binhai-1"] == "2001:db8:100:1000::/52"


def test_a_re_plan_that_would_move_a_placed_node_fails_naming_it(runner: FlaskCliRunner, tmp_path: Path) -> None:
    first = preview_json(runner, write(tmp_path, PLAN.format(sites=2)))
    previous = write(tmp_path, json.dumps(first), "plan.json")
    wider = PLAN.format(sites=2).replace("{name: it, length: 56}", "{name: it, length: 53}")
    result = runner.invoke(args=["plan", "preview", write(tmp_path, wider), "--previous", previous])
    assert result.exit_code == 1
    assert "binhai-1" in result.stderr and "2001:db8:100::/52" in result.stderr and "binhai-2" in result.stderr


def test_unreadable_files_and_bad_arguments_exit_2_in_one_line(runner: FlaskCliRunner, tmp_path: Path) -> None:
    plan_file = write(tmp_path, PLAN.format(sites=1))
    cases = {
        "missing": ["plan", "preview", str(tmp_path / "missing.yaml")],
        "parent": ["plan", "preview", plan_file, "--parent", "2001:db8:100::1/48"],
        "length": ["plan", "preview", write(tmp_path, PLAN.format(sites=1).replace("64", "sixty-four"), "bad.yaml")],
        "previous": ["plan", "preview", plan_file, "--previous", write(tmp_path, "nodes: 3", "previous.json")],
        "other parent": [
            "plan", "preview", plan_file, "--previous",
            write(tmp_path, json.dumps({"parent": "2001:db8:200::/48", "nodes": []}), "other.json"),
        ],
    }  # fmt: skip
    for case, args in cases.items():
        result = runner.invoke(args=args)
        assert result.exit_code == 2, (case, result.output)
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error:"), case
    length = runner.invoke(args=cases["length"][:3])
    assert "nodes[0].nodes[0].nodes[0].length" in length.stderr
