"""Who and where a change comes from, for audit events, without domain code importing Flask.

The web layer fills this in per request; CLI commands and jobs fill it in per unit of work.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    remote_addr: str | None = None
    request_id: str | None = None
    channel: str = "web"  # web, api, cli, job


_current: ContextVar[Origin] = ContextVar("v6beian_origin", default=Origin(channel="unknown"))  # noqa: B039 (frozen)


def current_origin() -> Origin:
    return _current.get()


def set_origin(origin: Origin) -> None:
    _current.set(origin)


@contextlib.contextmanager
def origin(value: Origin) -> Iterator[None]:
    token = _current.set(value)
    try:
        yield
    finally:
        _current.reset(token)
