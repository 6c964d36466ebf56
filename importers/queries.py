"""Reading import batches, as the user may see them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, raiseload, selectinload

from accounts.choices import OrgKind
from accounts.models import Organization, User
from accounts.permissions import Action
from accounts.queries import organization_for_field
from core import policy
from core.db import chunks
from core.errors import ValidationFailed
from core.messages import message as _l
from importers.models import BatchStatus, HolderReference, ImportBatch, ImportProblem
from importers.permissions import Action as ImportAction
from importers.plan import Attributes, Existing
from importers.records import N_, UnreadableFile
from ipam.choices import PrefixKind
from ipam.models import Prefix, from_key
from ipam.rules import PoolPolicy
from ipam.space import Net, format_net, parse_net

ALLOCATING_ORG_KINDS = (OrgKind.REGISTRY.value, OrgKind.CARRIER.value, OrgKind.ALLOCATOR.value)
CHUNK = 20_000


def visible_batches(user: User) -> Select[tuple[ImportBatch]]:
    """The uploads ``user`` may see, newest first, one batch each: the latest of its chain (the load of a confirmed
    check, the run again of a stopped one), with the batch it continued and its carrier; lists show no actor."""
    statement = (
        select(ImportBatch)
        .where(ImportBatch.next_batch_id.is_(None))
        .options(raiseload(ImportBatch.actor), selectinload(ImportBatch.earlier).raiseload(ImportBatch.actor))
        .order_by(ImportBatch.id.desc())
    )
    if policy.can(user, Action.OVERSEE_ALL):
        return statement
    return statement.where(ImportBatch.carrier_id == user.organization_id)


def carrier_for(session: Session, user: User, code: str | None, field: str = "carrier") -> Organization:
    """The organization an upload imports for: carriers import for their own, regulator administrators name one
    by its code in ``field``."""
    if not policy.can(user, ImportAction.IMPORT_FOR_OTHERS):
        return user.organization
    org = organization_for_field(session, code, field) if code and code.strip() else None
    if org is None:
        raise ValidationFailed.on(field, _l("Name the importing organization."))
    return org


def _problems(batch: ImportBatch) -> Select[tuple[ImportProblem]]:
    return (
        select(ImportProblem).where(ImportProblem.batch_id == batch.id).order_by(ImportProblem.line, ImportProblem.id)
    )


def first_problems(session: Session, batch: ImportBatch, limit: int | None) -> list[ImportProblem]:
    statement = _problems(batch)
    if limit is not None:
        statement = statement.limit(limit)
    return list(session.scalars(statement))


def all_problems(session: Session, batch: ImportBatch) -> Iterator[ImportProblem]:
    yield from session.scalars(_problems(batch).execution_options(yield_per=5000))


def problem_count(session: Session, batch: ImportBatch) -> int:
    return (
        session.scalar(select(func.count()).select_from(ImportProblem).where(ImportProblem.batch_id == batch.id)) or 0
    )


# -- what an import reads of the registry and the organizations -----------------------------------------------


def batch_to_load(session: Session, batch_id: int) -> ImportBatch | None:
    return session.get(ImportBatch, batch_id)


def last_loaded_with_content(session: Session, batch: ImportBatch) -> ImportBatch | None:
    """The latest batch of the same carrier that loaded a file with the same content."""
    return session.scalar(
        select(ImportBatch).where(
            ImportBatch.carrier_id == batch.carrier_id, ImportBatch.sha256 == batch.sha256, ImportBatch.id != batch.id,
            ImportBatch.status == BatchStatus.LOADED.value,
        ).order_by(ImportBatch.id.desc()).limit(1)
    )  # fmt: skip


def organizations_by_uscc(session: Session, usccs: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in chunks(usccs, 500):
        found.update(
            session.execute(select(Organization.uscc, Organization.id).where(Organization.uscc.in_(chunk))).all()
        )  # type: ignore[arg-type]
    return found


def holder_references(session: Session, carrier: Organization, kind: str, values: list[str]) -> dict[str, int]:
    """The organizations the carrier's own ids (``kind="id"``) or names (``"name"``) stand for."""
    found: dict[str, int] = {}
    for chunk in chunks(values, 500):
        found.update(session.execute(
            select(HolderReference.value, HolderReference.organization_id).where(
                HolderReference.carrier_id == carrier.id, HolderReference.kind == kind,
                HolderReference.value.in_(chunk),
            )
        ).all())  # type: ignore[arg-type]  # fmt: skip
    return found


def reference_keys(session: Session, carrier: Organization) -> set[tuple[str, str]]:
    rows = session.execute(
        select(HolderReference.kind, HolderReference.value).where(HolderReference.carrier_id == carrier.id)
    )
    return {(kind, value) for kind, value in rows}


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


def holdings_by_id(session: Session, ids: list[int]) -> list[Prefix]:
    return list(session.scalars(select(Prefix).where(Prefix.id.in_(ids)).order_by(Prefix.family, Prefix.start)))


def registry_below(session: Session, holdings: list[Prefix], carrier: Organization,
                   in_file: Any) -> Iterator[Existing]:  # fmt: skip
    """Every registered prefix below the carrier's blocks, in address order, streamed; ``in_file``: a correlated
    EXISTS telling whether the file has a row with the prefix's network."""
    for holding in holdings:
        statement = (
            select(
                Prefix.id, Prefix.start, Prefix.prefix_len, Prefix.parent_id, Prefix.kind, Prefix.holder_id,
                Prefix.usage, Prefix.description, Prefix.assigned_on, Prefix.child_min_len, Prefix.child_max_len,
                Prefix.nibble_aligned, Prefix.pool_strict, Organization.name, Organization.kind, in_file,
            )
            .outerjoin(Organization, Organization.id == Prefix.holder_id)
            .where(
                Prefix.family == holding.family, Prefix.start >= holding.start, Prefix.start <= holding.last,
                Prefix.prefix_len > holding.prefix_len,
            )
            .order_by(Prefix.family, Prefix.start, Prefix.prefix_len)
        )  # fmt: skip
        width = holding.width
        for row in session.execute(statement, execution_options={"yield_per": CHUNK}):
            (pid, start, length, parent_id, kind, holder_id, usage, description, assigned_on, low, high, nibble,
             strict, name, org_kind, found) = row  # fmt: skip
            yield Existing(
                id=pid, net=Net(from_key(start), length, width), parent_id=parent_id,
                attributes=Attributes(kind, holder_id, usage, description, assigned_on), holder_name=name,
                foreign_allocator=org_kind in ALLOCATING_ORG_KINDS and holder_id != carrier.id, in_file=bool(found),
                policy=PoolPolicy(low, high, bool(nibble), bool(strict)),
            )  # fmt: skip


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


def files_uploaded_since(session: Session, carrier: Organization, since: datetime, directory: Path) -> int:
    return session.scalar(
        select(func.count(ImportBatch.stored_path.distinct())).where(
            ImportBatch.carrier_id == carrier.id, ImportBatch.created_at >= since, _uploaded(directory))
    ) or 0  # fmt: skip


def bytes_kept(session: Session, carrier: Organization, directory: Path) -> int:
    """What the carrier's uploads that are still kept take (each file once)."""
    kept = session.execute(
        select(ImportBatch.stored_path, func.max(ImportBatch.size)).where(
            ImportBatch.carrier_id == carrier.id, ImportBatch.file_deleted_at.is_(None), _uploaded(directory),
        ).group_by(ImportBatch.stored_path)
    ).all()  # fmt: skip
    return sum(size for _path, size in kept)


def _uploaded(directory: Path) -> Any:
    return ImportBatch.stored_path.startswith(f"{directory.resolve()}/", autoescape=True)
