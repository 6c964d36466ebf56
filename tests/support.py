"""Helpers the tests share: throw-away databases on both backends and reading forms."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import sqlite3
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

POSTGRES_ADMIN_URL = os.environ.get(
    "V6BEIAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = [b.strip() for b in os.environ.get("V6BEIAN_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]
CSRF_PATTERN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


class ServiceMissing(RuntimeError):
    pass


def check_postgres() -> None:
    engine = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        raise ServiceMissing(
            f"PostgreSQL is not reachable at {make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)}; "
            "the suite runs every database test on PostgreSQL too (make test starts the local cluster)"
        ) from exc
    finally:
        engine.dispose()


@contextlib.contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """An empty database of ``backend`` that is removed afterwards; yields its URL."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / f'v6beian-{uuid.uuid4().hex[:8]}.db'}"
        return
    if backend != "postgresql":
        raise ValueError(f"unknown test backend {backend!r}")
    check_postgres()
    name = f"v6beian_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def copy_of_database(backend: str, source_url: str, directory: Path) -> Iterator[str]:
    """A copy of the database at ``source_url`` (which nobody is connected to), removed afterwards; yields its
    URL. PostgreSQL copies it as a template, SQLite with its backup API."""
    with fresh_database(backend, directory) as url:
        if backend == "sqlite":
            source = sqlite3.connect(make_url(source_url).database)
            target = sqlite3.connect(make_url(url).database)
            try:
                source.backup(target)
            finally:
                target.close()
                source.close()
        else:
            admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as conn:
                    name, template = make_url(url).database, make_url(source_url).database
                    conn.execute(sa.text(f'DROP DATABASE "{name}"'))
                    conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
            finally:
                admin.dispose()
        yield url


def csrf_token_in(html: str) -> str:
    match = CSRF_PATTERN.search(html)
    if match is None:
        raise AssertionError("no CSRF token in the page")
    return match.group(1) or match.group(2)


def registry_data() -> Path:
    """The shared real registry files, beside the checkout (found from any copy of the tests, e.g. mutmut's)."""
    for folder in Path(__file__).resolve().parents:
        candidate = folder / "shared" / "data" / "registry"
        if candidate.is_dir():
            return candidate
    raise ServiceMissing("the shared registry data (../shared/data/registry) is missing")


def run_import(db: Any, carrier: Any, path: Path, file_format: str, **options: Any) -> Any:
    """Check and load ``path`` for ``carrier`` at once, as the operator (no job queue)."""
    from core.policy import OPERATOR
    from importers.operations import Meter, run_batch, start_batch

    batch = start_batch(db, actor=OPERATOR, carrier=carrier, path=path, file_name=path.name, file_format=file_format,
                        **options)  # fmt: skip
    run_batch(db, batch, actor=OPERATOR, meter=Meter(batch.size))
    db.flush()
    return batch


def sample_url(rule: Any) -> str:
    """A URL of a route with made-up arguments: ids 1, an ``any(...)`` argument its first value, text "sample"."""

    def sample(arg: str) -> object:
        items = getattr(rule._converters.get(arg), "items", None)
        return sorted(items)[0] if items else "1" if arg.endswith("id") else "sample"

    values = {arg: sample(arg) for arg in rule.arguments}
    if rule.endpoint == "static":
        values["filename"] = "app.css"
    return rule.build(values, append_unknown=False)[1]


def peak_rss_mb() -> float:
    """This process's peak resident set size: the kernel's high-water mark of its own memory. (``ru_maxrss`` would
    not do: Linux carries it across exec, so a child started by a large parent reports the parent's size.)"""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


@contextlib.contextmanager
def make_in_terminal(target: str, env: dict[str, str], typescript: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``make target`` as a person runs it: ``script`` gives make a terminal, so ^C (``press_ctrl_c``) reaches the
    whole foreground group; what it printed goes to ``typescript``. Killed on the way out if still running."""
    root = Path(__file__).resolve().parent.parent
    session = subprocess.Popen(
        ["script", "-qfec", f"make {target}", str(typescript)], cwd=root, env=env, stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        yield session
    finally:
        if session.poll() is None:
            os.killpg(session.pid, signal.SIGKILL)


def answer_when_up(url: str, session: subprocess.Popen[bytes], seconds: float, what: str) -> bytes:
    """The body of ``url``'s first 200 answer, asked until ``session`` has served it for ``seconds`` at most."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (loopback)
                if answer.status == 200:
                    return answer.read()
        except OSError:
            pass
        assert session.poll() is None and time.monotonic() < deadline, f"{what} did not start"
        time.sleep(0.2)


def press_ctrl_c(session: subprocess.Popen[bytes]) -> None:
    """^C on the terminal, then wait for everything to end."""
    assert session.stdin is not None
    session.stdin.write(b"\x03")
    session.stdin.flush()
    session.wait(timeout=30)
