"""Request latency through the whole stack (session, policy, queries, templates, commit) on SQLite and
PostgreSQL, against a bare Flask "hello" app measured in the same run as the baseline.

Run with `make bench`. Prints median and p90 per page and the ratio of the median to the baseline's.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from accounts import passwords
from app import create_app
from core import migrate
from core.extensions import db
from tests.support import csrf_token_in, fresh_database

ROUNDS = 300
EXTRA_ORGANIZATIONS = 2_000


def timed(call: Callable[[], object], rounds: int = ROUNDS) -> list[float]:
    for _ in range(20):
        call()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def baseline_ms() -> list[float]:
    bare = Flask("baseline")
    bare.get("/")(lambda: "hello")
    client = bare.test_client()
    return timed(lambda: client.get("/"))


def populate(app: Flask) -> dict[str, str]:
    runner = app.test_cli_runner()
    logins = {row["role"]: row for row in json.loads(runner.invoke(args=["demo", "--json"]).output)}
    from accounts.models import Organization

    with db.session_scope() as session:
        session.add_all(
            Organization(kind="enterprise", code=f"bench-{n}", name=f"基准企业{n}", division_code="120116")
            for n in range(EXTRA_ORGANIZATIONS)
        )
    return logins["regulator"]


def measure(backend: str, directory: Path) -> list[tuple[str, list[float]]]:
    with fresh_database(backend, directory) as url:
        migrate.upgrade(url)
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench-" + "k" * 40})
        app.instance_path = str(directory / f"instance-{backend}")
        regulator = populate(app)
        client = app.test_client()
        token = csrf_token_in(client.get("/login").get_data(as_text=True))
        response = client.post(
            "/login", data={"username": regulator["username"], "password": regulator["password"], "csrf_token": token}
        )
        assert response.status_code == 302
        results = [
            (path, timed(lambda p=path: _ok(client.get(p))))
            for path in [
                "/healthz",
                "/",
                "/organizations",
                "/organizations?q=bench-19&kind=enterprise",
                "/api/v1/organizations",
            ]
        ]
        db.engine.dispose()
        return results


def _ok(response: object) -> None:
    assert response.status_code == 200, response.status_code  # type: ignore[attr-defined]


def main() -> None:
    passwords._hasher = passwords.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    base = statistics.median(baseline_ms())
    print(f"baseline (bare Flask hello, same run): median {base:.3f} ms over {ROUNDS} requests")
    print(f"{'database':<11} {'page':<45} {'median ms':>10} {'p90 ms':>8} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in ("sqlite", "postgresql"):
            for path, samples in measure(backend, Path(tmp)):
                median = statistics.median(samples)
                p90 = statistics.quantiles(samples, n=10)[-1]
                print(f"{backend:<11} {path:<45} {median:>10.2f} {p90:>8.2f} {median / base:>6.1f}x")


if __name__ == "__main__":
    main()
