"""Load test: Locust's simulated regulators, carriers and enterprises against gunicorn on PostgreSQL, with a
carrier's import running meanwhile; then ``flask db check`` on what they left. ``make loadtest``.

The world, in a fresh PostgreSQL database: LOADTEST_PREFIXES random /56 assignments (default 1,000,000) under two
/34 aggregates of two carriers (the shared parents: every user of a carrier allocates /56s from its carrier's),
four enterprises a parent holding 500 of them each (the ones whose staff sign in) and two large holders the rest;
a /60 pool per carrier (its /64s run out: the expected "space exhausted" answers); ten accounts a role with API
tokens (more simulated users share them, a sign-in each); and a third carrier whose LOADTEST_IMPORT_ROWS-row CSV
book (default 100,000, made by bench/imports.py) is uploaded through the API a little after the test starts and
loaded by the job worker while it goes on. The scenario itself is bench/loadtest/locustfile.py.

The server is gunicorn with core/gunicorn_conf.py (LOADTEST_WORKERS workers, default 4) and the job worker on a
free loopback port; Locust runs headless with LOADTEST_USERS users (50) started LOADTEST_SPAWN_RATE a second (10)
for LOADTEST_DURATION (3m). Every simulated user comes from 127.0.0.1, so the sign-in rate limit (per client
address) is raised for this server through its environment (LOGIN_RATE_LIMIT); the app's default is unchanged.

Printed: per request kind the count, failures and p50/p95/p99 as Locust saw them, and the server's own times per
route (its access log: the rest of Locust's time was the wait for a free worker); successful allocations per
second (in all and on the busiest parent); failures by kind; the import's outcome; the verdict of ``flask db
check``. Targets (beside the figures): no errors other than "space exhausted" (a 409 with that code is expected),
page p95 ≤ 500 ms, ≥ 100 allocations/s on one parent. The exit status is non-zero only when requests failed, the
server logged an error, the import did not load or the check found problems; a missed speed target prints MISSED.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from accounts import operations as accounts_ops
from accounts.models import Organization
from app import create_app
from bench import imports as carrier_book
from bench.allocation import percentile, random_children, vacuum
from core import migrate
from core.extensions import db
from core.policy import OPERATOR
from ipam.models import Prefix
from ipam.operations import add_prefix, bulk_add_leaves
from ipam.space import Net, parse_net
from tests.browser_support import free_port
from tests.support import fresh_database

ROOT = Path(__file__).resolve().parents[2]
USERS = int(os.environ.get("LOADTEST_USERS", "50"))
SPAWN_RATE = os.environ.get("LOADTEST_SPAWN_RATE", "10")
DURATION = os.environ.get("LOADTEST_DURATION", "3m")
PREFIXES = int(os.environ.get("LOADTEST_PREFIXES", "1000000"))
IMPORT_ROWS = int(os.environ.get("LOADTEST_IMPORT_ROWS", "100000"))
WORKERS = int(os.environ.get("LOADTEST_WORKERS", "4"))
# Accounts a role: simulated users beyond these share them (a sign-in each). Each costs a password hash.
ACCOUNTS = min(USERS, 10)
SECRET = "loadtest-" + "k" * 40
LOCUSTFILE = Path(__file__).with_name("locustfile.py")

# (label, carrier code, shared /34 parent, its /60 pool); the leaves are /56s, the pool hands out /64s.
CARRIERS = (
    ("carrier A /34", "lt-carrier-a", "2001:db8::/34", "2001:db8:8000::/60"),
    ("carrier B /34", "lt-carrier-b", "2001:db8:4000::/34", "2001:db8:8000:10::/60"),
)
CARRIER_OF = (0, 0, 0, 1)  # carrier A has three carrier users in four: its parent is the busiest
LEAF_LENGTH, POOL_LENGTH = 56, 64
INSIDE = 0x1_0002_0003_0004  # an address this far into a leaf is inside it
ENTERPRISES_PER_PARENT = 4  # with accounts, each holding OWN_LEAVES of the parent's leaves
OWN_LEAVES = 500
LARGE_HOLDERS_PER_PARENT = 2  # holding the rest, without accounts (enterprises hold hundreds, not 250,000)
SAMPLED_LEAVES = 400  # leaves the regulators open and search for, spread over the whole registry
OWN_SAMPLES = 50  # of each enterprise's own prefixes
BOOK = carrier_book.SHAPES["cidr-utf8-sorted"]  # /48s and /56s in address order, 5,000 holders
IMPORT_DELAY = 0.1  # of the test's duration, before the upload
IMPORT_WAIT_SECONDS = 900  # for the import to finish after the test

PAGE_P95_MS, PARENT_RATE = 500.0, 100.0
SERVER_ROUTES = 12  # the busiest routes of the access log in the report
RUNNING = {"queued", "running"}
ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>[^ ?"]+)[^"]*" [0-9]{3} \S+ (?P<ms>[0-9]+)ms ')
ANSWERED_5XX = re.compile(r'HTTP/[\d.]+" 5\d\d ')  # in the access log


# -- the world --------------------------------------------------------------------------------------------------


def build_world(rng: random.Random) -> dict[str, Any]:
    """Organizations, accounts, tokens and the registry; returns what the simulated users need to know."""
    password = secrets.token_urlsafe(16)
    per_parent = PREFIXES // len(CARRIERS)
    world: dict[str, Any] = {"password": password, "parents": [], "pools": [], "carriers": []}
    with db.session_scope() as session:
        regulator = accounts_ops.create_organization(
            session, actor=OPERATOR, kind="regulator", code="lt-regulator", name="负载测试监管局"
        )
        world["regulators"] = [
            account(session, f"lt-reg-{i:02d}", regulator, "regulator", password) for i in range(ACCOUNTS)
        ]
        carriers, holders, numbers = [], [], itertools.count(1)
        for index, (label, code, parent_text, pool_text) in enumerate(CARRIERS):
            carrier = accounts_ops.create_organization(
                session, actor=OPERATOR, kind="carrier", code=code, name=f"负载测试通信{index + 1}号公司"
            )
            carriers.append(carrier)
            parent = add_prefix(session, parent_text, actor=OPERATOR, kind="aggregate", holder=carrier)
            pool = add_prefix(session, pool_text, actor=OPERATOR, kind="aggregate", holder=carrier)
            world["parents"].append({"id": parent.id, "label": label, "length": LEAF_LENGTH})
            world["pools"].append({"id": pool.id, "label": label.replace("/34", "/60 pool"), "length": POOL_LENGTH})
            leaves = iter(random_children(parse_net(parent_text), per_parent, LEAF_LENGTH, rng))
            # The enterprises with accounts first (each call re-reads the parent's children: the small ones while
            # it is nearly empty), then large holders take the rest.
            own = min(OWN_LEAVES, per_parent // (2 * ENTERPRISES_PER_PARENT))
            large = -(-(per_parent - own * ENTERPRISES_PER_PARENT) // LARGE_HOLDERS_PER_PARENT)
            for _ in range(ENTERPRISES_PER_PARENT):
                holders.append(add_holder(session, parent, leaves, own, next(numbers), "示例企业"))
            for _ in range(LARGE_HOLDERS_PER_PARENT):
                add_holder(session, parent, leaves, large, next(numbers), "大型企业")
        # Every user of a carrier shares its parent and pool.
        world["carriers"] = [
            account(session, f"lt-carrier-{i:02d}", carriers[CARRIER_OF[i % 4]], "carrier", password,
                    parent=CARRIER_OF[i % 4])
            for i in range(ACCOUNTS)
        ]  # fmt: skip
        owned = {holder.id: own_prefixes(session, holder) for holder in holders}
        world["enterprises"] = [
            account(session, f"lt-ent-user-{i:02d}", holders[i % len(holders)], "enterprise", password,
                    prefixes=owned[holders[i % len(holders)].id])
            for i in range(ACCOUNTS)
        ]  # fmt: skip
        world["holders"] = [holder.code for holder in holders]
        world["search_terms"] = ["负载测试", "示例企业", "通信"]  # names: a page of hits (a code would redirect)
        world["leaves"] = sampled_leaves(session)
        importer = accounts_ops.create_organization(
            session, actor=OPERATOR, kind="carrier", code=carrier_book.CARRIER_CODE, name="负载测试导入通信公司"
        )
        for text in BOOK.aggregates:
            add_prefix(session, text, actor=OPERATOR, kind="aggregate", holder=importer)
        world["importer"] = account(session, "lt-importer", importer, "carrier", password)
    assert db.engine is not None
    vacuum(db.engine)
    return world


def add_holder(session: Any, parent: Prefix, leaves: Iterator[Net], count: int, number: int, name: str) -> Organization:
    """An enterprise holding the next ``count`` of ``leaves`` under ``parent``."""
    holder = accounts_ops.create_organization(
        session,
        actor=OPERATOR,
        kind="enterprise",
        code=f"lt-ent-{number:02d}",
        name=f"负载测试{name}{number:02d}有限公司",
    )
    bulk_add_leaves(session, parent, list(itertools.islice(leaves, count)), actor=OPERATOR, kind="assignment",
                    holder=holder)  # fmt: skip
    return holder


def account(session: Any, username: str, org: Organization, role: str, password: str, **extra: Any) -> dict[str, Any]:
    user = accounts_ops.create_user(
        session, actor=OPERATOR, username=username, organization=org, role=role, password=password
    )
    _, token = accounts_ops.create_token(session, user, name="load test", days=1, read_only=False, actor=OPERATOR)
    return {"username": username, "token": token, **extra}


def own_prefixes(session: Any, enterprise: Organization) -> list[dict[str, Any]]:
    rows = session.scalars(select(Prefix).where(Prefix.holder_id == enterprise.id).order_by(Prefix.id)).all()
    return [{"id": p.id} for p in rows[:: max(1, len(rows) // OWN_SAMPLES)]]


def sampled_leaves(session: Any) -> list[dict[str, Any]]:
    """Leaves spread evenly over the ids (the bulk load numbered them in address order, parent by parent)."""
    step = max(1, PREFIXES // SAMPLED_LEAVES)
    rows = session.scalars(
        select(Prefix).where(Prefix.prefix_len == LEAF_LENGTH, Prefix.id % step == 0).limit(SAMPLED_LEAVES)
    ).all()
    # An address inside the leaf (not its first), as someone would paste one into the search box.
    return [{"id": p.id, "address": str(ipaddress.IPv6Address(p.net.start + INSIDE))} for p in rows]


# -- the servers ------------------------------------------------------------------------------------------------


def server_environment(url: str, instance: Path, port: int) -> dict[str, str]:
    """The app's settings for this run, through the environment as a deployment sets them."""
    return {
        **os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": url, "SECRET_KEY": SECRET,
        "V6BEIAN_INSTANCE": str(instance), "HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "WARNING",
        "ALLOW_DOCUMENTATION_PREFIXES": "true",
        # Every simulated user signs in from 127.0.0.1; the per-address limit is for people, not this test.
        "LOGIN_RATE_LIMIT": "100000 per minute",
    }  # fmt: skip


@contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[str]:
    """gunicorn (core/gunicorn_conf.py, WORKERS workers) and the job worker, stopped with SIGTERM and waited for."""
    host = f"http://127.0.0.1:{env['PORT']}"
    with log.open("w", encoding="utf-8") as out:
        processes = [
            subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
                [sys.executable, "-m", "gunicorn", "--config", "python:core.gunicorn_conf", "--workers", str(WORKERS)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            ),
            subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "app", "import", "worker"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            ),
        ]  # fmt: skip
        try:
            wait_until_ready(host, processes)
            yield host
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def wait_until_ready(host: str, processes: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise SystemExit("loadtest: the server or the job worker exited at start (see its log)")
        try:
            with urllib.request.urlopen(f"{host}/readyz", timeout=2) as answer:  # noqa: S310 (our loopback server)
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("loadtest: the server did not become ready within 60 s")


# -- the import -------------------------------------------------------------------------------------------------


@dataclass
class ImportRun:
    """The carrier's upload, sent through the API after ``delay`` seconds and polled until it ends."""

    host: str
    token: str
    book: Path
    delay: float
    started: float = 0.0
    seconds: float = 0.0
    batch: dict[str, Any] = field(default_factory=dict)
    problem: str = ""

    def run(self) -> None:
        time.sleep(self.delay)
        headers = {"Authorization": f"Bearer {self.token}"}
        self.started = time.monotonic()
        try:
            with self.book.open("rb") as handle:
                answer = requests.post(f"{self.host}/api/v1/imports", headers=headers, timeout=300,
                                       files={"file": (self.book.name, handle, "text/csv")}, data={"mode": "delta"})  # fmt: skip
            if answer.status_code != 202:
                self.problem = f"upload answered {answer.status_code}: {answer.text[:300]}"
                return
            self.batch = answer.json()
            deadline = time.monotonic() + IMPORT_WAIT_SECONDS
            while self.batch["status"] in RUNNING and time.monotonic() < deadline:
                time.sleep(1)
                answer = requests.get(f"{self.host}/api/v1/imports/{self.batch['id']}", headers=headers, timeout=60)
                answer.raise_for_status()
                self.batch = answer.json()
        except requests.RequestException as exc:
            self.problem = f"{type(exc).__name__}: {exc}"
        self.seconds = time.monotonic() - self.started

    def verdict(self) -> tuple[bool, str]:
        if self.problem:
            return False, self.problem
        status, counts = self.batch.get("status"), self.batch.get("counts") or {}
        summary = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        text = f"batch {self.batch.get('id')} {status} in {self.seconds:.0f} s after the upload ({summary})"
        if status != "loaded":
            problems = "; ".join(f"line {p['line']}: {p['message']}" for p in self.batch.get("problems", [])[:3])
            return False, f"{text} {self.batch.get('message') or ''} {problems}".strip()
        return True, text


# -- Locust and the check ---------------------------------------------------------------------------------------


def run_locust(host: str, world_file: Path, stats_file: Path, log: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOADTEST_WORLD": str(world_file), "LOADTEST_STATS": str(stats_file)}
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(USERS), "-r", SPAWN_RATE,
        "-t", DURATION, "--host", host, "--only-summary", "--stop-timeout", "10", "--loglevel", "WARNING",
    ]  # fmt: skip
    with log.open("w", encoding="utf-8") as out:
        subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)  # noqa: S603
    if not stats_file.exists():
        raise SystemExit(f"loadtest: Locust wrote no figures; its output:\n{log.read_text(encoding='utf-8')[-4000:]}")
    return json.loads(stats_file.read_text(encoding="utf-8"))


def db_check(env: dict[str, str]) -> tuple[bool, str]:
    """``flask db check --json``: the registry's invariants after the test (no overlaps, exact free-space index)."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "check", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - started
    try:
        problems = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        return False, f"exit {done.returncode}: {done.stdout[-500:]} {done.stderr[-500:]}"
    kinds: dict[str, int] = {}
    for problem in problems:
        kinds[problem["type"]] = kinds.get(problem["type"], 0) + 1
    if done.returncode != 0 or problems:
        listed = ", ".join(f"{k} {v}" for k, v in kinds.items()) or done.stderr.strip()[-300:]
        return False, f"{len(problems)} problems ({listed}), exit {done.returncode}"
    return True, f"0 problems: no overlapping prefixes, the free-space index exact ({seconds:.0f} s)"


def server_errors(log: Path) -> list[str]:
    """The server's own error lines and tracebacks (5xx answers, deadlocks, lock timeouts), first ones first."""
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    found = [i for i, line in enumerate(lines) if "Traceback" in line or " ERROR " in line or ANSWERED_5XX.search(line)]
    excerpts = []
    for index in found[:5]:
        excerpts.append("\n".join(lines[index : index + 40]))
    return [f"{len(found)} error lines in the server log", *excerpts] if found else []


def server_times(log: Path) -> dict[str, list[float]]:
    """Milliseconds the server spent on each route (ids folded), from its access log: beside Locust's times, which
    include the wait for a free worker, they show how much of a slow answer was queueing."""
    times: dict[str, list[float]] = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        match = ACCESS_LINE.search(line)
        if match is not None:
            route = f"{match['method']} {re.sub(r'/[0-9]+', '/<id>', match['path'])}"
            times.setdefault(route, []).append(float(match["ms"]))
    return times


# -- the report -------------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def report(
    figures: dict[str, Any],
    served: dict[str, list[float]],
    imported: tuple[bool, str],
    checked: tuple[bool, str],
    logged: list[str],
) -> bool:
    seconds = figures["seconds"] or 1.0
    print(f"\n{'request kind':<44} {'count':>8} {'fail':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    pages = []
    for kind in figures["kinds"]:
        name = f"{kind['method']} {kind['name']}"
        print(f"{name:<44} {kind['requests']:>8} {kind['failures']:>6} {kind['p50']:>8.0f} {kind['p95']:>8.0f}"
              f" {kind['p99']:>8.0f}")  # fmt: skip
        if kind["name"].startswith("page: ") and kind["requests"]:
            pages.append(kind)
    print(f"\n{'server time (access log)':<44} {'count':>8} {'':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for route, times in sorted(served.items(), key=lambda item: -len(item[1]))[:SERVER_ROUTES]:
        print(f"{route:<44} {len(times):>8} {'':>6} {percentile(times, 0.5):>8.0f} {percentile(times, 0.95):>8.0f}"
              f" {percentile(times, 0.99):>8.0f}")  # fmt: skip
    allocated, exhausted = figures["allocated"], figures["exhausted"]
    total = sum(allocated.values())
    busiest = max(allocated, key=allocated.__getitem__, default="")
    busiest_rate = allocated.get(busiest, 0) / seconds
    print(f"\nallocations in {seconds:.0f} s: {total} ({total / seconds:.1f}/s)")
    for label in sorted({*allocated, *exhausted}):
        print(f"  {label:<22} {allocated.get(label, 0):>7} allocated ({allocated.get(label, 0) / seconds:6.1f}/s),"
              f" {exhausted.get(label, 0):>6} answered 'space exhausted' (expected)")  # fmt: skip
    errors = figures["errors"]
    failed = sum(e["occurrences"] for e in errors)
    print(f"\nerrors: {failed}")
    for error in errors:
        print(f"  {error['occurrences']:>6}  {error['method']} {error['name']}: {error['error']}")
    for excerpt in logged:
        print(excerpt)
    print(f"\nimport: {imported[1]}")
    print(f"db check: {'passed' if checked[0] else 'FAILED'}: {checked[1]}")
    worst = max(pages, key=lambda k: k["p95"], default=None)
    worst_text = f"{worst['p95']:.0f} ms ({worst['name']})" if worst else "no pages"
    ok = failed == 0 and not logged and imported[0] and checked[0]
    print("\nTargets:")
    print(f"  0 errors besides 'space exhausted': {failed}  {'ok' if failed == 0 and not logged else 'FAILED'}")
    print(f"  page p95 ≤ {PAGE_P95_MS:.0f} ms (slowest page): {worst_text}  "
          + verdict(worst is not None and worst["p95"] <= PAGE_P95_MS))  # fmt: skip
    print(f"  ≥ {PARENT_RATE:.0f} allocations/s on one parent ({busiest or 'none'}): {busiest_rate:.1f}/s  "
          + verdict(busiest_rate >= PARENT_RATE))  # fmt: skip
    print(f"  import loaded: {'ok' if imported[0] else 'FAILED'}")
    print(f"  db check: {'ok' if checked[0] else 'FAILED'}")
    print(f"\nloadtest {'passed' if ok else 'FAILED'}")
    return ok


def main() -> int:
    rng = random.Random(16)
    with tempfile.TemporaryDirectory(prefix="v6beian-loadtest-") as tmp:
        directory = Path(tmp)
        with fresh_database("postgresql", directory) as url:
            started = time.monotonic()
            migrate.upgrade(url)
            create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET, "LOG_LEVEL": "WARNING",
                        "ALLOW_DOCUMENTATION_PREFIXES": True})  # fmt: skip
            world = build_world(rng)
            assert db.engine is not None
            db.engine.dispose()
            book, _, _ = carrier_book.write_files(BOOK, IMPORT_ROWS, 0, directory)
            print(f"world: {PREFIXES} prefixes, {ACCOUNTS} accounts a role, a {IMPORT_ROWS}-row carrier book "
                  f"({time.monotonic() - started:.0f} s)", flush=True)  # fmt: skip
            world_file = directory / "world.json"
            world_file.write_text(json.dumps(world), encoding="utf-8")
            env = server_environment(url, directory / "instance", free_port())
            server_log = directory / "server.log"
            with serving(env, server_log) as host:
                print(f"gunicorn ({WORKERS} workers) and the job worker on {host}; Locust: {USERS} users, "
                      f"{SPAWN_RATE}/s, {DURATION}", flush=True)  # fmt: skip
                seconds = float(DURATION[:-1]) * {"s": 1, "m": 60, "h": 3600}.get(DURATION[-1], 1)
                upload = ImportRun(host, world["importer"]["token"], book, delay=seconds * IMPORT_DELAY)
                uploader = threading.Thread(target=upload.run, daemon=True)
                uploader.start()
                figures = run_locust(host, world_file, directory / "stats.json", directory / "locust.log")
                # The machine's other work competes for the same cores: say how busy it was.
                print(f"load average at the end of the test: {os.getloadavg()[0]:.1f} (1 min), "
                      f"{os.getloadavg()[1]:.1f} (5 min), on {os.cpu_count()} cores", flush=True)  # fmt: skip
                uploader.join(timeout=IMPORT_WAIT_SECONDS + 60)
            checked = db_check(env)
            ok = report(figures, server_times(server_log), upload.verdict(), checked, server_errors(server_log))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
