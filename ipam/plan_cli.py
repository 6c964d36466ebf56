"""``flask plan …``: subnet plans from the command line. ``preview`` reads the registry and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from core.cli import CommandError, CommandGroup, emit, fail, json_option, unit_of_work
from ipam import plan_format, planner, queries
from ipam.space import Net, format_net

plan_cli = CommandGroup("plan", help="Subnet plans: lay out sites, zones and subnets in a prefix.")


class BadInput(CommandError):
    """A file that cannot be read or an argument that is not right: one line, exit status 2."""

    exit_code = 2


def _text_of(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise BadInput(_("cannot read %(file)s: %(reason)s", file=str(file), reason=reason)) from None


def _registered_children(session: Session, parent: Net) -> list[Net] | None:
    """The registry's children of ``parent``; None when the parent is not registered."""
    found = queries.get_prefix(session, parent)
    if found is None:
        return None
    return [child.net for child in queries.children_within(session, found.id, found.net)]


@plan_cli.command("preview")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--parent", "parent_text", default=None, help="Plan in this prefix instead of the file's parent.")
@click.option(
    "--previous",
    "previous_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A plan printed before with --json: the nodes it places keep their prefixes.",
)
@click.option("--repack", is_flag=True, help="Lay the plan out afresh, moving nodes --previous placed.")
@json_option
def preview(file: Path, parent_text: str | None, previous_file: Path | None, repack: bool, as_json: bool) -> None:
    """Print where each node of the plan in FILE lands (YAML or JSON). Nothing is written."""
    try:
        parent = plan_format.read_prefix(parent_text, "--parent") if parent_text is not None else None
        spec = plan_format.read_plan(_text_of(file), parent=parent)
        previous = None
        if previous_file is not None and not repack:
            earlier = plan_format.read_previous(_text_of(previous_file))
            if earlier.parent != spec.parent:
                raise BadInput(
                    _(
                        "The previous plan divides %(previous)s, not %(parent)s.",
                        previous=format_net(earlier.parent),
                        parent=format_net(spec.parent),
                    )
                )
            previous = earlier.prefixes
    except plan_format.PlanFormatError as exc:
        raise BadInput(str(exc)) from None
    with unit_of_work() as session:
        existing = _registered_children(session, spec.parent)
    try:
        result = planner.plan(spec, existing=existing or (), previous=previous)
    except planner.PlanTooLarge as exc:
        raise BadInput(str(exc)) from None
    except planner.PlanError as exc:
        raise fail(str(exc)) from None
    if existing is None:
        note = _("%(parent)s is not registered: planned in an empty parent.", parent=format_net(spec.parent))
        click.echo(note, err=as_json)
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
    else:
        rows = [{"path": p.path, "prefix": format_net(p.net)} for p in result.placements]
        emit(rows, ["path", "prefix"], as_json=False)
