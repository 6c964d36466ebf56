"""Special-purpose address space (RFC 6890 and the IANA IPv4/IPv6 Special-Purpose Address Registries) that no
organization can hold: pure, no Flask, no database.

A prefix is refused when it overlaps any block below (a block that merely contains ``::1`` is no more holdable
than ``::1``). The documentation ranges are refused unless a setting allows them (the demo and the tests use
2001:db8::/32).
"""

from __future__ import annotations

from ipam.space import Net, parse_net

# (block, why) — never registrable.
SPECIAL_PURPOSE: tuple[tuple[Net, str], ...] = tuple(
    (parse_net(block), why)
    for block, why in (
        ("0.0.0.0/8", "this network (RFC 791)"),
        ("127.0.0.0/8", "loopback (RFC 1122)"),
        ("169.254.0.0/16", "link-local (RFC 3927)"),
        ("224.0.0.0/4", "multicast (RFC 5771)"),
        ("240.0.0.0/4", "reserved (RFC 1112)"),
        ("255.255.255.255/32", "limited broadcast (RFC 919)"),
        ("::/128", "unspecified address (RFC 4291)"),
        ("::1/128", "loopback (RFC 4291)"),
        ("::ffff:0:0/96", "IPv4-mapped addresses (RFC 4291)"),
        ("fe80::/10", "link-local unicast (RFC 4291)"),
        ("ff00::/8", "multicast (RFC 4291)"),
    )
)
DOCUMENTATION: tuple[Net, ...] = tuple(
    parse_net(block) for block in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20")
)


def special_purpose_reason(net: Net, *, allow_documentation: bool = False) -> str | None:
    """Why ``net`` cannot be registered, or None when it may be."""
    for block, why in SPECIAL_PURPOSE:
        if block.overlaps(net):
            return why
    if not allow_documentation:
        for block in DOCUMENTATION:
            if block.overlaps(net):
                return "documentation (RFC 5737, RFC 3849, RFC 9637)"
    return None
