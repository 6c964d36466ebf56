"""Allocation speed at scale, end to end through the operations (database and commit included).

For N random /48 children under a /20 parent (N = 1k, 10k, 100k, 1M; BENCH_SIZES and BENCH_DATABASES override), on SQLite and
PostgreSQL: allocate one /48 with each strategy and list the next 10 available /48s, p50 and p99. The baseline,
measured in the same run, is the usual approach (NetBox's): IPSet(parent) - IPSet(children), then scan for the
first /48, with 60k random /48 children in a /32 (nearly full); our operation is timed on the same tree.

Run with `make bench`. Fixtures are built with bulk statements (ipam.operations.bulk_add_leaves).
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app
from core import migrate
from core.extensions import db
from core.policy import OPERATOR
from ipam.models import Prefix
from ipam.operations import AllocationRequest, add_prefix, allocate_prefixes, bulk_add_leaves
from ipam.queries import find_available
from ipam.space import Net, Strategy, format_net, parse_net
from tests.support import fresh_database

SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "1000,10000,100000,1000000").split(",")]
DATABASES = os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",")
SAMPLES = int(os.environ.get("BENCH_SAMPLES", "200"))
BASELINE_CHILDREN = 60_000
SECRET = "bench-" + "k" * 40


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def random_children(parent: Net, count: int, length: int, rng: random.Random) -> list[Net]:
    slots = rng.sample(range(1 << (length - parent.length)), count)
    return [Net(parent.start + (slot << (parent.width - length)), length, parent.width) for slot in slots]


def timed(call: Callable[[], object], samples: int) -> list[float]:
    call()  # warm caches and compiled statements
    result = []
    for _ in range(samples):
        start = time.perf_counter()
        call()
        result.append((time.perf_counter() - start) * 1000)
    return result


def baseline_first_free(parent: Net, children: list[Net], length: int) -> str | None:
    """IPSet(parent) - IPSet(children), then the first /length that fits: what NetBox does."""
    free = netaddr.IPSet([format_net(parent)]) - netaddr.IPSet(format_net(c) for c in children)
    for cidr in free.iter_cidrs():
        if cidr.prefixlen <= length:
            return f"{cidr.network}/{length}"
    return None


def build(parent_text: str, count: int, rng: random.Random) -> tuple[int, float]:
    parent_net = parse_net(parent_text)
    children = random_children(parent_net, count, 48, rng)
    start = time.perf_counter()
    with db.session_scope() as session:
        parent = add_prefix(session, parent_net, actor=OPERATOR, kind="aggregate", holder=None)
        bulk_add_leaves(session, parent, children, actor=OPERATOR, kind="assignment", holder=None)
        parent_id = parent.id
    vacuum(db.engine)
    return parent_id, time.perf_counter() - start


def vacuum(engine) -> None:  # type: ignore[no-untyped-def]
    """What an operator runs after a bulk load; it also keeps autovacuum from competing with the timings."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def allocate_once(parent_id: int, strategy: Strategy) -> Callable[[], object]:
    def run() -> None:
        with db.session_scope() as session:
            parent = session.get(Prefix, parent_id)
            allocate_prefixes(session, parent, AllocationRequest(48, 1, strategy), holder=None, actor=OPERATOR)

    return run


def list_available(parent_id: int) -> Callable[[], object]:
    def run() -> None:
        with db.session_scope() as session:
            assert len(find_available(session, session.get(Prefix, parent_id), 48, 10)) == 10

    return run


def prepared_app(url: str):  # type: ignore[no-untyped-def]
    """The schema in the fresh database ``url``, the app on it, and a client signed in as a regulator."""
    migrate.upgrade(url)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET, "LOG_LEVEL": "WARNING"})
    return app, signed_in_client(app)


def signed_in_client(app):  # type: ignore[no-untyped-def]
    """A test client signed in as a regulator, to time the pages a person opens."""
    import secrets

    from accounts import operations as accounts_ops
    from tests.support import csrf_token_in

    password = secrets.token_urlsafe(16)
    with db.session_scope() as session:
        org = accounts_ops.create_organization(session, actor=OPERATOR, kind="regulator", code="bench-reg", name="基准")
        accounts_ops.create_user(session, actor=OPERATOR, username="bench", organization=org, role="regulator",
                                 password=password)  # fmt: skip
    client = app.test_client()
    token = csrf_token_in(client.get("/login").get_data(as_text=True))
    assert (
        client.post("/login", data={"username": "bench", "password": password, "csrf_token": token}).status_code == 302
    )
    return client


def open_page(client, url: str) -> Callable[[], object]:  # type: ignore[no-untyped-def]
    def run() -> None:
        assert client.get(url).status_code == 200

    return run


def main() -> None:
    rng = random.Random(42)
    print(f"{'N':>9} {'database':<11} {'operation':<22} {'p50 ms':>9} {'p99 ms':>9} {'baseline ms':>12} {'ratio':>8}")
    baseline_tree = random_children(parse_net("2001:db8::/32"), BASELINE_CHILDREN, 48, random.Random(7))
    baseline = next(
        timed(lambda: baseline_first_free(parse_net("2001:db8::/32"), baseline_tree, 48), 5) for _ in range(1)
    )
    baseline_p50 = statistics.median(baseline)
    with tempfile.TemporaryDirectory() as tmp:
        for backend in DATABASES:
            with fresh_database(backend, Path(tmp)) as url:
                app, client = prepared_app(url)
                with app.app_context():
                    parent_id, seconds = build("2001:db8::/32", BASELINE_CHILDREN, random.Random(7))
                    ours = timed(allocate_once(parent_id, Strategy.FIRST_FIT), SAMPLES)
                    print(f"{BASELINE_CHILDREN:>9} {backend:<11} {'/32 first-fit vs IPSet':<22} "
                          f"{statistics.median(ours):>9.2f} {percentile(ours, 0.99):>9.2f} {baseline_p50:>12.1f} "
                          f"{baseline_p50 / statistics.median(ours):>7.0f}x")  # fmt: skip
                    for index, size in enumerate(SIZES):
                        parent_text = f"2001:{index + 1:x}000::/20"
                        parent_id, seconds = build(parent_text, size, rng)
                        print(f"{size:>9} {backend:<11} {'fixture (bulk insert)':<22} {seconds * 1000:>9.0f} {'':>9}")
                        for strategy in Strategy:
                            samples = timed(allocate_once(parent_id, strategy), SAMPLES)
                            print(f"{size:>9} {backend:<11} {'allocate ' + strategy.value:<22} "
                                  f"{statistics.median(samples):>9.2f} {percentile(samples, 0.99):>9.2f}")  # fmt: skip
                        samples = timed(list_available(parent_id), SAMPLES)
                        print(f"{size:>9} {backend:<11} {'next 10 available':<22} "
                              f"{statistics.median(samples):>9.2f} {percentile(samples, 0.99):>9.2f}")  # fmt: skip
                        samples = timed(open_page(client, f"/prefixes/{parent_id}"), max(5, SAMPLES // 20))
                        print(f"{size:>9} {backend:<11} {'open the parent page':<22} "
                              f"{statistics.median(samples):>9.2f} {percentile(samples, 0.99):>9.2f}")  # fmt: skip
                        sys.stdout.flush()
                assert db.engine is not None
                db.engine.dispose()


if __name__ == "__main__":
    main()
