"""The ``demo`` command's registry: each domain package contributes a loader, run in registration order.

Loaders are idempotent: running the demo twice leaves one copy of everything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session


@dataclass
class DemoContext:
    """What loaders share: the passwords of demo accounts and lines to print at the end."""

    passwords: dict[str, str]
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # (username, role, password or note)


DemoLoader = Callable[[Session, DemoContext], None]
_loaders: list[tuple[str, DemoLoader]] = []


def register_demo_loader(name: str, loader: DemoLoader) -> None:
    if all(existing != name for existing, _ in _loaders):
        _loaders.append((name, loader))


def run_demo_loaders(session: Session, context: DemoContext) -> list[str]:
    for _name, loader in _loaders:
        loader(session, context)
    return [name for name, _ in _loaders]
