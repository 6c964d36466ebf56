"""The subnet plan as a document (YAML or JSON) read into the planner's input. Pure: no Flask, no database.

```yaml
parent: 2001:db8:100::/48
nibble: true          # every node's size rounded up to a multiple of 4 bits
headroom: 2           # spare factor of every node sized by its children (1 = none); a node may give its own
reserve: [2001:db8:100::/64]       # kept out of the plan
nodes:
  - name: binhai                   # count > 1 makes binhai-1 … binhai-3; or give names: [a, b, c]
    count: 3
    headroom: 4
    nodes:
      - {name: ot, count: 4, nodes: [{name: line, count: 16, length: 64}]}
      - {name: it, length: 56}
```

A mistake is reported by where it is in the document, not by its line: ``nodes[0].nodes[1].length: …``. The plan a
preview prints (``{"parent": …, "nodes": [{"path": …, "prefix": …}, …]}``) reads back as the previous plan of a
re-plan (``read_previous``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import yaml

from core.messages import Message
from core.messages import message as _l
from ipam.planner import MAX_PLAN_NODES, NodeSpec, PlanSpec
from ipam.space import HostBitsSet, Net, format_net, parse_net

PLAN_KEYS = ("parent", "nibble", "headroom", "reserve", "nodes")
NODE_KEYS = ("name", "names", "count", "length", "headroom", "nodes")
MAX_DEPTH = 64


class PlanFormatError(ValueError):
    """A document that is not a plan: ``where`` names the place in it (``nodes[0].length``), ``message`` what is
    wrong there, in the reader's language."""

    def __init__(self, where: str, message: Message) -> None:
        super().__init__(where, message)
        self.where = where
        self.message = message

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else str(self.message)

    @property
    def located(self) -> Message:
        """The message with its place in the document, for a form's field."""
        return _l("%(where)s: %(problem)s", where=self.where, problem=self.message) if self.where else self.message


@dataclass(frozen=True, slots=True)
class PreviousPlan:
    parent: Net
    prefixes: Mapping[str, Net]


def load_document(text: str) -> Any:
    """The document as plain data: JSON when it reads as JSON, else YAML (safe: no tags run code)."""
    try:
        if text.lstrip().startswith(("{", "[")):
            try:
                return json.loads(text)
            except ValueError:
                pass  # a YAML flow mapping, or broken: YAML says where
        return yaml.safe_load(text)
    except RecursionError:
        raise PlanFormatError("", _l("The document nests too deep to be a plan.")) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise PlanFormatError(
            "", _l("This is not YAML or JSON: %(problem)s (line %(line)d).", problem=exc.problem or "", line=line)
        ) from None
    except yaml.YAMLError as exc:
        raise PlanFormatError("", _l("This is not YAML or JSON: %(problem)s.", problem=str(exc))) from None


def read_plan(text: str, *, parent: Net | None = None) -> PlanSpec:
    """The plan in ``text``; ``parent`` replaces the document's own."""
    return plan_from_document(load_document(text), parent=parent)


def plan_from_document(document: Any, *, parent: Net | None = None) -> PlanSpec:
    if not isinstance(document, Mapping):
        raise PlanFormatError("", _l("A plan is a mapping with a parent and its nodes."))
    _known_keys(document, PLAN_KEYS, "")
    if parent is None:
        if document.get("parent") is None:
            raise PlanFormatError("parent", _l("missing: give the prefix the plan divides."))
        parent = read_prefix(document["parent"], "parent")
    reader = _NodeReader(parent.width)
    nibble = document.get("nibble", False)
    if not isinstance(nibble, bool):
        raise PlanFormatError("nibble", _l("must be true or false."))
    headroom = _headroom(document.get("headroom", 1), "headroom")
    reserved = tuple(_reserved(document.get("reserve") or [], parent))
    nodes = reader.nodes(document.get("nodes"), "nodes", 1)
    return PlanSpec(parent=parent, nodes=nodes, nibble=nibble, headroom=headroom, reserved=reserved)


def read_prefix(value: Any, where: str) -> Net:
    if not isinstance(value, str):
        raise PlanFormatError(where, _l("%(value)s is not an IP prefix.", value=value))
    try:
        return parse_net(value)
    except HostBitsSet as exc:
        raise PlanFormatError(
            where, _l("%(value)s has host bits set; the network is %(net)s.", value=value, net=format_net(exc.network))
        ) from None
    except ValueError:
        raise PlanFormatError(where, _l("%(value)s is not an IP prefix.", value=value)) from None


def read_previous(text: str) -> PreviousPlan:
    """A plan printed by a preview (``--json``), to re-plan against. Keys it does not know are passed over."""
    document = load_document(text)
    if not isinstance(document, Mapping) or not isinstance(document.get("nodes"), list):
        raise PlanFormatError("", _l("A previous plan is a mapping with a parent and a list of nodes."))
    if document.get("parent") is None:
        raise PlanFormatError("parent", _l("missing: give the prefix the plan divides."))
    parent = read_prefix(document["parent"], "parent")
    prefixes: dict[str, Net] = {}
    for index, entry in enumerate(document["nodes"]):
        where = f"nodes[{index}]"
        if not isinstance(entry, Mapping):
            raise PlanFormatError(where, _l("must be a mapping with a path and a prefix."))
        path = entry.get("path")
        if not isinstance(path, str) or not path:
            raise PlanFormatError(f"{where}.path", _l("must be a node's path, such as site-1/zone-2."))
        if path in prefixes:
            raise PlanFormatError(f"{where}.path", _l("%(path)s appears twice.", path=path))
        prefixes[path] = read_prefix(entry.get("prefix"), f"{where}.prefix")
    return PreviousPlan(parent, prefixes)


def _known_keys(mapping: Mapping[Any, Any], keys: tuple[str, ...], where: str) -> None:
    for key in mapping:
        if key not in keys:
            raise PlanFormatError(
                f"{where}.{key}" if where else str(key),
                _l("unknown key; expected one of %(keys)s.", keys=", ".join(keys)),
            )


def _headroom(value: Any, where: str) -> Fraction:
    """A spare factor of at least 1 (1 = none), a whole number or a decimal such as 1.5."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlanFormatError(where, _l("must be a number of at least 1."))
    try:
        factor = Fraction(str(value))
    except ValueError:  # inf, nan
        raise PlanFormatError(where, _l("must be a number of at least 1.")) from None
    if factor < 1:
        raise PlanFormatError(where, _l("must be a number of at least 1."))
    return factor


def _reserved(value: Any, parent: Net) -> list[Net]:
    entries = [value] if isinstance(value, str) else value
    if not isinstance(entries, list):
        raise PlanFormatError("reserve", _l("must be a list of prefixes."))
    reserved = []
    for index, entry in enumerate(entries):
        where = f"reserve[{index}]"
        net = read_prefix(entry, where)
        if not parent.contains(net):
            raise PlanFormatError(
                where,
                _l(
                    "%(prefix)s is not inside the parent %(parent)s.", prefix=format_net(net), parent=format_net(parent)
                ),
            )
        reserved.append(net)
    return reserved


class _NodeReader:
    def __init__(self, width: int) -> None:
        self.width = width
        self.read = 0  # entries read, aliases included: a document cannot make the reader walk forever

    def nodes(self, value: Any, where: str, depth: int) -> tuple[NodeSpec, ...]:
        if not isinstance(value, list) or not value:
            raise PlanFormatError(where, _l("must be a list of nodes, at least one."))
        if depth > MAX_DEPTH:
            raise PlanFormatError(where, _l("nodes nest at most %(depth)d deep.", depth=MAX_DEPTH))
        nodes = tuple(self.node(entry, f"{where}[{index}]", depth) for index, entry in enumerate(value))
        seen: set[str] = set()
        for index, node in enumerate(nodes):
            for name in node.names:
                if name in seen:
                    raise PlanFormatError(
                        f"{where}[{index}]", _l("%(name)s is already the name of an earlier sibling.", name=name)
                    )
                seen.add(name)
        return nodes

    def node(self, value: Any, where: str, depth: int) -> NodeSpec:
        self.read += 1
        if self.read > MAX_PLAN_NODES:
            raise PlanFormatError(where, _l("A plan may have at most %(limit)s nodes.", limit=MAX_PLAN_NODES))
        if not isinstance(value, Mapping):
            raise PlanFormatError(where, _l("must be a mapping with a name."))
        _known_keys(value, NODE_KEYS, where)
        names = self.names(value, where)
        length = self.length(value.get("length"), f"{where}.length")
        children = self.nodes(value["nodes"], f"{where}.nodes", depth + 1) if "nodes" in value else ()
        if length is None and not children:
            raise PlanFormatError(where, _l("a node needs a length or nodes of its own."))
        headroom = None
        if value.get("headroom") is not None:
            if length is not None:
                raise PlanFormatError(
                    f"{where}.headroom", _l("a node that gives its length takes no headroom; give one or the other.")
                )
            headroom = _headroom(value["headroom"], f"{where}.headroom")
        return NodeSpec(names=names, length=length, headroom=headroom, children=children)

    def length(self, value: Any, where: str) -> int | None:
        """A prefix length: 64, or "/64" as it is often written."""
        if value is None:
            return None
        if isinstance(value, str) and value.strip().removeprefix("/").isdecimal():
            value = int(value.strip().removeprefix("/"))
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= self.width:
            raise PlanFormatError(where, _l("must be a prefix length from 0 to %(width)d.", width=self.width))
        return value

    def names(self, value: Mapping[Any, Any], where: str) -> tuple[str, ...]:
        count = value.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise PlanFormatError(f"{where}.count", _l("must be a whole number of at least 1."))
        if count is not None and count > MAX_PLAN_NODES:
            raise PlanFormatError(
                f"{where}.count", _l("A plan may have at most %(limit)s nodes.", limit=MAX_PLAN_NODES)
            )
        if "names" in value:
            if "name" in value:
                raise PlanFormatError(f"{where}.names", _l("give a name or names, not both."))
            given = value["names"]
            if not isinstance(given, list) or not given:
                raise PlanFormatError(f"{where}.names", _l("must be a list of names, at least one."))
            if count is not None and count != len(given):
                raise PlanFormatError(
                    f"{where}.count", _l("is %(count)d, but %(names)d names are given.", count=count, names=len(given))
                )
            names = tuple(_name(name, f"{where}.names[{index}]") for index, name in enumerate(given))
            seen: set[str] = set()
            for index, name in enumerate(names):
                if name in seen:
                    raise PlanFormatError(f"{where}.names[{index}]", _l("%(name)s is given twice.", name=name))
                seen.add(name)
            return names
        if value.get("name") is None:
            raise PlanFormatError(f"{where}.name", _l("missing: every node has a name."))
        name = _name(value["name"], f"{where}.name")
        if count is None or count == 1:
            return (name,)
        return tuple(f"{name}-{number}" for number in range(1, count + 1))


def _name(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PlanFormatError(where, _l("must be text; put it in quotes."))
    name = str(value).strip()
    if not name:
        raise PlanFormatError(where, _l("must not be empty."))
    if "/" in name:
        raise PlanFormatError(where, _l("must not contain a slash: a slash separates the levels of a path."))
    return name
