"""What the registry and the other filings say about a filing being submitted: the database side of the rule set
(``filing.rules`` words the verdict). Also the links a submission records: the source filing, the registry
prefix, the user organization."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.choices import OrgKind
from accounts.models import Organization
from core.messages import Message
from core.messages import message as _l
from filing import queries
from filing.blocks import Block
from filing.choices import FilingType
from filing.models import Filing
from filing.rules import Claim, Facts, claim_conflicts, holder_key, normalized_name
from importers.models import ImportBatch
from ipam.models import Prefix
from ipam.queries import find_parent
from ipam.space import Net

CHAIN_LIMIT = 32  # a chain of source filings longer than this is a loop someone made by hand


def block_of(filing: Filing) -> Block:
    return Block(filing.family, filing.first, filing.final)


def smallest_net_covering(block: Block) -> Net:
    length = block.width - (block.first ^ block.last).bit_length()
    mask = ((1 << block.width) - 1) ^ ((1 << (block.width - length)) - 1)
    return Net(block.first & mask, length, block.width)


def registry_chain(session: Session, block: Block) -> list[Prefix]:
    """The registry prefixes that contain the whole block, smallest first (the block's own prefix included)."""
    parent, exact = find_parent(session, smallest_net_covering(block))
    node = exact or parent
    chain: list[Prefix] = []
    while node is not None and len(chain) < 64:
        chain.append(node)
        node = node.parent
    return chain


def registry_prefix_for(session: Session, block: Block) -> Prefix | None:
    chain = registry_chain(session, block)
    return chain[0] if chain else None


def claim_holder(filing: Filing) -> str:
    """Who holds the block by this filing: the user organization of a block handed on, else the filer."""
    if filing.type_enum.hands_on:
        return holder_key(filing.user_organization_id, filing.user_uscc, filing.user_name)
    return holder_key(filing.filer_id, None, None)


def upstream_of(filing: Filing | None) -> frozenset[str]:
    """The filers up the chain of source filings, from this one to the aggregate."""
    holders: set[str] = set()
    seen: set[int] = set()
    while filing is not None and filing.id not in seen and len(seen) < CHAIN_LIMIT:
        seen.add(filing.id)
        holders.add(holder_key(filing.filer_id, None, None))
        filing = filing.source_filing
    return frozenset(holders)


def resolve_user_organization(session: Session, filing: Filing) -> int | None:
    """The platform's organization the filing names as its user: the filer for its holdings, else by USCC, else
    by the name exactly as the organization is registered."""
    if not filing.type_enum.hands_on:
        return filing.filer_id
    if filing.user_organization_id is not None:
        # A link the form carried (a draft made from the registry) stands only while it names what was filed: who
        # may see the filing and whose block it claims follow it.
        named = session.get(Organization, filing.user_organization_id)
        if named is not None and (
            (filing.user_uscc and named.uscc == filing.user_uscc)
            or normalized_name(named.name) == normalized_name(filing.user_name)
        ):
            return named.id
    if filing.user_uscc:
        found = session.scalar(select(Organization.id).where(Organization.uscc == filing.user_uscc))
        if found is not None:
            return found
    if filing.user_name:
        names = session.execute(
            select(Organization.id, Organization.name).where(
                func.lower(Organization.name) == filing.user_name.strip().lower()
            )
        ).all()
        exact = [org_id for org_id, name in names if normalized_name(name) == normalized_name(filing.user_name)]
        if len(exact) == 1:
            return exact[0]
    return None


@dataclass
class Findings:
    facts: Facts
    source: Filing | None
    registry_prefix: Prefix | None


def examine(session: Session, filing: Filing, *, today: date, late_by: int) -> Findings:
    block = block_of(filing)
    kind = filing.type_enum
    filer = filing.filer
    chain = registry_chain(session, block)
    held = next((p for p in chain if p.holder_id == filer.id), None)
    above = chain[chain.index(held) + 1 :] if held is not None else []
    upstream = next((p.holder for p in above if p.holder_id not in (None, filer.id)), None)
    tier_one = upstream is None or upstream.kind == OrgKind.REGISTRY.value

    standing = [f for f in queries.covering(session, block, queries.STANDING_STATES) if f.id != filing.id]
    own_key = holder_key(filer.id, None, None)
    if kind is FilingType.HOLDING:
        sources = [f for f in standing if f.type_enum.hands_on and claim_holder(f) == own_key]
    else:
        sources = [f for f in standing if f.filing_type == FilingType.HOLDING.value and f.filer_id == filer.id]
    source = sources[-1] if sources else None  # the smallest: covering() lists the largest first
    source_found = source is not None or (kind is FilingType.HOLDING and held is not None and tier_one)

    mine = Claim(filing.id, block, claim_holder(filing), upstream_of(source) | {own_key})
    overlapping = {f.id: f for f in queries.overlapping(session, block) if f.id != filing.id}
    others = [Claim(f.id, block_of(f), claim_holder(f), upstream_of(f)) for f in overlapping.values()]
    conflicts = [
        (overlapping[c.filing_id].block, overlapping[c.filing_id].number or f"#{c.filing_id}")
        for c in claim_conflicts(mine, others)
    ]

    facts = Facts(
        holds_block=held is not None,
        source_found=source_found,
        source_holder=upstream.name if upstream is not None else None,
        conflicts=conflicts,
        same_party=_same_party(filing, filer),
        registry_notes=_registry_notes(session, filing, block, chain) if held is not None else (),
        late_by=late_by,
    )
    return Findings(facts, source, chain[0] if chain else None)


def _same_party(filing: Filing, filer: Organization) -> bool:
    if filing.type_enum.hands_on:
        if filing.user_organization_id is not None and filing.user_organization_id == filer.id:
            return True
        if filing.user_uscc and filer.uscc and filing.user_uscc == filer.uscc:
            return True
        return bool(filing.user_name) and normalized_name(filing.user_name) == normalized_name(filer.name)
    if filing.filing_type == FilingType.HOLDING.value:
        return bool(filing.source_name) and normalized_name(filing.source_name) == normalized_name(filing.user_name)
    return False


def _registry_notes(session: Session, filing: Filing, block: Block, chain: list[Prefix]) -> list[Message]:
    """Where the registry records another holder or another size than the filing says (warnings)."""
    if filing.filing_type == FilingType.RESERVED.value:
        return []
    holder_id = filing.user_organization_id if filing.type_enum.hands_on else filing.filer_id
    holder_name = filing.user_name or (filing.filer.name if not filing.type_enum.hands_on else "")
    exact = chain[0] if chain and block.net is not None and chain[0].net == block.net else None
    if exact is not None:
        if holder_id is not None and exact.holder_id != holder_id:
            return [
                _l("The registry records %(block)s as held by %(holder)s, not %(user)s.", block=exact.network,
                   holder=exact.holder.name if exact.holder else "—", user=holder_name)
            ]  # fmt: skip
        return []
    if holder_id is None:
        return []
    inside = [p for p in queries.registry_prefixes_in(session, block) if p.holder_id == holder_id]
    if inside:
        listed = ", ".join(p.network for p in inside[:5])
        return [
            _l("The registry records only %(prefixes)s for %(holder)s inside this block: the filing covers more.",
               prefixes=listed, holder=holder_name)
        ]  # fmt: skip
    larger = next((p for p in chain if p.holder_id == holder_id), None)
    if larger is not None and filing.type_enum.hands_on:
        return [
            _l("The registry records the larger block %(prefix)s for %(holder)s.", prefix=larger.network,
               holder=holder_name)
        ]  # fmt: skip
    if filing.type_enum.hands_on:
        return [_l("The registry has no record of this block for %(holder)s.", holder=holder_name)]
    return []


@dataclass
class RegistryView:
    """What the registry and the carriers' imports say about a filing's block, for the review page."""

    chain: list[Prefix]  # registry prefixes holding the whole block, smallest first
    inside: list[Prefix]  # registry prefixes inside the block, largest first
    overlapping: list[Filing]  # other live filings sharing addresses with the block
    imports: dict[int, ImportBatch]  # the import batches that wrote those prefixes, by id


def registry_view(session: Session, filing: Filing) -> RegistryView:
    block = block_of(filing)
    chain = registry_chain(session, block)
    inside = [p for p in queries.registry_prefixes_in(session, block, limit=20) if p not in chain]
    overlapping = [f for f in queries.overlapping(session, block, queries.CLAIMING_STATES) if f.id != filing.id]
    batch_ids = {p.import_batch_id for p in (*chain, *inside) if p.import_batch_id is not None}
    imports = (
        {b.id: b for b in session.scalars(select(ImportBatch).where(ImportBatch.id.in_(batch_ids)))}
        if batch_ids
        else {}
    )
    return RegistryView(chain, inside, overlapping, imports)
