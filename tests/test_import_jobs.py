"""Import jobs on a real queue's terms: a dead worker's batch is found and can be run again, lost jobs are queued
again, uploads are deleted when nothing needs them and capped per organization, and checking a file never holds
SQLite's write lock (other tenants' writes wait at most for a load, and are told to retry, never given a 500)."""

from __future__ import annotations

import io
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import Organization
from core.db import utcnow
from core.policy import OPERATOR
from importers.models import ImportBatch, ImportProblem
from importers.operations import Meter, start_batch
from importers.tasks import execute, lease, sweep
from importers.workflow import WORKER_STOPPED
from ipam.operations import add_prefix
from tests.support import csrf_token_in

BOOK = "地址段,使用单位名称\n2001:db8:1::/48,甲\n2001:db8:2::/48,乙\nbad,丙\n"


@pytest.fixture
def carrier(db: Session, create_org: Callable[..., Organization]) -> Organization:
    org = create_org(kind="carrier", code="jobs-carrier")
    add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=org)
    return org


def uploaded(app: Flask, name: str = "book.csv", text: str = BOOK) -> Path:
    path = Path(app.config["IMPORT_DIR"]) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def queued(db: Session, carrier: Organization, path: Path, **options: Any) -> ImportBatch:
    batch = start_batch(db, actor=OPERATOR, carrier=carrier, path=path, file_name=path.name, file_format="csv",
                        allow_partial=True, **options)  # fmt: skip
    db.commit()
    return batch


def test_a_batch_whose_worker_died_is_failed_and_can_be_run_again(
    app: Flask, db: Session, carrier: Organization, client: FlaskClient, create_user
) -> None:
    path = uploaded(app)
    batch = queued(db, carrier, path)
    batch.status, batch.started_at = "running", utcnow()  # claimed by a worker that was then killed
    db.commit()
    progress = Path(app.config["IMPORT_DIR"]) / f"{batch.id}.progress.json"
    progress.write_text('{"rows": 1}', encoding="utf-8")
    with app.app_context():
        assert sweep()["failed"] == 1
    db.expire_all()
    assert (batch.status, batch.message) == ("failed", WORKER_STOPPED)
    assert path.exists() and not progress.exists()
    from tests.conftest import post_form

    user = create_user(role="carrier", organization=carrier)
    post_form(client, "/login", {"username": user.username, "password": "correct horse battery staple"})
    page = client.get(f"/imports/{batch.id}").get_data(as_text=True)
    assert 'data-testid="rerun"' in page
    again = client.post(f"/imports/{batch.id}/run_again", data={"csrf_token": csrf_token_in(page)})
    assert again.status_code == 302
    rerun = db.scalars(select(ImportBatch).where(ImportBatch.id > batch.id)).one()
    assert (rerun.status, rerun.created) == ("loaded", 2)
    assert not path.exists() and rerun.file_deleted_at is not None


def test_a_running_batch_whose_worker_lives_is_left_alone(app: Flask, db: Session, carrier: Organization) -> None:
    batch = queued(db, carrier, uploaded(app))
    batch.status = "running"
    db.commit()
    from core.extensions import db as database

    with app.app_context(), database.engine.connect() as other, lease(other, batch.id) as held:
        assert held
        assert sweep()["failed"] == 0
    db.expire_all()
    assert batch.status == "running"


def test_a_queued_batch_whose_job_was_lost_is_queued_again(app: Flask, db: Session, carrier: Organization) -> None:
    batch = queued(db, carrier, uploaded(app))
    batch.created_at = utcnow() - timedelta(minutes=app.config["IMPORT_STALE_MINUTES"] + 1)
    db.commit()
    with app.app_context():
        assert sweep()["requeued"] == 1  # jobs run at once in the tests: it loads now
    db.expire_all()
    assert (batch.status, batch.created) == ("loaded", 2)


def test_uploads_are_deleted_when_nothing_needs_them_and_reports_stay(
    app: Flask, db: Session, carrier: Organization
) -> None:
    path = uploaded(app)
    check = queued(db, carrier, path, dry_run=True)
    with app.app_context():
        execute(check.id, None, Meter(check.size))
    db.expire_all()
    assert check.status == "previewed" and path.exists()  # it waits for its confirmation
    load = queued(db, carrier, path)
    with app.app_context():
        execute(load.id, None, Meter(load.size))
    db.expire_all()
    assert load.status == "loaded" and not path.exists()
    assert check.file_deleted_at is not None and load.file_deleted_at is not None and load.sha256
    assert db.scalars(select(ImportProblem.line).where(ImportProblem.batch_id == load.id)).all() == [4]


def test_a_checked_file_that_waits_too_long_is_deleted(app: Flask, db: Session, carrier: Organization) -> None:
    path = uploaded(app)
    check = queued(db, carrier, path, dry_run=True)
    with app.app_context():
        execute(check.id, None, Meter(check.size))
    db.expire_all()
    check.finished_at = utcnow() - timedelta(hours=app.config["IMPORT_PREVIEW_HOURS"] + 1)
    db.commit()
    with app.app_context():
        assert sweep()["deleted"] == 1
    assert not path.exists()


def test_a_file_named_on_the_command_line_is_never_deleted(
    app: Flask, db: Session, carrier: Organization, tmp_path: Path
) -> None:
    mine = tmp_path / "operator-book.csv"
    mine.write_text(BOOK, encoding="utf-8")
    batch = queued(db, carrier, mine)
    with app.app_context():
        execute(batch.id, None, Meter(batch.size))
    assert mine.exists()


def test_uploads_are_capped_per_organization_per_day_and_in_bytes_kept(
    app: Flask, client: FlaskClient, db: Session, carrier: Organization, create_user
) -> None:
    from accounts.operations import create_token

    user = create_user(role="carrier", organization=carrier)
    _, secret = create_token(db, user, name="quota", days=5, read_only=False, actor=user)
    db.commit()
    headers = {"Authorization": f"Bearer {secret}"}

    def upload(name: str) -> Any:
        return client.post("/api/v1/imports", headers=headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(BOOK.encode()), name), "dry_run": "true"})  # fmt: skip

    app.config["IMPORT_DAILY_UPLOADS"] = 2
    assert upload("one.csv").status_code in (201, 202) and upload("two.csv").status_code in (201, 202)
    refused = upload("three.csv")
    assert refused.status_code == 429
    body = refused.get_json()["error"]
    assert body["code"] == "upload_quota_exceeded" and "file" in body["fields"]
    app.config["IMPORT_DAILY_UPLOADS"] = 50
    app.config["IMPORT_PENDING_MEGABYTES"] = 0
    assert upload("four.csv").status_code == 429
    assert len(list(Path(app.config["IMPORT_DIR"]).glob("*four.csv"))) == 0


# -- SQLite's write lock -----------------------------------------------------------------------------------------


@pytest.fixture
def real_sqlite_app(tmp_path: Path) -> Iterator[Flask]:
    """An application on its own SQLite file, every request and job in its own transactions (no test wrapper)."""
    from app import create_app
    from core import migrate
    from core.extensions import db as database

    url = f"sqlite:///{tmp_path / 'locks.db'}"
    migrate.upgrade(url)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "locks-" + "k" * 40, "LOG_LEVEL": "WARNING",
                      "IMPORT_DIR": str(tmp_path / "imports"), "SQLITE_BUSY_TIMEOUT_SECONDS": 1})  # fmt: skip
    yield app
    database.engine.dispose()


def test_a_writer_that_cannot_get_the_lock_is_told_to_retry(real_sqlite_app: Flask, tmp_path: Path) -> None:
    from accounts.operations import create_organization, create_token, create_user
    from core.extensions import db as database

    app = real_sqlite_app
    with app.app_context(), database.session_scope() as session:
        org = create_organization(session, actor=OPERATOR, kind="registry", code="lock-registry", name="注册中心")
        user = create_user(session, actor=OPERATOR, username="locker", organization=org, role="carrier",
                           password="correct horse battery staple")  # fmt: skip
        _, secret = create_token(session, user, name="t", days=5, read_only=False, actor=user)
    holder = sqlite3.connect(str(tmp_path / "locks.db"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        client = app.test_client()
        headers = {"Authorization": f"Bearer {secret}"}
        busy = client.post("/api/v1/prefixes", headers=headers,
                           json={"prefix": "2001:db8::/32", "kind": "aggregate", "holder": "lock-registry"})  # fmt: skip
        assert busy.status_code == 503 and busy.headers["Retry-After"]
        assert busy.get_json()["error"]["code"] == "busy"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    done = client.post("/api/v1/prefixes", headers=headers,
                       json={"prefix": "2001:db8::/32", "kind": "aggregate", "holder": "lock-registry"})  # fmt: skip
    assert done.status_code == 201


def test_checking_a_file_leaves_the_write_lock_to_others(real_sqlite_app: Flask, tmp_path: Path) -> None:
    from core.extensions import db as database

    app = real_sqlite_app
    with app.app_context(), database.session_scope() as session:
        org = Organization(kind="carrier", code="check-carrier", name="运营商")
        session.add(org)
        session.flush()
        add_prefix(session, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=org)
        rows = "".join(f"2001:db8:{i:x}::/48,客户{i}\n" for i in range(1, 2000))
        path = tmp_path / "big.csv"
        path.write_text("地址段,使用单位名称\n" + rows, encoding="utf-8")
        batch_id = start_batch(session, actor=OPERATOR, carrier=org, path=path, file_name="big.csv",
                               file_format="csv").id  # fmt: skip
    writes: list[str] = []

    def meanwhile(meter: Meter) -> None:
        if meter.phase == "checking" and not writes:
            other = sqlite3.connect(str(tmp_path / "locks.db"), isolation_level=None, timeout=0)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("UPDATE organization SET contact_name = 'x' WHERE code = 'check-carrier'")
                other.execute("COMMIT")
                writes.append("written")
            except sqlite3.OperationalError as exc:
                writes.append(str(exc))
            finally:
                other.close()

    def work() -> None:
        with app.app_context():
            execute(batch_id, None, Meter(path.stat().st_size, meanwhile))

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    with app.app_context(), database.session_scope() as session:
        batch = session.get(ImportBatch, batch_id)
        assert (batch.status, batch.created) == ("loaded", 1999)
    assert writes == ["written"]


def test_a_holder_named_only_on_rejected_lines_is_not_created(app: Flask, db: Session, carrier: Organization) -> None:
    from importers.operations import run_batch

    book = uploaded(app, "holders.csv", "地址段,使用单位名称\n2001:db8:1::/48,已知甲\n2001:db9::/48,只在错行的乙\n")
    batch = queued(db, carrier, book)
    run_batch(db, batch, actor=OPERATOR, meter=Meter(batch.size))
    assert (batch.created, batch.errors, batch.holders_created) == (1, 1, 1)
    names = set(db.scalars(select(Organization.name).where(Organization.verified.is_(False))))
    assert names == {"已知甲"}
