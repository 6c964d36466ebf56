"""The holders a carrier's file names: found among the organizations (by USCC anywhere, by the carrier's own ids
and names for them), or created unverified through ``accounts`` when the records naming them load."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from accounts.models import Organization
from accounts.operations import NamedHolder, create_named_holders
from accounts.validators import normalize_code
from core.db import bulk_insert
from importers import queries
from importers.models import HolderReference
from importers.records import AllocationRecord


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


def name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


class Holders:
    """Every holder the file names, each standing in the staged rows as a negative placeholder id."""

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
            key = ("name", name_key(record.holder_name)[:200])
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
        known = queries.organizations_by_uscc(session, [s.key[1] for s in by_kind.get("uscc", [])])
        for spec in by_kind.get("uscc", []):
            spec.organization_id = known.get(spec.key[1])
        for kind in ("id", "name"):
            named = queries.holder_references(session, carrier, kind, [s.key[1] for s in by_kind.get(kind, [])])
            for spec in by_kind.get(kind, []):
                spec.organization_id = named.get(spec.key[1])

    def unknown_among(self, used: Iterable[int]) -> list[HolderSpec]:
        """The unknown holders among ``used`` placeholders (those of records that load)."""
        placeholders = set(used)
        return [
            spec for index, spec in enumerate(self.specs)
            if spec.organization_id is None and -(index + 1) in placeholders
        ]  # fmt: skip

    def create_unknown(self, session: Session, carrier: Organization, actor: Any) -> list[tuple[int, int | None]]:
        """Create the holders nobody knew (``self.new``) and remember the carrier's names for every holder.
        Returns every placeholder with the organization it stands for."""
        unknown = self.new
        codes = [
            normalize_code(
                spec.uscc or f"{carrier.code[:12]}-{hashlib.sha256(repr(spec.key).encode()).hexdigest()[:12]}"
            )
            for spec in unknown
        ]
        created = create_named_holders(session, [
            NamedHolder(code, spec.name, spec.uscc, spec.division, spec.contact_name, spec.contact_phone,
                        spec.contact_email)
            for spec, code in zip(unknown, codes, strict=True)
        ], actor=actor, named_by=carrier)  # fmt: skip
        for spec, code in zip(unknown, codes, strict=True):
            spec.organization_id = created[code]
        references = []
        for spec in self.specs:
            for kind, value in (("id", spec.external_id), ("name", name_key(spec.name) if spec.name else None)):
                if value and spec.organization_id is not None:
                    references.append((kind, value[:200], spec.organization_id))
        _remember_names(session, carrier, references)
        return [(-(i + 1), spec.organization_id) for i, spec in enumerate(self.specs)]


def _remember_names(session: Session, carrier: Organization, references: list[tuple[str, str, int]]) -> None:
    """Remember how the carrier names its customers (the first name for each wins)."""
    known = queries.reference_keys(session, carrier) if references else set()
    rows = []
    for kind, value, organization_id in references:
        if (kind, value) not in known:
            known.add((kind, value))
            rows.append((carrier.id, kind, value, organization_id))
    bulk_insert(session, HolderReference.__table__, ["carrier_id", "kind", "value", "organization_id"], rows)
