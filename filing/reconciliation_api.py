"""``/api/v1/reconciliations``: start a run (then poll it), read runs, their findings and the diff with the
previous run, and act on a finding. 404 for what the caller may not see, 409 for a step the state does not allow,
422 for invalid values."""

from __future__ import annotations

from core.api import API_PREFIX
from core.api import ApiBlueprint as Blueprint

blp = Blueprint(
    "reconciliations_api", __name__, url_prefix=f"{API_PREFIX}/reconciliations", description="Reconciliation"
)
