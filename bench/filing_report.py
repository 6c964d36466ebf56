"""The national report at scale: 100,000 approved filings (half IPv4 /24s, half IPv6 /48s) made into one report
and written as its CSV file, on SQLite and PostgreSQL.

For each database (BENCH_DATABASES) it seeds BENCH_REPORT_SIZE approved filings with their versions (straight
into the tables: this measures the report, not the review), then measures BENCH_REPORT_RUNS times, each in a
transaction rolled back afterwards so every run finds the same window:

* the report: ``make_report`` (the window's changes found, planned, 100,000 entries stored, audited) and its
  rows written as CSV (``report_rows`` → the upload format → ``write_csv``);
* the same report's Excel file (XlsxWriter, constant memory), for information;
* the baseline, in the same run: the same rows written with the csv module straight from one SELECT of the
  versions (no window, no plan, no entries, no conversion to the upload format).

Target: the report of 100,000 changes in ≤ 30 s (the median). A missed target is printed as MISSED, never
asserted. Run with `make bench`.
"""

from __future__ import annotations

import csv
import functools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select

from accounts.models import Organization
from app import create_app
from core import migrate
from core.db import bulk_insert, chunks
from core.extensions import db
from core.policy import OPERATOR
from filing.exports import write_csv, write_xlsx
from filing.models import Filing, FilingVersion
from filing.report import CHINESE_NAMES, CODES, row_cells
from filing.reports import make_report, report_rows
from ipam.models import to_key
from tests.support import fresh_database

SIZE = int(os.environ.get("BENCH_REPORT_SIZE", "100000"))
RUNS = int(os.environ.get("BENCH_REPORT_RUNS", "3"))
DATABASES = os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",")
SECRET = "bench-" + "k" * 40
TARGET_SECONDS = 30.0

FILING_COLUMNS = [
    "number", "state", "version", "approved_version", "filing_type", "filer_id", "family", "start", "last",
    "span_bits", "block", "user_name", "usage", "allocated_on", "source_name", "contact_name", "contact_phone",
    "due_provisional", "review_due_provisional", "created_at", "updated_at", "approved_at",
]  # fmt: skip


def block_of(index: int) -> tuple[int, int, int, int, str]:
    """(family, first, last, span bits, text) of the index-th block: even ones IPv4 /24s, odd ones IPv6 /48s."""
    half = index // 2
    if index % 2 == 0:
        first = (10 << 24) + (half << 8)
        return 4, first, first + 255, 8, f"{first >> 24}.{(first >> 16) & 255}.{(first >> 8) & 255}.0/24"
    first = (0x2400 << 112) + (half << 80)
    return 6, first, first + (1 << 80) - 1, 80, f"2400:{half >> 16:x}:{half & 0xFFFF:x}::/48"


def seed(url: str) -> None:
    migrate.upgrade(url)
    create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET, "LOG_LEVEL": "WARNING"})
    decided = datetime.now(UTC) - timedelta(days=1)
    with db.session_scope() as session:
        carrier = Organization(kind="carrier", code="bench-carrier", name="基准示例通信天津分公司")
        session.add(carrier)
        session.flush()
        rows = []
        for index in range(SIZE):
            family, first, last, bits, text = block_of(index)
            rows.append((f"津IP备2026{index:07d}", "approved", 1, 1, "holding", carrier.id, family, to_key(first),
                         to_key(last), bits, text, carrier.name, "static", decided.date(), "APNIC", "张三",
                         "022-12345678", False, False, decided, decided, decided))  # fmt: skip
        bulk_insert(session, Filing.__table__, FILING_COLUMNS, rows)
        ids = session.execute(select(Filing.id, Filing.block).order_by(Filing.id)).all()
        # Not bulk_insert: its SQLite statement does not quote the column "values", a keyword of SQL.
        values = {"filing_type": "holding", "source_name": "APNIC", "user_name": carrier.name, "usage": "static",
                  "allocated_on": decided.date().isoformat(), "contact_name": "张三", "contact_phone": "022-12345678",
                  "remarks": "=1+1"}  # fmt: skip
        versions = [
            {"filing_id": filing_id, "version": 1, "values": {**values, "block": block}, "submitted_at": decided,
             "submitted_by": "bench", "outcome": "approved", "decided_at": decided, "decided_by": "bench"}
            for filing_id, block in ids
        ]  # fmt: skip
        for chunk in chunks(versions, 10_000):
            session.execute(insert(FilingVersion.__table__), chunk)


def timed(work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def report_run(directory: Path, extension: str) -> float:
    """One report made and written; rolled back afterwards so the next run finds the same window."""
    session = db.session_factory()
    try:
        started = time.perf_counter()
        report = make_report(session, since=None, actor=OPERATOR)
        rows = (row_cells(row) for row in report_rows(session, report))
        if extension == "xlsx":
            with (directory / "report.xlsx").open("wb") as target:
                write_xlsx(target, "report", [list(CODES), list(CHINESE_NAMES)], rows)
        else:
            with (directory / "report.csv").open("w", encoding="utf-8", newline="") as target:
                write_csv(target, list(CODES), rows)
        session.flush()
        assert sum(report.counts.values()) == SIZE, report.counts
        return time.perf_counter() - started
    finally:
        session.rollback()
        session.close()


def baseline_run(directory: Path) -> float:
    def write() -> None:
        with db.session_scope(write=False) as session, (directory / "baseline.csv").open("w", newline="") as target:
            writer = csv.writer(target)
            writer.writerow(CODES)
            stmt = select(Filing.number, FilingVersion.version, FilingVersion.values).join(
                FilingVersion, FilingVersion.filing_id == Filing.id
            )
            for number, version, values in session.execute(stmt.execution_options(yield_per=2000)):
                writer.writerow([number, version, *values.values()])

    return timed(write)


def main() -> None:
    print(f"national report of {SIZE:,} changes, {RUNS} runs each (medians)")
    for backend in DATABASES:
        with tempfile.TemporaryDirectory() as folder, fresh_database(backend, Path(folder)) as url:
            directory = Path(folder)
            seeding = timed(functools.partial(seed, url))
            csv_runs = [report_run(directory, "csv") for _ in range(RUNS)]
            xlsx_runs = [report_run(directory, "xlsx") for _ in range(RUNS)]
            baseline = [baseline_run(directory) for _ in range(RUNS)]
            report_s, xlsx_s, base_s = (statistics.median(r) for r in (csv_runs, xlsx_runs, baseline))
            verdict = "ok" if report_s <= TARGET_SECONDS else "MISSED"
            print(f"{backend:>10}: seeded in {seeding:.1f} s; report + CSV {report_s:.1f} s "
                  f"({SIZE / report_s:,.0f} rows/s, target ≤ {TARGET_SECONDS:.0f} s: {verdict}); "
                  f"report + Excel {xlsx_s:.1f} s; baseline csv module {base_s:.1f} s "
                  f"(the report costs {report_s / base_s:.1f}× the bare writing)")  # fmt: skip
            assert db.engine is not None
            db.engine.dispose()


if __name__ == "__main__":
    main()
