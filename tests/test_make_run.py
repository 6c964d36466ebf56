"""`make run` stops as a terminal's Ctrl-C asks: the server and the import worker both end, and nothing is killed
in a way that reports a crash ("Segmentation fault", "Terminated")."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.browser_support import free_port
from tests.support import answer_when_up, make_in_terminal, press_ctrl_c


def test_ctrl_c_stops_the_server_and_the_worker_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "V6BEIAN_INSTANCE": str(tmp_path / "instance"), "PORT": str(port),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}"}  # fmt: skip
    env.pop("V6BEIAN_LANGUAGE", None)
    with make_in_terminal("run", env, tmp_path / "typescript") as session:
        answer_when_up(f"http://127.0.0.1:{port}/healthz", session, 120, "make run")
        time.sleep(1)  # the worker is up beside it
        press_ctrl_c(session)
    transcript = (tmp_path / "typescript").read_text(encoding="utf-8", errors="replace")
    assert "Segmentation fault" not in transcript and "Terminated" not in transcript
    assert "Consumer exiting" in transcript  # the worker stopped in order
    leftover = subprocess.run(["pgrep", "-f", f"--port {port}"], capture_output=True, text=True, check=False)
    assert leftover.stdout.strip() == ""
