"""``flask reconcile``: reconcile the registry with the filings from the command line, with a progress bar."""

from __future__ import annotations

import click

from core.cli import CommandGroup  # noqa: F401 (the command style the other groups use)


@click.command("reconcile")
def reconcile_cli() -> None:
    """Compare the registry's records with the standing filings."""
