"""`make serve` migrates the configured database, serves it with gunicorn beside the job worker, and stops both on
a terminal's Ctrl-C without a crash report or a process left behind."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.browser_support import free_port
from tests.support import answer_when_up, make_in_terminal, press_ctrl_c


def test_make_serve_answers_readyz_and_ctrl_c_stops_gunicorn_and_the_worker(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "V6BEIAN_INSTANCE": str(tmp_path / "instance"), "PORT": str(port), "WORKERS": "2",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}"}  # fmt: skip
    env.pop("V6BEIAN_LANGUAGE", None)
    typescript = tmp_path / "typescript"
    with make_in_terminal("serve", env, typescript) as session:
        ready = answer_when_up(f"http://127.0.0.1:{port}/readyz", session, 60, "make serve")
        assert json.loads(ready) == {"status": "ok", "checks": {"database": "ok"}}
        deadline = time.monotonic() + 60
        while "consumer started" not in typescript.read_text(encoding="utf-8", errors="replace"):
            assert time.monotonic() < deadline, "the job worker did not start"  # it starts beside gunicorn
            time.sleep(0.2)
        press_ctrl_c(session)
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
