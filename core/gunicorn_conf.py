"""gunicorn's settings for v6beian: ``gunicorn --config python:core.gunicorn_conf`` (what ``make serve`` runs).

They follow the application's own configuration (``instance/config.py`` and the environment), so that gunicorn and
the app believe the same proxies and write the same log format. The command line and ``GUNICORN_CMD_ARGS`` still
override any of them (``--workers 4``).
"""

from __future__ import annotations

import os
import signal
from typing import Any

from flask import Flask

from core.config import ConfigurationError, load_config

MAX_WORKERS = 12


def default_workers(cores: int) -> int:
    """Two sync workers a core and one more (each waits on the database part of its time), at most MAX_WORKERS:
    every worker costs about 100 MB and a database connection, and more would only queue on the database."""
    return min(2 * cores + 1, MAX_WORKERS)


def listen_address(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _app_config() -> Any:
    # The same instance folder and precedence as create_app, without building the app in the master process.
    holder = Flask("app", instance_path=os.environ.get("V6BEIAN_INSTANCE") or None, instance_relative_config=True)
    try:
        load_config(holder)
    except ConfigurationError as exc:
        raise SystemExit(f"v6beian: configuration error: {exc}") from None
    return holder.config


_config = _app_config()

wsgi_app = "app:create_app()"
bind = [listen_address(os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000"))]
workers = int(os.environ.get("WEB_CONCURRENCY") or default_workers(len(os.sched_getaffinity(0))))
# A request may take this long (a large export, an upload's check) before its worker is replaced; on a restart
# or Ctrl-C, requests in flight get graceful_timeout to finish.
timeout = 120
graceful_timeout = 30
# X-Forwarded-Proto decides the scheme (secure cookies, redirects): believed only when TRUSTED_PROXIES says a
# proxy is in front, as the app's ProxyFix believes X-Forwarded-For only then. Then only that proxy may reach us.
forwarded_allow_ips = "*" if _config["TRUSTED_PROXIES"] else ""
# gunicorn's control socket (``gunicornc``) sits at one path in the home folder, which a second server on the
# machine (another port, a test) would take over; signals (HUP, TERM, TTIN) do the same work.
control_socket_disable = True
accesslog = "-"
# Client (after ProxyFix), request line, status, bytes, milliseconds, referrer, agent and the app's request id,
# which also names the request in the app's own log lines.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(f)s" "%(a)s" %({x-request-id}o)s'


def on_starting(server: Any) -> None:
    """Ctrl-C at a terminal (``make serve``) stops gunicorn as SIGTERM does: requests in flight finish within
    graceful_timeout (a second Ctrl-C hurries it). gunicorn's own SIGINT aborts them mid-response."""
    server.handle_int = server.handle_term  # the arbiter looks its handlers up by signal name


def post_worker_init(worker: Any) -> None:
    # Ctrl-C reaches every process of the terminal's group: a worker leaves it to the master, which stops it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


if _config["LOG_FORMAT"] == "json":
    # gunicorn's own lines and its access log go through the root logger, so every line is one JSON object.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "core.logging.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"level": _config["LOG_LEVEL"], "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
        },
    }
