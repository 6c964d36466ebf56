"""``flask filing import FILE --filer CODE [--submit] [--dry-run] [--json]``: the bulk filing file from the command
line, the same file as the web upload (CSV or Excel with the national format's headers), as the operator.

Exit status: 0 loaded (or, for a dry run, nothing wrong); 1 some rows have problems, each printed with its line,
and nothing was loaded; 2 an unusable file or a bad argument, in one line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask_babel import gettext as _

from accounts.queries import organization_by_code
from core.cli import json_option, unit_of_work
from core.policy import OPERATOR
from filing.bulk import BulkResult, RowProblem, UnusableFile, load_filings
from filing.cli import filing_cli, usage_error

EXIT_PROBLEMS = 1


def _problem_line(problem: RowProblem) -> str:
    where = _("line %(n)d", n=problem.line)
    if problem.column:
        where += f", {problem.column}"
    if problem.value:
        where += f" ({problem.value})"
    return f"{where}: {problem.message}"


@filing_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--filer", "filer_code", required=True, help="Code of the organization the filings are for.")
@click.option("--submit", is_flag=True, help="Submit each filing for review (the submission rules apply).")
@click.option("--dry-run", is_flag=True, help="Check every row (and the submission rules) and change nothing.")
@json_option
def import_filings(file: Path, filer_code: str, submit: bool, dry_run: bool, as_json: bool) -> None:
    """File every row of FILE (CSV or Excel) for the filer: all rows or none."""
    with unit_of_work() as session:
        filer = organization_by_code(session, filer_code)
        if filer is None:
            usage_error(_("No organization has the code %(code)s.", code=filer_code))
        try:
            result = load_filings(session, file, filer=filer, actor=OPERATOR, name=file.name, submit=submit,
                                  dry_run=dry_run)  # fmt: skip
        except UnusableFile as exc:
            usage_error(f"{file.name}: {exc.message}")
        filer_name = filer.code
    _report(result, file=file.name, filer=filer_name, as_json=as_json)
    if result.problems:
        sys.exit(EXIT_PROBLEMS)


def _report(result: BulkResult, *, file: str, filer: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"file": file, "filer": filer, **result.as_dict()}, ensure_ascii=False, indent=2))
        return
    for problem in result.problems:
        click.echo("error: " + _problem_line(problem), err=True)
    for warning in result.warnings:
        click.echo("warning: " + _problem_line(warning), err=True)
    click.echo(str(result.summary()))
