"""Reconciliation pages (``/filings/reconciliations``): the runs and starting one, a run's counts by type and by
carrier, its findings filtered and exported, the diff with the previous run, and one finding beside both sides
with what reviewers did about it."""

from __future__ import annotations
