"""Concurrent allocations never hand out the same space: 8 processes, 50 allocations each, one parent."""

from __future__ import annotations

import itertools
import multiprocessing
from pathlib import Path

import pytest
from sqlalchemy import select

from app import create_app
from core import migrate
from core.extensions import db
from core.policy import OPERATOR
from ipam import freespace
from ipam.models import Prefix
from ipam.operations import add_prefix
from ipam.queries import get_prefix
from ipam.space import free_blocks, parse_net
from tests.concurrency_worker import allocate_many
from tests.support import BACKENDS, fresh_database

WORKERS, EACH = 8, 50
PARENT, LENGTH = "2001:db8:7700::/48", 56  # 256 slots for 400 requests: the space runs out on the way


@pytest.mark.parametrize("backend", BACKENDS)
def test_parallel_allocations_never_overlap(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "concurrency-" + "k" * 40, "LOG_LEVEL": "WARNING"})
        with app.app_context(), db.session_scope() as session:
            add_prefix(session, PARENT, actor=OPERATOR, kind="aggregate", holder=None)
        db.engine.dispose()

        with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
            results = pool.starmap(allocate_many, [(url, PARENT, w, EACH, LENGTH) for w in range(WORKERS)])

        assert [error for _a, _e, errors in results for error in errors] == []
        allocated = sum(a for a, _e, _errors in results)
        exhausted = sum(e for _a, e, _errors in results)
        assert allocated == 256 and exhausted == WORKERS * EACH - 256

        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "concurrency-" + "k" * 40, "LOG_LEVEL": "WARNING"})
        with app.app_context(), db.session_scope() as session:
            parent = get_prefix(session, parse_net(PARENT))
            children = session.scalars(select(Prefix).where(Prefix.parent_id == parent.id)).all()
            nets = sorted(c.net for c in children)
            assert len(set(nets)) == 256
            assert all(a.last < b.start for a, b in itertools.pairwise(nets))
            assert freespace.all_blocks(session, parent.id, parent.net) == free_blocks(parent.net, nets) == []
        db.engine.dispose()
