"""How the audit trail names import batches, their fields and values (see ``accounts.audit.describe``)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from accounts.audit import Vocabulary, describe
from importers.models import MODE_LABELS, STATUS_LABELS

describe("import_batch", Vocabulary(_l("Import"), {
    "file_name": _l("File"), "sha256": "SHA-256", "mode": _l("Mode"), "allow_partial": _l("Load the valid rows even if others have errors"),
    "status": _l("Status"), "next_batch_id": _l("Continued as import"), "rows": _l("Rows"), "created": _l("Created"),
    "updated": _l("Updated"), "unchanged": _l("Unchanged"), "removed": _l("Removed"), "skipped": _l("Skipped"),
    "errors": _l("Errors"), "warnings": _l("Warnings"), "holders_created": _l("New holders"),
    "other_family": _l("Other address family"),
}, {"mode": MODE_LABELS, "status": STATUS_LABELS}))  # fmt: skip
