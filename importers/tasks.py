"""Import jobs: run a batch in a worker (Huey) or right away, recover batches whose worker died, and delete
uploads nothing needs any more.

The queue is Huey: a SQLite file under the import directory by default (zero set-up, one machine) and Redis when
``REDIS_URL`` is set (several web machines). ``flask import worker`` runs the consumer; ``make run`` starts one.

A job runs in three transactions on one connection: it claims the batch (queued → running), checks the file
(reading only: temporary tables hold the plan, so SQLite's write lock is free for everyone else meanwhile), then
records the result and loads it in one short write transaction. While it runs it holds a lease that dies with its
process: a PostgreSQL session lock, or on SQLite (one machine) a lock on a file beside the upload. A running batch
whose lease is free has lost its worker: the sweep marks it failed and keeps its file so that it can be run again.
Progress is written to a small JSON file beside the upload, read by the batch page.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from huey import Huey, RedisHuey, SqliteHuey, crontab
from sqlalchemy import Connection, event, select, text, update
from sqlalchemy.orm import Session

from accounts.models import User
from core.context import Origin, origin
from core.db import utcnow
from core.extensions import db
from core.workflow import IllegalTransition
from importers import staging
from importers.models import BatchStatus, ImportBatch
from importers.operations import (
    Meter,
    check_batch,
    confirm_batch,
    fail_batch,
    record_batch,
    run_batch_again,
    start_running,
    stop_batch,
)
from importers.permissions import IMPORT_WORKER
from importers.records import N_
from importers.workflow import WORKER_STOPPED

log = logging.getLogger("v6beian.imports")

LEASE_NAMESPACE = 7207  # first key of the PostgreSQL advisory locks that hold running batches


def init_app(app: Flask) -> None:
    directory = Path(app.config["IMPORT_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    immediate = bool(app.config["IMPORT_JOBS_IMMEDIATE"])
    queue: Huey
    if app.config["REDIS_URL"] and not immediate:
        queue = RedisHuey("v6beian-imports", url=app.config["REDIS_URL"])
    else:
        queue = SqliteHuey("v6beian-imports", filename=str(directory / "queue.db"), immediate=immediate)

    @queue.task(context=False)
    def run_import(batch_id: int, actor_id: int | None) -> None:
        with app.app_context():
            execute(batch_id, actor_id)

    @queue.periodic_task(crontab(minute="*"))
    def sweep_imports() -> None:
        with app.app_context():
            sweep()

    app.extensions["import_queue"] = queue
    app.extensions["import_task"] = run_import


def continue_batch(session: Session, earlier: ImportBatch, action: str, *, actor: Any) -> ImportBatch:
    """Confirm a check (``"confirm"``) or run a stopped import again (``"run_again"``): the new batch is queued
    when the transaction commits."""
    operation = confirm_batch if action == "confirm" else run_batch_again
    later = operation(session, earlier, actor=actor)
    enqueue_after_commit(session, later, actor)
    return later


def enqueue_after_commit(session: Session, batch: ImportBatch, actor: User | None) -> None:
    """Queue the batch once the request that created it has committed (the worker must see it)."""
    task = current_app.extensions["import_task"]
    batch_id, actor_id = batch.id, actor.id if actor is not None else None

    def queue(_session: Session) -> None:
        task(batch_id, actor_id)

    event.listen(session, "after_commit", queue, once=True)


def progress_path(batch_id: int) -> Path:
    return Path(current_app.config["IMPORT_DIR"]) / f"{batch_id}.progress.json"


def read_progress(batch_id: int) -> dict[str, Any] | None:
    try:
        return json.loads(progress_path(batch_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _progress_writer(batch_id: int):  # type: ignore[no-untyped-def]
    path = progress_path(batch_id)

    def write(meter: Meter) -> None:
        data = {"phase": meter.phase, "rows": meter.rows, "rate": round(meter.rate), "fraction": meter.fraction}
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, path)

    return write


# -- leases ------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def lease(connection: Connection, batch_id: int) -> Iterator[bool]:
    """Hold the batch's lease while the job runs; yields False when another worker holds it."""
    if connection.dialect.name == "postgresql":
        key = {"namespace": LEASE_NAMESPACE, "batch": batch_id}
        held = bool(_session_lock(connection, "SELECT pg_try_advisory_lock(:namespace, :batch)", key))
        try:
            yield held
        finally:
            if held:
                _session_lock(connection, "SELECT pg_advisory_unlock(:namespace, :batch)", key)
        return
    with _lease_file(batch_id) as held:
        yield held


def _session_lock(connection: Connection, statement: str, key: dict[str, int]) -> Any:
    """Take or give back a PostgreSQL session lock; it outlives transactions, so none is left open for it (one
    already open, the caller's, is left as it is)."""
    opened = not connection.in_transaction()
    value = connection.scalar(text(statement), key)
    if opened:
        connection.commit()
    return value


@contextlib.contextmanager
def _lease_file(batch_id: int) -> Iterator[bool]:
    path = Path(current_app.config["IMPORT_DIR"]) / f"{batch_id}.lease"
    handle = path.open("a+b")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


def _lease_free(connection: Connection, batch_id: int) -> bool:
    """Nobody holds the batch's lease: a worker running it would."""
    with lease(connection, batch_id) as held:
        return held


# -- running a batch ------------------------------------------------------------------------------------------


def execute(batch_id: int, actor_id: int | None, meter: Meter | None = None) -> None:
    """Run one queued batch; an unexpected failure is recorded on the batch (nothing else is changed)."""
    with origin(Origin(channel="job")), db.pinned_connection() as connection, lease(connection, batch_id) as held:
        if not held:
            return  # another worker runs it
        try:
            with db.session_scope(connection=connection) as session:
                if not _claim(session, batch_id):
                    return
            with db.session_scope(connection=connection, write=False) as session:
                batch, actor = _load(session, batch_id, actor_id)
                meter = meter or Meter(batch.size, _progress_writer(batch_id))
                checked = check_batch(session, batch, actor=actor, meter=meter)
            with db.session_scope(connection=connection) as session:
                batch, actor = _load(session, batch_id, actor_id)
                record_batch(session, batch, checked, actor=actor, meter=meter)
        except Exception as exc:
            log.exception("import batch %s failed", batch_id)
            _drop_leftovers(connection)
            with db.session_scope(connection=connection) as session:
                batch = session.get(ImportBatch, batch_id)
                if batch is not None and batch.status_enum is BatchStatus.RUNNING:
                    fail_batch(session, batch, actor=IMPORT_WORKER, params={"error": _describe(exc)},
                               message=N_("the import stopped unexpectedly (%(error)s); nothing was changed"))  # fmt: skip
        finally:
            progress_path(batch_id).unlink(missing_ok=True)
        with db.session_scope(connection=connection) as session:
            release_upload(session, batch_id)


def _claim(session: Session, batch_id: int) -> bool:
    """queued → running, once: of two workers given the same batch, one runs it (the workflow's conditional
    update lets only one move it)."""
    batch = session.get(ImportBatch, batch_id)
    if batch is None or batch.status_enum is not BatchStatus.QUEUED:
        return False
    try:
        start_running(session, batch, actor=IMPORT_WORKER, worker=f"{socket.gethostname()}:{os.getpid()}")
    except IllegalTransition:
        return False
    return True


def _load(session: Session, batch_id: int, actor_id: int | None) -> tuple[ImportBatch, Any]:
    """The batch, and who runs it: the person who started it, or the worker for the operator's imports."""
    batch = session.get(ImportBatch, batch_id)
    assert batch is not None
    user = session.get(User, actor_id) if actor_id is not None else None
    return batch, user if user is not None else IMPORT_WORKER


def _drop_leftovers(connection: Connection) -> None:
    """The check's temporary tables outlive a failed load on this connection: drop them in a fresh transaction."""
    with contextlib.suppress(Exception), db.session_scope(connection=connection, write=False) as session:
        staging.drop_tables(session.connection())


def _describe(exc: Exception) -> str:
    from sqlalchemy.exc import IntegrityError

    if isinstance(exc, IntegrityError):
        return "another change took the same space at the same moment; run the import again"
    return type(exc).__name__


# -- uploads -----------------------------------------------------------------------------------------------------


def is_upload(batch: ImportBatch) -> bool:
    """The batch's file was uploaded (kept in IMPORT_DIR), not named on the command line (the operator's own)."""
    if not batch.stored_path:
        return False
    return Path(batch.stored_path).parent.resolve() == Path(current_app.config["IMPORT_DIR"]).resolve()


def upload_needed(batch: ImportBatch) -> bool:
    """A checked file waits for its confirmation; a batch whose worker died may be run again."""
    status = batch.status_enum
    if not status.finished:
        return True
    if batch.next_batch_id is not None:
        return False  # a later batch took the file over
    if status is BatchStatus.PREVIEWED and (batch.errors == 0 or batch.allow_partial):
        return True
    return status is BatchStatus.FAILED and batch.message == WORKER_STOPPED


def release_upload(session: Session, batch_id: int, *, force: bool = False) -> None:
    """Delete the batch's uploaded file once nothing needs it (``force``: it expired); every batch of the file
    keeps its checksum and its report."""
    batch = session.get(ImportBatch, batch_id)
    if batch is None or batch.file_deleted_at is not None or not is_upload(batch):
        return
    if upload_needed(batch) and not force:
        return
    assert batch.stored_path is not None
    Path(batch.stored_path).unlink(missing_ok=True)
    (Path(current_app.config["IMPORT_DIR"]) / f"{batch.id}.lease").unlink(missing_ok=True)
    session.execute(
        update(ImportBatch)
        .where(ImportBatch.stored_path == batch.stored_path, ImportBatch.file_deleted_at.is_(None))
        .values(file_deleted_at=utcnow())
    )
    log.info("upload of import batch %s deleted (%s)", batch_id, batch.file_name)


# -- the sweep ---------------------------------------------------------------------------------------------------


def sweep() -> dict[str, int]:
    """Fail running batches whose worker died, queue again batches whose job was lost, and delete uploads that
    waited longer than IMPORT_PREVIEW_HOURS. Runs every minute in the worker and at its start."""
    counts = {"failed": 0, "requeued": 0, "deleted": 0}
    now = utcnow()
    with origin(Origin(channel="job")), db.pinned_connection() as connection:
        with db.session_scope(connection=connection) as session:
            for batch in session.scalars(select(ImportBatch).where(ImportBatch.status == BatchStatus.RUNNING.value)):
                if _lease_free(connection, batch.id):
                    log.warning("import batch %s lost its worker %s; marked failed", batch.id, batch.worker)
                    stop_batch(session, batch, actor=IMPORT_WORKER)
                    progress_path(batch.id).unlink(missing_ok=True)
                    counts["failed"] += 1
        stale = now - timedelta(minutes=current_app.config["IMPORT_STALE_MINUTES"])
        pending = _queued_batch_ids()
        with db.session_scope(connection=connection, write=False) as session:
            lost = list(session.execute(select(ImportBatch.id, ImportBatch.actor_id).where(
                ImportBatch.status == BatchStatus.QUEUED.value, ImportBatch.created_at < stale)))  # fmt: skip
        for batch_id, actor_id in lost:
            if pending is not None and batch_id not in pending:
                current_app.extensions["import_task"](batch_id, actor_id)
                counts["requeued"] += 1
        expired = now - timedelta(hours=current_app.config["IMPORT_PREVIEW_HOURS"])
        with db.session_scope(connection=connection) as session:
            waiting = session.scalars(select(ImportBatch.id).where(
                ImportBatch.file_deleted_at.is_(None), ImportBatch.finished_at < expired))  # fmt: skip
            for batch_id in list(waiting):
                release_upload(session, batch_id, force=True)
                counts["deleted"] += 1
    return counts


def _queued_batch_ids() -> set[int] | None:
    """Batches whose job waits in the queue (None when the queue cannot tell)."""
    queue: Huey = current_app.extensions["import_queue"]
    try:
        return {int(task.args[0]) for task in queue.pending() if task.args}
    except Exception:  # a queue that cannot list its tasks: queue nothing again rather than twice
        log.warning("the import queue cannot list its pending jobs", exc_info=True)
        return None
