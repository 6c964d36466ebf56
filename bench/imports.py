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

import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from accounts.models import Organization
from accounts.validators import USCC_ALPHABET, uscc_check_character
from app import create_app
from core import migrate
from core.extensions import db
from core.policy import OPERATOR
from importers.models import ImportProblem
from importers.operations import Meter, run_batch, start_batch
from importers.records import render
from ipam.models import Prefix
from ipam.operations import add_prefix
from ipam.space import Net, parse_net
from tests.support import fresh_database, peak_rss_mb

SIZES = [int(n) for n in os.environ.get("BENCH_IMPORT_SIZES", "1000000").split(",")]
DATABASES = os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",")
NAIVE_ROWS = int(os.environ.get("BENCH_NAIVE_ROWS", "20000"))
MODE = os.environ.get("BENCH_IMPORT_MODE", "delta")
SECRET = "bench-" + "k" * 40
CHILD = "--child"  # the hidden argument: run one import in this (fresh) process

AGGREGATES = ("2401:8000::/20", "2403:a000::/20", "2408:4000::/20", "240e:c000::/20")
SHARES = (0.4, 0.3, 0.2, 0.1)  # of the rows, per aggregate
HOLDERS = 5_000
SHARE_56 = 0.2
PER_CONTAINER = 224  # /56 rows in a /48 that holds /56s (of 256)
GAP_CHANCE = 0.02  # before a /48, the carrier skipped some
DIVISION = "120116"
CARRIER_CODE = "bench-carrier"
HEADER = ("地址段", "使用单位名称", "统一社会信用代码", "分配方式", "IP地址使用方式", "分配使用时间", "所在地区代码")

FULL_SECONDS, RSS_MB, SPEEDUP, REIMPORT_SECONDS = 60.0, 300.0, 20.0, 30.0
TARGET_ROWS = 1_000_000


# -- the file ---------------------------------------------------------------------------------------------------


def uscc(rng: random.Random, used: set[str]) -> str:
    """A valid Unified Social Credit Code: 91 (enterprise), the division, a 9-character organization code, check."""
    while True:
        first17 = "91" + DIVISION + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
        code = first17 + uscc_check_character(first17)
        if code not in used:
            used.add(code)
            return code


def enterprises(rng: random.Random) -> list[tuple[str, str, str, str]]:
    """(name, USCC, usage, date) of each holder: a holder's blocks share its usage and a date of its contract."""
    used: set[str] = set()
    trades = ("制造", "科技", "物流", "化工", "电子", "机械", "食品", "材料")
    return [
        (f"津沽示例{trades[i % len(trades)]}{i:05d}有限公司", uscc(rng, used), rng.choice(("工业网络", "静态")),
         date(rng.randint(2019, 2024), rng.randint(1, 12), 1).isoformat())
        for i in range(HOLDERS)
    ]  # fmt: skip


def networks(count: int, rng: random.Random) -> list[list[str]]:
    """The rows' prefixes, per aggregate in address order: /48s one after another with random gaps, and now
    and then a /48 that is not a row but holds /56 rows (a few of its /56s free)."""
    per_aggregate = [round(count * share) for share in SHARES]
    per_aggregate[0] += count - sum(per_aggregate)
    result = []
    for text, rows in zip(AGGREGATES, per_aggregate, strict=True):
        aggregate, nets = parse_net(text), []
        n56 = round(rows * SHARE_56)
        n48 = rows - n56
        containers = -(-n56 // PER_CONTAINER)
        holding_56s = set(rng.sample(range(n48 + containers), containers))
        slot = rng.randrange(256)
        for index in range(n48 + containers):
            if rng.random() < GAP_CHANCE:
                slot += rng.randint(1, 256)
            base = aggregate.start + (slot << 80)
            if index in holding_56s:
                take = min(PER_CONTAINER, n56)
                n56 -= take
                for sub in sorted(rng.sample(range(256), take)):
                    nets.append(_compact(base + (sub << 72), 56))
            else:
                nets.append(_compact(base, 48))
            slot += 1
        assert slot < 1 << 28, "the aggregate is full"
        result.append(nets)
    return result


def _compact(value: int, length: int) -> str:
    groups = [f"{(value >> (112 - 16 * i)) & 0xFFFF:x}" for i in range(length // 16 + (length % 16 > 0))]
    return ":".join(groups) + f"::/{length}"


def write_files(count: int, slice_rows: int, directory: Path) -> tuple[Path, Path]:
    """The book of ``count`` rows and a file of its first ``slice_rows`` rows (for the naive baseline)."""
    rng = random.Random(count)
    holders = enterprises(rng)
    book, first = directory / f"book-{count}.csv", directory / f"book-{count}-first-{slice_rows}.csv"
    with book.open("w", encoding="utf-8", newline="") as out, first.open("w", encoding="utf-8", newline="") as part:
        writers = csv.writer(out), csv.writer(part)
        for writer in writers:
            writer.writerow(HEADER)
        line = 0
        for nets in networks(count, rng):
            for net in nets:
                name, code, usage, day = holders[rng.randrange(HOLDERS)]
                row = (net, name, code, "指派", usage, day, DIVISION)
                writers[0].writerow(row)
                if line < slice_rows:
                    writers[1].writerow(row)
                line += 1
    return book, first


# -- databases --------------------------------------------------------------------------------------------------


def prepare(url: str) -> None:
    """The schema, the carrier and its four /20 aggregates."""
    migrate.upgrade(url)
    create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET, "LOG_LEVEL": "WARNING"})
    with db.session_scope() as session:
        carrier = Organization(kind="carrier", code=CARRIER_CODE, name="基准示例通信天津分公司")
        session.add(carrier)
        session.flush()
        for text in AGGREGATES:
            add_prefix(session, text, actor=OPERATOR, kind="aggregate", holder=carrier)
    assert db.engine is not None
    db.engine.dispose()


# -- one import, in a child process -----------------------------------------------------------------------------


def child(how: str, url: str, path: Path) -> int:
    create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET, "LOG_LEVEL": "WARNING"})
    started = time.perf_counter()
    if how == "idle":
        result: dict[str, Any] = {"counts": {}, "phases": {}}
    else:
        result = naive_load(path) if how == "naive" else import_file(path)
    result["seconds"] = time.perf_counter() - started
    result["rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(result), flush=True)
    return 0


def import_file(path: Path) -> dict[str, Any]:
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
        run_batch(session, batch, actor=OPERATOR, meter=Meter(batch.size, report))
        batch_id, status, counts = batch.id, batch.status, batch.counts
        message = render(batch.message, batch.message_params) if batch.message else None
        committing = time.perf_counter()
    phases["commit"] = time.perf_counter() - committing
    if status != "loaded":
        print(f"batch {batch_id} ended {status}: {message or ''} {counts}")
        with db.session_scope() as session:
            problems = session.scalars(
                select(ImportProblem).where(ImportProblem.batch_id == batch_id).order_by(ImportProblem.id).limit(5)
            )
            for problem in problems:
                print(f"  line {problem.line} {problem.column} {problem.value!r}: {problem.text()}")
        raise SystemExit(1)
    return {"counts": counts, "phases": phases}


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
    run = Run(database, what, rows, result["seconds"], result["rss_mb"], result["counts"], result["phases"])
    print(f"{run.database:<11} {run.what:<26} {run.rows:>9} {run.seconds:>9.1f} {run.rate:>10.0f} {run.rss_mb:>12.0f}"
          f"   {describe(run)}", flush=True)  # fmt: skip
    return run


def describe(run: Run) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in run.counts.items() if v and k != "rows")
    phases = ", ".join(f"{k} {v:.1f}" for k, v in run.phases.items() if k != "done")
    return counts + (f"; seconds in: {phases}" if phases else "")


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> None:
    print(f"{'database':<11} {'run':<26} {'rows':>9} {'seconds':>9} {'rows/s':>10} {'peak RSS MB':>12}   counts")
    targets: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        files: dict[int, tuple[Path, Path]] = {}
        for size in SIZES:
            started = time.perf_counter()
            files[size] = write_files(size, NAIVE_ROWS, directory)
            megabytes = files[size][0].stat().st_size / 1e6
            print(f"{'':<11} {'(generated the file)':<26} {size:>9} {time.perf_counter() - started:>9.1f}"
                  f" {'':>10} {'':>12}   {megabytes:.0f} MB", flush=True)  # fmt: skip
        idle = directory / "idle.db"
        in_child("idle", f"sqlite:///{idle}", idle, "", "(app process at rest)", 0)
        for backend in DATABASES:
            for size in SIZES:
                book = files[size][0]
                with fresh_database(backend, directory) as url:
                    prepare(url)
                    full = in_child("ours", url, book, backend, "full import", size)
                    again = in_child("ours", url, book, backend, "re-import (no changes)", size)
                if full.counts.get("created") != size or again.counts.get("unchanged") != size:
                    print(f"{backend:<11} UNEXPECTED counts: {full.counts} then {again.counts}")
                scale = size / TARGET_ROWS
                scaled = "" if size == TARGET_ROWS else f" (scaled to {size} rows)"
                peak = max(full.rss_mb, again.rss_mb)
                targets += [
                    f"{backend:<11} full import ≤ {FULL_SECONDS * scale:.1f} s{scaled}: {full.seconds:.1f} s  "
                    + verdict(full.seconds <= FULL_SECONDS * scale),
                    f"{backend:<11} re-import ≤ {REIMPORT_SECONDS * scale:.1f} s{scaled}: {again.seconds:.1f} s  "
                    + verdict(again.seconds <= REIMPORT_SECONDS * scale),
                    f"{backend:<11} peak RSS ≤ {RSS_MB:.0f} MB ({size} rows): {peak:.0f} MB  "
                    + verdict(peak <= RSS_MB),
                ]
            slice_rows = min(NAIVE_ROWS, max(SIZES))
            first = files[max(SIZES)][1]
            with fresh_database(backend, directory) as url:
                prepare(url)
                naive = in_child("naive", url, first, backend, "naive ORM loop (slice)", slice_rows)
            with fresh_database(backend, directory) as url:
                prepare(url)
                ours = in_child("ours", url, first, backend, "importer (same slice)", slice_rows)
            ratio = naive.seconds / ours.seconds
            targets.append(f"{backend:<11} ≥ {SPEEDUP:.0f}× faster than naive ({slice_rows} rows): {ratio:.1f}×  "
                           + verdict(ratio >= SPEEDUP))  # fmt: skip
    print()
    print("Targets (1M rows ≤ 60 s, peak RSS ≤ 300 MB, ≥ 20× the naive loop, re-import ≤ 30 s):")
    for line in targets:
        print(line)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == CHILD:
        sys.exit(child(sys.argv[2], sys.argv[3], Path(sys.argv[4])))
    main()
