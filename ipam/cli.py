"""``flask prefix …``: the registry from the command line."""

from __future__ import annotations

import click
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from accounts import queries as account_queries
from accounts.models import Organization
from core.cli import CommandGroup, emit, emit_one, fail, json_option, unit_of_work
from core.policy import OPERATOR
from ipam import operations, queries
from ipam.choices import PrefixKind, Usage
from ipam.models import Prefix
from ipam.space import Strategy, format_net

prefix_cli = CommandGroup("prefix", help="The prefix registry: add, allocate, list, release.")


def prefix_row(prefix: Prefix) -> dict[str, object]:
    return {
        "prefix": prefix.network,
        "kind": prefix.kind,
        "status": prefix.status,
        "holder": prefix.holder.code if prefix.holder else None,
        "usage": prefix.usage,
        "parent": prefix.parent.network if prefix.parent else None,
        "description": prefix.description,
    }


def _holder(session: Session, code: str | None) -> Organization | None:
    if code is None:
        return None
    org = account_queries.organization_by_code(session, code)
    if org is None:
        raise fail(_("No organization has the code %(code)s.", code=code))
    return org


def _existing(session: Session, text: str) -> Prefix:
    prefix = queries.get_prefix(session, operations.parse_prefix(text))
    if prefix is None:
        raise fail(_("%(prefix)s is not registered.", prefix=text))
    return prefix


usage_option = click.option("--usage", type=click.Choice([u.value for u in Usage]), default=None)


@prefix_cli.command("add")
@click.argument("prefix")
@click.option("--kind", required=True, type=click.Choice([k.value for k in PrefixKind]))
@click.option("--holder", "holder_code", required=True, help="Code of the holding organization.")
@usage_option
@click.option("--description", default=None)
@json_option
def add(prefix: str, kind: str, holder_code: str, usage: str | None, description: str | None, as_json: bool) -> None:
    """Register PREFIX where it belongs in the tree."""
    with unit_of_work() as session:
        created = operations.add_prefix(
            session, prefix, actor=OPERATOR, kind=kind, holder=_holder(session, holder_code), usage=usage,
            description=description,
        )  # fmt: skip
        emit_one(prefix_row(created), as_json=as_json)


@prefix_cli.command("allocate")
@click.argument("parent")
@click.option("--length", type=click.IntRange(0, 128), required=True)
@click.option("--count", type=click.IntRange(1, operations.MAX_ALLOCATION_COUNT), default=1, show_default=True)
@click.option("--strategy", type=click.Choice([s.value for s in Strategy]), default=None,
              help="Default: the parent's pool policy, else first-fit.")  # fmt: skip
@click.option("--holder", "holder_code", required=True)
@click.option("--kind", type=click.Choice([k.value for k in PrefixKind]), default=PrefixKind.ASSIGNMENT.value,
              show_default=True)  # fmt: skip
@usage_option
@click.option("--description", default=None)
@json_option
def allocate(parent: str, length: int, count: int, strategy: str | None, holder_code: str, kind: str,
             usage: str | None, description: str | None, as_json: bool) -> None:  # fmt: skip
    """Allocate COUNT prefixes of /LENGTH from PARENT (all or none)."""
    with unit_of_work() as session:
        source = _existing(session, parent)
        chosen = Strategy(strategy) if strategy else source.default_strategy_enum
        request = operations.AllocationRequest(length, count, chosen, kind, usage, description)
        created = operations.allocate_prefixes(
            session, source, request, holder=_holder(session, holder_code), actor=OPERATOR
        )
        emit([prefix_row(p) for p in created], ["prefix", "kind", "holder", "usage"], as_json=as_json)


@prefix_cli.command("available")
@click.argument("parent")
@click.option("--length", type=click.IntRange(0, 128), default=None, help="List free /LENGTH candidates.")
@click.option("--limit", type=click.IntRange(1), default=None)
@json_option
def available(parent: str, length: int | None, limit: int | None, as_json: bool) -> None:
    """Free space of PARENT: maximal free blocks, or free /LENGTH candidates in first-fit order."""
    with unit_of_work() as session:
        found = queries.find_available(session, _existing(session, parent), length, limit)
        emit([{"prefix": format_net(n)} for n in found], ["prefix"], as_json=as_json)


@prefix_cli.command("show")
@click.argument("prefix")
@json_option
def show(prefix: str, as_json: bool) -> None:
    """One prefix, with its utilization."""
    with unit_of_work() as session:
        found = _existing(session, prefix)
        usage = queries.prefix_utilization(session, found)
        row = prefix_row(found) | {
            "utilization_percent": round(usage.percent, 4),
            "used_64s": str(usage.used_units),
            "free_64s": str(usage.free_units),
        }
        emit_one(row, as_json=as_json)


@prefix_cli.command("list")
@click.option("--within", default=None, help="Only prefixes inside this prefix.")
@click.option("--holder", "holder_code", default=None)
@click.option("--limit", type=click.IntRange(1), default=1000, show_default=True)
@json_option
def list_(within: str | None, holder_code: str | None, limit: int, as_json: bool) -> None:
    """List prefixes in address order."""
    with unit_of_work() as session:
        flt = queries.PrefixFilter(
            within=operations.parse_prefix(within, "within") if within else None, holder=holder_code
        )
        rows, _cursor = queries.keyset_page(session, queries.filtered(None, flt, session), None, limit)
        emit([prefix_row(p) for p in rows], ["prefix", "kind", "status", "holder", "usage", "parent"], as_json=as_json)


@prefix_cli.command("release")
@click.argument("prefix")
@click.option("--recursive", is_flag=True, help="Release everything inside it too.")
@json_option
def release(prefix: str, recursive: bool, as_json: bool) -> None:
    """Return PREFIX's space to its parent."""
    with unit_of_work() as session:
        released = operations.release_prefix(session, _existing(session, prefix), actor=OPERATOR, recursive=recursive)
        emit_one({"prefix": prefix, "released": released}, as_json=as_json)
