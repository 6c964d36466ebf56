"""``flask filing …`` and ``flask calendar …``: the commands are declared beside what they run (``commands.py``,
``calendar_cli.py``, …) and registered on these groups; ``filing/__init__.py`` imports the modules."""

from __future__ import annotations

import sys
from typing import NoReturn

import click
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from accounts.queries import organization_by_code
from core.cli import CommandGroup, fail

filing_cli = CommandGroup("filing", help="IP address filings: list, show, export, import, remind, report.")
calendar_cli = CommandGroup("calendar", help="The working-day calendar: due dates and the holiday table.")

EXIT_USAGE = 2  # an unusable file or argument (1: the work itself was refused)


def usage_error(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def filer_id(session: Session, code: str | None) -> int | None:
    """The organization a ``--filer CODE`` option names (None without one); an unknown code is an error."""
    if not code:
        return None
    organization = organization_by_code(session, code)
    if organization is None:
        raise fail(_("No organization has the code %(code)s.", code=code))
    return organization.id
