"""The space map of a parent at scale: N random /48 children under a /20 (N = 1k, 100k, 1M; BENCH_SIZES and
BENCH_DATABASES override), on SQLite and PostgreSQL, median and p99 in ms.

Timed: the free blocks counted per cell and length both ways (grouped by a computed cell key, the way picked on
PostgreSQL; one counted key range each, the way picked on SQLite; reading the blocks into Python was slower
still: 2-3 s at 100k), the map as built now, the old way measured in the same run (every child read and placed,
the map before issue #16), and the page itself at the default length (/28: 256 cells) and the finest (/32: 4,096 cells).

Run with `.venv/bin/python bench/pages.py`. Fixtures are those of bench/allocation.py.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app
from bench.allocation import SECRET, build, open_page, percentile, signed_in_client, timed
from core import migrate
from core.extensions import db
from ipam.models import Prefix, from_key
from ipam.queries import cell_block_counts, space_map
from ipam.space import free_per_cell
from tests.support import fresh_database

SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "1000,100000,1000000").split(",")]
DATABASES = os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",")
SAMPLES = int(os.environ.get("BENCH_SAMPLES", "7"))


def map_now(parent_id: int, length: int) -> Callable[[], object]:
    def run() -> None:
        with db.session_scope() as session:
            space_map(session, session.get(Prefix, parent_id), length)

    return run


def map_counted(parent_id: int, length: int, *, grouped: bool) -> Callable[[], object]:
    """The free blocks counted one way or the other, whichever the database would pick."""

    def run() -> None:
        with db.session_scope() as session:
            net = session.get(Prefix, parent_id).net
            free_per_cell(net, length, cell_block_counts(session, parent_id, net, length, grouped=grouped))

    return run


def map_before(parent_id: int, length: int) -> Callable[[], object]:
    """The old way, kept only as the baseline: every child read, each placed in its cell."""

    def run() -> None:
        with db.session_scope() as session:
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

    return run


def report(size: int, backend: str, what: str, samples: list[float]) -> None:
    print(f"{size:>9} {backend:<11} {what:<34} {statistics.median(samples):>9.1f} {percentile(samples, 0.99):>9.1f}")
    sys.stdout.flush()


def main() -> None:
    rng = random.Random(42)
    print(f"{'N':>9} {'database':<11} {'operation':<34} {'p50 ms':>9} {'p99 ms':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in DATABASES:
            with fresh_database(backend, Path(tmp)) as url:
                migrate.upgrade(url)
                app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET, "LOG_LEVEL": "WARNING"})
                client = signed_in_client(app)
                with app.app_context():
                    for index, size in enumerate(SIZES):
                        parent_id, seconds = build(f"2001:{index + 1:x}000::/20", size, rng)
                        report(size, backend, "fixture (bulk insert)", [seconds * 1000])
                        for length in (28, 32):
                            report(size, backend, f"map /{length}, before (children)",
                                   timed(map_before(parent_id, length), SAMPLES))  # fmt: skip
                            for grouped, way in ((True, "GROUP BY cell key"), (False, "counted key ranges")):
                                report(size, backend, f"map /{length}, {way}",
                                       timed(map_counted(parent_id, length, grouped=grouped), SAMPLES))  # fmt: skip
                            report(size, backend, f"map /{length}, now", timed(map_now(parent_id, length), SAMPLES))
                            page = f"/prefixes/{parent_id}/map?length={length}"
                            report(size, backend, f"page /{length}, now", timed(open_page(client, page), SAMPLES))
                assert db.engine is not None
                db.engine.dispose()


if __name__ == "__main__":
    main()
