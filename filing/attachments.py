"""A filing's supporting documents: PDF files and images, checked by their content, kept outside the web root.

Files are stored under ``FILING_ATTACHMENT_DIR`` (default ``<instance>/attachments``) by a random name; only the
row knows which filing a file belongs to, and the page that serves it asks the policy first. The name the filer
gave is kept for display and download only, cleaned of path parts and control characters.

When a filer may attach and remove documents:
- attach while the filing is with its filer (draft, returned, change returned), or approved: the evidence for a
  change about to be filed;
- remove while the filing is with its filer, or, on an approved filing, what was attached after the approval
  (no reviewer has seen it yet). What a reviewer decided on stays while the decision stands.

A removed document's row goes in the transaction and its file after the commit; a file stored by a transaction
that rolls back is deleted with it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.audit import record_event
from core import policy
from core.db import chunks
from core.errors import ValidationFailed
from core.messages import message as _l
from core.workflow import IllegalTransition
from filing.choices import FilingState
from filing.models import Filing, FilingAttachment
from filing.permissions import Action
from filing.tasks import after_outcome

log = logging.getLogger("v6beian.filing")

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS = 20  # per filing
NAME_LENGTH = 200  # FilingAttachment.filename
CHUNK = 64 * 1024
SNIFF_BYTES = 16
STORED_NAME = re.compile(r"^[0-9a-f]{32}$")
OBJECT_TYPE = "filing"
SWEEP_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class FileType:
    content_type: str
    extensions: tuple[str, ...]  # the first is the one a name without a fitting extension gets

    def matches(self, head: bytes) -> bool:
        return SIGNATURES[self.content_type](head)


# What may be attached, recognized by the first bytes of the content (never by the name or the client's type).
SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    "application/pdf": lambda head: head.startswith(b"%PDF-"),
    "image/png": lambda head: head.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/jpeg": lambda head: head.startswith(b"\xff\xd8\xff"),
    "image/gif": lambda head: head[:6] in (b"GIF87a", b"GIF89a"),
    "image/webp": lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP",
}
FILE_TYPES = (
    FileType("application/pdf", (".pdf",)),
    FileType("image/png", (".png",)),
    FileType("image/jpeg", (".jpg", ".jpeg", ".jpe")),
    FileType("image/gif", (".gif",)),
    FileType("image/webp", (".webp",)),
)
# Characters Windows refuses in a file name: replaced when the name is offered for download.
_UNSAFE_IN_NAMES = str.maketrans({ch: "_" for ch in '<>:"|?*'})


class Upload:
    """What ``add_attachment`` takes: a binary stream and the name the client gave (a werkzeug ``FileStorage``
    has both as ``stream`` and ``filename`` and is taken as it is)."""

    def __init__(self, stream: IO[bytes], filename: str | None) -> None:
        self.stream = stream
        self.filename = filename


# --- pure parts ------------------------------------------------------------------------------------------------


def sniff(head: bytes) -> FileType | None:
    """The accepted type the content's first bytes show, or None (an HTML page named .pdf is None)."""
    return next((kind for kind in FILE_TYPES if kind.matches(head)), None)


def display_name(given: str | None, kind: FileType) -> str:
    """The name shown and offered on download: the last path part of what the client sent, without control or
    bidirectional-override characters (Chinese and other letters are kept), with an extension that fits the
    content, at most NAME_LENGTH characters."""
    text = unicodedata.normalize("NFC", given or "")
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("C"))
    text = text.translate(_UNSAFE_IN_NAMES).strip()
    stem, dot, extension = text.rpartition(".")
    if not dot or f".{extension.lower()}" not in kind.extensions:
        stem, extension = text, kind.extensions[0][1:]
    stem = stem.lstrip(". ").rstrip() or "attachment"  # no hidden files, no name that is only an extension
    return stem[: NAME_LENGTH - len(extension) - 1] + "." + extension


def format_bytes(size: int) -> str:
    """A size as people read it (10 MiB, 512 KiB)."""
    for unit, factor in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} B"


# --- where files are kept --------------------------------------------------------------------------------------


def attachment_dir() -> Path:
    configured = current_app.config.get("FILING_ATTACHMENT_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "attachments"


def max_bytes() -> int:
    return int(current_app.config.get("FILING_ATTACHMENT_MAX_BYTES") or DEFAULT_MAX_BYTES)


def stored_path(attachment: FilingAttachment) -> Path:
    if not STORED_NAME.match(attachment.stored_name):  # only names this module made lead into the folder
        raise ValueError(f"attachment {attachment.id} has an unexpected stored name")
    return attachment_dir() / attachment.stored_name


# --- who may do what, when -------------------------------------------------------------------------------------


def attachable(filing: Filing) -> bool:
    return filing.state_enum.with_filer or filing.state_enum is FilingState.APPROVED


def removable(filing: Filing, attachment: FilingAttachment) -> bool:
    if filing.state_enum.with_filer:
        return True
    approved_at = filing.approved_at
    return (
        filing.state_enum is FilingState.APPROVED and approved_at is not None and attachment.uploaded_at > approved_at
    )


def may_attach(user: Any, filing: Filing) -> bool:
    """Whether the page offers the upload form (the operation decides again)."""
    return attachable(filing) and policy.can(user, Action.FILE, filing)


def may_remove(user: Any, filing: Filing, attachment: FilingAttachment) -> bool:
    return removable(filing, attachment) and policy.can(user, Action.FILE, filing)


# --- reads -----------------------------------------------------------------------------------------------------


def attachment_of(session: Session, filing: Filing, attachment_id: int) -> FilingAttachment | None:
    """The attachment of this filing with this id (None for another filing's)."""
    return session.scalar(
        select(FilingAttachment).where(FilingAttachment.id == attachment_id, FilingAttachment.filing_id == filing.id)
    )


# --- operations ------------------------------------------------------------------------------------------------


def add_attachment(session: Session, filing: Filing, upload: Any, *, actor: Any) -> FilingAttachment:
    """Store ``upload`` (a ``FileStorage`` or an ``Upload``) as a document of ``filing``. Refused before anything
    is stored when the filer may not attach now, the filing has MAX_ATTACHMENTS, the file is larger than
    FILING_ATTACHMENT_MAX_BYTES, empty, or not a PDF or an image by its content."""
    policy.require(actor, Action.FILE, filing)
    if not attachable(filing):
        raise IllegalTransition(_l("Documents can be attached only while the filing is with its filer or approved."))
    # One upload at a time per filing, so that two cannot both take the last place.
    session.execute(select(Filing.id).where(Filing.id == filing.id).with_for_update())
    count = session.scalar(select(func.count()).where(FilingAttachment.filing_id == filing.id)) or 0
    if count >= MAX_ATTACHMENTS:
        raise ValidationFailed.on("file", _l("A filing holds at most %(n)d documents.", n=MAX_ATTACHMENTS))
    stream: IO[bytes] = upload.stream
    limit = max_bytes()
    too_large = _l("The file is larger than %(limit)s.", limit=format_bytes(limit))
    known = _stream_size(stream)
    if known is not None and known > limit:
        raise ValidationFailed.on("file", too_large)
    head = _read_head(stream)
    if not head:
        raise ValidationFailed.on("file", _l("The file is empty."))
    kind = sniff(head)
    if kind is None:
        raise ValidationFailed.on("file", _l("Only PDF files and images (PNG, JPEG, GIF, WebP) can be attached."))
    directory = attachment_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    stored_name = secrets.token_hex(16)
    path = directory / stored_name
    size, digest = _store(path, head, stream, limit)
    if size > limit:
        path.unlink(missing_ok=True)
        raise ValidationFailed.on("file", too_large)
    try:
        attachment = FilingAttachment(filing_id=filing.id, filename=display_name(upload.filename, kind),
                                      content_type=kind.content_type, size=size, sha256=digest,
                                      stored_name=stored_name, uploaded_by=actor.username)  # fmt: skip
        session.add(attachment)
        session.flush()
        record_event(session, actor=actor, action="filing.attach", object_type=OBJECT_TYPE, object_id=filing.id,
                     organization_id=filing.filer_id, after=_described(attachment),
                     summary=attachment.filename)  # fmt: skip
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    after_outcome(session, on_rollback=lambda: path.unlink(missing_ok=True))
    log.info("filing %s: document %s attached (%s, %d bytes)", filing.id, attachment.id, kind.content_type, size)
    return attachment


def remove_attachment(session: Session, filing: Filing, attachment: FilingAttachment, *, actor: Any) -> None:
    """Remove a document: its row now, its file once the transaction commits."""
    policy.require(actor, Action.FILE, filing)
    if attachment.filing_id != filing.id:
        raise ValueError("the attachment belongs to another filing")
    if not removable(filing, attachment):
        if filing.state_enum.under_review:
            raise IllegalTransition(_l("Documents cannot be removed while the filing is under review."))
        raise IllegalTransition(_l("This document was part of what the reviewer decided on and stays."))
    path = stored_path(attachment)
    before = _described(attachment)
    session.delete(attachment)
    session.flush()
    record_event(session, actor=actor, action="filing.detach", object_type=OBJECT_TYPE, object_id=filing.id,
                 organization_id=filing.filer_id, before=before, summary=before["attachment"])  # fmt: skip
    after_outcome(session, on_commit=lambda: path.unlink(missing_ok=True))
    log.info("filing %s: document %s removed", filing.id, attachment.id)


def sweep_attachment_files(session: Session, *, now: datetime | None = None) -> int:
    """Delete files of the folder that no attachment names (a removal whose deletion failed, an upload whose
    transaction was lost with its process), once they are older than SWEEP_GRACE (an upload may be between
    storing its file and committing its row). Returns how many were deleted."""
    directory = attachment_dir()
    if not directory.is_dir():
        return 0
    cutoff = (now or datetime.now(UTC)) - SWEEP_GRACE
    candidates = {path.name: path for path in directory.iterdir() if STORED_NAME.match(path.name)}
    known: set[str] = set()
    for names in chunks(candidates, 500):
        known.update(
            session.scalars(select(FilingAttachment.stored_name).where(FilingAttachment.stored_name.in_(names)))
        )
    deleted = 0
    for name, path in candidates.items():
        if name in known:
            continue
        try:
            if datetime.fromtimestamp(path.stat().st_mtime, UTC) < cutoff:
                path.unlink()
                deleted += 1
        except FileNotFoundError:
            continue
    if deleted:
        log.info("attachment sweep: %d files no attachment names deleted", deleted)
    return deleted


def _described(attachment: FilingAttachment) -> dict[str, Any]:
    return {"attachment": attachment.filename, "size": attachment.size, "sha256": attachment.sha256}


def _read_head(stream: IO[bytes]) -> bytes:
    """The first SNIFF_BYTES of the stream (fewer only at its end: a raw stream may return less per read)."""
    head = b""
    while len(head) < SNIFF_BYTES and (chunk := stream.read(SNIFF_BYTES - len(head))):
        head += chunk
    return head


def _stream_size(stream: IO[bytes]) -> int | None:
    """The bytes left in a seekable stream (uploads are spooled to memory or a temporary file), else None."""
    try:
        position = stream.tell()
        end = stream.seek(0, os.SEEK_END)
        stream.seek(position)
    except (AttributeError, OSError, ValueError):
        return None
    return end - position


def _store(path: Path, head: bytes, stream: IO[bytes], limit: int) -> tuple[int, str]:
    """Write the file (readable by this process's user only); stops once it passes ``limit``. Returns the bytes
    read and their SHA-256."""
    digest = hashlib.sha256(head)
    size = len(head)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as target:
            target.write(head)
            while size <= limit and (chunk := stream.read(CHUNK)):
                digest.update(chunk)
                size += len(chunk)
                target.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()
