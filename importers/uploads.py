"""Taking a file from the upload form or the API: check the organization's quota, keep the file where the worker
reads it, record the batch and queue it for when the request commits. The page and the API call the same
``queue_import``; neither imports the other."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from accounts.models import Organization, User
from core.errors import DomainError, ValidationFailed
from importers.formats import detect_format
from importers.models import ImportBatch, Mode
from importers.operations import UploadLimits, check_upload_quota, start_batch
from importers.records import UnreadableFile
from importers.tasks import enqueue_after_commit


def queue_import(
    session: Session, upload: FileStorage, options: dict[str, Any], *, carrier: Organization, actor: User
) -> ImportBatch:
    """Store the upload, record the batch and queue it once the request commits. The organization's upload quota
    is checked before anything is stored."""
    check_upload_quota(session, carrier, _size(upload), upload_limits())
    path, name = store_upload(upload)
    try:
        file_format = options.get("format") or detect_format(path, name)
    except UnreadableFile as exc:
        path.unlink(missing_ok=True)
        raise ValidationFailed.on("format", exc.text()) from None
    try:
        batch = start_batch(
            session,
            actor=actor,
            carrier=carrier,
            path=path,
            file_name=name,
            file_format=file_format,
            mode=options.get("mode") or Mode.DELTA.value,
            dry_run=bool(options.get("dry_run")),
            allow_partial=bool(options.get("allow_partial")),
            sheet=options.get("sheet") or None,
            family=int(options["family"]) if options.get("family") else None,
        )
    except DomainError:
        path.unlink(missing_ok=True)
        raise
    enqueue_after_commit(session, batch, actor)
    return batch


def store_upload(upload: FileStorage) -> tuple[Path, str]:
    """Keep the upload where the worker reads it; the stored name never comes from the client."""
    # The name is shown and stored as the client gave it, less any path and control characters (a NUL byte
    # cannot be stored in PostgreSQL text).
    given = "".join(ch for ch in (upload.filename or "") if ch.isprintable())
    name = given.rsplit("/", 1)[-1].rsplit("\\", 1)[-1][:200] or "upload"
    directory = Path(current_app.config["IMPORT_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4().hex}-{secure_filename(name) or 'upload'}"
    upload.save(path)
    return path, name


def upload_limits() -> UploadLimits:
    config = current_app.config
    return UploadLimits(
        per_day=config["IMPORT_DAILY_UPLOADS"],
        pending_bytes=config["IMPORT_PENDING_MEGABYTES"] << 20,
        directory=Path(config["IMPORT_DIR"]),
    )


def _size(upload: FileStorage) -> int:
    stream = upload.stream
    position = stream.tell()
    size = stream.seek(0, 2)
    stream.seek(position)
    return size
