"""Imports are checked with the registry's one rule set (``ipam.rules``), like an allocation: a pool policy the
carrier's book breaks is a warning that is counted and listed (the book may predate the policy), an error where
the pool is strict; and ipam's change set is the only thing that writes the registry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import Organization
from core.policy import OPERATOR
from importers.models import ImportBatch, ImportProblem
from ipam.errors import PolicyViolation
from ipam.operations import AllocationRequest, add_prefix, allocate_prefixes, parse_prefix
from ipam.queries import get_prefix
from tests.support import run_import

BOOK = "地址段,使用单位名称\n2001:db8:4000::/50,甲\n2001:db8:8000::/36,乙\n2001:db8:100::/40,丙\n"


@pytest.fixture
def carrier(db: Session, create_org: Callable[..., Organization]) -> Organization:
    org = create_org(kind="carrier", code="rules-carrier")
    add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=org, child_min_len=40, child_max_len=64,
               nibble_aligned=True)  # fmt: skip
    return org


def load(db: Session, carrier: Organization, tmp_path: Path, **options: Any) -> ImportBatch:
    path = tmp_path / "book.csv"
    path.write_text(BOOK, encoding="utf-8")
    return run_import(db, carrier, path, "csv", **options)


def problems(db: Session, batch: ImportBatch) -> list[tuple[int, str, str]]:
    rows = db.scalars(select(ImportProblem).where(ImportProblem.batch_id == batch.id).order_by(ImportProblem.line))
    return [(p.line, p.severity, p.text()) for p in rows]


def test_allocation_refuses_what_the_pool_policy_forbids(db: Session, carrier: Organization) -> None:
    pool = get_prefix(db, parse_prefix("2001:db8::/32"))
    assert pool is not None
    for length in (50, 36):
        with pytest.raises(PolicyViolation):
            allocate_prefixes(db, pool, AllocationRequest(length), holder=carrier, actor=OPERATOR)


def test_an_import_against_the_pool_policy_loads_with_a_warning_per_row(
    db: Session, carrier: Organization, tmp_path: Path
) -> None:
    batch = load(db, carrier, tmp_path)
    assert (batch.status, batch.created, batch.errors, batch.warnings) == ("loaded", 3, 0, 2)
    listed = problems(db, batch)
    assert [(line, severity) for line, severity, _text in listed] == [(2, "warning"), (3, "warning")]
    assert "nibble-aligned" in listed[0][2] and "/40" in listed[1][2]
    assert get_prefix(db, parse_prefix("2001:db8:4000::/50")) is not None


def test_a_strict_pool_refuses_the_same_rows(db: Session, carrier: Organization, tmp_path: Path) -> None:
    pool = get_prefix(db, parse_prefix("2001:db8::/32"))
    assert pool is not None
    pool.pool_strict = True
    db.flush()
    batch = load(db, carrier, tmp_path)
    assert (batch.status, batch.errors, batch.warnings) == ("rejected", 2, 0)
    assert [(line, severity) for line, severity, _text in problems(db, batch)] == [(2, "error"), (3, "error")]
    assert get_prefix(db, parse_prefix("2001:db8:100::/40")) is None


def test_the_preview_counts_and_lists_warnings_before_anything_loads(
    db: Session, carrier: Organization, tmp_path: Path
) -> None:
    batch = load(db, carrier, tmp_path, dry_run=True)
    assert (batch.status, batch.warnings, batch.created) == ("previewed", 2, 3)
    assert get_prefix(db, parse_prefix("2001:db8:4000::/50")) is None


def test_only_ipam_writes_the_registry() -> None:
    """No module outside ipam inserts, updates or deletes prefixes or free blocks."""
    import re

    writers = re.compile(r"(insert|update|delete)\((Prefix|FreeBlock)\b|(Prefix|FreeBlock)\.__table__\.(insert|update|delete)|"
                         r"bulk_insert\([^)]*(Prefix|FreeBlock)\.__table__")  # fmt: skip
    root = Path(__file__).resolve().parent.parent
    offenders = [
        str(path.relative_to(root)) for package in ("accounts", "importers", "filing", "core")
        for path in (root / package).rglob("*.py") if writers.search(path.read_text(encoding="utf-8"))
    ]  # fmt: skip
    assert offenders == []


def test_the_page_and_the_report_list_warnings_in_the_readers_language(
    db: Session,
    carrier: Organization,
    tmp_path: Path,
    client: Any,
    create_user: Callable[..., Any],
    login_as: Callable[..., Any],
) -> None:
    batch = load(db, carrier, tmp_path)
    db.commit()
    login_as(create_user(role="carrier", organization=carrier))
    page = client.get(f"/imports/{batch.id}").get_data(as_text=True)
    assert page.count('data-severity="warning"') == 2 and "<td>地址段</td>" in page
    report = client.get(f"/imports/{batch.id}/problems.csv").get_data(as_text=True)
    assert report.lstrip("\ufeff").splitlines()[0].endswith("严重程度,问题")
    assert report.count(",地址段,") == 2 and report.count("警告") == 2
