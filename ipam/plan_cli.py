"""``flask plan …``: subnet plans from the command line. ``preview`` and ``export`` read the registry and write
nothing; ``apply`` registers the plan's blocks."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from pathlib import Path

import click
from flask_babel import gettext as _

from accounts import queries as account_queries
from core.cli import CommandError, CommandGroup, emit, fail, json_option, unit_of_work
from core.policy import OPERATOR
from ipam import plan_apply, plan_exports, plan_format, planner, plans, queries
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


def _read_inputs(
    file: Path, parent_text: str | None, previous_file: Path | None, repack: bool
) -> tuple[planner.PlanSpec, Mapping[str, Net] | None]:
    try:
        parent = plan_format.read_prefix(parent_text, "--parent") if parent_text is not None else None
        spec = plan_format.read_plan(_text_of(file), parent=parent)
        if previous_file is None or repack:
            return spec, None
        earlier = plan_format.read_previous(_text_of(previous_file))
    except plan_format.PlanFormatError as exc:
        raise BadInput(str(exc)) from None
    if earlier.parent != spec.parent:
        raise BadInput(
            _(
                "The previous plan divides %(previous)s, not %(parent)s.",
                previous=format_net(earlier.parent),
                parent=format_net(spec.parent),
            )
        )
    return spec, earlier.prefixes


def _laid_out(spec: planner.PlanSpec, registered: list[Net] | None, previous: Mapping[str, Net] | None) -> planner.Plan:
    try:
        return planner.plan(spec, existing=plans.kept_out(registered, previous), previous=previous)
    except planner.PlanTooLarge as exc:
        raise BadInput(str(exc)) from None
    except planner.PlanError as exc:
        raise fail(str(exc)) from None


def plan_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options every command that lays a plan out takes."""
    for option in reversed(
        [
            click.argument("file", type=click.Path(dir_okay=False, path_type=Path)),
            click.option(
                "--parent", "parent_text", default=None, help="Plan in this prefix instead of the file's parent."
            ),
            click.option(
                "--previous",
                "previous_file",
                type=click.Path(dir_okay=False, path_type=Path),
                default=None,
                help="A plan printed before with --json: the nodes it places keep their prefixes.",
            ),
            click.option("--repack", is_flag=True, help="Lay the plan out afresh, moving nodes --previous placed."),
        ]
    ):
        command = option(command)
    return command


@plan_cli.command("preview")
@plan_options
@json_option
def preview(file: Path, parent_text: str | None, previous_file: Path | None, repack: bool, as_json: bool) -> None:
    """Print where each node of the plan in FILE lands (YAML or JSON). Nothing is written."""
    spec, previous = _read_inputs(file, parent_text, previous_file, repack)
    with unit_of_work() as session:
        registered = plans.registered_children(session, spec.parent, actor=OPERATOR)
    result = _laid_out(spec, registered, previous)
    if registered is None:
        note = _("%(parent)s is not registered: planned in an empty parent.", parent=format_net(spec.parent))
        click.echo(note, err=as_json)
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
    else:
        rows = [{"path": p.path, "prefix": format_net(p.net)} for p in result.placements]
        emit(rows, ["path", "prefix"], as_json=False)


@plan_cli.command("apply")
@plan_options
@click.option("--holder", "holder_code", required=True, help="Code of the organization the blocks are for.")
@json_option
def apply(
    file: Path, parent_text: str | None, previous_file: Path | None, repack: bool, holder_code: str, as_json: bool
) -> None:
    """Register the blocks of the plan in FILE under its parent, all or none. With --previous, only what is new
    is created. --json prints the whole plan (a --previous for the next re-plan) and what was created."""
    spec, previous = _read_inputs(file, parent_text, previous_file, repack)
    with unit_of_work() as session:
        parent = queries.get_prefix(session, spec.parent)
        if parent is None:
            raise fail(_("%(prefix)s is not registered.", prefix=format_net(spec.parent)))
        holder = account_queries.organization_by_code(session, holder_code)
        if holder is None:
            raise fail(_("No organization has the code %(code)s.", code=holder_code))
        result = _laid_out(spec, plans.registered_children(session, spec.parent, actor=OPERATOR), previous)
        applied = plan_apply.apply_plan(session, result, parent=parent, holder=holder, actor=OPERATOR)
    created = [{"path": b.path, "prefix": format_net(b.net), "kind": b.kind} for b in applied.created]
    if as_json:
        document = {**result.as_json(), "created": created}
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    click.echo(
        _(
            "%(created)d blocks created, %(already)d already registered.",
            created=len(applied.created),
            already=applied.already_registered,
        )
    )
    if created:
        emit(created, ["path", "prefix", "kind"], as_json=False)


EXPORT_FORMATS = ("csv", "xlsx", "json", "yaml", "arpa")


@plan_cli.command("export")
@plan_options
@click.option("--format", "format_", type=click.Choice(EXPORT_FORMATS), default="csv", show_default=True)
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write here instead of stdout."
)
def export(
    file: Path, parent_text: str | None, previous_file: Path | None, repack: bool, format_: str, output: Path | None
) -> None:
    """Lay out the plan in FILE and write it for the network team (csv, xlsx: path, prefix, first and last
    address, size in /64s), as a plan (json, yaml), or as the ip6.arpa zones to delegate per site (arpa)."""
    spec, previous = _read_inputs(file, parent_text, previous_file, repack)
    if format_ == "arpa" and spec.parent.width != 128:
        raise BadInput(_("ip6.arpa zones are for IPv6 plans."))
    if format_ == "xlsx" and output is None:
        raise BadInput(_("An Excel file needs --output."))
    with unit_of_work() as session:
        registered = plans.registered_children(session, spec.parent, actor=OPERATOR)
    result = _laid_out(spec, registered, previous)
    if format_ == "xlsx":
        assert output is not None
        with output.open("wb") as binary:
            plan_exports.write_xlsx(binary, result)
        return
    text = io.StringIO()
    if format_ == "csv":
        plan_exports.write_csv(text, result)
    elif format_ == "json":
        text.write(plan_exports.as_json_text(result))
    elif format_ == "yaml":
        text.write(plan_exports.as_yaml_text(result))
    else:
        plan_exports.write_arpa(text, result)
    if output is None:
        click.echo(text.getvalue(), nl=False)
    else:
        output.write_text(text.getvalue(), encoding="utf-8")
