"""The one search box: what a user may find by an address, a name, a code, a USCC, a file name or a filing number.

Each group keeps to what the user may see, through the reads its own pages use: the registry's visibility
(``ipam.queries``), the organizations a user may see, the imports of ``importers.queries.visible_batches`` and the
filings of ``filing.queries.filtered``. Nothing another tenant holds is found, counted or hinted at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from accounts.models import Organization, User
from accounts.permissions import Action
from core import policy
from core.web import Page, paginate
from filing import queries as filing_queries
from filing.models import Filing
from filing.permissions import Action as FilingAction
from importers.models import ImportBatch
from importers.permissions import Action as ImportAction
from importers.queries import visible_batches
from ipam import queries as ipam_queries
from ipam.models import Prefix
from ipam.permissions import Action as PrefixAction

MAX_QUERY_LENGTH = 100


class Group(StrEnum):
    """What the box finds, in the order the results page shows it."""

    PREFIXES = "prefixes"
    ORGANIZATIONS = "organizations"
    IMPORTS = "imports"
    FILINGS = "filings"

    @property
    def label(self) -> str:
        return str(GROUP_LABELS[self])


GROUP_LABELS = {
    Group.PREFIXES: _l("Prefixes holding the address"),
    Group.ORGANIZATIONS: _l("Organizations and holders"),
    Group.IMPORTS: _l("Imports"),
    Group.FILINGS: _l("Filings"),
}


@dataclass(frozen=True)
class PrefixHit:
    """The most specific prefix the user may see that contains the address or equals the prefix searched for,
    and the visible blocks it lies in (from the top)."""

    prefix: Prefix
    path: list[Prefix]


@dataclass(frozen=True)
class Results:
    q: str
    groups: dict[Group, Page[Any]]  # the groups the user may search, in display order; each a page of hits

    @property
    def total(self) -> int:
        return sum(page.total for page in self.groups.values())

    def only_exact_hit(self) -> tuple[Group, Any] | None:
        """The one thing found, when exactly one thing was and the query names it exactly (an address inside a
        prefix, a code, USCC or name, a file name, a filing number): the page may go straight to it."""
        if self.total != 1:
            return None
        group, page = next((group, page) for group, page in self.groups.items() if page.total)
        hit = page.items[0]
        return (group, hit) if _names_exactly(self.q, group, hit) else None


def _names_exactly(q: str, group: Group, hit: Any) -> bool:
    wanted = q.casefold()
    if group is Group.PREFIXES:
        return True
    if group is Group.ORGANIZATIONS:
        return wanted in {(value or "").casefold() for value in (hit.code, hit.uscc, hit.name, hit.name_en)}
    if group is Group.IMPORTS:
        return hit.file_name.casefold() == wanted
    return (hit.number or "").casefold() == wanted


# -- the organizations a user sees ----------------------------------------------------------------------------


def organizations_in_view(user: User, stmt: Select[Any]) -> Select[Any]:
    """``stmt`` (over organizations) narrowed to those ``user`` may open (``Action.VIEW_ORGANIZATION``):
    every one for regulators, else its own."""
    if policy.can(user, Action.OVERSEE_ALL):
        return stmt
    return stmt.where(Organization.id == user.organization_id)


def findable_organizations(user: User) -> Select[tuple[Organization]]:
    """Organizations ``user`` may find: every one for regulators; else its own and the holders of the prefixes it
    sees (its customers, the holder of the block it was handed), as the registry's visibility allows."""
    stmt = select(Organization)
    if policy.can(user, Action.OVERSEE_ALL):
        return stmt
    holds_a_visible_prefix = ipam_queries.visible_prefixes(user).where(Prefix.holder_id == Organization.id).exists()
    return stmt.where(or_(Organization.id == user.organization_id, holds_a_visible_prefix))


def organizations_matching(user: User, q: str) -> Select[tuple[Organization]]:
    """Findable organizations whose name (Chinese or English), code or USCC contains ``q``; exact matches first."""
    text = q.strip()
    exact = or_(
        func.lower(Organization.code) == text.lower(),
        func.upper(Organization.uscc) == text.upper(),
        Organization.name == text,
    )
    return (
        findable_organizations(user)
        .where(
            or_(
                Organization.name.icontains(text, autoescape=True),
                Organization.name_en.icontains(text, autoescape=True),
                Organization.code.icontains(text, autoescape=True),
                Organization.uscc.icontains(text, autoescape=True),
            )
        )
        .order_by(case((exact, 0), else_=1), Organization.name, Organization.id)
    )


# -- the other groups -----------------------------------------------------------------------------------------


def prefix_hit(session: Session, user: User, q: str) -> PrefixHit | None:
    """The most specific visible prefix containing the address (or equal to the prefix) ``q``; None when ``q`` is
    no address or no visible prefix holds it."""
    try:
        found = ipam_queries.most_specific_visible(session, q, user)
    except ValueError:
        return None
    if found is None:
        return None
    path = [a for a in ipam_queries.ancestors(session, found) if policy.can(user, PrefixAction.VIEW_PREFIX, a)]
    return PrefixHit(found, path)


def imports_matching(user: User, q: str) -> Select[tuple[ImportBatch]]:
    """Imports ``user`` may see whose file name contains ``q``, newest first."""
    return visible_batches(user).where(ImportBatch.file_name.icontains(q.strip(), autoescape=True))


def filings_matching(session: Session, user: User, q: str, *, today: date) -> Select[tuple[Filing]]:
    """Filings ``user`` may see found by an address inside the block, the block, the number, a USCC or a name."""
    return filing_queries.filtered(session, user, filing_queries.FilingFilter(q=q), today=today)


# -- the results page -----------------------------------------------------------------------------------------


def searchable_groups(user: User) -> list[Group]:
    """The groups ``user`` may search at all (an enterprise has no imports)."""
    allowed = {
        Group.PREFIXES: True,
        Group.ORGANIZATIONS: True,
        Group.IMPORTS: policy.can(user, ImportAction.VIEW_IMPORT),
        Group.FILINGS: policy.can(user, FilingAction.VIEW_FILING),
    }
    return [group for group in Group if allowed[group]]


def _matching(session: Session, user: User, group: Group, q: str, *, today: date) -> Select[Any]:
    if group is Group.ORGANIZATIONS:
        return organizations_matching(user, q)
    if group is Group.IMPORTS:
        return imports_matching(user, q)
    return filings_matching(session, user, q, today=today)


def search(
    session: Session, user: User, q: str, *, today: date, per_page: int, group: Group | None = None, page: int = 1
) -> Results:
    """What ``q`` finds in each group ``user`` may search: the first ``per_page`` hits of each with their counts,
    or (``group``) one page of that group alone."""
    q = q.strip()[:MAX_QUERY_LENGTH]
    groups: dict[Group, Page[Any]] = {}
    for each in searchable_groups(user):
        if group is not None and each is not group:
            continue
        if each is Group.PREFIXES:
            hit = prefix_hit(session, user, q)
            groups[each] = Page(items=[hit] if hit else [], page=1, per_page=per_page, total=1 if hit else 0)
        else:
            stmt = _matching(session, user, each, q, today=today)
            groups[each] = paginate(session, stmt, page if group is not None else 1, per_page)
    return Results(q, groups)
