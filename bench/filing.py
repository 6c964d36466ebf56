"""Filing at scale: the review queue, "which filings cover this address" and "file all my unfiled blocks", with
100,000 filings over a registry of 1,000,000 prefixes, on SQLite and PostgreSQL (BENCH_DATABASES).

The world (built with bulk statements, then analyzed): two carriers whose /20 aggregates hold BENCH_FILING_PREFIXES
/48 assignments (default 1,000,000; one in a hundred held by one of 20,000 enterprises); BENCH_FILING_FILINGS
filings (default 100,000) inserted in one bulk statement: the carriers' holdings, registry /48s (about 75%), /56s
and ranges of /56s inside other /48s (15%) and IPv4 /24s, /25s and ranges (10%); a fifth of them awaiting review
with review deadlines spread over ±30 days, the rest approved, drafts, returned, rejected or cancelled; users in
Tianjin's districts (1201xx). A third carrier holds an aggregate with BENCH_FILING_UNFILED (default 10,000) /48s
assigned to enterprises and not filed.

Measured, each with a baseline of the same run:

* the review queue's first page, sorted by review due date, with a filter (the type, a district, overdue): the
  bare query (``filtered`` + ``paginate``, one COUNT and one page) and the page a regulator opens
  (GET /filings?view=queue&…, signed in, rendered), BENCH_FILING_PAGE_SAMPLES times each (default 30); baseline:
  every filing under review loaded into Python, filtered and sorted there;
* the filings covering an address (``filings_at_address``), over BENCH_FILING_ADDRESSES random addresses (60%
  inside filed blocks, 40% outside every block but the holdings, or outside everything); baseline: the same
  condition as one SQL statement without the size classes (``start <= a AND last >= a``), on a sample;
* "file all my unfiled blocks" (``file_unfiled_blocks`` and the commit) for the third carrier, BENCH_FILING_RUNS
  times (the drafts are deleted between runs); baseline: BENCH_FILING_ONE_BY_ONE drafts made one at a time with
  ``start_from_prefix`` (the "file this block" button) in one transaction, extrapolated to all the blocks.

Targets (the issue's): the queue's first page ≤ 300 ms, covering an address ≤ 50 ms, filing 10,000 unfiled blocks
≤ 10 s (scaled when BENCH_FILING_UNFILED differs). Missed targets are printed as MISSED, never asserted. The
national report is measured by bench/filing_report.py. Run with `make bench`.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from accounts import operations as accounts_ops
from accounts.models import Organization, User
from accounts.validators import uscc_check_character
from bench.allocation import open_page, percentile, prepared_app, timed, vacuum
from core.db import bulk_insert
from core.extensions import db
from core.policy import OPERATOR
from core.web import paginate
from filing.blocks import Block
from filing.choices import FilingState, FilingType
from filing.models import Filing
from filing.operations import file_unfiled_blocks, start_from_prefix
from filing.queries import LIVE_STATES, REVIEW_STATES, FilingFilter, filings_at_address, filtered
from ipam.models import Prefix, to_key
from ipam.operations import add_prefix, bulk_add_leaves
from ipam.space import Net, format_address, parse_net
from tests.support import fresh_database

DATABASES = os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",")
PREFIXES = int(os.environ.get("BENCH_FILING_PREFIXES", "1000000"))
FILINGS = int(os.environ.get("BENCH_FILING_FILINGS", "100000"))
UNFILED = int(os.environ.get("BENCH_FILING_UNFILED", "10000"))
ADDRESSES = int(os.environ.get("BENCH_FILING_ADDRESSES", "500"))
PAGE_SAMPLES = int(os.environ.get("BENCH_FILING_PAGE_SAMPLES", "30"))
RUNS = int(os.environ.get("BENCH_FILING_RUNS", "3"))
ONE_BY_ONE = int(os.environ.get("BENCH_FILING_ONE_BY_ONE", "200"))
BASELINE_SAMPLES = 5  # the naive queue and the unindexed scan are slow: a few samples say enough
SECRET = "bench-" + "k" * 40

QUEUE_MS, COVERING_MS, FILE_ALL_SECONDS, FILE_ALL_BLOCKS = 300.0, 50.0, 10.0, 10_000
PER_PAGE = 50
ENTERPRISES = 20_000
HELD_EVERY = 100  # one registry /48 in a hundred has its holder set
CARRIER_AGGREGATES = ("240e:c000::/20", "2408:8000::/20")  # carrier A (80% of the prefixes), carrier B
SHARE_A = 0.8
FILER_AGGREGATE = "2409:8a00::/32"  # carrier C, whose blocks are all unfiled
FILER_HOLDERS = 20  # enterprises its blocks are assigned to
IPV4_HOLDING = "60.0.0.0/10"  # carrier A's; its IPv4 filings are /24s, /25s and ranges inside it
OUTSIDE = "2a0e:8000::/20"  # nobody's: addresses in it are covered by no filing
DISTRICTS = ("120101", "120102", "120103", "120104", "120105", "120106", "120110", "120111", "120112", "120113",
             "120114", "120115", "120116", "120117", "120118", "120119")  # fmt: skip
INDUSTRIES = ("C", "C", "C", "C", "D", "B", "I", "F", "G", "M")
USAGES = ("industrial-network", "industrial-network", "enterprise-network", "static", "leased-line", "idc")
# (state, share): a fifth awaits review (submitted or a change submitted).
STATES = ((FilingState.SUBMITTED, 0.14), (FilingState.CHANGE_SUBMITTED, 0.06), (FilingState.APPROVED, 0.50),
          (FilingState.DRAFT, 0.12), (FilingState.RETURNED, 0.06), (FilingState.CHANGE_RETURNED, 0.02),
          (FilingState.REJECTED, 0.03), (FilingState.CANCELLED, 0.07))  # fmt: skip
NUMBERED = {FilingState.APPROVED, FilingState.CHANGE_SUBMITTED, FilingState.CHANGE_RETURNED, FilingState.CANCELLED}
QUEUE_FILTERS = (("type=assignment", FilingFilter(queue=True, filing_type=FilingType.ASSIGNMENT.value)),
                 ("district=120116", FilingFilter(queue=True, district="120116")),
                 ("due=overdue", FilingFilter(queue=True, due="overdue")))  # fmt: skip
FILING_COLUMNS = [
    "number", "state", "version", "approved_version", "filing_type", "filer_id", "family", "start", "last",
    "span_bits", "block", "user_organization_id", "user_name", "user_uscc", "user_nature", "user_industry",
    "user_division", "usage", "allocated_on", "contact_name", "contact_phone", "due_on", "due_provisional",
    "review_due_on", "review_due_provisional", "submitted_at", "approved_at", "created_at", "updated_at",
]  # fmt: skip


@dataclass
class World:
    carriers: dict[str, int]  # code → organization id
    enterprises: list[tuple[int, str, str, str, str]]  # (id, name, USCC, division, industry)
    blocks: list[Block]  # every filed block, for addresses inside them
    filer_user_id: int = 0
    regulator_id: int = 0
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Outcome:
    """One target's measurement on one database."""

    target: str
    measured: float
    limit: float
    unit: str

    @property
    def met(self) -> bool:
        return self.measured <= self.limit


# -- the world --------------------------------------------------------------------------------------------------


def enterprise_rows(rng: random.Random) -> list[tuple[str, str, str, str, str]]:
    """(code, name, USCC, division, industry): valid made-up codes ('BNCH' in the organization code)."""
    trades = ("制造", "科技", "物流", "化工", "电子", "机械", "食品", "材料")
    rows = []
    for i in range(ENTERPRISES):
        division = rng.choice(DISTRICTS)
        first17 = f"91{division}BNCH{i:05d}"
        rows.append((f"bench-ent-{i:05d}", f"津沽基准{trades[i % len(trades)]}{i:05d}有限公司",
                     first17 + uscc_check_character(first17), division, rng.choice(INDUSTRIES)))  # fmt: skip
    return rows


def registry_nets(aggregate: str, count: int, rng: random.Random) -> list[Net]:
    """``count`` /48s of the aggregate in address order, now and then skipping a few (as carriers assign)."""
    parent = parse_net(aggregate)
    nets, slot = [], 0
    for _ in range(count):
        if rng.random() < 0.05:
            slot += rng.randint(1, 64)
        nets.append(Net(parent.start + (slot << 80), 48, 128))
        slot += 1
    assert slot < 1 << (48 - parent.length), "the aggregate is full"
    return nets


def organizations(session: Session, rng: random.Random) -> tuple[dict[str, int], list[tuple[Any, ...]]]:
    carriers = {}
    for code, name in (("bench-carrier-a", "基准示例电信天津分公司"), ("bench-carrier-b", "基准示例联通天津分公司"),
                       ("bench-carrier-c", "基准示例移动天津分公司")):  # fmt: skip
        org = Organization(kind="carrier", code=code, name=name, division_code="120101", contact_name="王工",
                           contact_phone="022-5550100", contact_email="ip@example.cn")  # fmt: skip
        session.add(org)
        session.flush()
        carriers[code] = org.id
    now = datetime.now(UTC)
    rows = enterprise_rows(rng)
    bulk_insert(session, Organization.__table__,
                ["kind", "code", "name", "uscc", "division_code", "nature", "industry", "contact_name", "contact_phone",
                 "verified", "above_designated_size", "created_at", "updated_at"],
                (("enterprise", code, name, uscc, division, "enterprise", industry, "李工", "022-5550101", True,
                  i % 3 == 0, now, now) for i, (code, name, uscc, division, industry) in enumerate(rows)))  # fmt: skip
    ids = dict(
        session.execute(select(Organization.code, Organization.id).where(Organization.kind == "enterprise")).all()
    )
    return carriers, [(ids[code], name, uscc, division, industry) for code, name, uscc, division, industry in rows]


def registry(session: Session, carriers: dict[str, int], enterprises: list[tuple[Any, ...]],
             rng: random.Random) -> list[list[Net]]:  # fmt: skip
    """The carriers' aggregates and their /48 assignments; one in HELD_EVERY gets an enterprise as holder."""
    counts = [round(PREFIXES * SHARE_A), PREFIXES - round(PREFIXES * SHARE_A)]
    result = []
    for code, aggregate, count in zip(("bench-carrier-a", "bench-carrier-b"), CARRIER_AGGREGATES, counts, strict=True):
        holder = session.get(Organization, carriers[code])
        parent = add_prefix(session, aggregate, actor=OPERATOR, kind="aggregate", holder=holder)
        nets = registry_nets(aggregate, count, rng)
        bulk_add_leaves(session, parent, nets, actor=OPERATOR, kind="assignment", holder=None)
        result.append(nets)
    first_enterprise = min(e[0] for e in enterprises)
    assert max(e[0] for e in enterprises) - first_enterprise + 1 == len(enterprises), "enterprise ids not contiguous"
    table = Prefix.__table__
    session.execute(
        update(table)
        .where(table.c.kind == "assignment", table.c.id % HELD_EVERY == 0)
        .values(holder_id=first_enterprise + table.c.id % len(enterprises))
    )
    carrier_a = session.get(Organization, carriers["bench-carrier-a"])
    add_prefix(session, IPV4_HOLDING, actor=OPERATOR, kind="aggregate", holder=carrier_a)
    return result


def unfiled_registry(session: Session, carriers: dict[str, int], enterprises: list[tuple[Any, ...]]) -> int:
    """Carrier C's aggregate with UNFILED /48s assigned to a few enterprises; returns its user's id."""
    carrier = session.get(Organization, carriers["bench-carrier-c"])
    parent = add_prefix(session, FILER_AGGREGATE, actor=OPERATOR, kind="aggregate", holder=carrier)
    start = parse_net(FILER_AGGREGATE).start
    nets = [Net(start + (slot << 80), 48, 128) for slot in range(UNFILED)]
    share = -(-UNFILED // FILER_HOLDERS)
    for index in range(FILER_HOLDERS):
        part = nets[index * share : (index + 1) * share]
        if part:
            holder = session.get(Organization, enterprises[index][0])
            bulk_add_leaves(session, parent, part, actor=OPERATOR, kind="assignment", holder=holder,
                            usage="industrial-network")  # fmt: skip
    user = accounts_ops.create_user(session, actor=OPERATOR, username="bench-carrier-c", organization=carrier,
                                    role="carrier", password="bench-" + "p" * 20)  # fmt: skip
    return user.id


def filed_blocks(nets_by_carrier: list[list[Net]], carriers: dict[str, int], count: int,
                 rng: random.Random) -> list[tuple[Block, int, str | None]]:  # fmt: skip
    """(block, filer id, type or None for "pick one") of ``count`` filings: the holdings first, then the rest."""
    a, b, c = carriers["bench-carrier-a"], carriers["bench-carrier-b"], carriers["bench-carrier-c"]
    holdings = [(CARRIER_AGGREGATES[0], a), (CARRIER_AGGREGATES[1], b), (FILER_AGGREGATE, c), (IPV4_HOLDING, a)]
    result: list[tuple[Block, int, str | None]] = [
        (Block.of(parse_net(text)), filer, FilingType.HOLDING.value) for text, filer in holdings
    ]
    rest = count - len(result)
    n4 = min(rest // 10, 1 << 14)
    n56 = rest * 15 // 100
    n48 = rest - n4 - n56
    containers = -(-n56 // 4)
    registry = [(net, a) for net in nets_by_carrier[0]] + [(net, b) for net in nets_by_carrier[1]]
    assert n48 + containers <= len(registry), "more filings than registry /48s: raise BENCH_FILING_PREFIXES"
    chosen = rng.sample(range(len(registry)), n48 + containers)
    for index in chosen[:n48]:
        net, filer = registry[index]
        result.append((Block.of(net), filer, None))
    for index in chosen[n48:]:
        net, filer = registry[index]
        for first, size in ((0, 1), (16, 1), (32, 3), (64, 5)):  # two /56s and two ranges of /56s
            if n56 == 0:
                break
            block = Block(6, net.start + (first << 72), net.start + ((first + size) << 72) - 1)
            result.append((block, filer, None))
            n56 -= 1
    base = parse_net(IPV4_HOLDING).start
    for index in range(n4):
        first = base + (index << 8)
        low, high = ((0, 255), (0, 127), (16, 200))[index % 3]
        result.append((Block(4, first + low, first + high), a, None))
    return result


def filing_rows(blocks: list[tuple[Block, int, str | None]], enterprises: list[tuple[Any, ...]],
                carrier_names: dict[int, str], rng: random.Random) -> list[tuple[Any, ...]]:  # fmt: skip
    today, now = date.today(), datetime.now(UTC)
    states, weights = zip(*STATES, strict=True)
    rows = []
    order = list(range(len(blocks)))
    rng.shuffle(order)  # ids say nothing about dates or blocks
    for number, index in enumerate(order):
        block, filer, kind = blocks[index]
        state = FilingState.APPROVED if kind is not None else rng.choices(states, weights)[0]
        if kind is None:
            kind = rng.choices(("assignment", "allocation", "reserved"), (85, 10, 5))[0]
        if kind in ("assignment", "allocation"):
            user_id, user_name, uscc, division, industry = rng.choice(enterprises)
        else:
            user_id, user_name, uscc, division, industry = filer, carrier_names[filer], None, "120101", "I"
        allocated = today - timedelta(days=rng.randint(0, 720))
        under_review = state in (FilingState.SUBMITTED, FilingState.CHANGE_SUBMITTED)
        changed = state in (FilingState.CHANGE_SUBMITTED, FilingState.CHANGE_RETURNED)
        submitted = now - timedelta(days=rng.randint(0, 30)) if state is not FilingState.DRAFT else None
        rows.append((
            f"津IP备2026{number:07d}" if state in NUMBERED else None, state.value, 2 if changed else 1,
            1 if state in NUMBERED else None, kind, filer, block.family, to_key(block.first), to_key(block.last),
            block.span_bits, str(block), user_id, user_name, uscc, "enterprise", industry, division,
            rng.choice(USAGES), allocated, "张工", "022-5550100", allocated + timedelta(days=28), False,
            today + timedelta(days=rng.randint(-30, 30)) if under_review else None, False, submitted,
            submitted if state in NUMBERED else None, now, now,
        ))  # fmt: skip
    return rows


def build(rng: random.Random) -> World:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with db.session_scope() as session:
        carriers, enterprises = organizations(session, rng)
    timings["organizations"] = time.perf_counter() - started
    started = time.perf_counter()
    with db.session_scope() as session:
        nets = registry(session, carriers, enterprises, rng)
        filer_user_id = unfiled_registry(session, carriers, enterprises)
    timings["registry"] = time.perf_counter() - started
    started = time.perf_counter()
    blocks = filed_blocks(nets, carriers, FILINGS, rng)
    with db.session_scope() as session:
        names = dict(
            session.execute(select(Organization.id, Organization.name).where(Organization.kind == "carrier")).all()
        )
        bulk_insert(session, Filing.__table__, FILING_COLUMNS, filing_rows(blocks, enterprises, names, rng))
    timings["filings"] = time.perf_counter() - started
    started = time.perf_counter()
    assert db.engine is not None
    vacuum(db.engine)
    timings["analyze"] = time.perf_counter() - started
    return World(carriers, enterprises, [block for block, _, _ in blocks], filer_user_id, timings=timings)


# -- the review queue -------------------------------------------------------------------------------------------


def queue_query(regulator_id: int, flt: FilingFilter) -> Callable[[], object]:
    """The queue's first page as the view asks for it: one COUNT and one page of filings."""

    def run() -> None:
        with db.session_scope(write=False) as session:
            user = session.get(User, regulator_id)
            page = paginate(session, filtered(session, user, flt, today=date.today()), 1, PER_PAGE)
            assert page.items and page.total >= len(page.items)

    return run


def naive_queue(flt: FilingFilter) -> Callable[[], object]:
    """Every filing under review loaded, filtered and sorted in Python, the first page taken."""
    today = date.today()

    def keep(filing: Filing) -> bool:
        if flt.filing_type and filing.filing_type != flt.filing_type:
            return False
        if flt.district and filing.user_division != flt.district:
            return False
        return not (flt.due == "overdue" and (filing.review_due_on is None or filing.review_due_on >= today))

    def run() -> None:
        with db.session_scope(write=False) as session:
            waiting = session.scalars(select(Filing).where(Filing.state.in_(REVIEW_STATES))).all()
            chosen = sorted((f for f in waiting if keep(f)), key=lambda f: (f.review_due_on, f.id))
            assert chosen[:PER_PAGE]

    return run


def check_queue(regulator_id: int) -> None:
    """The bench measures the right thing: the page is the filter's filings in review-due order."""
    with db.session_scope(write=False) as session:
        user = session.get(User, regulator_id)
        flt = QUEUE_FILTERS[0][1]
        items = paginate(session, filtered(session, user, flt, today=date.today()), 1, PER_PAGE).items
        assert all(f.state in REVIEW_STATES and f.filing_type == flt.filing_type for f in items)
        dues = [f.review_due_on for f in items]
        assert dues == sorted(dues)


# -- covering an address ----------------------------------------------------------------------------------------


def sample_addresses(blocks: Sequence[Block], count: int, rng: random.Random) -> list[tuple[str, Block | None]]:
    """(address, a block that must cover it or None): 60% inside filed blocks, 20% in a carrier's aggregate (only
    its holding covers them, mostly), 10% in nobody's space, 10% IPv4 outside the carrier's holding."""
    small = [b for b in blocks if b.span_bits <= (80 if b.family == 6 else 8)]  # not the holdings
    aggregate, outside = parse_net(CARRIER_AGGREGATES[0]), parse_net(OUTSIDE)
    result: list[tuple[str, Block | None]] = []
    for index in range(count):
        kind = index % 10
        if kind < 6:
            block = rng.choice(small)
            address = rng.randint(block.first, block.last)
            result.append((format_address(address, block.width), block))
        elif kind < 8:
            result.append((format_address(rng.randint(aggregate.start, aggregate.last), 128), None))
        elif kind < 9:
            result.append((format_address(rng.randint(outside.start, outside.last), 128), None))
        else:
            result.append((format_address(rng.randint(0x5A000000, 0x5AFFFFFF), 32), None))  # 90.0.0.0/8
    rng.shuffle(result)
    return result


def time_covering(addresses: Sequence[tuple[str, Block | None]]) -> list[float]:
    with db.session_scope(write=False) as session:
        filings_at_address(session, addresses[0][0])  # warm the compiled statements
    samples = []
    for address, inside in addresses:
        started = time.perf_counter()
        with db.session_scope(write=False) as session:
            found = filings_at_address(session, address)
            blocks = {Block(f.family, f.first, f.final) for f in found}
        samples.append((time.perf_counter() - started) * 1000)
        assert inside is None or inside in blocks, f"{address}: {inside} not found"
    return samples


def time_scan(addresses: Sequence[tuple[str, Block | None]]) -> list[float]:
    """The same condition in one statement without the size classes: the database scans an index or the table."""
    from filing.blocks import parse_address

    samples = []
    for address, _ in addresses:
        family, value = parse_address(address)
        key = to_key(value)
        started = time.perf_counter()
        with db.session_scope(write=False) as session:
            session.scalars(
                select(Filing)
                .where(Filing.family == family, Filing.start <= key, Filing.last >= key, Filing.state.in_(LIVE_STATES))
                .order_by(Filing.span_bits.desc(), Filing.id)
            ).all()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


# -- file all my unfiled blocks ---------------------------------------------------------------------------------


def file_all_once(world: World) -> float:
    started = time.perf_counter()
    with db.session_scope() as session:
        filer = session.get(Organization, world.carriers["bench-carrier-c"])
        actor = session.get(User, world.filer_user_id)
        made = file_unfiled_blocks(session, filer=filer, actor=actor)
    seconds = time.perf_counter() - started
    assert made == UNFILED, f"{made} drafts made, {UNFILED} expected"
    remove_drafts(world)
    return seconds


def one_by_one(world: World, rng: random.Random) -> float:
    """ONE_BY_ONE drafts made with the button's operation in one transaction; seconds per draft."""
    with db.session_scope(write=False) as session:
        parent_id = session.scalar(select(Prefix.id).where(Prefix.network == FILER_AGGREGATE))
        ids = list(session.scalars(select(Prefix.id).where(Prefix.parent_id == parent_id)))
    chosen = rng.sample(ids, min(ONE_BY_ONE, len(ids)))
    started = time.perf_counter()
    with db.session_scope() as session:
        filer = session.get(Organization, world.carriers["bench-carrier-c"])
        actor = session.get(User, world.filer_user_id)
        for prefix_id in chosen:
            start_from_prefix(session, session.get(Prefix, prefix_id), filer=filer, actor=actor)
    seconds = time.perf_counter() - started
    remove_drafts(world)
    return seconds / len(chosen)


def remove_drafts(world: World) -> None:
    with db.session_scope() as session:
        session.execute(
            delete(Filing).where(
                Filing.filer_id == world.carriers["bench-carrier-c"], Filing.state == FilingState.DRAFT.value
            )
        )


# -- the run ----------------------------------------------------------------------------------------------------


def line(backend: str, what: str, samples: Sequence[float], baseline: float | None = None, unit: str = "ms") -> None:
    p50, p95 = statistics.median(samples), percentile(list(samples), 0.95)
    ratio = f"{baseline:>12.1f} {baseline / p50:>7.1f}x" if baseline is not None else ""
    print(f"{backend:<11} {what:<46} {p50:>9.2f} {p95:>9.2f} {unit:<3} {ratio}", flush=True)


def measure(backend: str, url: str, rng: random.Random) -> list[Outcome]:
    app, client = prepared_app(url)
    outcomes: list[Outcome] = []
    with app.app_context():
        world = build(rng)
        with db.session_scope(write=False) as session:
            world.regulator_id = session.scalar(select(User.id).where(User.username == "bench")) or 0
            filings = session.scalar(select(func.count()).select_from(Filing)) or 0
            prefixes = session.scalar(select(func.count()).select_from(Prefix)) or 0
            waiting = session.scalar(select(func.count()).where(Filing.state.in_(REVIEW_STATES))) or 0
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in world.timings.items())
        print(
            f"{backend:<11} world: {prefixes:,} prefixes, {filings:,} filings ({waiting:,} awaiting review); {phases}"
        )
        check_queue(world.regulator_id)

        worst_page = worst_query = 0.0
        for name, flt in QUEUE_FILTERS:
            naive = statistics.median(timed(naive_queue(flt), BASELINE_SAMPLES))
            query = timed(queue_query(world.regulator_id, flt), PAGE_SAMPLES)
            line(backend, f"queue page 1, {name}: query", query, naive)
            page = timed(open_page(client, f"/filings?view=queue&{name}"), PAGE_SAMPLES)
            line(backend, f"queue page 1, {name}: GET (rendered)", page)
            worst_query = max(worst_query, statistics.median(query))
            worst_page = max(worst_page, statistics.median(page))
        outcomes.append(Outcome("queue first page, query (worst filter)", worst_query, QUEUE_MS, "ms"))
        outcomes.append(Outcome("queue first page, GET (worst filter)", worst_page, QUEUE_MS, "ms"))

        addresses = sample_addresses(world.blocks, ADDRESSES, rng)
        scan = statistics.median(time_scan(addresses[: max(BASELINE_SAMPLES * 4, 1)]))
        covering = time_covering(addresses)
        line(backend, f"filings covering an address ({len(addresses)})", covering, scan)
        outcomes.append(Outcome("filings covering an address", statistics.median(covering), COVERING_MS, "ms"))

        per_draft = one_by_one(world, rng)
        runs = [file_all_once(world) for _ in range(RUNS)]
        line(backend, f"file all {UNFILED:,} unfiled blocks (+ commit)", runs, per_draft * UNFILED, unit="s")
        print(f"{'':<11} (baseline: {ONE_BY_ONE} drafts by start_from_prefix, {per_draft * 1000:.1f} ms each, "
              f"extrapolated to {UNFILED:,})")  # fmt: skip
        scale = UNFILED / FILE_ALL_BLOCKS
        outcomes.append(Outcome(f"file all {UNFILED:,} unfiled blocks", statistics.median(runs),
                                FILE_ALL_SECONDS * scale, "s"))  # fmt: skip
        assert db.engine is not None
        db.engine.dispose()
    return outcomes


def main() -> None:
    print(f"filing at scale: {PREFIXES:,} registry prefixes, {FILINGS:,} filings, {UNFILED:,} unfiled blocks")
    print(f"{'database':<11} {'operation':<46} {'p50':>9} {'p95':>9} {'':<3} {'baseline p50':>12} {'ratio':>8}")
    results: dict[str, dict[str, Outcome]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in DATABASES:
            with fresh_database(backend, Path(tmp)) as url:
                for outcome in measure(backend, url, random.Random(42)):
                    results.setdefault(outcome.target, {})[backend] = outcome
    print()
    print(f"{'target (medians)':<52} " + " ".join(f"{b:>20}" for b in DATABASES))
    for target, by_backend in results.items():
        any_outcome = next(iter(by_backend.values()))
        cells = []
        for backend in DATABASES:
            o = by_backend.get(backend)
            cells.append(f"{o.measured:>11.2f} {o.unit:<2} {'ok' if o.met else 'MISSED':<6}" if o else f"{'-':>20}")
        label = f"{target} ≤ {any_outcome.limit:g} {any_outcome.unit}"
        print(f"{label:<52} " + " ".join(cells))


if __name__ == "__main__":
    main()
