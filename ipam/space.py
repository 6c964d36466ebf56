"""Address arithmetic and free space on plain integers: no Flask, no database.

A network is ``Net(start, length, width)`` where ``width`` is 32 (IPv4) or 128 (IPv6) and ``start`` is the
first address as an integer with no host bits. Free space is always expressed as the *maximal aligned CIDR
blocks* not covered by children, in address order; every function here is exact for any size.
"""

from __future__ import annotations

import heapq
import socket
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import NamedTuple

import netaddr

WIDTH = {4: 32, 6: 128}


class Strategy(StrEnum):
    FIRST_FIT = "first-fit"
    BEST_FIT = "best-fit"
    SPARSE = "sparse"


class Net(NamedTuple):
    start: int
    length: int
    width: int = 128

    @property
    def size(self) -> int:
        return 1 << (self.width - self.length)

    @property
    def last(self) -> int:
        return self.start + self.size - 1

    @property
    def family(self) -> int:
        return 4 if self.width == 32 else 6

    def contains(self, other: Net) -> bool:
        return other.width == self.width and other.length >= self.length and self.start <= other.start <= self.last

    def overlaps(self, other: Net) -> bool:
        return other.width == self.width and self.start <= other.last and other.start <= self.last

    def subnets(self, length: int) -> Iterator[Net]:
        step = 1 << (self.width - length)
        for start in range(self.start, self.last + 1, step):
            yield Net(start, length, self.width)

    def __str__(self) -> str:
        return format_net(self)


def parse_net(text: str, *, strict: bool = True) -> Net:
    """Parse ``2001:db8::/32`` (or an address, taken as a host route). ``strict`` refuses host bits.

    The C library's ``inet_pton`` reads the address (importers call this a million times a file)."""
    address, slash, length_text = text.strip().partition("/")
    family, width = (socket.AF_INET6, 128) if ":" in address else (socket.AF_INET, 32)
    try:
        value = int.from_bytes(socket.inet_pton(family, address), "big")
    except (OSError, ValueError):
        raise ValueError(f"not an IP prefix: {text!r}") from None
    if slash and not (length_text.isascii() and length_text.isdigit() and len(length_text) <= 3):
        raise ValueError(f"not an IP prefix: {text!r}")
    length = int(length_text) if slash else width
    if length > width:
        raise ValueError(f"not an IP prefix: {text!r}")
    host_bits = width - length
    network = value >> host_bits << host_bits
    if strict and network != value:
        raise HostBitsSet(text, Net(network, length, width))
    return Net(network, length, width)


class HostBitsSet(ValueError):
    def __init__(self, text: str, network: Net) -> None:
        super().__init__(f"{text} has host bits set (the network is {format_net(network)})")
        self.network = network


def format_net(net: Net) -> str:
    """RFC 5952 text, e.g. ``2001:db8:8000::/33``."""
    return f"{format_address(net.start, net.width)}/{net.length}"


def format_address(value: int, width: int) -> str:
    """RFC 5952 text of an address (the C library's ``inet_ntop``; netaddr for embedded-IPv4 forms)."""
    if width == 32:
        return socket.inet_ntop(socket.AF_INET, value.to_bytes(4, "big"))
    text = socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))
    return text if "." not in text else str(netaddr.IPAddress(value, 6))


def range_to_blocks(first: int, last: int, width: int) -> Iterator[Net]:
    """The maximal aligned CIDR blocks covering ``first..last`` exactly, in address order."""
    while first <= last:
        # The largest block that starts at ``first`` (alignment) and does not run past ``last``.
        align = (first & -first).bit_length() - 1 if first else width
        span = (last - first + 1).bit_length() - 1
        bits = min(align, span, width)
        yield Net(first, width - bits, width)
        first += 1 << bits


def free_blocks(parent: Net, children: Iterable[Net]) -> list[Net]:
    """Free space of ``parent`` given its (non-overlapping) children, as maximal aligned blocks in order."""
    return list(gaps(parent, sorted(children)))


def gaps(parent: Net, sorted_children: Iterable[Net]) -> Iterator[Net]:
    """Like ``free_blocks`` for children already in address order, streamed (constant memory)."""
    cursor = parent.start
    for child in sorted_children:
        if child.start > cursor:
            yield from range_to_blocks(cursor, child.start - 1, parent.width)
        cursor = max(cursor, child.last + 1)
    if cursor <= parent.last:
        yield from range_to_blocks(cursor, parent.last, parent.width)


def bit_reverse(value: int, bits: int) -> int:
    """``value`` as a ``bits``-bit number, read backwards."""
    if bits == 0:
        return 0
    return int(format(value, f"0{bits}b")[::-1], 2)


def sparse_key(parent: Net, start: int) -> int:
    """Order key of RFC 3531 "leftmost" allocation: the bit-reversed offset of ``start`` in ``parent``.

    For a block aligned to /L the key equals the bit-reversed index of its first /L candidate, whatever L is,
    so one stored key per free block serves every requested length.
    """
    return bit_reverse(start - parent.start, parent.width - parent.length)


def block_key(strategy: Strategy, parent: Net, block: Net) -> tuple[int, ...]:
    """Which free block a strategy takes its next candidate from: the smallest key wins."""
    if strategy is Strategy.FIRST_FIT:
        return (block.start,)
    if strategy is Strategy.BEST_FIT:
        return (-block.length, block.start)
    return (sparse_key(parent, block.start),)


def split_off_first(block: Net, length: int) -> tuple[Net, list[Net]]:
    """Take the first /length of ``block``; the rest of it as maximal blocks (buddy split)."""
    taken = Net(block.start, length, block.width)
    rest = [
        Net(block.start + (1 << (block.width - bits)), bits, block.width) for bits in range(length, block.length, -1)
    ]
    return taken, rest


def allocate(
    parent: Net, free: Sequence[Net], length: int, count: int, strategy: Strategy
) -> tuple[list[Net], list[Net]]:
    """Take ``count`` /length prefixes from ``free`` in ``strategy`` order.

    Returns the prefixes taken (in allocation order) and the free blocks left. Takes fewer than ``count`` only
    when the space runs out; the caller decides whether that is an error.
    """
    if not parent.length <= length <= parent.width:
        raise ValueError(f"/{length} does not fit in {format_net(parent)}")
    heap = [(block_key(strategy, parent, b), b) for b in free if b.length <= length]
    heapq.heapify(heap)
    too_small = [b for b in free if b.length > length]
    taken: list[Net] = []
    while heap and len(taken) < count:
        _key, block = heapq.heappop(heap)
        prefix, rest = split_off_first(block, length)
        taken.append(prefix)
        for piece in rest:
            heapq.heappush(heap, (block_key(strategy, parent, piece), piece))
    left = sorted([b for _k, b in heap] + too_small)
    return taken, left


def candidates(free: Iterable[Net], length: int, limit: int | None = None) -> Iterator[Net]:
    """Free /length candidates in address (first-fit) order."""
    produced = 0
    for block in sorted(free):
        if block.length > length:
            continue
        for candidate in block.subnets(length):
            if limit is not None and produced >= limit:
                return
            yield candidate
            produced += 1


def fits(free: Iterable[Net], length: int) -> int:
    """How many /length prefixes the free space holds."""
    return sum(1 << (length - b.length) for b in free if b.length <= length)


@dataclass(frozen=True)
class Utilization:
    """Used and free space of a prefix, exact, counted in units of /unit_length."""

    total: int
    used: int
    unit_length: int
    width: int
    prefix_length: int

    @property
    def free(self) -> int:
        return self.total - self.used

    def units(self, amount: int) -> Fraction:
        return Fraction(amount, 1 << (self.width - self.unit_length))

    @property
    def used_units(self) -> Fraction:
        return self.units(self.used)

    @property
    def free_units(self) -> Fraction:
        return self.units(self.free)

    @property
    def percent(self) -> float:
        return 100.0 * self.used / self.total if self.total else 0.0

    @property
    def hd_ratio(self) -> float | None:
        """RFC 3194 HD ratio, log(used units) / log(total units), with /unit_length as the unit (/48 at RIRs)."""
        import math

        used = self.used_units
        total = self.units(self.total)
        if used <= 1 or total <= 1:
            return None
        return math.log(used) / math.log(total)


def utilization(parent: Net, child_lengths: Iterable[tuple[int, int]], unit_length: int = 64) -> Utilization:
    """Utilization from ``(child length, how many children of that length)`` pairs."""
    used = sum(count << (parent.width - length) for length, count in child_lengths)
    return Utilization(parent.size, used, unit_length, parent.width, parent.length)


def addresses_per_cell(parent: Net, length: int, blocks: Iterable[tuple[int, int, int]]) -> list[int]:
    """The addresses of disjoint aligned ``blocks`` in each /``length`` cell of ``parent``, in address order: its
    maximal free blocks (free addresses) or its children (used ones), given as (address, block length, count):
    ``count`` blocks of that length in the cell holding ``address`` (a block wider than a cell comes alone, at its
    start, and lies inside ``parent``). The blocks are aligned, so each lies inside one cell or covers whole cells:
    counts per cell and length (what a database can count in a key) lose nothing."""
    step_bits = parent.width - length
    cells = [0] * (1 << (length - parent.length))
    for address, block_length, count in blocks:
        first = (address - parent.start) >> step_bits
        if block_length >= length:
            cells[first] += count << (parent.width - block_length)
        else:
            for index in range(first, first + (1 << (length - block_length))):
                cells[index] = 1 << step_bits
    return cells


def enclosing_blocks(outer: Net, inner: Net, step: int) -> list[Net]:
    """The blocks holding ``inner`` (a block inside ``outer``) every ``step`` bits below ``outer``, widest first
    and shorter than ``inner`` itself: the maps one zooms out through from a map of ``inner`` (each a cell of the
    one before it, at the default step)."""
    return [
        Net(inner.start >> (inner.width - length) << (inner.width - length), length, inner.width)
        for length in range(outer.length + step, inner.length, step)
    ]


def is_nibble_aligned(length: int) -> bool:
    return length % 4 == 0
