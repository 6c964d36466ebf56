"""``flask filing remind [--date YYYY-MM-DD] [--json]``: send the deadline reminders now, as the daily job does (as
the machine's operator). Reminders already sent are not sent again, so it is safe to run any number of times."""

from __future__ import annotations

import json
from datetime import datetime

import click
from flask_babel import gettext as _

from core.cli import json_option, unit_of_work
from core.policy import OPERATOR
from filing.cli import filing_cli
from filing.notifications import REMINDER_WORKING_DAYS, send_reminders
from filing.tasks import china_today


@filing_cli.command("remind")
@click.option("--date", "on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Count from this day instead of today (China time).")  # fmt: skip
@json_option
def remind(on: datetime | None, as_json: bool) -> None:
    """Remind filers of filings due within a few working days, or overdue (each reminder once)."""
    today = on.date() if on is not None else china_today()
    with unit_of_work() as session:
        sent = send_reminders(session, today=today, actor=OPERATOR)
    if as_json:
        click.echo(json.dumps({"date": today.isoformat(), "sent": sent}))
    else:
        click.echo(_("%(date)s: %(sent)d reminders sent (due within %(days)d working days, or overdue).",
                     date=today.isoformat(), sent=sent, days=REMINDER_WORKING_DAYS))  # fmt: skip
