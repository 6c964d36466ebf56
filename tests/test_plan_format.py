"""Reading a subnet plan (YAML or JSON): the planner's input, and mistakes named by where they are in the document."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from ipam.plan_format import PlanFormatError, read_plan, read_previous
from ipam.planner import NodeSpec, PlanSpec, plan
from ipam.space import parse_net

FACTORY = """
parent: 2001:db8:100::/48
nibble: true          # every level's size rounded up to a multiple of 4 bits
headroom: 2           # spare factor per level, overridable per node (1 = none)
reserve: [2001:db8:100::/64]
nodes:
  - name: binhai
    count: 3
    headroom: 4
    nodes:
      - {name: ot, count: 4, nodes: [{name: line, count: 16, length: 64}]}
      - {name: it, length: 56}
  - names: [tianjin-port, 滨海仓库]
    nodes: [{name: lan, length: /60}]
"""


def test_the_issues_example_reads_into_the_planners_input() -> None:
    spec = read_plan(FACTORY)
    line = NodeSpec(tuple(f"line-{n}" for n in range(1, 17)), length=64)
    zones = (NodeSpec(("ot-1", "ot-2", "ot-3", "ot-4"), children=(line,)), NodeSpec(("it",), length=56))
    assert spec == PlanSpec(
        parent=parse_net("2001:db8:100::/48"),
        nodes=(
            NodeSpec(("binhai-1", "binhai-2", "binhai-3"), headroom=Fraction(4), children=zones),
            NodeSpec(("tianjin-port", "滨海仓库"), children=(NodeSpec(("lan",), length=60),)),
        ),
        nibble=True,
        headroom=Fraction(2),
        reserved=(parse_net("2001:db8:100::/64"),),
    )


def test_json_reads_like_yaml() -> None:
    document = {
        "parent": "2001:db8:100::/48",
        "headroom": 1.5,
        "nodes": [{"name": "site", "count": 2, "nodes": [{"name": "vlan", "count": 3, "length": 64}]}],
    }
    as_yaml = """
parent: 2001:db8:100::/48
headroom: 1.5
nodes:
  - {name: site, count: 2, nodes: [{name: vlan, count: 3, length: 64}]}
"""
    assert read_plan(json.dumps(document)) == read_plan(as_yaml)
    assert read_plan(json.dumps(document)).headroom == Fraction(3, 2)


def test_the_parent_given_apart_replaces_the_documents() -> None:
    spec = read_plan(FACTORY.replace("reserve: [2001:db8:100::/64]", ""), parent=parse_net("2001:db8:200::/47"))
    assert spec.parent == parse_net("2001:db8:200::/47")
    with pytest.raises(PlanFormatError) as raised:
        read_plan(FACTORY, parent=parse_net("2001:db8:200::/48"))
    assert raised.value.where == "reserve[0]" and "2001:db8:200::/48" in str(raised.value)


MISTAKES = [
    ("nodes: [{name: a, nodes: [{name: b, length: 64}, {name: c, length: sixty}]}]", "nodes[0].nodes[1].length"),
    ("nodes: [{name: a, length: 129}]", "nodes[0].length"),
    ("nodes: [{name: a, lenght: 64}]", "nodes[0].lenght"),
    ("nodes: [{name: a, length: 64}, {name: a, length: 64}]", "nodes[1]"),
    ("nodes: [{name: a, count: 2, length: 64}, {name: a-2, length: 64}]", "nodes[1]"),
    ("nodes: [{name: a, count: 0, length: 64}]", "nodes[0].count"),
    ("nodes: [{names: [a, b], count: 3, length: 64}]", "nodes[0].count"),
    ("nodes: [{names: [a, a], length: 64}]", "nodes[0].names[1]"),
    ("nodes: [{name: a/b, length: 64}]", "nodes[0].name"),
    ("nodes: [{name: no, length: 64}]", "nodes[0].name"),
    ("nodes: [{length: 64}]", "nodes[0].name"),
    ("nodes: [{name: a}]", "nodes[0]"),
    ("nodes: [{name: a, nodes: []}]", "nodes[0].nodes"),
    ("nodes: [{name: a, length: 64, headroom: 2}]", "nodes[0].headroom"),
    ("nodes: [{name: a, headroom: 0.5, nodes: [{name: b, length: 64}]}]", "nodes[0].headroom"),
    ("headroom: .inf\nnodes: [{name: a, length: 64}]", "headroom"),
    ("nibble: 3\nnodes: [{name: a, length: 64}]", "nibble"),
    ("reserve: [2001:db9::/64]\nnodes: [{name: a, length: 64}]", "reserve[0]"),
    ("reserve: [2001:db8:100::1/64]\nnodes: [{name: a, length: 64}]", "reserve[0]"),
    ("nodes: []", "nodes"),
    ("nodez: []", "nodez"),
]


@pytest.mark.parametrize(("nodes", "where"), MISTAKES)
def test_a_mistake_is_named_by_its_place_in_the_document(nodes: str, where: str) -> None:
    with pytest.raises(PlanFormatError) as raised:
        read_plan(f"parent: 2001:db8:100::/48\n{nodes}\n")
    assert raised.value.where == where
    assert str(raised.value).startswith(f"{where}: ")


def test_a_missing_or_broken_parent_is_named() -> None:
    with pytest.raises(PlanFormatError) as raised:
        read_plan("nodes: [{name: a, length: 64}]")
    assert raised.value.where == "parent"
    with pytest.raises(PlanFormatError, match="2001:db8:100::/48") as raised:
        read_plan("parent: 2001:db8:100::1/48\nnodes: [{name: a, length: 64}]")
    assert raised.value.where == "parent"


def test_a_document_that_is_not_yaml_says_on_which_line() -> None:
    with pytest.raises(PlanFormatError, match="line 3"):
        read_plan("parent: 2001:db8:100::/48\nnodes:\n  - name: a: b\n    length: 64\n")


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(PlanFormatError):
        read_plan("- just\n- a list\n")


def test_a_plan_printed_as_json_reads_back_as_the_previous_plan() -> None:
    printed = json.dumps(plan(read_plan(FACTORY.replace("headroom: 4", "headroom: 1"))).as_json())
    previous = read_previous(printed)
    assert previous.parent == parse_net("2001:db8:100::/48")
    assert str(previous.prefixes["binhai-2/ot-3/line-16"]) == "2001:db8:100:220f::/64"


def test_a_broken_previous_plan_is_named_by_its_place() -> None:
    nodes = [{"path": "a", "prefix": "2001:db8:100::/52"}, {"path": "b", "prefix": "2001:db8:100:1::/52"}]
    document = {"parent": "2001:db8:100::/48", "nodes": nodes}
    with pytest.raises(PlanFormatError) as raised:
        read_previous(json.dumps(document))
    assert raised.value.where == "nodes[1].prefix"
    document["nodes"][1] = {"path": "a", "prefix": "2001:db8:100:1000::/52"}
    with pytest.raises(PlanFormatError) as raised:
        read_previous(json.dumps(document))
    assert raised.value.where == "nodes[1].path"
