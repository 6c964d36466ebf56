"""The import batch's workflow, as a table on the shared engine (``core.workflow``).

    queued ──start──► running ──preview──► previewed ──confirm──► (a new batch loads the checked file)
                         │ ──load──► loaded
                         │ ──reject──► rejected     (errors in an all-or-nothing import: nothing changed)
                         │ ──fail──► failed         (unreadable file, unexpected failure: nothing changed)
                         └ ──stop──► failed ──run_again──► (a new batch runs the file again)   (the worker died)

The worker starts batches and the sweep stops them (system actors); every other step is the importing
organization's, asked as ``IMPORT_RECORDS`` on the carrier. Confirming and running again link the new batch to
the one it continues (``next_batch_id``), which is what makes either a one-time act.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from accounts.audit import record_event
from core.errors import Message
from core.messages import N_
from core.messages import message as _l
from core.workflow import Transition, Workflow
from importers.models import BatchStatus, ImportBatch
from importers.permissions import Action

# Why a batch failed when its worker stopped (stored on the batch, shown translated).
WORKER_STOPPED = N_(
    "the import worker stopped while this import ran (it was restarted or killed); nothing was changed. Run it again."
)


def _continued(batch: ImportBatch) -> Message | None:
    if batch.next_batch_id is not None:
        return _l("This was done already: see import %(id)d.", id=batch.next_batch_id)
    if batch.file_deleted_at is not None or not Path(batch.stored_path or "").is_file():
        return _l("The file waited too long and was deleted; please upload it again.")
    return None


def _confirmable(batch: ImportBatch) -> Message | None:
    if batch.errors and not batch.allow_partial:
        return _l("Only a validated file without errors can be loaded.")
    return _continued(batch)


def _stopped(batch: ImportBatch) -> Message | None:
    if batch.message != WORKER_STOPPED:
        return _l("Only an import whose worker stopped can be run again.")
    return _continued(batch)


S = BatchStatus
IMPORT, RUN, SWEEP = Action.IMPORT_RECORDS, Action.RUN_IMPORT, Action.SWEEP_IMPORTS

BATCHES = Workflow(
    ImportBatch,
    object_type="import_batch",
    states=BatchStatus,
    audit=record_event,
    organization_of=lambda batch: batch.carrier_id,
    subject_of=lambda batch: batch.carrier,
    transitions=[
        Transition(S.QUEUED, "start", S.RUNNING, RUN, "import.run"),
        Transition(S.RUNNING, "preview", S.PREVIEWED, IMPORT, "import.preview"),
        Transition(S.RUNNING, "load", S.LOADED, IMPORT, "import.load"),
        Transition(S.RUNNING, "reject", S.REJECTED, IMPORT, "import.reject"),
        Transition(S.RUNNING, "fail", S.FAILED, IMPORT, "import.fail"),
        Transition(S.RUNNING, "stop", S.FAILED, SWEEP, "import.stop"),
        Transition(S.PREVIEWED, "confirm", S.PREVIEWED, IMPORT, "import.confirm", _confirmable, _l("Load these changes")),
        Transition(S.FAILED, "run_again", S.FAILED, IMPORT, "import.run_again", _stopped, _l("Run it again")),
    ],
)  # fmt: skip

# What a person may be offered on the batch's page (the rest is the worker's).
PERSONAL_ACTIONS = ("confirm", "run_again")


def offered(batch: ImportBatch, user: Any) -> list[Transition]:
    return [t for t in BATCHES.available(batch, user) if t.action in PERSONAL_ACTIONS]
