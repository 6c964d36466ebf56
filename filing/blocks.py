"""A filed block: a prefix, or a first–last range as the national format writes it (pure, no database).

``parse_block`` reads what filers type or files hold (``2001:db8:1::/48``, ``2001:db8:1:: - 2001:db8:1:ff::``,
or the two ends separately); a ``Block`` keeps the ends exactly, knows whether it is one prefix, and writes
itself back as CIDR when it is one.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from ipam.space import WIDTH, Net, format_address, format_net, parse_net, range_to_blocks

RANGE_SEPARATORS = ("-", "–", "—", "~", "～", "至")


class BadBlock(ValueError):
    """The text is not a block; ``reason`` says why in a few words (the caller words the message)."""


@dataclass(frozen=True, order=True)
class Block:
    family: int
    first: int
    last: int

    @property
    def width(self) -> int:
        return WIDTH[self.family]

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    @property
    def span_bits(self) -> int:
        """How many low bits the block spans (``last - first`` in bits): blocks of one class are at most
        ``2**span_bits`` long, so "which blocks cover an address" is one bounded range scan per class."""
        return (self.last - self.first).bit_length()

    @property
    def net(self) -> Net | None:
        """The block as one prefix, or None when it is not one."""
        nets = list(range_to_blocks(self.first, self.last, self.width))
        return nets[0] if len(nets) == 1 else None

    def prefixes(self) -> list[Net]:
        return list(range_to_blocks(self.first, self.last, self.width))

    def contains(self, other: Block) -> bool:
        return self.family == other.family and self.first <= other.first and other.last <= self.last

    def overlaps(self, other: Block) -> bool:
        return self.family == other.family and self.first <= other.last and other.first <= self.last

    def covers(self, family: int, address: int) -> bool:
        return self.family == family and self.first <= address <= self.last

    @property
    def first_text(self) -> str:
        return format_address(self.first, self.width)

    @property
    def last_text(self) -> str:
        return format_address(self.last, self.width)

    def __str__(self) -> str:
        net = self.net
        return format_net(net) if net is not None else f"{self.first_text}-{self.last_text}"

    @classmethod
    def of(cls, net: Net) -> Block:
        return cls(net.family, net.start, net.last)


def parse_address(text: str) -> tuple[int, int]:
    """(family, value) of one address."""
    text = text.strip()
    family, kind = (6, socket.AF_INET6) if ":" in text else (4, socket.AF_INET)
    try:
        return family, int.from_bytes(socket.inet_pton(kind, text), "big")
    except (OSError, ValueError):
        raise BadBlock("not an address") from None


def parse_block(text: str, last: str | None = None) -> Block:
    """A block from ``text`` (a prefix, an address or a range ``first-last``), or from its two ends."""
    text = (text or "").strip()
    if not text:
        raise BadBlock("empty")
    if last is not None and last.strip():
        return _range(text, last)
    for separator in RANGE_SEPARATORS:
        if separator in text:
            first, _, end = text.partition(separator)
            return _range(first, end)
    try:
        return Block.of(parse_net(text))
    except ValueError as exc:
        raise BadBlock("host bits" if "host bits" in str(exc) else "not a prefix") from None


def _range(first_text: str, last_text: str) -> Block:
    family, first = parse_address(first_text)
    last_family, last = parse_address(last_text)
    if family != last_family:
        raise BadBlock("mixed families")
    if first > last:
        raise BadBlock("reversed")
    return Block(family, first, last)
