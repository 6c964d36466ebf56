"""Import jobs: run a batch in its own unit of work, in a worker (Huey) or right away.

The queue is Huey: a SQLite file under the import directory by default (zero set-up, one machine) and Redis when
``REDIS_URL`` is set (several web machines). ``flask import worker`` runs the consumer; ``make run`` starts one.
Progress of a running batch is written to a small JSON file beside the upload, read by the batch page.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from huey import Huey, RedisHuey, SqliteHuey
from sqlalchemy import event
from sqlalchemy.orm import Session

from accounts.models import User
from core.extensions import db
from importers.models import BatchStatus, ImportBatch
from importers.operations import Meter, run_batch
from importers.records import N_

log = logging.getLogger("v6beian.imports")


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

    app.extensions["import_queue"] = queue
    app.extensions["import_task"] = run_import


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


def execute(batch_id: int, actor_id: int | None, meter: Meter | None = None) -> None:
    """Run one queued batch; an unexpected failure is recorded on the batch (nothing else is changed)."""
    from core.context import Origin, origin

    with origin(Origin(channel="job")):
        try:
            with db.session_scope() as session:
                batch = session.get(ImportBatch, batch_id)
                if batch is None or batch.status != BatchStatus.QUEUED.value:
                    return
                actor = session.get(User, actor_id) if actor_id is not None else None
                run_batch(session, batch, actor=actor, meter=meter or Meter(batch.size, _progress_writer(batch_id)))
        except Exception as exc:
            log.exception("import batch %s failed", batch_id)
            with db.session_scope() as session:
                batch = session.get(ImportBatch, batch_id)
                if batch is not None:
                    from core.db import utcnow

                    batch.status, batch.finished_at = BatchStatus.FAILED.value, utcnow()
                    batch.message = N_("the import stopped unexpectedly (%(error)s); nothing was changed")
                    batch.message_params = {"error": _describe(exc)}
        finally:
            progress_path(batch_id).unlink(missing_ok=True)


def _describe(exc: Exception) -> str:
    from sqlalchemy.exc import IntegrityError

    if isinstance(exc, IntegrityError):
        return "another change took the same space at the same moment; run the import again"
    return type(exc).__name__
