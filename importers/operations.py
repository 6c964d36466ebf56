"""Loading an import batch: read the file once, stage it, decide with the planner, apply with set statements.

    parse (streaming) ──► staging table ──► sorted ──┐
    the carrier's blocks and the registry below ─────┴─► planner ──► change tables ──► prefix, free_block

Nothing touches the registry until the whole file has been checked: an all-or-nothing import with errors
changes nothing, and a dry run stops before applying. Python memory stays flat: the staging and change tables are
temporary tables of this transaction, and both sides of the comparison are streamed in address order.
Operations flush and never commit; the command or job that runs them owns the transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from accounts import policy
from accounts.audit import record_event
from accounts.choices import OrgKind
from accounts.models import AuditEvent, Organization, User
from accounts.validators import normalize_code
from core.context import current_origin
from core.db import analyze_tables, bulk_insert, chunks, utcnow
from core.errors import ValidationFailed
from core.web import CHINA_TIME
from importers.models import BatchStatus, Format, HolderReference, ImportBatch, ImportProblem, Mode
from importers.plan import Attributes, Create, Existing, Holding, Move, Planner, Reject, Remove, Row, Unchanged, Update
from importers.records import N_, AllocationRecord, Problem, UnreadableFile
from ipam import freespace
from ipam.choices import PrefixKind, PrefixStatus, Source
from ipam.models import Prefix, from_key, to_key
from ipam.space import Net, format_net, parse_net
from ipam.space import sparse_key as sparse_key_of

log = logging.getLogger("v6beian.imports")

ALLOCATING_ORG_KINDS = (OrgKind.REGISTRY.value, OrgKind.CARRIER.value, OrgKind.ALLOCATOR.value)
CHUNK = 20_000
PREVIEW_SAMPLES = 20
MAX_VALUE_LENGTH = 500
ANALYZE_AFTER = 10_000

# -- temporary tables of one import (dropped at the end of it) -----------------------------------------------

_temporary = MetaData()


def _temp(name: str, *columns: Column[Any]) -> Table:
    return Table(name, _temporary, *columns, prefixes=["TEMPORARY"])


stage = _temp(
    "import_stage",
    Column("line", Integer), Column("family", SmallInteger), Column("start", LargeBinary(16)),
    Column("prefix_len", SmallInteger), Column("kind", String(16)), Column("holder_id", Integer),
    Column("usage", String(24)), Column("description", Text), Column("assigned_on", Date),
)  # fmt: skip
new_rows = _temp(
    "import_new",
    Column("family", SmallInteger), Column("start", LargeBinary(16)), Column("last", LargeBinary(16)),
    Column("prefix_len", SmallInteger), Column("network", String(43)), Column("kind", String(16)),
    Column("holder_id", Integer), Column("usage", String(24)), Column("description", Text),
    Column("assigned_on", Date), Column("parent_start", LargeBinary(16)), Column("parent_len", SmallInteger),
    Column("depth", SmallInteger), Column("spread", LargeBinary(16)),
)  # fmt: skip
changes = _temp(
    "import_change",
    Column("prefix_id", Integer), Column("kind", String(16)), Column("holder_id", Integer),
    Column("usage", String(24)), Column("description", Text), Column("assigned_on", Date),
    Column("parent_start", LargeBinary(16)), Column("parent_len", SmallInteger), Column("moved", Boolean),
)  # fmt: skip
drops = _temp("import_drop", Column("prefix_id", Integer), Column("prefix_len", SmallInteger))
# Changes to records that existed before are audited one by one, like any other change of a prefix.
audits = _temp(
    "import_audit", Column("action", String(40)), Column("object_id", String(64)), Column("organization_id", Integer),
    Column("changes", Text),
)  # fmt: skip
holders_map = _temp(
    "import_holder", Column("placeholder", Integer, primary_key=True), Column("organization_id", Integer)
)
# Problems wait here until the result is recorded: checking a file writes nothing but this connection's
# temporary tables, so it never holds SQLite's write lock.
found_problems = _temp(
    "import_found_problem", Column("line", Integer), Column("sheet", String(100)), Column("column", String(32)),
    Column("value", String(MAX_VALUE_LENGTH)), Column("message", String(300)), Column("params", Text),
)  # fmt: skip
TEMP_TABLES = (stage, new_rows, changes, drops, holders_map, audits, found_problems)


# -- holders --------------------------------------------------------------------------------------------------


@dataclass
class HolderSpec:
    """A holder as the file names it. ``key`` decides identity: the USCC, else the carrier's id, else the name."""

    key: tuple[str, str]
    name: str
    uscc: str | None = None
    external_id: str | None = None
    division: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None
    organization_id: int | None = None  # known organization; None: created by the import


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


class Holders:
    def __init__(self) -> None:
        self.specs: list[HolderSpec] = []
        self.new: list[HolderSpec] = []  # the unknown holders the planned records name (set after planning)
        self._index: dict[tuple[str, str], int] = {}

    def placeholder(self, record: AllocationRecord) -> int | None:
        """A stand-in id for the record's holder: resolved to an organization before planning."""
        if record.uscc:
            key = ("uscc", record.uscc)
        elif record.holder_id:
            key = ("id", record.holder_id.strip()[:200])
        elif record.holder_name:
            key = ("name", _name_key(record.holder_name)[:200])
        else:
            return None
        index = self._index.get(key)
        if index is None:
            index = len(self.specs)
            self._index[key] = index
            name = (record.holder_name or record.holder_id or record.uscc or "").strip()[:200]
            self.specs.append(HolderSpec(
                key, name, record.uscc, record.holder_id, record.division, record.contact_name,
                record.contact_phone, record.contact_email,
            ))  # fmt: skip
        return -(index + 1)

    def resolve(self, session: Session, carrier: Organization) -> None:
        """Find the organizations the file means: by USCC anywhere, by the carrier's own ids and names."""
        by_kind: dict[str, list[HolderSpec]] = {}
        for spec in self.specs:
            by_kind.setdefault(spec.key[0], []).append(spec)
        for chunk in chunks(by_kind.get("uscc", []), 500):
            found = dict(session.execute(
                select(Organization.uscc, Organization.id).where(Organization.uscc.in_([s.key[1] for s in chunk]))
            ).all())  # fmt: skip
            for spec in chunk:
                spec.organization_id = found.get(spec.key[1])
        for kind in ("id", "name"):
            for chunk in chunks(by_kind.get(kind, []), 500):
                found = dict(session.execute(
                    select(HolderReference.value, HolderReference.organization_id).where(
                        HolderReference.carrier_id == carrier.id, HolderReference.kind == kind,
                        HolderReference.value.in_([s.key[1] for s in chunk]),
                    )
                ).all())  # fmt: skip
                for spec in chunk:
                    spec.organization_id = found.get(spec.key[1])

    def needed(self, session: Session) -> list[HolderSpec]:
        """The unknown holders that records of the plan name (placeholders in the change tables)."""
        used = set(session.scalars(select(new_rows.c.holder_id).where(new_rows.c.holder_id < 0).distinct()))
        used |= set(session.scalars(select(changes.c.holder_id).where(changes.c.holder_id < 0).distinct()))
        return [spec for index, spec in enumerate(self.specs) if spec.organization_id is None and -(index + 1) in used]

    def create_unknown(self, session: Session, carrier: Organization, actor: User | None) -> int:
        """Create the holders nobody knew as unverified enterprises and remember the carrier's names for them.
        Only holders of records that load are created (a holder named only on rejected lines is not)."""
        unknown = self.needed(session)
        codes = [
            normalize_code(
                spec.uscc or f"{carrier.code[:12]}-{hashlib.sha256(repr(spec.key).encode()).hexdigest()[:12]}"
            )
            for spec in unknown
        ]
        now = utcnow()
        columns = ["kind", "code", "name", "uscc", "division_code", "contact_name", "contact_phone", "contact_email",
                   "verified", "created_at", "updated_at"]  # fmt: skip
        bulk_insert(session, Organization.__table__, columns, [
            (OrgKind.ENTERPRISE.value, code, (spec.name or code)[:200], spec.uscc, spec.division,
             _cut(spec.contact_name, 100), _cut(spec.contact_phone, 40), _cut(spec.contact_email, 254), False, now, now)
            for spec, code in zip(unknown, codes, strict=True)
        ])  # fmt: skip
        ids: dict[str, int] = {}
        for chunk in chunks(codes, 500):
            ids.update(
                session.execute(select(Organization.code, Organization.id).where(Organization.code.in_(chunk))).all()
            )
        for spec, code in zip(unknown, codes, strict=True):
            spec.organization_id = ids[code]
        created = len(unknown)
        if created:
            origin = current_origin()
            session.execute(insert(AuditEvent.__table__), [
                {"actor_id": actor.id if actor else None, "actor_name": actor.username if actor else "system",
                 "organization_id": spec.organization_id, "action": "organization.create", "object_type": "organization",
                 "object_id": code, "changes": {"name": [None, spec.name], "verified": [None, False]},
                 "remote_addr": origin.remote_addr, "request_id": origin.request_id, "channel": origin.channel,
                 "summary": f"named by {carrier.code} in an import", "occurred_at": now}
                for spec, code in zip(unknown, codes, strict=True)
            ])  # fmt: skip
        references = {(k, v) for k, v, _ in session.execute(
            select(HolderReference.kind, HolderReference.value, HolderReference.organization_id).where(
                HolderReference.carrier_id == carrier.id)
        )} if self.specs else set()  # fmt: skip
        rows = []
        for spec in self.specs:
            for kind, value in (("id", spec.external_id), ("name", _name_key(spec.name) if spec.name else None)):
                if value and (kind, value[:200]) not in references and spec.organization_id is not None:
                    references.add((kind, value[:200]))
                    rows.append((carrier.id, kind, value[:200], spec.organization_id))
        bulk_insert(session, HolderReference.__table__, ["carrier_id", "kind", "value", "organization_id"], rows)
        bulk_insert(session, holders_map, ["placeholder", "organization_id"],
                    ((-(i + 1), spec.organization_id) for i, spec in enumerate(self.specs)))  # fmt: skip
        return created


# -- reading ----------------------------------------------------------------------------------------------------


class Meter:
    """How far the reading got, for progress bars and the batch page."""

    def __init__(self, total_bytes: int, report: Callable[[Meter], None] | None = None) -> None:
        self.total_bytes = max(total_bytes, 1)
        self.bytes = 0
        self.rows = 0
        self.phase = "reading"
        self.started = time.monotonic()
        self._report = report
        self._last = 0.0

    def tick(self, rows: int = 0, *, force: bool = False) -> None:
        self.rows += rows
        now = time.monotonic()
        if self._report is not None and (force or now - self._last >= 0.5):
            self._last = now
            self._report(self)

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self.tick(force=True)

    @property
    def rate(self) -> float:
        return self.rows / max(time.monotonic() - self.started, 1e-6)

    @property
    def fraction(self) -> float:
        return min(self.bytes / self.total_bytes, 1.0)


def read_records(path: Path, file_format: str, sheet: str | None, meter: Meter) -> Iterator[AllocationRecord | Problem]:
    from importers import csvfile, rir, rpsl, xlsx
    from importers.records import open_text

    if file_format == Format.XLSX.value:
        yield from _metered(xlsx.parse_xlsx(path, sheet), path, meter)
        return
    if file_format == Format.CSV.value:
        yield from _metered(csvfile.parse_csv(path), path, meter)
        return
    if path.stat().st_size == 0:
        raise UnreadableFile(N_("the file is empty"))
    try:
        with open_text(path) as handle:
            parser = rir.parse_rir(handle) if file_format == Format.RIR.value else rpsl.parse_rpsl(handle)
            yield from _metered(parser, path, meter, handle)
    except UnicodeDecodeError:
        raise UnreadableFile(N_("the file is not UTF-8 text")) from None


def _metered(items: Iterator[Any], path: Path, meter: Meter, handle: Any = None) -> Iterator[Any]:
    raw = getattr(getattr(handle, "buffer", None), "tell", None)
    for count, item in enumerate(items, start=1):
        if count % 4096 == 0:
            if raw is not None:
                with contextlib.suppress(OSError, ValueError):
                    meter.bytes = raw()
            else:
                meter.bytes = min(meter.total_bytes, count * 60)
        yield item
    meter.bytes = meter.total_bytes


# -- the carrier's blocks -------------------------------------------------------------------------------------


def carrier_holdings(session: Session, carrier: Organization, scope: Iterable[str] | None = None) -> list[Prefix]:
    """The outermost aggregates and allocations the carrier holds (those named in ``scope`` when given)."""
    held = list(session.scalars(
        select(Prefix).where(
            Prefix.holder_id == carrier.id,
            Prefix.kind.in_([PrefixKind.AGGREGATE.value, PrefixKind.ALLOCATION.value]),
        ).order_by(Prefix.family, Prefix.start, Prefix.prefix_len)
    ))  # fmt: skip
    outermost: list[Prefix] = []
    for prefix in held:
        if not any(o.family == prefix.family and o.net.contains(prefix.net) for o in outermost[-1:]):
            outermost.append(prefix)
    if scope:
        wanted = {format_net(parse_net(s)) for s in scope}
        chosen = [p for p in outermost if p.network in wanted]
        missing = wanted - {p.network for p in chosen}
        if missing:
            raise UnreadableFile(N_("%(carrier)s holds no block %(prefix)s"), carrier=carrier.name,
                                 prefix=", ".join(sorted(missing)))  # fmt: skip
        return chosen
    return outermost


def _existing(session: Session, holdings: list[Prefix], carrier: Organization) -> Iterator[Existing]:
    """Every registered prefix below the carrier's blocks, in address order, streamed."""
    in_file = (
        select(stage.c.line)
        .where(stage.c.family == Prefix.family, stage.c.start == Prefix.start, stage.c.prefix_len == Prefix.prefix_len)
        .exists()
    )
    for holding in holdings:
        statement = (
            select(
                Prefix.id,
                Prefix.family,
                Prefix.start,
                Prefix.prefix_len,
                Prefix.parent_id,
                Prefix.kind,
                Prefix.holder_id,
                Prefix.usage,
                Prefix.description,
                Prefix.assigned_on,
                Organization.name,
                Organization.kind,
                in_file,
            )
            .outerjoin(Organization, Organization.id == Prefix.holder_id)
            .where(
                Prefix.family == holding.family,
                Prefix.start >= holding.start,
                Prefix.start <= holding.last,
                Prefix.prefix_len > holding.prefix_len,
            )
            .order_by(Prefix.family, Prefix.start, Prefix.prefix_len)
        )
        width = holding.width
        for row in session.execute(statement, execution_options={"yield_per": CHUNK}):
            (
                pid,
                _family,
                start,
                length,
                parent_id,
                kind,
                holder_id,
                usage,
                description,
                assigned_on,
                name,
                org_kind,
                found,
            ) = row
            yield Existing(
                id=pid, net=Net(from_key(start), length, width), parent_id=parent_id,
                attributes=Attributes(kind, holder_id, usage, description, assigned_on), holder_name=name,
                foreign_allocator=org_kind in ALLOCATING_ORG_KINDS and holder_id != carrier.id, in_file=bool(found),
            )  # fmt: skip


def _staged_rows(session: Session, holders: Holders) -> Iterator[Row]:
    c = stage.c
    statement = select(c.line, c.family, c.start, c.prefix_len, c.kind, c.holder_id, c.usage, c.description,
                       c.assigned_on).order_by(c.family, c.start, c.prefix_len, c.line)  # fmt: skip
    # The organization id each placeholder stands for (the placeholder itself for holders still to create).
    ids = [spec.organization_id or -(index + 1) for index, spec in enumerate(holders.specs)]
    for line, family, start, length, kind, holder, usage, description, assigned_on in session.execute(
        statement, execution_options={"yield_per": CHUNK}
    ):
        net = Net(int.from_bytes(start, "big"), length, 32 if family == 4 else 128)
        yield Row(line, net, Attributes(kind, None if holder is None else ids[-holder - 1], usage, description,
                                        assigned_on))  # fmt: skip


# -- the batch ------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("rows", "created", "updated", "unchanged", "removed", "skipped", "errors", "holders_created", "other_family"),
        0))  # fmt: skip
    removed_below: int = 0
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"create": [], "update": [], "remove": []})
    touched: set[tuple[int, int, int]] = field(default_factory=set)  # parents whose children change (keys)
    touched_ids: set[int] = field(default_factory=set)
    moved: int = 0  # records that get a new parent


class ProblemWriter:
    """Problems are kept as they are found, in chunks (a bad file may have a million), in a temporary table;
    ``record_problems`` gives them to the batch when its result is recorded."""

    columns = ("line", "sheet", "column", "value", "message", "params")

    def __init__(self, session: Session) -> None:
        self.session, self.pending, self.count = session, [], 0

    def add(self, problem: Problem) -> None:
        """Held until ``flush``: the caller flushes when the connection is free (not inside a COPY)."""
        self.count += 1
        params = json.dumps(dict(problem.params), ensure_ascii=False, default=str) if problem.params else None
        self.pending.append((problem.line, problem.sheet, problem.column[:32], str(problem.value)[:MAX_VALUE_LENGTH],
                             problem.message[:300], params))  # fmt: skip

    def flush(self) -> None:
        if self.pending:
            self.session.execute(
                insert(found_problems), [dict(zip(self.columns, row, strict=True)) for row in self.pending]
            )
            self.pending = []


def record_problems(session: Session, batch: ImportBatch) -> None:
    """Copy the problems the check found to the batch, in one statement."""
    p = found_problems.c
    params = p.params if session.get_bind().dialect.name != "postgresql" else func.cast(p.params, JSON)
    source = select(bindparam("batch", batch.id, type_=Integer), p.line, p.sheet, p.column, p.value, p.message, params)
    columns = ["batch_id", "line", "sheet", "column", "value", "message", "params"]
    session.execute(insert(ImportProblem.__table__).from_select(columns, source))


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
    uploaded = ImportBatch.stored_path.startswith(f"{limits.directory.resolve()}/", autoescape=True)
    today = datetime.now(CHINA_TIME).replace(hour=0, minute=0, second=0, microsecond=0)
    files_today = session.scalar(
        select(func.count(ImportBatch.stored_path.distinct())).where(
            ImportBatch.carrier_id == carrier.id, ImportBatch.created_at >= today, uploaded)
    ) or 0  # fmt: skip
    if files_today >= limits.per_day:
        raise UploadQuotaExceeded.on("file", _l(
            "%(org)s has uploaded %(n)d files today, the most allowed in a day; please try again tomorrow.",
            org=carrier.name, n=files_today))  # fmt: skip
    kept = session.execute(
        select(ImportBatch.stored_path, func.max(ImportBatch.size)).where(
            ImportBatch.carrier_id == carrier.id, ImportBatch.file_deleted_at.is_(None), uploaded,
        ).group_by(ImportBatch.stored_path)
    ).all()  # fmt: skip
    pending = sum(bytes_ for _path, bytes_ in kept)
    if pending + size > limits.pending_bytes:
        raise UploadQuotaExceeded.on("file", _l(
            "Files of %(org)s waiting to be loaded already take %(used)d MB, and this one would pass the "
            "%(limit)d MB allowed; load them, or wait until unconfirmed checks expire.",
            org=carrier.name, used=pending // 2**20, limit=limits.pending_bytes // 2**20))  # fmt: skip


def start_batch(
    session: Session,
    *,
    actor: User | None,
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
    from importers.records import sha256_of

    policy.require(actor, policy.Action.IMPORT_RECORDS, carrier)
    if carrier.kind not in ALLOCATING_ORG_KINDS:
        raise ValidationFailed.on("carrier", N_("Only registries, carriers and allocators import allocation records."))
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
        object_id=batch.id, organization_id=carrier.id, summary=f"{file_name} ({file_format}, {mode})",
        after={"file_name": batch.file_name, "sha256": batch.sha256, "mode": mode, "allow_partial": allow_partial},
    )  # fmt: skip
    return batch


def start_batch_again(session: Session, earlier: ImportBatch, *, actor: User | None, dry_run: bool) -> ImportBatch:
    """A new batch of an earlier batch's kept file with its options: loading a check, or running again an import
    whose worker died."""
    return start_batch(
        session, actor=actor, carrier=earlier.carrier, path=Path(earlier.stored_path or ""),
        file_name=earlier.file_name, file_format=earlier.format, mode=earlier.mode, dry_run=dry_run,
        allow_partial=earlier.allow_partial, sheet=earlier.sheet, scope=earlier.scope, family=earlier.family,
    )  # fmt: skip


@dataclass
class Checked:
    """What checking a batch's file found. The plan itself waits in the connection's temporary tables, so the
    check and the load may be two transactions of one connection (the check takes no write lock)."""

    outcome: Outcome
    holding_ids: list[int]
    fingerprint: Any  # the registry below the holdings as the check read it (see ``registry_fingerprint``)
    holders: Holders | None = None
    status: BatchStatus | None = None  # decided by the check alone (failed, repeated); None: the batch's options say
    message: str | None = None
    message_params: dict[str, Any] | None = None
    same_content_as_id: int | None = None
    repeat_of: ImportBatch | None = None


def run_batch(session: Session, batch: ImportBatch, *, actor: User | None, meter: Meter | None = None) -> ImportBatch:
    """Validate the batch's file and (unless a dry run, or errors in an all-or-nothing import) load it, in the
    caller's transaction. The import job runs the same two steps in two transactions (``importers.tasks``)."""
    meter = meter or Meter(batch.size)
    batch.status, batch.started_at = BatchStatus.RUNNING.value, utcnow()
    return record_batch(session, batch, check_batch(session, batch, actor=actor, meter=meter), actor=actor, meter=meter)


def check_batch(session: Session, batch: ImportBatch, *, actor: User | None, meter: Meter) -> Checked:
    """Read, validate and plan the batch's file. Writes only temporary tables (left for ``record_batch``)."""
    carrier = batch.carrier
    policy.require(actor, policy.Action.IMPORT_RECORDS, carrier)
    previous = session.scalar(
        select(ImportBatch).where(
            ImportBatch.carrier_id == carrier.id, ImportBatch.sha256 == batch.sha256, ImportBatch.id != batch.id,
            ImportBatch.status == BatchStatus.LOADED.value,
        ).order_by(ImportBatch.id.desc()).limit(1)
    )  # fmt: skip
    connection = session.connection()
    for table in TEMP_TABLES:
        table.drop(connection, checkfirst=True)
        table.create(connection)
    problems = ProblemWriter(session)
    outcome = Outcome()
    same = previous.id if previous is not None else None
    try:
        holdings = carrier_holdings(session, carrier, batch.scope)
        if not holdings:
            raise UnreadableFile(N_("%(carrier)s holds no aggregate or allocation to import into"),
                                 carrier=carrier.name)  # fmt: skip
        checked = Checked(outcome, [h.id for h in holdings], _plain_json(registry_fingerprint(session, holdings)),
                          same_content_as_id=same)  # fmt: skip
        if previous is not None and _nothing_changed_since(previous, batch, checked.fingerprint):
            checked.status, checked.repeat_of = (
                (BatchStatus.PREVIEWED if batch.dry_run else BatchStatus.LOADED),
                previous,
            )
            return checked
        holders = Holders()
        _stage(session, batch, holders, problems, outcome, meter)
    except UnreadableFile as exc:
        return Checked(outcome, [], None, status=BatchStatus.FAILED, message=exc.template,
                       message_params=_plain_json(exc.params), same_content_as_id=same)  # fmt: skip
    meter.set_phase("checking")
    holders.resolve(session, carrier)
    _plan(session, batch, carrier, holdings, holders, problems, outcome, meter)
    holders.new = holders.needed(session)
    outcome.counts["holders_created"] = len(holders.new)
    problems.flush()
    outcome.counts["errors"] = problems.count
    checked.holders = holders
    return checked


def record_batch(
    session: Session, batch: ImportBatch, checked: Checked, *, actor: User | None, meter: Meter
) -> ImportBatch:
    """Record what the check found and, when the batch is to be loaded, load it: the one write transaction of an
    import. If the registry below the carrier's blocks changed since the check, the file is checked again here."""
    connection = session.connection()
    failed = True
    try:
        batch.same_content_as_id = checked.same_content_as_id
        if checked.status is None and not batch.dry_run and not _rejected(batch, checked):
            holdings = _holdings_by_id(session, checked.holding_ids)
            _lock_holdings(session, holdings)
            if _plain_json(registry_fingerprint(session, holdings)) != checked.fingerprint:
                log.info("import batch %s: the registry changed while it was checked; checking it again", batch.id)
                checked = check_batch(session, batch, actor=actor, meter=meter)
        record_problems(session, batch)
        failed = False
        if checked.status is BatchStatus.FAILED:
            batch.message, batch.message_params = checked.message, checked.message_params
            return _finish(batch, BatchStatus.FAILED, checked.outcome)
        if checked.repeat_of is not None:
            return _repeat(batch, checked.repeat_of, checked)
        if batch.dry_run:
            return _finish(batch, BatchStatus.PREVIEWED, checked.outcome, checked.holders)
        if _rejected(batch, checked):
            return _finish(batch, BatchStatus.REJECTED, checked.outcome, checked.holders)
        failed = True
        outcome, holders = checked.outcome, checked.holders
        assert holders is not None
        holdings = _holdings_by_id(session, checked.holding_ids)
        meter.set_phase("loading")
        _lock_parents(session, outcome)
        outcome.counts["holders_created"] = holders.create_unknown(session, batch.carrier, actor)
        _apply(session, batch, actor, outcome)
        meter.set_phase("indexing")
        _rebuild_free_space(session, outcome)
        _audit(session, batch, actor, outcome)
        finished = _finish(batch, BatchStatus.LOADED, outcome, holders)
        batch.details = {**(batch.details or {}), "fingerprint": _plain_json(registry_fingerprint(session, holdings))}
        failed = False
        return finished
    finally:
        # After a failed statement PostgreSQL refuses every further one until the rollback, which drops the
        # temporary tables anyway: dropping them here would hide the real error.
        if not failed or connection.dialect.name != "postgresql":
            drop_temporary_tables(connection)
        meter.set_phase("done")


def drop_temporary_tables(connection: Any) -> None:
    for table in reversed(TEMP_TABLES):
        table.drop(connection, checkfirst=True)


def _rejected(batch: ImportBatch, checked: Checked) -> bool:
    return bool(checked.outcome.counts["errors"]) and not batch.allow_partial


def _holdings_by_id(session: Session, ids: list[int]) -> list[Prefix]:
    found = session.scalars(select(Prefix).where(Prefix.id.in_(ids)).order_by(Prefix.family, Prefix.start)).all()
    return list(found)


def _plain_json(value: Any) -> Any:
    """``value`` as it reads back from a JSON column (tuples as lists, dates as text), so the two compare."""
    return json.loads(json.dumps(value, default=str))


def _repeat(batch: ImportBatch, previous: ImportBatch, checked: Checked) -> ImportBatch:
    """The same file, loaded before without errors, and nothing below the carrier's blocks changed since: every
    record already is as the file says (idempotent by content), so the file is not read again."""
    outcome = checked.outcome
    loaded = previous.created + previous.updated + previous.unchanged
    outcome.counts.update(rows=previous.rows, unchanged=loaded, other_family=previous.other_family)
    finished = _finish(batch, BatchStatus.PREVIEWED if batch.dry_run else BatchStatus.LOADED, outcome)
    batch.details = {**(batch.details or {}), "fingerprint": (previous.details or {}).get("fingerprint")}
    return finished


def registry_fingerprint(session: Session, holdings: list[Prefix]) -> list[Any]:
    """How the registry below the carrier's blocks stands, in a few numbers: per block, how many prefixes lie
    below it and when the latest of them changed (any change, addition or removal moves one of them)."""
    print_ = []
    for holding in holdings:
        count, latest = session.execute(
            select(func.count(), func.max(Prefix.updated_at)).where(
                Prefix.family == holding.family, Prefix.start >= holding.start, Prefix.start <= holding.last,
                Prefix.prefix_len > holding.prefix_len,
            )
        ).one()  # fmt: skip
        print_.append([holding.id, holding.network, count, latest.isoformat() if latest else None])
    references = session.execute(
        select(func.count(), func.max(HolderReference.id)).where(HolderReference.carrier_id == holdings[0].holder_id)
    ).one()  # fmt: skip
    organizations = session.execute(select(func.count(), func.max(Organization.updated_at))).one()
    return [print_, list(references), [organizations[0], organizations[1].isoformat() if organizations[1] else None]]


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


def _lock_parents(session: Session, outcome: Outcome) -> None:
    """Every prefix whose children change waits for nobody else's allocation while its index is rebuilt."""
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = [and_(Prefix.family == f, Prefix.start == to_key(s), Prefix.prefix_len == n) for f, s, n in outcome.touched]
    ids = set(outcome.touched_ids)
    for chunk in chunks(keys, 500):
        ids.update(session.scalars(select(Prefix.id).where(or_(*chunk))))
    for chunk in chunks(sorted(ids), 1000):
        session.execute(select(Prefix.id).where(Prefix.id.in_(chunk)).order_by(Prefix.id).with_for_update())


def _stage(session: Session, batch: ImportBatch, holders: Holders, problems: ProblemWriter, outcome: Outcome,
           meter: Meter) -> None:  # fmt: skip
    counts = outcome.counts
    lines_with_problems: set[int] = set()

    def rows() -> Iterator[tuple[Any, ...]]:
        for item in read_records(Path(batch.stored_path or ""), batch.format, batch.sheet, meter):
            meter.tick(1)
            if isinstance(item, Problem):
                problems.add(item)
                if item.line not in lines_with_problems:
                    lines_with_problems.add(item.line)
                    counts["skipped"] += 1
                continue
            if batch.family is not None and item.prefix.family != batch.family:
                counts["other_family"] += 1
                continue
            counts["rows"] += 1
            holder = holders.placeholder(item)
            description = item.description or item.netname
            yield (item.line, item.prefix.family, to_key(item.prefix.start), item.prefix.length, item.kind, holder,
                   item.usage, description[:2000] if description else None, item.registered)  # fmt: skip

    columns = ["line", "family", "start", "prefix_len", "kind", "holder_id", "usage", "description", "assigned_on"]
    # In chunks: PostgreSQL's COPY holds the connection, and problems are written between chunks.
    for chunk in chunks(rows(), CHUNK):
        bulk_insert(session, stage, columns, chunk)
        problems.flush()
    counts["rows"] += counts["skipped"]
    session.execute(text("CREATE INDEX ix_import_stage_key ON import_stage (family, start, prefix_len)"))


def _plan(session: Session, batch: ImportBatch, carrier: Organization, holdings: list[Prefix], holders: Holders,
          problems: ProblemWriter, outcome: Outcome, meter: Meter) -> None:  # fmt: skip
    planner = Planner(mode_snapshot=batch.mode == Mode.SNAPSHOT.value, carrier_name=carrier.name)
    counts, samples = outcome.counts, outcome.samples
    plain_holdings = [Holding(h.id, h.net, h.kind) for h in holdings]
    holding_nets = {h.id: h.net for h in holdings}
    new_buffer: list[tuple[Any, ...]] = []
    change_buffer: list[tuple[Any, ...]] = []
    drop_buffer: list[tuple[int, int]] = []
    audit_buffer: list[tuple[Any, ...]] = []
    rejected_lines: set[int] = set()
    root = next(iter(holding_nets.values()))  # the carrier's block the last created row lay in
    parent_of_existing: dict[int, int | None] = {}

    def flush() -> None:
        bulk_insert(session, new_rows, [c.name for c in new_rows.c], new_buffer)
        bulk_insert(session, changes, [c.name for c in changes.c], change_buffer)
        bulk_insert(session, drops, [c.name for c in drops.c], drop_buffer)
        bulk_insert(session, audits, [c.name for c in audits.c], audit_buffer)
        new_buffer.clear(), change_buffer.clear(), drop_buffer.clear(), audit_buffer.clear()

    events = planner.plan(plain_holdings, _existing(session, holdings, carrier), _staged_rows(session, holders))
    # The planner reads from open cursors; what it decides is written once the reading is done (SQLite must not
    # write the staging table's connection mid-read), in chunks through the change tables.
    for event in events:
        if isinstance(event, Create):
            row, net = event.row, event.row.net
            a = row.attributes
            if not (root.family == net.family and root.contains(net)):
                root = _root_key(net, holding_nets)
            new_buffer.append((net.family, to_key(net.start), to_key(net.last), net.length, format_net(net), a.kind,
                               a.holder_id, a.usage, a.description, a.assigned_on, to_key(event.parent.start),
                               event.parent.length, event.depth, to_key(sparse_key_of(root, net.start))))  # fmt: skip
            outcome.touched.add(_key(event.parent))
            counts["created"] += 1
            if len(samples["create"]) < PREVIEW_SAMPLES:
                samples["create"].append({"prefix": format_net(net), "line": row.line, "kind": a.kind})
        elif isinstance(event, Update):
            a, existing = event.row.attributes, event.existing
            parent = event.parent
            change_buffer.append((existing.id, a.kind, a.holder_id, a.usage, a.description, a.assigned_on,
                                  to_key(parent.start) if parent else None, parent.length if parent else None,
                                  parent is not None))  # fmt: skip
            if parent is not None:
                outcome.moved += 1
                outcome.touched.add(_key(parent))
                if existing.parent_id is not None:
                    outcome.touched_ids.add(existing.parent_id)
            counts["updated"] += 1
            diff = {k: [_plain(v[0]), _plain(v[1])] for k, v in event.changes.items()}
            if parent is not None:
                diff["parent"] = [None, format_net(parent)]
            _sample(samples["update"], prefix=format_net(existing.net), line=event.row.line, changes=diff)
            audit_buffer.append(("prefix.update", format_net(existing.net), existing.attributes.holder_id,
                                 json.dumps(diff, ensure_ascii=False)))  # fmt: skip
        elif isinstance(event, Unchanged):
            counts["unchanged"] += 1
        elif isinstance(event, Move):
            existing = event.existing
            change_buffer.append((existing.id, *_same(existing.attributes), to_key(event.parent.start),
                                  event.parent.length, True))  # fmt: skip
            outcome.touched.add(_key(event.parent))
            outcome.moved += 1
            if existing.parent_id is not None:
                outcome.touched_ids.add(existing.parent_id)
        elif isinstance(event, Remove):
            existing = event.existing
            drop_buffer.append((existing.id, existing.net.length))
            parent_of_existing[existing.id] = existing.parent_id
            if event.record:
                counts["removed"] += 1
                _sample(samples["remove"], prefix=format_net(existing.net), holder=existing.holder_name)
                audit_buffer.append(("prefix.release", format_net(existing.net), existing.attributes.holder_id,
                                     json.dumps({"network": [format_net(existing.net), None]})))  # fmt: skip
            else:
                outcome.removed_below += 1
            if existing.parent_id is not None:
                outcome.touched_ids.add(existing.parent_id)
        elif isinstance(event, Reject):
            problems.add(event.problem)
            if event.row.line not in rejected_lines:
                rejected_lines.add(event.row.line)
                counts["skipped"] += 1
        if len(new_buffer) + len(change_buffer) + len(drop_buffer) + len(audit_buffer) >= CHUNK:
            flush()
            problems.flush()
        meter.tick()
    flush()
    counts["errors"] = problems.count
    # Parents that are themselves removed need no new index.
    outcome.touched_ids -= set(parent_of_existing)


def _same(a: Attributes) -> tuple[Any, ...]:
    return (a.kind, a.holder_id, a.usage, a.description, a.assigned_on)


def _key(net: Net) -> tuple[int, int, int]:
    return net.family, net.start, net.length


def _root_key(parent: Net, holdings: dict[int, Net]) -> Net:
    for net in holdings.values():
        if net.family == parent.family and net.contains(parent):
            return net
    return parent


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _sample(target: list[dict[str, Any]], **values: Any) -> None:
    if len(target) < PREVIEW_SAMPLES:
        target.append(values)


def _apply(session: Session, batch: ImportBatch, actor: User | None, outcome: Outcome) -> None:
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    reshaping = outcome.counts["removed"] + outcome.removed_below + outcome.moved > 0
    if postgres and reshaping:
        # New prefixes may briefly sit beside ones this import removes or moves: checked once all moved. (Only
        # then: a deferred check costs a second index search per row.)
        session.execute(text("SET CONSTRAINTS ex_prefix_siblings_overlap DEFERRED"))
    now, actor_id = utcnow(), actor.id if actor is not None else None
    holder = select(holders_map.c.organization_id).where(holders_map.c.placeholder == new_rows.c.holder_id)
    holder_id = func.coalesce(holder.scalar_subquery(), new_rows.c.holder_id)
    depths = [d for (d,) in session.execute(select(new_rows.c.depth).distinct().order_by(new_rows.c.depth))]
    parent = Prefix.__table__.alias("parent")
    network = func.cast(new_rows.c.network, Prefix.__table__.c.network.type) if postgres else new_rows.c.network
    status = case((new_rows.c.kind == PrefixKind.RESERVED.value, PrefixStatus.RESERVED.value),
                  else_=PrefixStatus.ACTIVE.value)  # fmt: skip
    target = ["family", "start", "last", "prefix_len", "network", "kind", "status", "holder_id", "parent_id", "usage",
              "description", "assigned_on", "source", "import_batch_id", "nibble_aligned", "created_at",
              "created_by_id", "updated_at", "updated_by_id"]  # fmt: skip
    for depth in depths:
        source = (
            select(
                new_rows.c.family,
                new_rows.c.start,
                new_rows.c.last,
                new_rows.c.prefix_len,
                network,
                new_rows.c.kind,
                status,
                holder_id,
                parent.c.id,
                new_rows.c.usage,
                new_rows.c.description,
                new_rows.c.assigned_on,
                bindparam("source", Source.IMPORT.value),
                bindparam("batch", batch.id),
                bindparam("nibble", False),
                bindparam("now1", now, type_=Prefix.__table__.c.created_at.type),
                bindparam("actor1", actor_id, type_=Integer),
                bindparam("now2", now, type_=Prefix.__table__.c.created_at.type),
                bindparam("actor2", actor_id, type_=Integer),
            )
            .join(
                parent,
                and_(
                    parent.c.family == new_rows.c.family,
                    parent.c.start == new_rows.c.parent_start,
                    parent.c.prefix_len == new_rows.c.parent_len,
                ),
            )
            .where(new_rows.c.depth == depth)
            .order_by(new_rows.c.spread if postgres else new_rows.c.start)
        )
        session.execute(insert(Prefix.__table__).from_select(target, source))
    # Changed records and records that move below a new parent.
    if session.scalar(select(func.count()).select_from(changes)):
        change = changes.alias("c")

        def value_of(column: str) -> Any:
            return select(change.c[column]).where(change.c.prefix_id == Prefix.id).correlate(Prefix).scalar_subquery()

        new_parent = (
            select(parent.c.id)
            .join(
                change,
                and_(
                    parent.c.family == Prefix.family,
                    parent.c.start == change.c.parent_start,
                    parent.c.prefix_len == change.c.parent_len,
                ),
            )
            .where(change.c.prefix_id == Prefix.id)
            .scalar_subquery()
        )
        holder_of_change = (
            select(func.coalesce(holders_map.c.organization_id, change.c.holder_id))
            .select_from(change.outerjoin(holders_map, holders_map.c.placeholder == change.c.holder_id))
            .where(change.c.prefix_id == Prefix.id)
            .correlate(Prefix)
            .scalar_subquery()
        )
        in_changes = Prefix.id.in_(select(changes.c.prefix_id))
        session.execute(
            update(Prefix).where(in_changes).values(
                kind=value_of("kind"), holder_id=holder_of_change, usage=value_of("usage"),
                description=value_of("description"), assigned_on=value_of("assigned_on"), updated_at=now,
                updated_by_id=actor_id, import_batch_id=batch.id,
            ).execution_options(synchronize_session=False)
        )  # fmt: skip
        moved = Prefix.id.in_(select(changes.c.prefix_id).where(changes.c.moved.is_(True)))
        session.execute(
            update(Prefix).where(moved).values(parent_id=new_parent).execution_options(synchronize_session=False)
        )
        status_of_kind = case((Prefix.kind == PrefixKind.RESERVED.value, PrefixStatus.RESERVED.value),
                              else_=PrefixStatus.ACTIVE.value)  # fmt: skip
        session.execute(update(Prefix).where(in_changes).values(status=status_of_kind)
                        .execution_options(synchronize_session=False))  # fmt: skip
    # Removed records, deepest first (a parent goes after its children).
    lengths = [n for (n,) in session.execute(select(drops.c.prefix_len).distinct().order_by(drops.c.prefix_len.desc()))]
    for length in lengths:
        doomed = select(drops.c.prefix_id).where(drops.c.prefix_len == length)
        session.execute(delete(Prefix).where(Prefix.id.in_(doomed)).execution_options(synchronize_session=False))
    if postgres and reshaping:
        # Check now, inside the import, rather than at commit: a concurrent change shows as this import failing.
        session.execute(text("SET CONSTRAINTS ex_prefix_siblings_overlap IMMEDIATE"))
    session.expire_all()


def _rebuild_free_space(session: Session, outcome: Outcome) -> None:
    """Every prefix whose children changed gets its free-space index rebuilt from its children, streamed."""
    parents: dict[int, Prefix] = {}
    for family, start, length in outcome.touched:
        found = session.scalar(
            select(Prefix).where(Prefix.family == family, Prefix.start == to_key(start), Prefix.prefix_len == length)
        )
        if found is not None:
            parents[found.id] = found
    for pid in outcome.touched_ids - parents.keys():
        found = session.get(Prefix, pid)
        if found is not None:
            parents[pid] = found
    for parent in parents.values():
        width = parent.width
        children = session.execute(
            select(Prefix.start, Prefix.prefix_len).where(Prefix.parent_id == parent.id).order_by(Prefix.start),
            execution_options={"yield_per": CHUNK},
        )
        freespace.rebuild(session, parent.id, parent.net, (Net(from_key(s), n, width) for s, n in children))
    if outcome.counts["created"] + outcome.counts["removed"] >= ANALYZE_AFTER:
        analyze_tables(session, [Prefix.__table__.name, freespace.fb.name])


def _audit(session: Session, batch: ImportBatch, actor: User | None, outcome: Outcome) -> None:
    c = outcome.counts
    record_event(
        session, actor=actor, action="import.load", object_type="import_batch", object_id=batch.id,
        organization_id=batch.carrier_id,
        summary=(f"{batch.file_name}: {c['created']} created, {c['updated']} updated, {c['unchanged']} unchanged, "
                 f"{c['removed']} removed, {c['skipped']} skipped, {c['holders_created']} new holders"),
        after={"sha256": batch.sha256, "mode": batch.mode, **c},
    )  # fmt: skip
    origin = current_origin()
    changes_json = func.cast(audits.c.changes, AuditEvent.__table__.c.changes.type)
    if session.get_bind().dialect.name != "postgresql":
        changes_json = audits.c.changes
    organization = case((audits.c.organization_id > 0, audits.c.organization_id), else_=None)
    source = select(
        bindparam("actor_id", actor.id if actor else None, type_=Integer),
        bindparam("actor_name", actor.username if actor else "system"),
        organization, audits.c.action, bindparam("object_type", "prefix"), audits.c.object_id, changes_json,
        bindparam("remote_addr", origin.remote_addr, type_=String), bindparam("request_id", origin.request_id, type_=String),
        bindparam("channel", origin.channel), bindparam("summary", f"import batch {batch.id}"),
        bindparam("occurred_at", utcnow(), type_=AuditEvent.__table__.c.occurred_at.type),
    )  # fmt: skip
    columns = ["actor_id", "actor_name", "organization_id", "action", "object_type", "object_id", "changes",
               "remote_addr", "request_id", "channel", "summary", "occurred_at"]  # fmt: skip
    session.execute(insert(AuditEvent.__table__).from_select(columns, source))


def _finish(batch: ImportBatch, status: BatchStatus, outcome: Outcome, holders: Holders | None = None) -> ImportBatch:
    for name, value in outcome.counts.items():
        setattr(batch, name, value)
    batch.progress = outcome.counts["rows"]
    batch.status, batch.finished_at = status.value, utcnow()
    batch.details = {
        "samples": outcome.samples,
        "removed_below": outcome.removed_below,
        "new_holders": [
            {"name": s.name, "uscc": s.uscc, "external_id": s.external_id} for s in (holders.new if holders else [])
        ][:50],
    }
    return batch


def _cut(value: str | None, length: int) -> str | None:
    return value[:length] if value else None
