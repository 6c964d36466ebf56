"""Carrier import speed and memory at scale: a carrier's CSV book validated and loaded end to end (database and
commit included), on SQLite and PostgreSQL.

The file is generated like a real carrier's export: N rows (BENCH_IMPORT_SIZES, default 1,000,000) of /48s (80%)
and /56s (20%, packed inside a few hundred /48s that are not rows themselves) under four /20 aggregates of the
carrier in 2400::/12, assigned mostly in order with random gaps, held by 5,000 enterprises with valid Unified
Social Credit Codes. For each database (BENCH_DATABASES) and size it measures, each import in a fresh child
process (so that its peak RSS is its own):

* the full validation and load into a fresh database: seconds, rows/s, peak RSS, and the time in each phase;
* the re-import of the same file (nothing changes: every row comes back unchanged);
* the baseline, measured in the same run on the first BENCH_NAIVE_ROWS rows (default 20,000): the usual ORM
  loop (per row, one overlap query, one ``Prefix`` object added and a flush), against the same slice through
  the importer in another fresh database.

Targets: 1M rows in ≤ 60 s, peak RSS ≤ 300 MB, ≥ 20× faster than the naive loop, re-import in ≤ 30 s. Missed
targets are printed as MISSED, never asserted; a batch that does not load ends the run with its problems.

Run with `make bench`. BENCH_IMPORT_MODE (delta or snapshot, default delta) sets the mode of every import.
"""

from __future__ import annotations

import contextlib
import csv
import ipaddress
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from accounts.models import Organization
from accounts.validators import USCC_ALPHABET, uscc_check_character
from app import create_app
from core import migrate
from core.extensions import db
from core.policy import OPERATOR
from importers.models import ImportBatch, ImportProblem
from importers.operations import Meter, start_batch
from importers.records import render
from importers.tasks import execute
from ipam.models import Prefix
from ipam.operations import AllocationRequest, add_prefix, allocate_prefixes
from ipam.space import Net, parse_net, range_to_blocks
from tests.support import fresh_database, peak_rss_mb

SIZES = [int(n) for n in os.environ.get("BENCH_IMPORT_SIZES", "1000000").split(",")]
DATABASES = os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",")
NAIVE_ROWS = int(os.environ.get("BENCH_NAIVE_ROWS", "20000"))
MODE = os.environ.get("BENCH_IMPORT_MODE", "delta")
SHAPE_NAMES = os.environ.get("BENCH_IMPORT_SHAPES", "")
SECRET = "bench-" + "k" * 40
CHILD = "--child"  # the hidden argument: run one import in this (fresh) process
WRITER = "--writer"  # the hidden argument: write to the registry meanwhile
WRITE_EVERY = 0.5
WRITE_WAIT_SECONDS = 60.0  # the longest a web write may wait for an import's write lock (SQLite)
OTHER_BLOCK = "2402:f000::/32"  # another carrier's block: web writes there meanwhile

AGGREGATES = ("2401:8000::/20", "2403:a000::/20", "2408:4000::/20", "240e:c000::/20")
SHARES = (0.4, 0.3, 0.2, 0.1)  # of the rows, per aggregate
SHARE_SMALLER = 0.2  # of the rows: blocks smaller than a /48
PER_CONTAINER = 224  # smaller rows in a /48 that holds them
SHARE_SMALLER_CONTAINERS = SHARE_SMALLER / PER_CONTAINER / (1 - SHARE_SMALLER)  # of the /48 slots
GAP_CHANCE = 0.02  # before a /48, the carrier skipped some
DIVISION = "120116"
CARRIER_CODE = "bench-carrier"
HEADER = ("地址段", "使用单位名称", "统一社会信用代码", "分配方式", "IP地址使用方式", "分配使用时间", "所在地区代码")

FULL_SECONDS, RSS_MB, SPEEDUP, REIMPORT_SECONDS = 60.0, 300.0, 20.0, 30.0
TARGET_ROWS = 1_000_000


# -- the files --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """How a carrier's file looks. Each shape is imported at every size, on every database."""

    name: str
    aggregates: tuple[str, ...]  # the carrier's blocks, and the share of the rows in each
    shares: tuple[float, ...]
    lengths: tuple[int, ...]  # rows other than /48s: blocks of these lengths packed into /48s that are not rows
    holders: int
    encoding: str = "utf-8"
    ranges: bool = False  # 起始IP and 终止IP instead of 地址段; some lines then span two or three /48s
    shuffled: bool = False  # rows in no order


SHAPES = {
    shape.name: shape
    for shape in (
        # The first shape measured (issue #11): /48s and /56s, four /20s, in address order.
        Shape("cidr-utf8-sorted", AGGREGATES, SHARES, (56,), 5_000),
        # A book exported by an older system: GB18030, ranges, four blocks of different sizes, /48 to /64.
        Shape("ranges-gb18030-mixed", ("2401:8000::/20", "2403:a000::/22", "2408:4000::/24", "240e:c000::/26"),
              SHARES, (56, 60, 64), 20_000, encoding="gb18030", ranges=True),
        # Rows in no order (a database dump), few holders (a carrier's own networks), mixed lengths.
        Shape("cidr-utf8-unsorted-few", AGGREGATES, SHARES, (56, 60, 64), 20, shuffled=True),
        # Ranges in no order, UTF-8 with a BOM (Excel's "CSV UTF-8"), many holders.
        Shape("ranges-bom-unsorted-many", AGGREGATES, SHARES, (56, 60), 20_000, encoding="utf-8-sig", ranges=True,
              shuffled=True),
    )
}  # fmt: skip
SHAPES_RUN = [SHAPES[name] for name in SHAPE_NAMES.split(",")] if SHAPE_NAMES else list(SHAPES.values())
RANGE_CHANCE = 0.01  # of a ranges file's /48 rows: a range over two or three consecutive /48s


def uscc(rng: random.Random, used: set[str]) -> str:
    """A valid Unified Social Credit Code: 91 (enterprise), the division, a 9-character organization code, check."""
    while True:
        first17 = "91" + DIVISION + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
        code = first17 + uscc_check_character(first17)
        if code not in used:
            used.add(code)
            return code


def enterprises(count: int, rng: random.Random) -> list[tuple[str, str, str, str]]:
    """(name, USCC, usage, date) of each holder: a holder's blocks share its usage and a date of its contract."""
    used: set[str] = set()
    trades = ("制造", "科技", "物流", "化工", "电子", "机械", "食品", "材料")
    return [
        (f"津沽示例{trades[i % len(trades)]}{i:05d}有限公司", uscc(rng, used), rng.choice(("工业网络", "静态")),
         date(rng.randint(2019, 2024), rng.randint(1, 12), 1).isoformat())
        for i in range(count)
    ]  # fmt: skip


def blocks(shape: Shape, count: int, rng: random.Random) -> Iterator[tuple[int, int, int]]:
    """``count`` rows as (first address, last address, blocks), per aggregate in address order: /48s one after
    another with random gaps, and now and then a /48 that is not a row but holds smaller rows (some of it free).
    In a ranges file a row now and then spans two or three consecutive /48s (so it stands for that many blocks)."""
    per_aggregate = [round(count * share) for share in shape.shares]
    per_aggregate[0] += count - sum(per_aggregate)
    for text, rows in zip(shape.aggregates, per_aggregate, strict=True):
        aggregate = parse_net(text)
        smaller = round(rows * SHARE_SMALLER) if shape.lengths else 0
        slot, made, small_left = rng.randrange(256), 0, smaller
        while made < rows:
            if rng.random() < GAP_CHANCE:
                slot += rng.randint(1, 256)
            base = aggregate.start + (slot << 80)
            if small_left and rng.random() < SHARE_SMALLER_CONTAINERS:
                length = rng.choice(shape.lengths)
                take = min(PER_CONTAINER, small_left, rows - made)
                for sub in sorted(rng.sample(range(1 << (length - 48)), take)):
                    first = base + (sub << (128 - length))
                    yield first, first + (1 << (128 - length)) - 1, 1
                small_left -= take
                made += take
                slot += 1
                continue
            span = rng.choice((2, 3)) if shape.ranges and rng.random() < RANGE_CHANCE else 1
            last = base + (span << 80) - 1
            yield base, last, sum(1 for _ in range_to_blocks(base, last, 128)) if span > 1 else 1
            made += 1
            slot += span
        assert slot < 1 << (48 - aggregate.length), f"{text} is full"


def write_files(shape: Shape, count: int, slice_rows: int, directory: Path) -> tuple[Path, Path, int]:
    """The book of ``count`` rows and a file of its first ``slice_rows`` rows (for the naive baseline), and the
    number of blocks the book stands for."""
    rng = random.Random(count)
    holders = enterprises(shape.holders, rng)
    rows = list(blocks(shape, count, rng))
    if shape.shuffled:
        rng.shuffle(rows)
    book = directory / f"{shape.name}-{count}.csv"
    first = directory / f"{shape.name}-{count}-first-{slice_rows}.csv"
    columns = ",".join(HEADER[1:])
    total, sliced = 0, 0
    with (book.open("w", encoding=shape.encoding, newline="") as out,
          first.open("w", encoding="utf-8", newline="") as part):  # fmt: skip
        out.write(f"{'起始IP,终止IP' if shape.ranges else HEADER[0]},{columns}\r\n")
        part.write(f"{HEADER[0]},{columns}\r\n")  # the naive loop reads prefixes
        for start, last, span in rows:
            total += span
            name, code, usage, day = holders[rng.randrange(len(holders))]
            cidr = f"{_address(start)}/{129 - (last - start + 1).bit_length()}"
            where = f"{_address(start)},{_address(last)}" if shape.ranges else cidr
            values = f"{name},{code},指派,{usage},{day},{DIVISION}\r\n"
            out.write(f"{where},{values}")
            if sliced < slice_rows and span == 1:
                part.write(f"{cidr},{values}")
                sliced += 1
    return book, first, total


def _address(value: int) -> str:
    return ipaddress.IPv6Address(value).compressed


# -- databases --------------------------------------------------------------------------------------------------


def prepare(url: str, shape: Shape) -> None:
    """The schema, the carrier and the shape's aggregates."""
    migrate.upgrade(url)
    create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET, "LOG_LEVEL": "WARNING"})
    with db.session_scope() as session:
        carrier = Organization(kind="carrier", code=CARRIER_CODE, name="基准示例通信天津分公司")
        session.add(carrier)
        session.flush()
        for text in shape.aggregates:
            add_prefix(session, text, actor=OPERATOR, kind="aggregate", holder=carrier)
        other = Organization(kind="carrier", code="bench-other", name="基准示例网络有限公司")
        session.add(other)
        session.flush()
        add_prefix(session, OTHER_BLOCK, actor=OPERATOR, kind="aggregate", holder=other)
    assert db.engine is not None
    db.engine.dispose()


# -- one import, in a child process -----------------------------------------------------------------------------


def child(how: str, url: str, path: Path) -> int:
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET, "LOG_LEVEL": "WARNING",
                      "IMPORT_DIR": str(path.parent / "imports")})  # fmt: skip
    if how == "ours":
        with app.app_context(), writes_meanwhile(url) as writes:
            started = time.perf_counter()  # once the other process is ready
            result = import_file(path)
            result["seconds"] = time.perf_counter() - started
        result["writes"] = writes
    else:
        started = time.perf_counter()
        result = naive_load(path) if how == "naive" else {"counts": {}, "phases": {}}
        result["seconds"] = time.perf_counter() - started
    result["rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(result), flush=True)
    return 0


def import_file(path: Path) -> dict[str, Any]:
    """The import as the job runs it (``importers.tasks.execute``): the file checked in a transaction that takes no
    write lock, then recorded and loaded in one write transaction."""
    phases: dict[str, float] = {}
    mark = {"phase": "reading", "at": time.perf_counter()}

    def report(meter: Meter) -> None:
        if meter.phase != mark["phase"]:
            now = time.perf_counter()
            phases[str(mark["phase"])] = phases.get(str(mark["phase"]), 0.0) + now - float(mark["at"])
            mark.update(phase=meter.phase, at=now)

    with db.session_scope() as session:
        carrier = session.scalars(select(Organization).where(Organization.code == CARRIER_CODE)).one()
        batch = start_batch(session, actor=OPERATOR, carrier=carrier, path=path, file_name=path.name, file_format="csv",
                            mode=MODE)  # fmt: skip
        batch_id = batch.id
    meter = Meter(path.stat().st_size, report)
    execute(batch_id, None, meter)
    report(meter)
    with db.session_scope(write=False) as session:
        batch = session.get(ImportBatch, batch_id)
        assert batch is not None
        status, counts = batch.status, batch.counts
        message = render(batch.message, batch.message_params) if batch.message else None
        if status != "loaded":
            print(f"batch {batch_id} ended {status}: {message or ''} {counts}")
            problems = session.scalars(
                select(ImportProblem).where(ImportProblem.batch_id == batch_id).order_by(ImportProblem.id).limit(5)
            )
            for problem in problems:
                print(f"  line {problem.line} {problem.column} {problem.value!r}: {problem.text()}")
            raise SystemExit(1)
    return {"counts": counts, "phases": phases}


@contextlib.contextmanager
def writes_meanwhile(url: str) -> Iterator[dict[str, float]]:
    """Another process writing to the registry while the import runs, as the web app does (one allocation from
    another carrier's block every WRITE_EVERY seconds): how long its writes took, the longest among them."""
    found: dict[str, float] = {}
    writer = subprocess.Popen(  # noqa: S603 (this script, with the benchmark's own arguments)
        [sys.executable, str(Path(__file__).resolve()), WRITER, url], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    writer.stdout.readline()  # ready
    try:
        yield found
    finally:
        writer.send_signal(signal.SIGINT)
        out, _ = writer.communicate()
        for line in out.splitlines():
            if line.startswith("WRITES "):
                found.update(json.loads(line.removeprefix("WRITES ")))


def writer(url: str) -> int:
    """Allocate a /64 from the other carrier's block every WRITE_EVERY seconds until interrupted; print how long
    each took (failures: a write that gave up waiting)."""
    create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET, "LOG_LEVEL": "ERROR"})
    took: list[float] = []
    failures = 0
    print("ready", flush=True)
    try:
        while True:
            time.sleep(WRITE_EVERY)
            started = time.perf_counter()
            try:
                with db.session_scope() as session:
                    block = session.scalars(select(Prefix).where(Prefix.network == OTHER_BLOCK)).one()
                    allocate_prefixes(session, block, AllocationRequest(64), holder=None, actor=OPERATOR)
            except OperationalError:
                failures += 1
            took.append(time.perf_counter() - started)
    except KeyboardInterrupt:
        pass
    print("WRITES " + json.dumps({"writes": len(took), "failed": failures, "p50": statistics.median(took or [0]),
                                  "longest": max(took or [0])}), flush=True)  # fmt: skip
    return 0


def naive_load(path: Path) -> dict[str, Any]:
    """The usual way: per row, ask the database what the prefix overlaps, add an ORM object and flush."""
    usages = {"工业网络": "industrial-network", "静态": "static"}
    created = skipped = 0
    with db.session_scope() as session:
        holders: dict[str, Organization] = {}
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            for network, name, code, _kind, usage, day, division in reader:
                net = parse_net(network)
                columns = Prefix.columns_for(net)
                overlapping = session.scalars(
                    select(Prefix).where(
                        Prefix.family == columns["family"], Prefix.start <= columns["last"],
                        Prefix.last >= columns["start"],
                    )
                ).all()  # fmt: skip
                containing = [p for p in overlapping if p.prefix_len < net.length and _covers(p, net)]
                if not containing or len(containing) != len(overlapping):
                    skipped += 1
                    continue
                holder = holders.get(code)
                if holder is None:
                    holder = holders[code] = Organization(
                        kind="enterprise", code=code, name=name, uscc=code, division_code=division, verified=False
                    )
                session.add(Prefix(
                    **columns, kind="assignment", status="active", holder=holder,
                    parent_id=max(containing, key=lambda p: p.prefix_len).id, usage=usages[usage],
                    assigned_on=date.fromisoformat(day), source="import",
                ))  # fmt: skip
                session.flush()
                created += 1
    return {"counts": {"created": created, "skipped": skipped}, "phases": {}}


def _covers(prefix: Prefix, net: Net) -> bool:
    return prefix.net.contains(net)


# -- the run ----------------------------------------------------------------------------------------------------


@dataclass
class Run:
    database: str
    what: str
    rows: int
    seconds: float
    rss_mb: float
    counts: dict[str, int] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    writes: dict[str, float] = field(default_factory=dict)  # the other process's writes meanwhile

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def in_child(how: str, url: str, path: Path, database: str, what: str, rows: int) -> Run:
    """One import in a fresh interpreter; its problems and a non-zero exit end the benchmark."""
    done = subprocess.run(  # noqa: S603 (this script, with the benchmark's own arguments)
        [sys.executable, str(Path(__file__).resolve()), CHILD, how, url, str(path)],
        stdout=subprocess.PIPE, text=True, check=False,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    results = [line for line in lines if line.startswith("RESULT ")]
    if done.returncode != 0 or not results:
        print("\n".join(lines))
        print(f"{database} {what}: the import process exited with {done.returncode}")
        raise SystemExit(1)
    result = json.loads(results[-1].removeprefix("RESULT "))
    run = Run(database, what, rows, result["seconds"], result["rss_mb"], result["counts"], result["phases"],
              result.get("writes") or {})  # fmt: skip
    print(f"{run.database:<11} {run.what:<26} {run.rows:>9} {run.seconds:>9.1f} {run.rate:>10.0f} {run.rss_mb:>12.0f}"
          f"   {describe(run)}", flush=True)  # fmt: skip
    return run


def describe(run: Run) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in run.counts.items() if v and k != "rows")
    phases = ", ".join(f"{k} {v:.1f}" for k, v in run.phases.items() if k != "done")
    writes = run.writes
    meanwhile = (f"; {writes['writes']:.0f} writes meanwhile, p50 {writes['p50']:.2f} s, longest {writes['longest']:.1f} s"
                 + (f", {writes['failed']:.0f} gave up" if writes["failed"] else "")) if writes else ""  # fmt: skip
    return counts + (f"; seconds in: {phases}" if phases else "") + meanwhile


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> None:
    print(f"{'database':<11} {'run':<26} {'rows':>9} {'seconds':>9} {'rows/s':>10} {'peak RSS MB':>12}   counts")
    targets: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        idle = directory / "idle.db"
        in_child("idle", f"sqlite:///{idle}", idle, "", "(app process at rest)", 0)
        for shape in SHAPES_RUN:
            for size in SIZES:
                started = time.perf_counter()
                book, first, blocks_in_book = write_files(shape, size, NAIVE_ROWS, directory)
                print(f"{shape.name} ({size} rows, {book.stat().st_size / 1e6:.0f} MB, {blocks_in_book} blocks, "
                      f"{shape.holders} holders, {shape.encoding}; written in {time.perf_counter() - started:.1f} s)",
                      flush=True)  # fmt: skip
                for backend in DATABASES:
                    targets += measure(shape, size, book, blocks_in_book, backend)
                    if shape is SHAPES_RUN[0] and size == max(SIZES):
                        targets.append(against_naive(first, directory, backend))
                book.unlink()
    print()
    print(
        "Targets (1M rows ≤ 60 s, peak RSS ≤ 300 MB, ≥ 20× the naive loop, re-import ≤ 30 s, web writes meanwhile "
        "wait ≤ 60 s):"
    )
    for line in targets:
        print(line)


def measure(shape: Shape, size: int, book: Path, blocks_in_book: int, backend: str) -> list[str]:
    """The full import and the re-import of ``book`` in a fresh database; the target lines."""
    with tempfile.TemporaryDirectory() as tmp, fresh_database(backend, Path(tmp)) as url:
        prepare(url, shape)
        full = in_child("ours", url, book, backend, "full import", size)
        again = in_child("ours", url, book, backend, "re-import (no changes)", size)
    if full.counts.get("created") != blocks_in_book or again.counts.get("unchanged") != blocks_in_book:
        print(f"{backend:<11} UNEXPECTED counts: {full.counts} then {again.counts}")
    scale = size / TARGET_ROWS
    scaled = "" if size == TARGET_ROWS else f" (scaled to {size} rows)"
    peak = max(full.rss_mb, again.rss_mb)
    where = f"{backend:<11} {shape.name:<25}"
    return [
        f"{where} full import ≤ {FULL_SECONDS * scale:.1f} s{scaled}: {full.seconds:.1f} s  "
        + verdict(full.seconds <= FULL_SECONDS * scale),
        f"{where} re-import ≤ {REIMPORT_SECONDS * scale:.1f} s{scaled}: {again.seconds:.1f} s  "
        + verdict(again.seconds <= REIMPORT_SECONDS * scale),
        f"{where} peak RSS ≤ {RSS_MB:.0f} MB: {peak:.0f} MB  " + verdict(peak <= RSS_MB),
        f"{where} web writes wait ≤ {WRITE_WAIT_SECONDS:.0f} s: longest {full.writes['longest']:.1f} s, "
        f"{full.writes['failed']:.0f} gave up  "
        + verdict(full.writes["longest"] <= WRITE_WAIT_SECONDS and not full.writes["failed"]),
    ]


def against_naive(first: Path, directory: Path, backend: str) -> str:
    """The first rows through the naive ORM loop and through the importer, each in a fresh database."""
    slice_rows = sum(1 for _ in first.open(encoding="utf-8")) - 1
    with fresh_database(backend, directory) as url:
        prepare(url, SHAPES_RUN[0])
        naive = in_child("naive", url, first, backend, "naive ORM loop (slice)", slice_rows)
    with fresh_database(backend, directory) as url:
        prepare(url, SHAPES_RUN[0])
        ours = in_child("ours", url, first, backend, "importer (same slice)", slice_rows)
    ratio = naive.seconds / ours.seconds
    return f"{backend:<11} ≥ {SPEEDUP:.0f}× faster than naive ({slice_rows} rows): {ratio:.1f}×  " + verdict(
        ratio >= SPEEDUP
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == WRITER:
        sys.exit(writer(sys.argv[2]))
    if len(sys.argv) == 5 and sys.argv[1] == CHILD:
        sys.exit(child(sys.argv[2], sys.argv[3], Path(sys.argv[4])))
    main()
