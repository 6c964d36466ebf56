"""The pages of a parent at scale: N random /48 children under a /20 (N = 1k, 100k, 1M; BENCH_SIZES and
BENCH_DATABASES override), on SQLite and PostgreSQL, median and p99 in ms, each against its target (1 s at a
million children, issue #16) and, where there is one, the old way measured in the same run (ratio = old / new).

The space map: the free blocks counted per cell and length both ways (grouped by a computed cell key, the way
picked on PostgreSQL; one counted key range each, the way picked on SQLite; reading the blocks into Python was
slower still: 2-3 s at 100k), the map as built now against the old way (every child read and placed, the map
before issue #16), the page itself at the default length (/28: 256 cells) and the finest (/32: 4,096 cells), and
the map zoomed into one /28 cell (at /36, its default, and at /40, the finest).

The parent's own page (`/prefixes/<id>`, everything on it), its children table (the rows fetched when a level
opens: the first page, and one nine tenths of the way in through the ``after`` cursor, against OFFSET
pagination), its free-block list (first and deep page through ``free_after``, against the usual approach,
IPSet(parent) - IPSet(children) with netaddr) and its utilization (counted per child length, against summing
every child). The old ways time the query alone where ours may time a whole page: the ratios understate. IPSet's
difference costs about 0.3 ms a child (30 s a call at 100k), so it is timed up to BENCH_IPSET_MAX children
(100,000; at a million it would take some five minutes a database).

A row stops sampling after BENCH_BUDGET seconds (the old ways at a million take seconds a call, and are sampled
once or twice); a call slower than half a second is not warmed first. Run with `.venv/bin/python bench/pages.py`.
Fixtures are those of bench/allocation.py.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import netaddr
from sqlalchemy import select, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.allocation import build, percentile, prepared_app, vacuum
from core.extensions import db
from core.policy import OPERATOR
from ipam import queries as ipam_queries
from ipam.models import Prefix, from_key, to_key
from ipam.queries import (
    cell_block_counts,
    cell_child_counts,
    encode_cursor,
    free_block_page,
    prefix_utilization,
    space_map,
    tree_children,
)
from ipam.space import Net, addresses_per_cell, format_net
from tests.support import csrf_token_in, fresh_database

SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "1000,100000,1000000").split(",")]
DATABASES = os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",")
SAMPLES = int(os.environ.get("BENCH_SAMPLES", "7"))
BUDGET = float(os.environ.get("BENCH_BUDGET", "4"))  # seconds a row samples for, at most (after one call)
IPSET_MAX = int(os.environ.get("BENCH_IPSET_MAX", "100000"))  # children up to which IPSet is timed (see above)
TARGET_MS = 1000.0
PAGE = 50  # the children table's page (ipam.views.PAGE)
ENTERPRISE_SHARE = 50  # at the largest size, an enterprise holds one child in 50 (20,000 of a million)
FREE_PAGE = 20  # the free-block list's page (ipam.views.FREE_PAGE)


def measure(call: Callable[[], object]) -> list[float]:
    """Milliseconds per call: up to SAMPLES calls, fewer once BUDGET seconds are spent (at least one)."""
    start = time.perf_counter()
    call()
    first = (time.perf_counter() - start) * 1000
    samples = [first] if first > 500 else []  # a slow call is its own sample: warming it would double the wait
    began = time.perf_counter()
    while len(samples) < SAMPLES and not (samples and time.perf_counter() - began > BUDGET):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def in_session(work: Callable[..., object], *args: object) -> Callable[[], object]:
    def run() -> None:
        with db.session_scope() as session:
            work(session, *args)

    return run


def fetch(client, url: str) -> str:  # type: ignore[no-untyped-def]
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.location)
    return response.get_data(as_text=True)


def open_page(client, url: str) -> Callable[[], object]:  # type: ignore[no-untyped-def]
    def run() -> None:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)

    return run


# -- the map --------------------------------------------------------------------------------------------------


def map_now(session, parent_id: int, length: int) -> None:  # type: ignore[no-untyped-def]
    space_map(session, session.get(Prefix, parent_id), length)


def map_counted(session, parent_id: int, length: int, way: str) -> None:  # type: ignore[no-untyped-def]
    """The free blocks grouped or counted per cell, or the children grouped per cell, whichever way the database
    would pick."""
    net = session.get(Prefix, parent_id).net
    if way == "children":
        counts = cell_child_counts(session, parent_id, net, length)
    else:
        counts = cell_block_counts(session, parent_id, net, length, grouped=way == "grouped")
    addresses_per_cell(net, length, counts)


def map_before(session, parent_id: int, length: int) -> None:  # type: ignore[no-untyped-def]
    """The old way, kept only as the baseline: every child read, each placed in its cell."""
    parent = session.get(Prefix, parent_id)
    step_bits = parent.width - length
    cells: dict[int, str] = {}
    children = session.execute(
        select(Prefix.id, Prefix.start, Prefix.prefix_len, Prefix.kind)
        .where(Prefix.parent_id == parent_id)
        .order_by(Prefix.start)
    )
    for _, start, child_len, _ in children:
        first = (from_key(start) - parent.net.start) >> step_bits
        if child_len <= length:
            cells.update(dict.fromkeys(range(first, first + (1 << (length - child_len))), "used"))
        else:
            cells.setdefault(first, "partial")


# -- the old ways of the rest of the page -----------------------------------------------------------------------


def children_by_offset(session, parent_id: int, offset: int) -> None:  # type: ignore[no-untyped-def]
    """A deep page of the children table by OFFSET: every row before it is read and skipped."""
    parent = session.get(Prefix, parent_id)
    stmt = tree_children(None, parent).order_by(Prefix.family, Prefix.start, Prefix.prefix_len)
    assert len(list(session.scalars(stmt.offset(offset).limit(PAGE)))) == PAGE


def free_by_ipset(session, parent_id: int, after: int | None) -> None:  # type: ignore[no-untyped-def]
    """The usual approach: IPSet(parent) - IPSet(children), then the page of blocks after ``after``."""
    parent = session.get(Prefix, parent_id)
    children = session.execute(select(Prefix.start, Prefix.prefix_len).where(Prefix.parent_id == parent_id))
    taken = netaddr.IPSet(netaddr.IPNetwork((from_key(start), length)) for start, length in children)
    free = netaddr.IPSet([format_net(parent.net)]) - taken
    page = [cidr for cidr in free.iter_cidrs() if after is None or cidr.first > after][:FREE_PAGE]
    assert len(page) == FREE_PAGE


def utilization_by_children(session, parent_id: int) -> None:  # type: ignore[no-untyped-def]
    """Every child read and its size added up."""
    parent = session.get(Prefix, parent_id)
    lengths = session.scalars(select(Prefix.prefix_len).where(Prefix.parent_id == parent_id))
    sum(1 << (parent.width - length) for length in lengths)


def free_page(session, parent_id: int, cursor: str | None) -> None:  # type: ignore[no-untyped-def]
    assert len(free_block_page(session, session.get(Prefix, parent_id), cursor, FREE_PAGE).blocks) == FREE_PAGE


def utilization_now(session, parent_id: int) -> None:  # type: ignore[no-untyped-def]
    prefix_utilization(session, session.get(Prefix, parent_id), unit_length=48)


# -- the table ----------------------------------------------------------------------------------------------------


def header() -> None:
    print(
        f"{'N':>9} {'database':<11} {'operation':<34} {'p50 ms':>9} {'p99 ms':>9} {'target':>7} "
        f"{'old ms':>9} {'old/new':>8}"
    )


def report(
    size: int,
    backend: str,
    what: str,
    samples: list[float],
    *,
    target: bool = True,
    baseline: list[float] | None = None,
) -> None:
    p50 = statistics.median(samples)
    goal = f"{TARGET_MS:>6.0f}{'!' if p50 > TARGET_MS else ' '}" if target else f"{'':>7}"
    old = f"{statistics.median(baseline):>9.1f} {statistics.median(baseline) / p50:>7.1f}x" if baseline else ""
    print(f"{size:>9} {backend:<11} {what:<34} {p50:>9.1f} {percentile(samples, 0.99):>9.1f} {goal} {old}".rstrip())
    sys.stdout.flush()


def deep_child(session, parent_id: int, position: int) -> tuple[int, bytes, int]:  # type: ignore[no-untyped-def]
    """The cursor of the child at ``position`` in address order (found once, untimed)."""
    start, length = session.execute(
        select(Prefix.start, Prefix.prefix_len)
        .where(Prefix.parent_id == parent_id)
        .order_by(Prefix.start)
        .offset(position)
        .limit(1)
    ).one()
    return (6, start, length)


def time_map(size: int, backend: str, client, parent_id: int) -> None:  # type: ignore[no-untyped-def]
    for length in (28, 32):
        before = measure(in_session(map_before, parent_id, length))
        report(size, backend, f"map /{length}, before (children)", before, target=False)
        for way, label in (
            ("grouped", "free blocks grouped"),
            ("counted", "free blocks counted"),
            ("children", "children grouped"),
        ):
            report(
                size,
                backend,
                f"map /{length}, {label}",
                measure(in_session(map_counted, parent_id, length, way)),
                target=False,
            )
        report(size, backend, f"map /{length}, now", measure(in_session(map_now, parent_id, length)), baseline=before)
        page = open_page(client, f"/prefixes/{parent_id}/map?length={length}")
        report(size, backend, f"page /{length}, now", measure(page), baseline=before)


def time_zoom(size: int, backend: str, client, parent: Net, parent_id: int) -> None:  # type: ignore[no-untyped-def]
    cell = format_net(Net(parent.start + (100 << (parent.width - 28)), 28, parent.width))
    for length in (36, 40):
        page = open_page(client, f"/prefixes/{parent_id}/map?within={cell}&length={length}")
        report(size, backend, f"page, zoomed into a /28 at /{length}", measure(page))


def time_page(size: int, backend: str, client, parent_id: int) -> None:  # type: ignore[no-untyped-def]
    report(size, backend, "parent page", measure(open_page(client, f"/prefixes/{parent_id}")))
    position = size * 9 // 10
    with db.session_scope() as session:
        cursor = deep_child(session, parent_id, position)
    children = f"/prefixes/{parent_id}/children?depth=1"
    report(size, backend, "children, first page", measure(open_page(client, children)))
    offset = measure(in_session(children_by_offset, parent_id, position + 1))
    deep = open_page(client, f"{children}&after={encode_cursor(cursor)}")
    report(size, backend, f"children, page at {position:,}", measure(deep), baseline=offset)
    # Any address is a cursor: the blocks after it. The deep child's is nine tenths of the way in. The old way
    # costs the same for any page (the set difference is all of it): timed once, for both.
    after = from_key(cursor[1])
    ipset = measure(in_session(free_by_ipset, parent_id, after)) if size <= IPSET_MAX else None
    report(size, backend, "free blocks, first page", measure(in_session(free_page, parent_id, None)), baseline=ipset)
    report(
        size,
        backend,
        "free blocks, page 9/10 in",
        measure(in_session(free_page, parent_id, to_key(after).hex())),
        baseline=ipset,
    )
    by_children = measure(in_session(utilization_by_children, parent_id))
    report(size, backend, "utilization", measure(in_session(utilization_now, parent_id)), baseline=by_children)


# -- an enterprise's own lists --------------------------------------------------------------------------------


def enterprise_world(parent_id: int) -> tuple[str, dict[str, str]]:
    """At the largest size: one enterprise holding every ENTERPRISE_SHARE-th child (by id: spread over the
    address space), a large holder a third of the rest and a small one a few hundred, all set with one UPDATE
    each; the enterprise's subnets inside a hundred of its blocks and its blocks inside another holder's. Returns
    the password of the enterprise's and the small holder's users, and an API token of each by holder code."""
    import secrets

    from accounts import operations as accounts_ops
    from ipam.operations import AllocationRequest, allocate_prefixes

    with db.session_scope() as session:
        holders = {
            code: accounts_ops.create_organization(
                session, actor=OPERATOR, kind="enterprise", code=f"bench-{code}", name=f"基准{code}"
            )
            for code in ("ent", "large", "small", "other")
        }
        session.flush()
        for code, condition in (
            ("large", Prefix.id % 3 == 1),
            ("small", Prefix.id % 2000 == 9),
            ("other", Prefix.id % ENTERPRISE_SHARE == 8),
            ("ent", Prefix.id % ENTERPRISE_SHARE == 7),
        ):
            session.execute(
                update(Prefix).where(Prefix.parent_id == parent_id, condition).values(holder_id=holders[code].id)
            )
        for code, kind, length in (("ent", "subnet", 64), ("other", "subnet", 56)):
            for block in session.scalars(
                select(Prefix).where(Prefix.holder_id == holders[code].id).order_by(Prefix.id).limit(100)
            ):
                allocate_prefixes(session, block, AllocationRequest(length, 2, kind=kind), holder=holders["ent"],
                                  actor=OPERATOR)  # fmt: skip
        password = secrets.token_urlsafe(16)
        tokens = {}
        for code in ("ent", "small"):
            user = accounts_ops.create_user(session, actor=OPERATOR, username=f"bench-{code}",
                                            organization=holders[code], role="enterprise", password=password)  # fmt: skip
            _, tokens[code] = accounts_ops.create_token(session, user, name="bench", days=1, read_only=True,
                                                        actor=OPERATOR)  # fmt: skip
    assert db.engine is not None
    vacuum(db.engine)
    return password, tokens


def time_enterprise(size: int, backend: str, app) -> None:  # type: ignore[no-untyped-def]
    """The enterprise's prefix list (its tree's roots) and its API list (what it holds or handed out). Outside
    the other pages' application context: the signed-in user is kept in it, and would be the regulator's."""
    with app.app_context(), db.session_scope() as session:
        parent_id = session.scalar(select(Prefix.id).where(Prefix.parent_id.is_(None)).order_by(Prefix.id.desc()))
    with app.app_context():
        password, tokens = enterprise_world(parent_id)
    client = app.test_client()
    signing_in = {"username": "bench-ent", "password": password, "csrf_token": csrf_token_in(fetch(client, "/login"))}
    assert client.post("/login", data=signing_in).status_code == 302
    report(size, backend, "enterprise prefix list page", measure(open_page(client, "/prefixes")))

    def api_list(code: str) -> Callable[[], None]:
        def run() -> None:
            response = client.get("/api/v1/prefixes?limit=50", headers={"Authorization": f"Bearer {tokens[code]}"})
            # A page of 50 at the largest sizes; a smaller registry leaves the small holder fewer.
            assert response.status_code == 200 and response.get_json()["items"], response.status_code

        return run

    report(size, backend, "enterprise API prefix list", measure(api_list("ent")))
    # A holder of a few hundred blocks spread over the parent (the load test's enterprises). The old way asked
    # for its holdings in a subquery, which PostgreSQL credits with the average parent's children.
    named = ipam_queries.HOLDINGS_NAMED
    ipam_queries.HOLDINGS_NAMED = -1
    try:
        subquery = measure(api_list("small"))
    finally:
        ipam_queries.HOLDINGS_NAMED = named
    report(size, backend, "sparse holder's API prefix list", measure(api_list("small")), baseline=subquery)


def main() -> None:
    rng = random.Random(42)
    header()
    with tempfile.TemporaryDirectory() as tmp:
        for backend in DATABASES:
            with fresh_database(backend, Path(tmp)) as url:
                app, client = prepared_app(url)
                with app.app_context():
                    for index, size in enumerate(SIZES):
                        parent_text = f"2001:{index + 1:x}000::/20"
                        parent_id, seconds = build(parent_text, size, rng)
                        report(size, backend, "fixture (bulk insert)", [seconds * 1000], target=False)
                        time_page(size, backend, client, parent_id)
                        time_map(size, backend, client, parent_id)
                        with db.session_scope() as session:
                            parent = session.get(Prefix, parent_id).net
                        time_zoom(size, backend, client, parent, parent_id)
                time_enterprise(SIZES[-1], backend, app)
                assert db.engine is not None
                db.engine.dispose()


if __name__ == "__main__":
    main()
