"""`make serve` migrates the configured database, serves it with gunicorn beside the job worker, and stops both on
a terminal's Ctrl-C without a crash report or a process left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.browser_support import free_port

ROOT = Path(__file__).resolve().parent.parent


def test_make_serve_answers_readyz_and_ctrl_c_stops_gunicorn_and_the_worker(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "V6BEIAN_INSTANCE": str(tmp_path / "instance"), "PORT": str(port), "WORKERS": "2",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}"}  # fmt: skip
    env.pop("V6BEIAN_LANGUAGE", None)
    # `script` gives make a terminal, so ^C reaches the whole foreground group as it does for a person.
    session = subprocess.Popen(
        ["script", "-qfec", "make serve", str(tmp_path / "typescript")], cwd=ROOT, env=env,
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                    assert answer.status == 200 and json.load(answer) == {"status": "ok", "checks": {"database": "ok"}}
                    break
            except OSError:
                assert session.poll() is None and time.monotonic() < deadline, "make serve did not start"
                time.sleep(0.2)
        typescript = tmp_path / "typescript"
        while "consumer started" not in typescript.read_text(encoding="utf-8", errors="replace"):
            assert time.monotonic() < deadline, "the job worker did not start"  # it starts beside gunicorn
            time.sleep(0.2)
        assert session.stdin is not None
        session.stdin.write(b"\x03")
        session.stdin.flush()
        session.wait(timeout=30)
    finally:
        if session.poll() is None:
            os.killpg(session.pid, signal.SIGKILL)
    transcript = typescript.read_text(encoding="utf-8", errors="replace")
    for crash in ("Segmentation fault", "Terminated", "Traceback", "Error 1"):
        assert crash not in transcript
    assert "Booting worker" in transcript and "Shutting down: Master" in transcript
    assert "Consumer exiting" in transcript  # the job worker stopped in order
    assert _processes_with(f"V6BEIAN_INSTANCE={tmp_path / 'instance'}") == []


def _processes_with(variable: str) -> list[int]:
    """The processes whose environment holds ``variable`` (``NAME=value``): what make serve started."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if variable.encode() in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue  # ended meanwhile, or not ours to read
    return found
