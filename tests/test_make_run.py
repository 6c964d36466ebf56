"""`make run` stops as a terminal's Ctrl-C asks: the server and the import worker both end, and nothing is killed
in a way that reports a crash ("Segmentation fault", "Terminated")."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ctrl_c_stops_the_server_and_the_worker_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "V6BEIAN_INSTANCE": str(tmp_path / "instance"), "PORT": str(port),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}"}  # fmt: skip
    env.pop("V6BEIAN_LANGUAGE", None)
    # `script` gives make a terminal, so ^C reaches the whole foreground group as it does for a person.
    session = subprocess.Popen(
        ["script", "-qfec", "make run", str(tmp_path / "typescript")], cwd=ROOT, env=env,
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                assert session.poll() is None and time.monotonic() < deadline, "make run did not start"
                time.sleep(0.5)
        time.sleep(1)  # the worker is up beside it
        assert session.stdin is not None
        session.stdin.write(b"\x03")
        session.stdin.flush()
        session.wait(timeout=30)
    finally:
        if session.poll() is None:
            os.killpg(session.pid, signal.SIGKILL)
    transcript = (tmp_path / "typescript").read_text(encoding="utf-8", errors="replace")
    assert "Segmentation fault" not in transcript and "Terminated" not in transcript
    assert "Consumer exiting" in transcript  # the worker stopped in order
    leftover = subprocess.run(["pgrep", "-f", f"--port {port}"], capture_output=True, text=True, check=False)
    assert leftover.stdout.strip() == ""
