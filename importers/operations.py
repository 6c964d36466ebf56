"""The import batch's life: start, check, record and load, confirm, run again. Every change of its state goes
through the batch's workflow (``importers.workflow``).

    parse (streaming) ──► staging table ──► sorted ──┐
    the carrier's blocks and the registry below ─────┴─► planner ──► ipam's change set ──► prefix, free_block

Nothing touches the registry until the whole file has been checked: an all-or-nothing import with errors changes
nothing, and a dry run stops before loading. The registry is written by ipam's change set (``ipam.changes``), the
holders the file names by ``accounts``, audit rows by the audit module. Operations flush and never commit; the
command or job that runs them owns the transaction. Reads live in ``importers.queries``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.audit import record_event
from accounts.models import Organization
from core import policy
from core.db import utcnow
from core.errors import ValidationFailed
from core.messages import message as _l
from core.web import CHINA_TIME
from core.workflow import apply_transition
from importers import queries, staging
from importers.holders import Holders
from importers.loading import Outcome, plan_changes
from importers.models import BatchStatus, ImportBatch, Mode
from importers.permissions import Action
from importers.reading import Meter
from importers.records import N_, UnreadableFile, sha256_of
from importers.staging import ProblemWriter
from importers.workflow import BATCHES, WORKER_STOPPED
from ipam.changes import ChangeSet
from ipam.choices import Source
from ipam.models import Prefix

log = logging.getLogger("v6beian.imports")

ALLOCATING_ORG_KINDS = queries.ALLOCATING_ORG_KINDS


# -- uploads --------------------------------------------------------------------------------------------------


class UploadQuotaExceeded(ValidationFailed):
    code = "upload_quota_exceeded"
    status = 429


@dataclass(frozen=True)
class UploadLimits:
    """How much an organization may upload: files a day, and bytes kept at once (checked files waiting)."""

    per_day: int
    pending_bytes: int
    directory: Path


def check_upload_quota(session: Session, carrier: Organization, size: int, limits: UploadLimits) -> None:
    """Refuse an upload beyond the organization's daily count or its bytes kept, before it is stored."""
    today = datetime.now(CHINA_TIME).replace(hour=0, minute=0, second=0, microsecond=0)
    files_today = queries.files_uploaded_since(session, carrier, today, limits.directory)
    if files_today >= limits.per_day:
        raise UploadQuotaExceeded.on("file", _l(
            "%(org)s has uploaded %(n)d files today, the most allowed in a day; please try again tomorrow.",
            org=carrier.name, n=files_today))  # fmt: skip
    pending = queries.bytes_kept(session, carrier, limits.directory)
    if pending + size > limits.pending_bytes:
        raise UploadQuotaExceeded.on("file", _l(
            "Files of %(org)s waiting to be loaded already take %(used)d MB, and this one would pass the "
            "%(limit)d MB allowed; load them, or wait until unconfirmed checks expire.",
            org=carrier.name, used=pending // 2**20, limit=limits.pending_bytes // 2**20))  # fmt: skip


# -- starting -------------------------------------------------------------------------------------------------


def start_batch(
    session: Session,
    *,
    actor: Any,
    carrier: Organization,
    path: Path,
    file_name: str,
    file_format: str,
    mode: str = Mode.DELTA.value,
    dry_run: bool = False,
    allow_partial: bool = False,
    sheet: str | None = None,
    scope: list[str] | None = None,
    family: int | None = None,
) -> ImportBatch:
    """Record a new import of ``path`` (already stored where the worker can read it)."""
    policy.require(actor, Action.IMPORT_RECORDS, carrier)
    if carrier.kind not in ALLOCATING_ORG_KINDS:
        raise ValidationFailed.on("carrier", _l("Only registries, carriers and allocators import allocation records."))
    batch = ImportBatch(
        carrier_id=carrier.id, actor_id=actor.id if actor is not None else None, file_name=file_name[:255],
        stored_path=str(path), sha256=sha256_of(path), size=path.stat().st_size, format=file_format, sheet=sheet,
        mode=mode, scope=scope or None, family=family, dry_run=dry_run, allow_partial=allow_partial,
        status=BatchStatus.QUEUED.value,
    )  # fmt: skip
    session.add(batch)
    session.flush()
    record_event(
        session, actor=actor, action="import.check" if dry_run else "import.start", object_type="import_batch",
        object_id=batch.id, organization_id=carrier.id, summary=file_name,
        after={"file_name": batch.file_name, "sha256": batch.sha256, "mode": mode, "allow_partial": allow_partial},
    )  # fmt: skip
    return batch


def confirm_batch(session: Session, preview: ImportBatch, *, actor: Any) -> ImportBatch:
    """Load a checked file: a new batch of the same file and options, linked from the check (once only)."""
    return _continue(session, preview, "confirm", actor=actor, dry_run=False)


def run_batch_again(session: Session, stopped: ImportBatch, *, actor: Any) -> ImportBatch:
    """Run again an import whose worker stopped (its file was kept for this)."""
    return _continue(session, stopped, "run_again", actor=actor, dry_run=stopped.dry_run)


def _continue(session: Session, earlier: ImportBatch, action: str, *, actor: Any, dry_run: bool) -> ImportBatch:
    BATCHES.check(earlier, action, actor=actor)  # refused before anything is created
    later = start_batch(
        session, actor=actor, carrier=earlier.carrier, path=Path(earlier.stored_path or ""),
        file_name=earlier.file_name, file_format=earlier.format, mode=earlier.mode, dry_run=dry_run,
        allow_partial=earlier.allow_partial, sheet=earlier.sheet, scope=earlier.scope, family=earlier.family,
    )  # fmt: skip
    apply_transition(session, earlier, action, actor=actor, values={"next_batch_id": later.id},
                     audit_data={"next_batch_id": later.id})  # fmt: skip
    return later


# -- running --------------------------------------------------------------------------------------------------


@dataclass
class Checked:
    """What checking a batch's file found. The plan itself waits in the connection's temporary tables, so the
    check and the load may be two transactions of one connection (the check takes no write lock)."""

    outcome: Outcome
    holding_ids: list[int]
    fingerprint: Any  # the registry below the holdings as the check read it (see ``queries.registry_fingerprint``)
    holders: Holders | None = None
    changes: ChangeSet | None = None
    failure: UnreadableFile | None = None  # the file could not be read at all
    same_content_as_id: int | None = None
    repeat_of: ImportBatch | None = None


def start_running(session: Session, batch: ImportBatch, *, actor: Any, worker: str | None = None) -> None:
    """queued → running: a worker (or the operator, running it at once) takes the batch."""
    apply_transition(session, batch, "start", actor=actor, values={"started_at": utcnow(), "worker": worker})


def run_batch(session: Session, batch: ImportBatch, *, actor: Any, meter: Meter | None = None) -> ImportBatch:
    """Check the batch's file and (unless a dry run, or errors in an all-or-nothing import) load it, in the
    caller's transaction. The import job runs the same two steps in two transactions (``importers.tasks``)."""
    meter = meter or Meter(batch.size)
    start_running(session, batch, actor=actor)
    return record_batch(session, batch, check_batch(session, batch, actor=actor, meter=meter), actor=actor, meter=meter)


def check_batch(session: Session, batch: ImportBatch, *, actor: Any, meter: Meter) -> Checked:
    """Read, validate and plan the batch's file. Writes only temporary tables (left for ``record_batch``)."""
    carrier = batch.carrier
    policy.require(actor, Action.IMPORT_RECORDS, carrier)
    previous = queries.last_loaded_with_content(session, batch)
    staging.create_tables(session)
    problems = ProblemWriter(session)
    outcome = Outcome()
    same = previous.id if previous is not None else None
    try:
        holdings = queries.carrier_holdings(session, carrier, batch.scope)
        if not holdings:
            raise UnreadableFile(N_("%(carrier)s holds no aggregate or allocation to import into"),
                                 carrier=carrier.name)  # fmt: skip
        fingerprint = _plain_json(queries.registry_fingerprint(session, holdings))
        checked = Checked(outcome, [h.id for h in holdings], fingerprint, same_content_as_id=same)
        if previous is not None and _nothing_changed_since(previous, batch, fingerprint):
            checked.repeat_of = previous
            return checked
        holders = Holders()
        staged = staging.stage_file(session, batch, holders, problems, outcome.counts, meter)
    except UnreadableFile as exc:
        return Checked(outcome, [], None, failure=exc, same_content_as_id=same)
    meter.set_phase("checking")
    outcome.headers = staged.headers
    holders.resolve(session, carrier)
    checked.changes = plan_changes(session, batch, carrier, holdings, holders, problems, outcome, meter,
                                   staged.lines_of_several_blocks)  # fmt: skip
    holders.new = holders.unknown_among(checked.changes.placeholders_used())
    outcome.counts["holders_created"] = len(holders.new)
    checked.holders = holders
    return checked


def record_batch(session: Session, batch: ImportBatch, checked: Checked, *, actor: Any, meter: Meter) -> ImportBatch:
    """Record what the check found and, when the batch is to be loaded, load it: the one write transaction of an
    import. If the registry below the carrier's blocks changed since the check, the file is checked again here."""
    connection = session.connection()
    failed = True
    try:
        batch.same_content_as_id = checked.same_content_as_id
        if _loads(batch, checked):
            holdings = queries.holdings_by_id(session, checked.holding_ids)
            _lock_holdings(session, holdings)
            if _plain_json(queries.registry_fingerprint(session, holdings)) != checked.fingerprint:
                log.info("import batch %s: the registry changed while it was checked; checking it again", batch.id)
                checked = check_batch(session, batch, actor=actor, meter=meter)
        staging.record_problems(session, batch)
        failed = False
        if checked.failure is not None:
            return _fail(session, batch, checked, actor=actor)
        if checked.repeat_of is not None:
            return _repeat(session, batch, checked, actor=actor)
        if not _loads(batch, checked):
            action = "preview" if batch.dry_run else "reject"
            return _finish(session, batch, action, checked.outcome, checked.holders, actor=actor)
        failed = True
        finished = _load(session, batch, checked, actor=actor, meter=meter)
        failed = False
        return finished
    finally:
        # After a failed statement PostgreSQL refuses every further one until the rollback, which drops the
        # temporary tables anyway: dropping them here would hide the real error.
        if not failed or connection.dialect.name != "postgresql":
            staging.drop_tables(connection)
        meter.set_phase("done")


def _load(session: Session, batch: ImportBatch, checked: Checked, *, actor: Any, meter: Meter) -> ImportBatch:
    outcome, holders = checked.outcome, checked.holders
    assert holders is not None and checked.changes is not None
    changes = checked.changes.continue_in(session)
    meter.set_phase("loading")
    changes.resolve_holders(holders.create_unknown(session, batch.carrier, actor))
    changes.apply(actor=actor, source=Source.IMPORT.value, batch_id=batch.id, summary=_l("import %(id)d", id=batch.id),
                  phase=meter.set_phase)  # fmt: skip
    finished = _finish(session, batch, "load", outcome, holders, actor=actor)
    holdings = queries.holdings_by_id(session, checked.holding_ids)
    batch.details = {
        **(batch.details or {}),
        "fingerprint": _plain_json(queries.registry_fingerprint(session, holdings)),
    }
    return finished


def fail_batch(session: Session, batch: ImportBatch, *, actor: Any, message: str, params: dict[str, Any] | None,
               stopped: bool = False) -> ImportBatch:  # fmt: skip
    """running → failed, nothing changed: ``message`` (a template) says why (``stopped``: the worker died)."""
    apply_transition(
        session, batch, "stop" if stopped else "fail", actor=actor,
        values={"finished_at": utcnow(), "message": message, "message_params": params},
    )  # fmt: skip
    return batch


def stop_batch(session: Session, batch: ImportBatch, *, actor: Any) -> ImportBatch:
    """The batch's worker died: it failed, nothing changed, and it may be run again."""
    return fail_batch(session, batch, actor=actor, message=WORKER_STOPPED, params=None, stopped=True)


def _fail(session: Session, batch: ImportBatch, checked: Checked, *, actor: Any) -> ImportBatch:
    assert checked.failure is not None
    _set_counts(batch, checked.outcome, None)
    return fail_batch(session, batch, actor=actor, message=checked.failure.template,
                      params=_plain_json(checked.failure.params))  # fmt: skip


def _loads(batch: ImportBatch, checked: Checked) -> bool:
    """Does the batch load what the check found (no dry run, no errors in an all-or-nothing import)?"""
    if checked.failure is not None or checked.repeat_of is not None or batch.dry_run:
        return False
    return not (checked.outcome.counts["errors"] and not batch.allow_partial)


def _repeat(session: Session, batch: ImportBatch, checked: Checked, *, actor: Any) -> ImportBatch:
    """The same file, loaded before without errors, and nothing below the carrier's blocks changed since: every
    record already is as the file says (idempotent by content), so the file is not read again."""
    previous, outcome = checked.repeat_of, checked.outcome
    assert previous is not None
    loaded = previous.created + previous.updated + previous.unchanged
    outcome.counts.update(rows=previous.rows, unchanged=loaded, other_family=previous.other_family)
    finished = _finish(session, batch, "preview" if batch.dry_run else "load", outcome, None, actor=actor)
    batch.details = {**(batch.details or {}), "fingerprint": (previous.details or {}).get("fingerprint")}
    return finished


def _finish(session: Session, batch: ImportBatch, action: str, outcome: Outcome, holders: Holders | None, *,
            actor: Any) -> ImportBatch:  # fmt: skip
    _set_counts(batch, outcome, holders)
    c = outcome.counts
    apply_transition(session, batch, action, actor=actor, comment=batch.file_name, values={"finished_at": utcnow()},
                     audit_data={"sha256": batch.sha256, "mode": batch.mode, **c})  # fmt: skip
    return batch


def _set_counts(batch: ImportBatch, outcome: Outcome, holders: Holders | None) -> None:
    for name, value in outcome.counts.items():
        setattr(batch, name, value)
    batch.progress = outcome.counts["rows"]
    batch.details = {
        "samples": outcome.samples,
        "removed_below": outcome.removed_below,
        "new_holders": [
            {"name": s.name, "uscc": s.uscc, "external_id": s.external_id} for s in (holders.new if holders else [])
        ][:50],
        "headers": outcome.headers,
    }


def _plain_json(value: Any) -> Any:
    """``value`` as it reads back from a JSON column (tuples as lists, dates as text), so the two compare."""
    return json.loads(json.dumps(value, default=str))


def _nothing_changed_since(previous: ImportBatch, batch: ImportBatch, fingerprint: Any) -> bool:
    same_options = all(
        getattr(previous, name) == getattr(batch, name) for name in ("format", "mode", "scope", "family", "sheet")
    )
    loaded_over = (previous.details or {}).get("fingerprint")
    return same_options and previous.errors == 0 and loaded_over is not None and loaded_over == fingerprint


def _lock_holdings(session: Session, holdings: list[Prefix]) -> None:
    """Allocations and other imports under the same blocks wait for this one (SQLite: the write lock does it)."""
    if session.get_bind().dialect.name == "postgresql":
        ids = sorted(h.id for h in holdings)
        session.execute(select(Prefix.id).where(Prefix.id.in_(ids)).order_by(Prefix.id).with_for_update())
