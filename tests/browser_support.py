"""The browser tests' world: a live server per database and test module (each module starts from a copy of the
demo data as `make run` loads it: migrate, load the demo, serve, with the import worker beside it), and Debian's
chromium driven by Playwright. The fixtures are registered in tests/conftest.py for every browser test module."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support import BACKENDS, copy_of_database, fresh_database

CHROMIUM = "/usr/bin/chromium"
# `make test` runs every module at once on every core: a page that answers in a second alone may take several
# then (an allocation's redirect on PostgreSQL once took more than Playwright's default 5 s).
expect.set_options(timeout=15_000)
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def flask(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=False, input=stdin,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


@dataclass(frozen=True)
class PreparedDemo:
    """A database with the demo loaded as `make run` loads it (migrated, `flask demo`) and its instance folder."""

    url: str
    instance: Path
    logins: dict[str, dict]


@pytest.fixture(scope="session")
def prepared_demos(tmp_path_factory: pytest.TempPathFactory, directory) -> Iterator[Callable[[str], PreparedDemo]]:
    """The demo prepared once per database and test process; each module's live server starts from a copy.

    Migrating and loading the demo in every browser module's server took 8-22 s each under `make test`'s load.
    """
    prepared: dict[str, PreparedDemo] = {}
    with contextlib.ExitStack() as stack:

        def demo_for(backend: str) -> PreparedDemo:
            if backend not in prepared:
                folder = tmp_path_factory.mktemp(f"demo-{backend}")
                url = stack.enter_context(fresh_database(backend, folder))
                env = _server_env(directory, url, folder / "instance")
                flask(env, "db", "upgrade")
                logins = {row["role"]: row for row in json.loads(flask(env, "demo", "--json"))}
                prepared[backend] = PreparedDemo(url, folder / "instance", logins)
            return prepared[backend]

        yield demo_for


def _server_env(directory, url: str, instance: Path) -> dict[str, str]:
    ldap_env = {key: str(value) for key, value in directory.settings().items()}
    env = {**os.environ, **ldap_env, "DATABASE_URL": url, "V6BEIAN_INSTANCE": str(instance)}
    env.pop("V6BEIAN_LANGUAGE", None)
    return env


@pytest.fixture(scope="module", params=BACKENDS)
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, directory, prepared_demos
) -> Iterator[dict]:
    demo = prepared_demos(request.param)
    folder = tmp_path_factory.mktemp(f"live-{request.param}")
    shutil.copytree(demo.instance, folder / "instance")
    with copy_of_database(request.param, demo.url, folder) as url:
        env = _server_env(directory, url, folder / "instance")
        logins = demo.logins
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port), "--no-reload"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # Uploads are loaded by the import worker, as under `make run`.
        worker = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "import", "worker"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310 (loopback)
                        if response.status == 200:
                            break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the live server did not start") from None
                    time.sleep(0.2)
            yield {"url": base, "logins": logins, "env": env}
        finally:
            for process in (server, worker):
                process.terminate()
                process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make test does this as root)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.console_errors = errors  # type: ignore[attr-defined]  (a test that expects an error page clears it)
    yield page
    context.close()
    # A Content-Security-Policy violation shows up as a console error.
    assert errors == []


def sign_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("[data-testid=login-submit]")


def sign_out(page: Page) -> None:
    page.get_by_test_id("logout").click()
