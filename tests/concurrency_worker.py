"""A separate process allocating from one parent, for the concurrency test (importable by spawn)."""

from __future__ import annotations

from core.policy import OPERATOR
from ipam.space import Strategy


def allocate_many(
    database_url: str, parent_network: str, worker: int, count: int, length: int
) -> tuple[int, int, list[str]]:
    from app import create_app
    from core.extensions import db
    from ipam.errors import SpaceExhausted
    from ipam.operations import AllocationRequest, allocate_prefixes
    from ipam.queries import get_prefix
    from ipam.space import parse_net

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "concurrency-" + "k" * 40, "LOG_LEVEL": "WARNING"})
    allocated, exhausted, other_errors = 0, 0, []
    strategies = list(Strategy)
    with app.app_context():
        for i in range(count):
            strategy = strategies[(worker + i) % len(strategies)]
            try:
                with db.session_scope() as session:
                    parent = get_prefix(session, parse_net(parent_network))
                    assert parent is not None
                    allocate_prefixes(
                        session, parent, AllocationRequest(length, 1, strategy), holder=None, actor=OPERATOR
                    )
                allocated += 1
            except SpaceExhausted:
                exhausted += 1
            except Exception as exc:  # reported to the test, which fails on any
                other_errors.append(f"{type(exc).__name__}: {exc}")
    db.engine.dispose()
    return allocated, exhausted, other_errors
