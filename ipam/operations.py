"""State changes of the prefix registry. The UI, the API, the CLI and the importers call these and nothing
else. Each takes the session and the acting user, flushes, and leaves the commit to its caller.

Concurrency: on PostgreSQL the parent row is locked (``SELECT ... FOR UPDATE``; top-level inserts take an
advisory lock per family) before free space is read, and the exclusion constraint is the last line of
defence. On SQLite writers are serialized by ``BEGIN IMMEDIATE`` (see ``core.db``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounts.audit import record_event, snapshot
from accounts.models import Organization, User
from core import policy
from core.db import utcnow
from core.errors import PermissionDenied, ValidationFailed
from core.messages import Message
from core.messages import message as _l
from ipam import freespace, rules
from ipam.choices import PrefixKind, PrefixStatus, Source, Usage
from ipam.errors import NestingViolation, PolicyViolation, PrefixOverlap, SpaceExhausted, SpaceTaken
from ipam.models import Prefix, to_key
from ipam.permissions import Action
from ipam.queries import children_within, find_parent
from ipam.space import HostBitsSet, Net, Strategy, format_net, parse_net
from ipam.space import sparse_key as sparse_key_of

MAX_ALLOCATION_COUNT = 4096
# The audit summary of an allocation, by the strategy that chose the block.
ALLOCATED_BY = {
    Strategy.FIRST_FIT: _l("%(prefix)s from %(parent)s (first fit)"),
    Strategy.BEST_FIT: _l("%(prefix)s from %(parent)s (best fit)"),
    Strategy.SPARSE: _l("%(prefix)s from %(parent)s (sparse)"),
}
BULK_ANALYZE_THRESHOLD = 10_000
EDITABLE_FIELDS = (
    "status", "usage", "description", "holder", "child_min_len", "child_max_len", "child_default_len",
    "default_strategy", "nibble_aligned", "pool_strict",
)  # fmt: skip


def parse_prefix(value: str | Net, field: str = "prefix") -> Net:
    if isinstance(value, Net):
        return value
    try:
        return parse_net(value)
    except HostBitsSet as exc:
        raise ValidationFailed.on(
            field, _l("%(value)s has host bits set; the network is %(net)s.", value=value, net=format_net(exc.network))
        ) from None
    except ValueError:
        raise ValidationFailed.on(field, _l("%(value)s is not an IP prefix.", value=value)) from None


def _lock(session: Session, parent: Prefix | None, family: int) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return
    if parent is None:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": 6_000_000 + family})
    else:
        session.execute(select(Prefix.id).where(Prefix.id == parent.id).with_for_update())


def _locked_parent(session: Session, net: Net) -> tuple[Prefix | None, Prefix | None]:
    """Find and lock the parent ``net`` goes under, re-checking after the lock (the tree may have changed)."""
    parent, existing = find_parent(session, net)
    while True:
        _lock(session, parent, net.family)
        again, existing = find_parent(session, net, below=parent)
        if again is parent:
            return parent, existing
        parent = again


# --- rules -----------------------------------------------------------------------------------------------


def enforce(*breaches: rules.Breach | None) -> None:
    """Refuse with the typed error of the first rule broken (the rules themselves live in ``ipam.rules``)."""
    breach = next((b for b in breaches if b is not None), None)
    if breach is None:
        return
    params = {name: _labelled(name, value) for name, value in breach.params.items()}
    message = _l(breach.template, **params)
    if breach.rule is rules.Rule.NESTING:
        raise NestingViolation.on(breach.field, message)
    if breach.of_pool_policy:
        raise PolicyViolation.on(breach.field, message)
    raise ValidationFailed.on(breach.field, message)


def _labelled(name: str, value: object) -> object:
    """Kinds are named in the reader's language."""
    return PrefixKind(value).label if name.endswith("kind") and isinstance(value, str) else value


def _check_choices(kind: str, status: str, usage: str | None) -> None:
    errors: dict[str, list[Message]] = {}
    if kind not in {k.value for k in PrefixKind}:
        errors["kind"] = [_l("Choose a kind.")]
    if status not in {s.value for s in PrefixStatus}:
        errors["status"] = [_l("Choose a status.")]
    if usage is not None and usage not in {u.value for u in Usage}:
        errors["usage"] = [_l("Choose how the addresses are used.")]
    if errors:
        raise ValidationFailed(_l("The prefix could not be saved."), fields=errors)


def _check_policy_fields(values: dict[str, Any], width: int, length: int) -> None:
    errors: dict[str, list[Message]] = {}
    for name in ("child_min_len", "child_max_len", "child_default_len"):
        value = values.get(name)
        if value is not None and not length <= value <= width:
            errors[name] = [_l("Between /%(low)d and /%(high)d.", low=length, high=width)]
    low, high = values.get("child_min_len"), values.get("child_max_len")
    if low is not None and high is not None and low > high:
        errors["child_max_len"] = [_l("The longest length must not be shorter than the shortest.")]
    default = values.get("child_default_len")
    if default is not None and ((low is not None and default < low) or (high is not None and default > high)):
        errors["child_default_len"] = [_l("The default length lies outside the allowed lengths.")]
    strategy = values.get("default_strategy")
    if strategy is not None and strategy not in {s.value for s in Strategy}:
        errors["default_strategy"] = [_l("Choose a strategy.")]
    if errors:
        raise ValidationFailed(_l("The pool policy is not consistent."), fields=errors)


def _flush_guarded(session: Session) -> None:
    """The exclusion constraint is the last line of defence against a concurrent writer."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise SpaceTaken() from None


# --- operations ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryRules:
    """Deployment settings the registry's rules depend on (set from the configuration by ``ipam.init_app``)."""

    allow_documentation: bool = False


_rules = RegistryRules()


def configure(rules: RegistryRules) -> None:
    global _rules
    _rules = rules


def check_holdable(net: Net) -> None:
    enforce(rules.holdable(net, allow_documentation=_rules.allow_documentation))


def placement_breaches(parent: Prefix | None, net: Net, kind: str, covers: Sequence[Prefix] = ()) -> list[rules.Breach]:
    """Every rule a new ``net`` of ``kind`` would break below ``parent``, taking ``covers`` below it."""
    return rules.placement(
        placed(parent) if parent is not None else None, net, kind, covers=[placed(c) for c in covers],
        allow_documentation=_rules.allow_documentation,
    )  # fmt: skip


def placed(prefix: Prefix) -> rules.Placed:
    return rules.Placed(prefix.net, prefix.kind, prefix.pool_policy)


def add_prefix(
    session: Session,
    prefix: str | Net,
    *,
    actor: User | None,
    kind: str,
    holder: Organization | None,
    status: str = PrefixStatus.ACTIVE.value,
    usage: str | None = None,
    description: str | None = None,
    source: str = Source.MANUAL.value,
    import_batch_id: int | None = None,
    **policy_fields: Any,
) -> Prefix:
    """Register a prefix where it belongs in the tree; children it covers move under it."""
    net = parse_prefix(prefix)
    check_holdable(net)
    _check_choices(kind, status, usage)
    _check_policy_fields(policy_fields, net.width, net.length)
    parent, existing = _locked_parent(session, net)
    # Permission before existence: a caller who may not register here learns nothing of what is there.
    if parent is None:
        policy.require(actor, Action.ADD_TOP_LEVEL_PREFIX, holder)
    else:
        policy.require(actor, Action.ALLOCATE_FROM, parent)
    policy.require(actor, Action.NAME_HOLDER, holder)
    adopted = children_within(session, parent.id if parent else None, net)
    # Covering existing prefixes moves them under the new one (and into its holder's view): only for those
    # who may change every one of them. The refusal names none of them.
    if any(not policy.can(actor, Action.CHANGE_PREFIX, child) for child in adopted):
        raise PermissionDenied(_l("You may not register %(prefix)s.", prefix=format_net(net)))
    if existing is not None:
        raise PrefixOverlap(_l("%(prefix)s is already registered.", prefix=existing.network))
    enforce(*placement_breaches(parent, net, kind, adopted))
    if parent is not None and not adopted and not freespace.take(session, parent.id, parent.net, net):
        raise PrefixOverlap(
            _l("%(prefix)s overlaps another prefix in %(parent)s.", prefix=format_net(net), parent=parent.network)
        )

    if adopted and session.get_bind().dialect.name == "postgresql":
        # The new prefix and the children it adopts are siblings for a moment; check once they moved.
        session.execute(text("SET CONSTRAINTS ex_prefix_siblings_overlap DEFERRED"))
    created = _insert(session, net, parent, actor, kind=kind, holder=holder, status=status, usage=usage,
                      description=description, source=source, import_batch_id=import_batch_id, **policy_fields)  # fmt: skip
    if adopted:
        session.execute(update(Prefix).where(Prefix.id.in_([c.id for c in adopted])).values(parent_id=created.id))
        if parent is not None:
            freespace.move_blocks(session, parent.id, created.id, net, net)
        else:
            freespace.add_blocks(session, created.id, net, _free_of(net, adopted))
        session.expire_all()
    _audit(session, actor, "prefix.create", created, after=snapshot(created))
    return created


def _free_of(net: Net, children: Sequence[Prefix]) -> list[Net]:
    from ipam.space import free_blocks

    return free_blocks(net, [c.net for c in children])


def _insert(session: Session, net: Net, parent: Prefix | None, actor: User | None, **values: Any) -> Prefix:
    holder = values.pop("holder")
    created = Prefix(
        **Prefix.columns_for(net),
        parent_id=parent.id if parent else None,
        holder_id=holder.id if holder is not None else None,
        created_by_id=actor.id if actor is not None else None,
        updated_by_id=actor.id if actor is not None else None,
        **values,
    )
    session.add(created)
    _flush_guarded(session)
    return created


def reserve_prefix(
    session: Session,
    prefix: str | Net,
    *,
    actor: User | None,
    holder: Organization | None,
    description: str | None = None,
) -> Prefix:
    """Set a block aside: nothing is allocated from it or over it until it is released."""
    return add_prefix(
        session, prefix, actor=actor, kind=PrefixKind.RESERVED.value, status=PrefixStatus.RESERVED.value,
        holder=holder, description=description,
    )  # fmt: skip


@dataclass(frozen=True)
class AllocationRequest:
    length: int
    count: int = 1
    strategy: Strategy = Strategy.FIRST_FIT
    kind: str = PrefixKind.ASSIGNMENT.value
    usage: str | None = None
    description: str | None = None


def allocate_prefixes(
    session: Session,
    parent: Prefix,
    request: AllocationRequest,
    *,
    holder: Organization | None,
    actor: User | None,
    source: str = Source.MANUAL.value,
) -> list[Prefix]:
    """Allocate ``count`` prefixes of ``length`` from ``parent`` in ``strategy`` order: all or none."""
    policy.require(actor, Action.ALLOCATE_FROM, parent)
    policy.require(actor, Action.NAME_HOLDER, holder)
    _check_choices(request.kind, PrefixStatus.ACTIVE.value, request.usage)
    if not 1 <= request.count <= MAX_ALLOCATION_COUNT:
        raise ValidationFailed.on("count", _l("Between 1 and %(n)d at a time.", n=MAX_ALLOCATION_COUNT))
    where = placed(parent)
    if not parent.prefix_len < request.length <= parent.width:
        enforce(rules.contained(where, Net(parent.net.start, request.length, parent.width), field="length"))
    enforce(rules.within_policy(where, request.length, field="length"), rules.nests_in(where, request.kind))
    _lock(session, parent, parent.family)
    parent_net = parent.net
    created: list[Prefix] = []
    savepoint = session.begin_nested()
    for _ in range(request.count):
        block = freespace.best_block(session, parent.id, parent_net, request.length, request.strategy)
        if block is None:
            savepoint.rollback()
            fits = freespace.count_fitting(session, parent.id, parent_net, request.length)
            raise SpaceExhausted(
                _l("%(parent)s has room for %(fits)d more /%(length)d, not %(count)d; nothing was allocated.",
                   parent=parent.network, fits=fits, length=request.length, count=request.count),
                fits=fits,
            )  # fmt: skip
        net = Net(block.start, request.length, parent_net.width)
        freespace.take_from(session, parent.id, parent_net, block, net)
        child = Prefix(
            **Prefix.columns_for(net),
            parent_id=parent.id,
            kind=request.kind,
            status=PrefixStatus.ACTIVE.value,
            holder_id=holder.id if holder is not None else None,
            usage=request.usage,
            description=request.description,
            source=source,
            created_by_id=actor.id if actor is not None else None,
            updated_by_id=actor.id if actor is not None else None,
        )
        session.add(child)
        created.append(child)
    try:
        session.flush()
    except IntegrityError:
        savepoint.rollback()
        raise SpaceTaken() from None
    savepoint.commit()
    for child in created:
        _audit(session, actor, "prefix.allocate", child, after=snapshot(child),
               summary=ALLOCATED_BY[request.strategy].params_with(prefix=child.network, parent=parent.network))  # fmt: skip
    session.flush()
    return created


def release_prefix(session: Session, prefix: Prefix, *, actor: User | None, recursive: bool = False) -> int:
    """Return a prefix's space to its parent. Refused while it has children unless ``recursive``, which
    releases the whole subtree. Returns how many prefixes were released."""
    policy.require(actor, Action.CHANGE_PREFIX, prefix)
    parent = session.get(Prefix, prefix.parent_id) if prefix.parent_id else None
    _lock(session, parent, prefix.family)
    levels = _descendant_levels(session, prefix.id)
    descendants = [pid for level in levels for pid in level]
    if descendants and not recursive:
        raise PrefixOverlap(
            _l("%(prefix)s still holds %(n)d prefixes; release them first or release the whole subtree.",
               prefix=prefix.network, n=len(descendants))
        )  # fmt: skip
    before = snapshot(prefix)
    # Level by level, deepest first: children go before the parents they point at. Free blocks follow
    # their prefixes (ON DELETE CASCADE).
    for level in [*levels, [prefix.id]]:
        for start in range(0, len(level), 1000):
            session.execute(Prefix.__table__.delete().where(Prefix.id.in_(level[start : start + 1000])))
    if parent is not None:
        freespace.give_back(session, parent.id, parent.net, prefix.net)
    _audit(session, actor, "prefix.release", prefix, before=before,
           summary=_l("released with %(n)d descendants", n=len(descendants)) if descendants else None)  # fmt: skip
    session.expunge(prefix)
    session.flush()
    return len(descendants) + 1


def _descendant_levels(session: Session, prefix_id: int) -> list[list[int]]:
    """Every descendant, grouped by depth, deepest level first."""
    levels: list[list[int]] = []
    frontier = [prefix_id]
    while frontier:
        children: list[int] = []
        for start in range(0, len(frontier), 1000):
            children.extend(
                session.scalars(select(Prefix.id).where(Prefix.parent_id.in_(frontier[start : start + 1000])))
            )
        if children:
            levels.append(children)
        frontier = children
    return list(reversed(levels))


def update_prefix(session: Session, prefix: Prefix, *, actor: User | None, **changes: Any) -> Prefix:
    """Change what a prefix is used for, who holds it, its status and its pool policy."""
    policy.require(actor, Action.CHANGE_PREFIX, prefix)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed(_l("These fields cannot be changed: %(names)s.", names=", ".join(sorted(unknown))))
    before = snapshot(prefix)
    status = changes.get("status", prefix.status)
    usage = changes.get("usage", prefix.usage)
    _check_choices(prefix.kind, status, usage)
    merged = {name: changes.get(name, getattr(prefix, name)) for name in EDITABLE_FIELDS if name != "holder"}
    _check_policy_fields(merged, prefix.width, prefix.prefix_len)
    if "holder" in changes:
        new_holder = changes["holder"]
        if (new_holder.id if new_holder is not None else None) != prefix.holder_id:
            policy.require(actor, Action.CHANGE_HOLDER, prefix)
        policy.require(actor, Action.NAME_HOLDER, new_holder)
    for name, value in changes.items():
        if name == "holder":
            prefix.holder = value
        else:
            setattr(prefix, name, value)
    prefix.updated_by_id = actor.id if actor is not None else None
    prefix.updated_at = utcnow()
    session.flush()
    after = snapshot(prefix)
    if after != before:
        _audit(session, actor, "prefix.update", prefix, before=before, after=after)
    return prefix


def _audit(session: Session, actor: User | None, action: str, prefix: Prefix, *, before: dict | None = None,
           after: dict | None = None, summary: str | None = None) -> None:  # fmt: skip
    record_event(
        session, actor=actor, action=action, object_type="prefix", object_id=prefix.network,
        organization_id=prefix.holder_id, before=before, after=after, summary=summary,
    )  # fmt: skip


def bulk_add_leaves(
    session: Session,
    parent: Prefix,
    nets: Sequence[Net],
    *,
    actor: User | None,
    kind: str,
    holder: Organization | None,
    usage: str | None = None,
    source: str = Source.IMPORT.value,
    import_batch_id: int | None = None,
) -> int:
    """Add many new leaf prefixes under ``parent`` at once (imports, fixtures): bulk statements instead of one
    operation each, the same rules, and the parent's free-space index rebuilt exactly at the end."""
    from core.db import analyze_tables, bulk_insert

    policy.require(actor, Action.ALLOCATE_FROM, parent)
    _check_choices(kind, PrefixStatus.ACTIVE.value, usage)
    enforce(rules.nests_in(placed(parent), kind))
    _lock(session, parent, parent.family)
    parent_net = parent.net
    existing = [
        Net(int.from_bytes(start, "big"), length, parent_net.width)
        for start, length in session.execute(
            select(Prefix.start, Prefix.prefix_len).where(Prefix.parent_id == parent.id)
        )
    ]
    new = sorted(nets)
    everything = sorted([*existing, *new])
    where = placed(parent)
    for net in new:
        if not parent_net.contains(net) or net == parent_net:
            raise PrefixOverlap(_l("%(prefix)s overlaps another prefix in %(parent)s.", prefix=format_net(net),
                                   parent=parent.network))  # fmt: skip
        enforce(rules.within_policy(where, net.length))
    for before, after in itertools.pairwise(everything):
        if after.start <= before.last:
            raise PrefixOverlap(_l("%(prefix)s overlaps another prefix in %(parent)s.", prefix=format_net(after),
                                   parent=parent.network))  # fmt: skip
    now = utcnow()
    actor_id = actor.id if actor is not None else None
    holder_id = holder.id if holder is not None else None
    columns = ["family", "start", "last", "prefix_len", "network", "kind", "status", "holder_id", "parent_id",
               "usage", "source", "import_batch_id", "nibble_aligned", "created_at", "created_by_id", "updated_at",
               "updated_by_id"]  # fmt: skip
    # Spread out, not in address order: a GiST index (PostgreSQL's exclusion constraint) splits its pages badly
    # when fed sorted networks, which made a sorted 100k-row load ten times slower.
    spread = sorted(new, key=lambda net: sparse_key_of(parent_net, net.start))
    bulk_insert(session, Prefix.__table__, columns, (
        (net.family, to_key(net.start), to_key(net.last), net.length, format_net(net), kind, PrefixStatus.ACTIVE.value,
         holder_id, parent.id, usage, source, import_batch_id, False, now, actor_id, now, actor_id)
        for net in spread
    ))  # fmt: skip
    # New leaves need no index rows (a childless prefix is all free); the parent's index is rebuilt.
    freespace.rebuild(session, parent.id, parent_net, everything)
    if len(new) >= BULK_ANALYZE_THRESHOLD:
        # Fresh planner statistics after a large load, so the next allocation uses the indexes.
        analyze_tables(session, [Prefix.__table__.name, freespace.fb.name])
    record_event(
        session, actor=actor, action="prefix.bulk_add", object_type="prefix", object_id=parent.network,
        organization_id=parent.holder_id, summary=_l("%(n)d prefixes added under %(parent)s", n=len(new), parent=parent.network),
    )  # fmt: skip
    session.flush()
    return len(new)
