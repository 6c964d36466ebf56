"""Who may import allocation records and see imports, registered with ``core.policy``."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from accounts.permissions import allocates, is_administrator, is_own, is_regulator
from core.policy import rule, system_actor


class Action(StrEnum):
    IMPORT_RECORDS = "import_records"
    IMPORT_FOR_OTHERS = "import_for_others"
    VIEW_IMPORT = "view_import"
    RUN_IMPORT = "run_import"  # the worker's part: take a queued batch, check and load it, record the outcome
    SWEEP_IMPORTS = "sweep_imports"  # fail the batches of stopped workers, requeue lost ones, delete old uploads


@rule(Action.IMPORT_RECORDS)
def _import_records(user: Any, carrier: Any) -> bool:
    # obj: the allocating organization whose records are imported (None: may import at all)
    return is_administrator(user) or (allocates(user) and (carrier is None or is_own(user, carrier)))


@rule(Action.IMPORT_FOR_OTHERS)
def _import_for_others(user: Any, obj: Any) -> bool:
    # Name the organization whose records are imported (everyone else imports their own).
    return is_administrator(user)


@rule(Action.VIEW_IMPORT)
def _view_import(user: Any, batch: Any) -> bool:
    # obj: an import batch (None: may see imports at all)
    return is_regulator(user) or (allocates(user) and (batch is None or batch.carrier_id == user.organization_id))


@rule(Action.RUN_IMPORT, Action.SWEEP_IMPORTS)
def _workers_only(user: Any, obj: Any) -> bool:
    return False  # no person runs or sweeps a batch: the import worker does


# The import worker loads what a person started: it acts with the rights of the job, not of "the system".
IMPORT_WORKER = system_actor("import-worker", [Action.RUN_IMPORT, Action.IMPORT_RECORDS, Action.SWEEP_IMPORTS])
