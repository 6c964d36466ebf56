"""The registry's rules, in one place and pure (no Flask, no database): where a prefix may lie and what it may be.

Every path that changes the registry asks here: registering and allocating (``ipam.operations``), loading in
bulk, the import planner (``importers.plan``), and later the subnet planner and filings. Each check returns a
``Breach`` (or None) rather than raising, so that each caller decides what a breach means to it: the operations
refuse with a typed error, an import reports it on the row's line (a pool-policy breach as a warning unless the
pool is strict, because a carrier's historical book may predate today's policy).

The rules:
- **special purpose**: nobody holds loopback, multicast, link-local … (``ipam.special``);
- **containment**: a prefix lies strictly inside its parent, in the same family;
- **nesting of kinds**: aggregate ⊃ allocation ⊃ assignment ⊃ subnet, allocations may nest, reserved blocks
  hold nothing (``ipam.choices.may_contain``);
- **pool policy** of the parent: the lengths it hands out and nibble alignment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from core.messages import N_
from ipam.choices import may_contain
from ipam.space import Net, format_net, is_nibble_aligned
from ipam.special import special_purpose_reason


@dataclass(frozen=True, slots=True)
class PoolPolicy:
    """What a prefix hands out to its children. ``strict``: imports must keep it too (else a breach warns)."""

    min_len: int | None = None
    max_len: int | None = None
    nibble_aligned: bool = False
    strict: bool = False

    @property
    def empty(self) -> bool:
        return self.min_len is None and self.max_len is None and not self.nibble_aligned


NO_POLICY = PoolPolicy()


@dataclass(frozen=True, slots=True)
class Placed:
    """A prefix as the rules see it: where it is, what kind, and the policy it applies to its children."""

    net: Net
    kind: str
    policy: PoolPolicy = NO_POLICY


class Rule(StrEnum):
    SPECIAL_PURPOSE = "special_purpose"
    CONTAINMENT = "containment"
    NESTING = "nesting"
    POOL_LENGTH = "pool_length"
    POOL_ALIGNMENT = "pool_alignment"


POOL_RULES = frozenset({Rule.POOL_LENGTH, Rule.POOL_ALIGNMENT})


@dataclass(frozen=True, slots=True)
class Breach:
    """One broken rule: which, the input field it concerns, and a message template with its parameters."""

    rule: Rule
    field: str
    template: str
    params: dict[str, object] = field(default_factory=dict)

    @property
    def of_pool_policy(self) -> bool:
        return self.rule in POOL_RULES


def holdable(net: Net, *, allow_documentation: bool, field: str = "prefix") -> Breach | None:
    reason = special_purpose_reason(net, allow_documentation=allow_documentation)
    if reason is None:
        return None
    return Breach(
        Rule.SPECIAL_PURPOSE, field,
        N_("%(prefix)s is special-purpose space (%(why)s); no organization can hold it."),
        {"prefix": format_net(net), "why": reason},
    )  # fmt: skip


def contained(parent: Placed, net: Net, *, field: str = "prefix") -> Breach | None:
    if parent.net.family == net.family and parent.net.contains(net) and net.length > parent.net.length:
        return None
    return Breach(
        Rule.CONTAINMENT, field, N_("A /%(length)d does not fit inside %(parent)s."),
        {"length": net.length, "parent": format_net(parent.net)},
    )  # fmt: skip


def nests_in(parent: Placed | None, kind: str, *, field: str = "kind") -> Breach | None:
    """May a ``kind`` lie inside ``parent`` (None: top level, where anything may)?"""
    if parent is None or may_contain(parent.kind, kind):
        return None
    return Breach(
        Rule.NESTING, field, N_("A %(kind)s cannot lie inside the %(parent_kind)s %(parent)s."),
        {"kind": kind, "parent_kind": parent.kind, "parent": format_net(parent.net)},
    )  # fmt: skip


def may_cover(kind: str, child: Placed, *, field: str = "kind") -> Breach | None:
    """May a new ``kind`` take an existing prefix below it (it moves under the new one)?"""
    if may_contain(kind, child.kind):
        return None
    return Breach(
        Rule.NESTING, field, N_("A %(kind)s cannot contain the %(child_kind)s %(child)s."),
        {"kind": kind, "child_kind": child.kind, "child": format_net(child.net)},
    )  # fmt: skip


def within_policy(parent: Placed | None, length: int, *, field: str = "prefix") -> Breach | None:
    """Does a child of ``length`` keep ``parent``'s pool policy?"""
    if parent is None:
        return None
    policy = parent.policy
    low, high = policy.min_len, policy.max_len
    if (low is not None and length < low) or (high is not None and length > high):
        return Breach(
            Rule.POOL_LENGTH, field, N_("%(parent)s hands out prefixes of /%(low)s to /%(high)s only."),
            {"parent": format_net(parent.net), "low": low if low is not None else parent.net.length,
             "high": high if high is not None else parent.net.width},
        )  # fmt: skip
    if policy.nibble_aligned and not is_nibble_aligned(length):
        return Breach(
            Rule.POOL_ALIGNMENT, field, N_("%(parent)s hands out nibble-aligned prefixes only (/4 multiples)."),
            {"parent": format_net(parent.net)},
        )  # fmt: skip
    return None


def placement(
    parent: Placed | None,
    net: Net,
    kind: str,
    *,
    covers: Iterable[Placed] = (),
    allow_documentation: bool,
    field: str = "prefix",
) -> list[Breach]:
    """Every rule a new prefix ``net`` of ``kind`` breaks where it would go: below ``parent`` (None: top level),
    taking the existing prefixes ``covers`` below it. In the order a person fixes them."""
    checks = [
        holdable(net, allow_documentation=allow_documentation, field=field),
        contained(parent, net, field=field) if parent is not None else None,
        nests_in(parent, kind),
        *(may_cover(kind, child) for child in covers),
        within_policy(parent, net.length, field=field),
    ]
    return [breach for breach in checks if breach is not None]
