"""`make loadtest`'s scenario runs without errors: every simulated person's requests, the import meanwhile and the
registry check afterwards, on a tiny world for a few seconds (PostgreSQL only, as the load test itself)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import BACKENDS

ROOT = Path(__file__).resolve().parent.parent

# Importing locust here would patch this process with gevent: the scenario runs in its own processes.
pytestmark = pytest.mark.skipif("postgresql" not in BACKENDS, reason="the load test runs on PostgreSQL only")

TINY = {
    "LOADTEST_PREFIXES": "2000", "LOADTEST_USERS": "3", "LOADTEST_SPAWN_RATE": "3", "LOADTEST_DURATION": "5s",
    "LOADTEST_IMPORT_ROWS": "300", "LOADTEST_WORKERS": "2",
}  # fmt: skip


def test_every_simulated_user_works_without_errors_and_the_registry_stays_consistent() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadtest.run"], cwd=ROOT, env={**os.environ, **TINY},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    report = done.stdout[done.stdout.find("request kind") :]
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "GET page: " in report and "POST api: allocate" in report, report
    assert "errors: 0" in report
    assert "import: batch 1 loaded" in report
    assert "db check: passed" in report
